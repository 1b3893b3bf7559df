"""A synthetic class for the similarity report, and the report's measured quality and speed.

The class: the reference solution; the correct designs of ``designs/`` that have a model of
their own (their answers, with figures and written answers of their own from
``tests/similarity_class/``); three students who each adapted the keras.io VAE example; a
notebook handed in untouched; a group member who handed in the group's notebook again; and
planted copies of five of them with renamed variables, reordered and merged cells, changed
comments, layout or constants, and lightly paraphrased discussions (or discussions of their
own). Nothing is trained.

``python -m tests.support.similarity_class`` (``make similarity-benchmark``) measures the
report on it (precision, recall and the margins at the default threshold, with and without
the declared keras.io template) and times a class of 300 such submissions, into
``results/similarity.json``.
"""

from __future__ import annotations

import ast
import copy
import io
import json
import os
import re
import tempfile
import time
import tokenize
from pathlib import Path

import nbformat

from vae_anomaly.config import RESULTS, ROOT
from vae_anomaly.course import designs, folder, groups, notebooks, similarity

CORPUS = ROOT / "tests" / "similarity_class"
OUTPUT = RESULTS / "similarity.json"
KERAS_STUDENTS = ["keras_a", "keras_b", "keras_c"]
GROUP = ("group_novak", ["dense_custom_step", "eli_park"])  # one notebook, handed in twice
BENCHMARK_SIZE, TARGET_SECONDS = 300, 60


def independent_designs() -> list[str]:
    """The correct designs with a model of their own (the others are one-line variants)."""
    return [n for n in designs.names("correct")
            if (designs.DESIGNS / n / "task2_model_answer.py").exists()
            and designs.load(n).answers["task2_model_answer"]
            != notebooks.answers()["task2_model_answer"]]


def corpus(student: str) -> dict[str, str]:
    """A student's cells from ``tests/similarity_class/<student>.md``, by grade id."""
    text = (CORPUS / f"{student}.md").read_text()
    cells = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        grade_id, body = part.split("\n", 1)
        code = re.fullmatch(r"\s*```python\n(.*?)```\s*", body, re.S)
        cells[grade_id.strip()] = code.group(1) if code else body.strip() + "\n"
    return cells


def fill(release: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """The release with ``answers`` typed into its cells, by grade id."""
    nb = copy.deepcopy(release)
    for cell in nb.cells:
        if notebooks.grade_id(cell) in answers:
            cell.source = answers[notebooks.grade_id(cell)]
    return nb


# --- how the copies were disguised ----------------------------------------------------------
def rename(code: str, names: dict[str, str]) -> str:
    """``code`` with the variables (not attributes) of ``names`` renamed."""
    lines, previous, found = code.splitlines(keepends=True), "", []
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.NAME and tok.string in names and previous != ".":
            found.append(tok)
        if tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT):
            previous = tok.string
    for tok in reversed(found):
        (row, start), (_, end) = tok.start, tok.end
        lines[row - 1] = lines[row - 1][:start] + names[tok.string] + lines[row - 1][end:]
    return "".join(lines)


def uncomment(code: str) -> str:
    """``code`` without its comments."""
    lines = code.splitlines()
    for tok in reversed(list(tokenize.generate_tokens(io.StringIO(code).readline))):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col].rstrip()
    return "\n".join(line for i, line in enumerate(lines)
                     if line or (i and lines[i - 1])) + "\n"


def comment(code: str, notes: list[str]) -> str:
    """``code`` with a comment of ``notes`` (in turn) above each definition and loop."""
    out, k = [], 0
    for line in code.splitlines():
        if re.match(r"\s*(def|class|for) ", line):
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}# {notes[k % len(notes)]}")
            k += 1
        out.append(line)
    return "\n".join(out) + "\n"


def retune(code: str) -> str:
    """``code`` with its settings changed: every number but 0, 1, 28 and 784 a little larger."""
    lines = code.splitlines(keepends=True)
    for tok in reversed(list(tokenize.generate_tokens(io.StringIO(code).readline))):
        if tok.type == tokenize.NUMBER and tok.string not in ("0", "1", "28", "784"):
            value = ast.literal_eval(tok.string)
            new = str(value + 2) if isinstance(value, int) else f"{value * 1.2:.3g}"
            (row, start), (_, end) = tok.start, tok.end
            lines[row - 1] = lines[row - 1][:start] + new + lines[row - 1][end:]
    return "".join(lines)


def reformat(code: str) -> str:
    """``code`` laid out anew (``ast.unparse``: quotes, spacing, wrapping, no comments)."""
    return ast.unparse(ast.parse(code)) + "\n"


def functions_first(code: str) -> str:
    """``code`` with its top-level functions moved to the top, in reverse order."""
    tree = ast.parse(code)
    defs = [s for s in tree.body if isinstance(s, ast.FunctionDef)]
    tree.body = defs[::-1] + [s for s in tree.body if not isinstance(s, ast.FunctionDef)]
    return ast.unparse(tree) + "\n"


NOTES = ["helper", "build it", "loop over everything", "the model part", "plotting",
         "main step", "see lecture 5"]

# copy -> (original, renamed variables, how the code was disguised, cells merged into others,
#          whether the written answers were copied too, paraphrased)
COPIES = {
    "copy_reference": ("reference", {
        "show_rows": "plot_rows", "pick": "sample_images", "rng": "gen", "rows": "groups",
        "reconstruct": "decode_mean", "scores": "by_set", "colours": "palette", "low": "lo",
        "high": "hi", "bins": "edges", "image": "img_in", "latent": "z_in", "h": "t",
        "eps": "noise", "squared_error": "sse", "nll": "rec_term", "kl": "kl_term",
        "elbo": "mc_elbo", "is_anomaly": "y_true", "anomaly_score": "y_score",
        "stop": "early_stop", "codes": "z_prior", "samples": "generated",
        "originals": "orig", "left": "ax_roc", "right": "ax_pr", "normal": "norm_imgs",
        "anomalous": "anom_imgs", "Sampling": "Reparam", "VAE": "GaussVAE"},
        "reformat", {}, True),
    "copy_keras_a": ("keras_a", {
        "gallery": "show_grid", "keep": "mask", "is_trouser": "trouser_mask",
        "SIGMA": "NOISE_STD", "gaussian_nll": "nll_gauss", "early": "stopper",
        "sample": "batch10", "means": "mu10", "prior_codes": "z_draws", "common": "edges",
        "y_true": "truth", "y_score": "scores", "with_reconstruction": "pair_up",
        "chosen": "idx", "out": "parts", "rec": "r", "kl": "k_l", "batches": "sets"},
        "reorder", {"task1_plots": "task1_split_answer", "task3_samples": "task3_reconstructions"},
        True),
    "copy_dense_custom_step": ("dense_custom_step", {
        "Draw": "Sampler", "GaussianVAE": "VAEModel", "prepare": "to_rows",
        "strip": "row_plot", "rebuild": "recon", "ten": "batch", "drawn": "z",
        "lo": "low", "hi": "high", "shared_bins": "bin_grid", "truth": "labels",
        "score": "ranking", "error": "sq_err", "codes": "z_in", "h": "layer"},
        "reformat", {}, True),
    "copy_keras_c": ("keras_c", {
        "draw": "show", "scaled_train": "train_scaled", "scaled_test": "test_scaled",
        "HeteroscedasticVAE": "PixelVarianceVAE", "pixel_mean": "mu_head",
        "pixel_logvar": "logvar_head", "tracker": "loss_metric", "callback": "es",
        "subset": "ten", "reconstructed": "rec", "eps": "prior_z", "edges": "bins",
        "target": "is_trouser", "neg": "score", "state": "r", "norm10": "nn",
        "anom10": "aa"},
        "recomment", {}, False),
    "copy_keras_b": ("keras_b", {
        "flat": "to_vectors", "normal_train": "idx", "plot_grid": "row_of_images",
        "generator": "rs", "hidden": "dense", "neg_elbo": "minus_elbo", "loss_mean": "avg",
        "mu": "m", "logvar": "lv", "code": "sample", "recon": "x_hat", "batches": "chunks",
        "losses": "curve", "DRAWS": "N_MC", "table": "frame", "palette": "colors",
        "labels": "is_anomalous", "scores": "anomaly_scores", "false_pos": "fpr",
        "true_pos": "tpr", "prec": "p", "rec": "r"},
        "retune", {}, False),
}
TEXT_COPIES = {name for name, (*_, texts) in COPIES.items() if texts}


def disguise(cells: dict[str, str], code_ids: set[str], names: dict, how: str, merge: dict,
             ) -> dict[str, str]:
    """A copy's cells: in the code cells (``code_ids``) names changed, then comments, layout
    or order; then cells merged into others."""
    out = dict(cells)
    for grade_id, source in cells.items():
        if grade_id not in code_ids:
            continue
        code = rename(source, names)
        if how == "reformat":
            code = comment(reformat(code), NOTES)
        elif how == "retune":
            code = reformat(retune(code))
        elif how == "reorder":
            code = comment(functions_first(code), NOTES[::-1])
        else:
            code = comment(uncomment(code), NOTES)
        out[grade_id] = code
    for source, into in merge.items():
        out[into] = out[into] + "\n\n" + out[source]
        out[source] = "# done in the cell above\n"
    return out


def code_cells(release: nbformat.NotebookNode) -> set[str]:
    return {notebooks.grade_id(c) for c in release.cells if c.cell_type == "code"}


# --- the class ------------------------------------------------------------------------------
def student_answers(release: nbformat.NotebookNode) -> dict[str, dict[str, str]]:
    """Every independent student's answers, by grade id."""
    manual = {notebooks.grade_id(c) for c in release.cells if notebooks.kind(c) == "manual"}
    reference = notebooks.answers()
    out = {"reference": reference}
    for name in independent_designs():
        own = corpus(name)
        if manual - own.keys():
            raise ValueError(f"{name}.md lacks {sorted(manual - own.keys())}")
        out[name] = {**designs.load(name).answers, **own}
    for name in KERAS_STUDENTS:
        out[name] = corpus(name)
        if reference.keys() - out[name].keys():
            raise ValueError(f"{name}.md lacks {sorted(reference.keys() - out[name].keys())}")
    return out


def build(root: Path) -> tuple[set[frozenset], list[str]]:
    """The class in a new course folder ``root``: the planted pairs (each a copy and its
    original) and the students who hand in independent work."""
    folder.make_course(root)
    release = folder.release_notebook(root)
    answers = student_answers(release)
    for student, cells in answers.items():
        folder.hand_in(root, student, fill(release, cells))
    folder.hand_in(root, "untouched", release)
    folder.hand_in(root, GROUP[1][1], fill(release, answers[GROUP[1][0]]))
    (root / groups.ROSTER).write_text(
        "group,student_id\n" + "".join(f"{GROUP[0]},{s}\n" for s in GROUP[1]))
    planted = set()
    for name, (original, names, how, merge, _texts) in COPIES.items():
        cells = disguise(answers[original], code_cells(release), names, how, merge)
        for grade_id, text in corpus(name).items():
            cells[grade_id] = text
        folder.hand_in(root, name, fill(release, cells))
        planted.add(frozenset((name, original)))
    return planted, [*answers, "untouched"]


# --- measuring ------------------------------------------------------------------------------
def planted_pair(pair: similarity.Pair, planted: set[frozenset]) -> bool:
    return any(frozenset((a, b)) in planted for a in pair.a.students for b in pair.b.students)


def quality(pairs: list[similarity.Pair], planted: set[frozenset], threshold: float) -> dict:
    """Precision, recall and the margins of the planted copies against the other pairs."""
    copies = [p for p in pairs if planted_pair(p, planted)]
    copied_text = [p for p in copies if {*p.a.students, *p.b.students} & TEXT_COPIES]
    others = [p for p in pairs if not planted_pair(p, planted)]
    flagged = [p for p in pairs if p.score >= threshold]
    hits = [p for p in flagged if planted_pair(p, planted)]
    top, low = max(others, key=lambda p: p.score), min(copies, key=lambda p: p.score)
    return {
        "threshold": threshold, "pairs": len(pairs), "planted": len(copies),
        "flagged": len(flagged), "found": len(hits),
        "precision": round(len(hits) / len(flagged), 3) if flagged else None,
        "recall": round(len(hits) / len(copies), 3),
        "lowest_copy": {"pair": [low.a.name, low.b.name], "score": round(low.score, 3)},
        "highest_other": {"pair": [top.a.name, top.b.name], "score": round(top.score, 3)},
        "lowest_copy_code": round(min(p.code for p in copies), 3),
        "lowest_copy_text": round(min(p.text for p in copied_text), 3),
        "highest_other_code": round(max(p.code for p in others), 3),
        "highest_other_text": round(max(p.text for p in others), 3),
        "margin_below": round(threshold - top.score, 3),
        "margin_above": round(min(low.score, *(p.text for p in copied_text)) - threshold, 3),
        "copies": {f"{p.a.name} – {p.b.name}": {"code": round(p.code, 3),
                                                "text": round(p.text, 3)} for p in copies},
    }


def highest_code(pairs: list[similarity.Pair], students: list[str]) -> float:
    """The highest code score between two of ``students``."""
    return round(max(p.code for p in pairs
                     if set(p.a.students) & set(students) and set(p.b.students) & set(students)),
                 3)


def measure_quality(root: Path, planted: set[frozenset]) -> dict:
    """The report's quality on the class built in ``root``, and what declaring the keras.io
    example as template does to the students who adapted it."""
    pairs, _ = similarity.report(root, progress=False)
    subs, _ = similarity.load(root, templates=[], progress=False)
    keras = [*KERAS_STUDENTS, "keras_example_gaussian"]
    return {**quality(pairs, planted, similarity.THRESHOLD), "submissions": len(subs),
            "keras_adapters": {
                "students": keras, "highest_code": highest_code(pairs, keras),
                "highest_code_without_template": highest_code(
                    similarity.compare(subs, progress=False), keras)}}


def benchmark_class(root: Path, n: int = BENCHMARK_SIZE) -> None:
    """``n`` submissions in a new course ``root``: the class's notebooks in turn, each with
    its own variable names (so many are near-copies: the comparisons' worst case)."""
    folder.make_course(root)
    release = folder.release_notebook(root)
    answers = student_answers(release)
    answers.update({name: {**answers[orig], **corpus(name)}
                    for name, (orig, *_rest) in COPIES.items()})
    names, code = sorted(answers), code_cells(release)
    for i in range(n):
        cells = answers[names[i % len(names)]]
        local = {k: f"{k}_{i}" for k in ("x", "h", "z", "fig", "ax", "axes", "mean", "log_var")}
        renamed = {g: rename(c, local) if g in code else c for g, c in cells.items()}
        folder.hand_in(root, f"student{i:03d}", fill(release, renamed))


def measure() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        planted, _ = build(Path(tmp) / "class")
        result = measure_quality(Path(tmp) / "class", planted)
        benchmark_class(Path(tmp) / "large")
        start = time.perf_counter()
        pairs, _ = similarity.report(Path(tmp) / "large", progress=False)
        seconds = time.perf_counter() - start
    return {
        "command": "make similarity-benchmark", **result,
        "benchmark": {"submissions": BENCHMARK_SIZE, "pairs": len(pairs),
                      "seconds": round(seconds, 1), "target_seconds": TARGET_SECONDS,
                      "cpu_count": os.cpu_count(),
                      "load_average_at_end": round(os.getloadavg()[0], 2)},
    }


def main() -> None:
    result = measure()
    OUTPUT.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
