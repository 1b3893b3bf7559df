"""Find copying in a class: every pair of submissions compared on the code of their answer
cells and on their written answers, for the instructor only.

``python -m vae_anomaly.course.similarity COURSE [--threshold X] [--template PATH ...]``
reads ``COURSE/submitted/<student>/anomaly_vae/anomaly_vae.ipynb`` and writes
``COURSE/similarity/report.html`` (pairs ranked by score, the flagged ones and the closest
others side by side with the matched regions marked) and ``COURSE/similarity/pairs.csv``
(every pair), and prints the pairs at or above the threshold. Where the course has a
gradebook, both sides of each such pair are flagged for review there, for the instructor only
(formgrader shows the flag; ``make export`` says why; the feedback never does), once per pair:
``COURSE/similarity/marked.csv`` keeps the pairs marked, so a pair reviewed and unflagged in
formgrader stays unflagged. ``make grade`` runs the same after grading and prints the pairs
in its summary. Nothing else is written: not the autograded notebooks, not the feedback.

Each notebook is first reduced to what its student wrote: the answer and hand-graded cells
(by their nbgrader metadata) and any cell the student added, as ``.py``-like code and as
text. Code is compared with copydetect's winnowing (MOSS's method: names, comments and
layout do not count); written answers with the same fingerprints over their words. The
release's own cells are removed as template from both, and so is every declared public
source (``similarity_templates/``: the keras.io VAE example; ``--template`` adds files or
folders of ``.py``, ``.ipynb`` or ``.md``). A pair's score is the larger share of either
submission that matches the other, on code or on text, whichever is higher. Members of one
group (the course's roster, ``COURSE/groups.csv``) are one submission: a notebook that
several members handed in is compared once, under the group's name, and members are never
compared with each other.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import numpy as np
from copydetect import CodeFingerprint, compare_files
from tqdm import tqdm
from traitlets import Float, Int, List, Unicode
from traitlets.config import Configurable, PyFileConfigLoader

from ..config import ASSIGNMENT
from . import folder, groups, notebooks

TEMPLATES = Path(__file__).with_name("similarity_templates")  # shipped public sources
OUTPUT = "similarity"  # the report's folder in the course
PAIRS = "pairs.csv"  # in OUTPUT: every pair, its scores and whether it is flagged
MARKED = "marked.csv"  # in OUTPUT: the pairs flagged in the gradebook so far
THRESHOLD = 0.55  # midway between independent work and copies: results/similarity.json
CODE_K = 25  # characters of a code fingerprint after filtering (copydetect's default)
TEXT_K = 30  # characters of a text fingerprint: about five words
WORD = re.compile(r"[^\W_]+")


class Similarity(Configurable):
    """The report's settings: ``c.Similarity.threshold = 0.5`` in the course's
    ``nbgrader_config.py``; the command line's flags win."""

    threshold = Float(THRESHOLD, help="Flag the pairs scoring at least this (0 to 1).",
                      ).tag(config=True)
    templates = List(Unicode(), [str(TEMPLATES)], help="Public sources (files or folders of "
                     ".py, .ipynb, .md) removed as template besides the release (default: "
                     "similarity_templates/, the keras.io VAE example).").tag(config=True)
    shown = Int(50, help="Pairs listed in the report besides the flagged ones.").tag(config=True)
    views = Int(200, help="Pairs of the report that open side by side, from the top.",
                ).tag(config=True)


def settings(course: Path) -> Similarity:
    """The settings of ``course/nbgrader_config.py`` (defaults without one)."""
    config = None
    if (course / "nbgrader_config.py").is_file():
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
    return Similarity(config=config)


# --- notebooks as text ----------------------------------------------------------------------
def student_cells(nb: nbformat.NotebookNode, given=frozenset()) -> list:
    """The cells a student wrote: answer and hand-graded cells, and any cell they added (no
    nbgrader metadata, and not one of the ``given`` sources of the release)."""
    return [c for c in nb.cells if notebooks.kind(c) in ("answer", "manual")
            or not (notebooks.meta(c) or c.source.strip() in given)]


def as_text(cells) -> tuple[str, str]:
    """The code cells as one ``.py``-like text and the markdown cells as another, each cell
    under a ``# %% <grade id>`` line."""
    parts = {"code": [], "markdown": []}
    for cell in cells:
        if cell.cell_type in parts:
            label = notebooks.grade_id(cell) or "added cell"
            parts[cell.cell_type].append(f"# %% {label}\n{cell.source.strip()}\n")
    return "\n".join(parts["code"]), "\n".join(parts["markdown"])


def words(text: str) -> tuple[str, np.ndarray]:
    """The words of a text (cell headers left out), lower case and one space apart, and the
    position in ``text`` of each of their characters."""
    spans, at = [], 0
    for line in text.splitlines(keepends=True):
        if not line.startswith("# %%"):
            spans += [(at + m.start(), at + m.end()) for m in WORD.finditer(line)]
        at += len(line)
    if not spans:
        return "", np.zeros(0, dtype=int)
    out = " ".join(w.lower() if len(w.lower()) == len(w) else w
                   for w in (text[a:b] for a, b in spans))
    starts, ends = np.array(spans).T
    sizes = ends - starts + 1  # each word and the space after it
    where = np.arange(sizes.sum()) + np.repeat(starts - (np.cumsum(sizes) - sizes), sizes)
    return out, where[:-1]


def template_texts(release: nbformat.NotebookNode, paths) -> tuple[str, str]:
    """The code and text that are nobody's own work: the release (every cell) and the
    declared public sources."""
    code, text = [as_text(release.cells)[0]], [as_text(release.cells)[1]]
    files = []
    for path in map(Path, paths):
        files += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for path in files:
        if path.suffix == ".ipynb":
            nb_code, nb_text = as_text(nbformat.read(path, as_version=4).cells)
            code.append(nb_code)
            text.append(nb_text)
        elif path.suffix == ".py":
            code.append(path.read_text())
        elif path.suffix in (".md", ".txt"):
            text.append(path.read_text())
    return "\n".join(code), "\n".join(text)


# --- fingerprints ---------------------------------------------------------------------------
def code_fingerprint(code: str, boilerplate=None) -> CodeFingerprint:
    """copydetect's fingerprint of Python code (window 1: every k-gram, so deterministic)."""
    return CodeFingerprint("answers.py", CODE_K, 1, boilerplate, fp=io.StringIO(code),
                           language="python")


def text_fingerprint(text: str, boilerplate=None) -> CodeFingerprint:
    """copydetect's fingerprint of a text's words (unfiltered: words are not code)."""
    return CodeFingerprint("answers.txt", TEXT_K, 1, boilerplate, filter=False,
                           fp=io.StringIO(words(text)[0]))


def boilerplate(template: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The code and text fingerprints of the template, removed from every submission's."""
    code, text = template
    return (np.array(sorted(code_fingerprint(code).hashes)),
            np.array(sorted(text_fingerprint(text).hashes)))


@dataclass
class Submission:
    """One notebook, reduced to its student's own work and fingerprinted."""

    students: list[str]  # who handed it in (members of one group handing in the same work)
    group: str  # their group, or the student's own id when they work alone
    code: str
    text: str
    code_print: CodeFingerprint
    text_print: CodeFingerprint

    @property
    def name(self) -> str:
        who = ", ".join(self.students)
        return who if [self.group] == self.students else f"{self.group} ({who})"


def submission(student: str, group: str, nb: nbformat.NotebookNode, bp, given=frozenset(),
               ) -> Submission:
    code, text = as_text(student_cells(nb, given))
    return Submission([student], group, code, text, code_fingerprint(code, bp[0]),
                      text_fingerprint(text, bp[1]))


def one_per_group(subs: list[Submission]) -> list[Submission]:
    """The submissions with the members of a group who handed in the same work as one."""
    kept = {}
    for sub in subs:
        same = kept.setdefault((sub.group, sub.code, sub.text), sub)
        if same is not sub:
            same.students.append(sub.students[0])
    return list(kept.values())


def shares(prints: list[CodeFingerprint], tick=lambda: None) -> np.ndarray:
    """``S[i, j]``: the share of document ``i`` that matches document ``j``: copydetect's
    ``compare_files`` similarity (matched tokens over the tokens fingerprinted), for every
    pair at once from the fingerprints' positions (a test checks the two agree)."""
    ids, docs = {}, []
    for f in prints:
        pos = [(i, ids.setdefault(h, len(ids))) for h, idx in f.hash_idx.items() for i in idx]
        docs.append(np.array(sorted(pos), dtype=np.int64).reshape(-1, 2).T)
    out = np.zeros((len(prints), len(prints)))
    present = np.zeros(len(ids), dtype=bool)
    for j, (_, hashes_j) in enumerate(docs):
        tick()
        present[:] = False
        present[hashes_j] = True
        for i, (positions, hashes) in enumerate(docs):
            matched = positions[present[hashes]] if i != j else ()
            if len(matched):  # copydetect's copied slices: k tokens from each match, merged
                k = prints[i].k
                out[i, j] = (np.minimum(np.diff(matched), k).sum() + k) / prints[i].token_coverage
    return out


@dataclass
class Pair:
    a: Submission
    b: Submission
    code: float
    text: float

    @property
    def score(self) -> float:
        return max(self.code, self.text)


def compare(subs: list[Submission], progress: bool = True) -> list[Pair]:
    """Every pair of submissions of different groups, highest score first."""
    with tqdm(total=2 * len(subs), unit="row", disable=not progress) as bar:
        code, text = (shares([getattr(sub, f"{kind}_print") for sub in subs], bar.update)
                      for kind in ("code", "text"))
    code, text = np.maximum(code, code.T), np.maximum(text, text.T)
    pairs = [Pair(subs[i], subs[j], float(code[i, j]), float(text[i, j]))
             for i, j in itertools.combinations(range(len(subs)), 2)
             if subs[i].group != subs[j].group]
    return sorted(pairs, key=lambda p: (-p.score, p.a.name, p.b.name))


# --- a course folder ------------------------------------------------------------------------
def load(course: Path, templates=(), progress: bool = True,
         ) -> tuple[list[Submission], list[str]]:
    """The fingerprinted submissions of a course folder, with the release and ``templates``
    removed as template, and the notebooks that could not be read (each with why)."""
    path = folder.notebook_path(course, "release")
    if not path.is_file():
        raise SystemExit(f"{path} is missing: release the assignment first (make release)")
    release = nbformat.read(path, as_version=4)
    bp = boilerplate(template_texts(release, templates))
    given = {c.source.strip() for c in release.cells}
    roster = groups.load(course)
    subs, unread = [], []
    paths = sorted((course / "submitted").glob(f"*/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"))
    for path in tqdm(paths, unit="notebook", disable=not progress):
        student = path.parents[1].name
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception as err:  # a broken notebook is reported, not fatal
            unread.append(f"{student}: {type(err).__name__}: {err}")
            continue
        subs.append(submission(student, roster.group_of(student), nb, bp, given))
    return one_per_group(subs), unread


# --- the report -----------------------------------------------------------------------------
def marked(doc: str, slices: np.ndarray) -> str:
    """``doc`` as HTML with the ``slices`` (starts, ends) in ``<mark>``."""
    out, at = [], 0
    for start, end in sorted(zip(*slices, strict=True)) if len(slices[0]) else []:
        start = max(start, at)
        out += [html.escape(doc[at:start]), "<mark>", html.escape(doc[start:end]), "</mark>"]
        at = max(at, end)
    return "".join(out) + html.escape(doc[at:])


def side_by_side(a: Submission, b: Submission, kind: str) -> tuple[str, str]:
    """The two documents of one kind (code or text) as HTML, matched regions marked."""
    docs = (a.code, b.code) if kind == "code" else (a.text, b.text)
    prints = ((a.code_print, b.code_print) if kind == "code"
              else (a.text_print, b.text_print))
    if prints[0].hashes.isdisjoint(prints[1].hashes):
        return html.escape(docs[0]), html.escape(docs[1])
    _, _, slices = compare_files(*prints)
    if kind == "text":  # slices of the words: back to the text
        slices = [np.array([where[s[0]], where[s[1] - 1] + 1]) if len(s[0]) else s
                  for s, where in zip(slices, (words(d)[1] for d in docs), strict=True)]
    return marked(docs[0], slices[0]), marked(docs[1], slices[1])


STYLE = """body{font-family:system-ui,sans-serif;margin:1.5rem;max-width:110rem}
table{border-collapse:collapse}td,th{padding:.2rem .6rem;border-bottom:1px solid #ccc;
text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.flag td{background:#fde8e8}.warn{border:2px solid #b00;padding:.5rem 1rem}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1rem}pre{white-space:pre-wrap;
font-size:.8rem;background:#f6f6f6;padding:.5rem;overflow-x:auto}mark{background:#ffd54f}"""


def write_html(path: Path, pairs: list[Pair], threshold: float, shown: int, views: int,
               n: int) -> None:
    flagged = [p for p in pairs if p.score >= threshold]
    rows, sections = [], []
    for rank, p in enumerate(pairs[:max(len(flagged), shown)], 1):
        names = f"{html.escape(p.a.name)} – {html.escape(p.b.name)}"
        flag = ' class="flag"' if p.score >= threshold else ""
        link = f'<a href="#pair{rank}">{names}</a>' if rank <= views else names
        rows.append(f'<tr{flag}><td class="n">{rank}</td><td>{link}</td><td class="n">'
                    f'{p.score:.2f}</td><td class="n">{p.code:.2f}</td><td class="n">'
                    f"{p.text:.2f}</td></tr>")
        if rank > views:
            continue
        parts = []
        for kind in ("code", "text"):
            left, right = side_by_side(p.a, p.b, kind)
            parts.append(f"<h4>{kind}: {getattr(p, kind):.2f}</h4><div class=cols>"
                         f"<pre>{left}</pre><pre>{right}</pre></div>")
        sections.append(f'<details id="pair{rank}"><summary>{rank}. {names}: {p.score:.2f}'
                        f"</summary><div class=cols><b>{html.escape(p.a.name)}</b>"
                        f"<b>{html.escape(p.b.name)}</b></div>{''.join(parts)}</details>")
    path.write_text(f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Similarity report: {ASSIGNMENT}</title><style>{STYLE}</style></head><body>
<h1>Similarity report: {ASSIGNMENT}</h1>
<p class="warn"><b>For the instructor only.</b> A high score is evidence for a conversation
with the students, not a verdict: it says that two submissions share code or wording beyond
the release and the declared public sources, not who wrote it or why. Nothing here is part
of any student's grade or feedback.</p>
<p>{n} submissions, {len(pairs)} pairs compared. Score: the larger share of either submission
that matches the other, on code (names, comments and layout ignored) or on written answers,
whichever is higher. <b>{len(flagged)}</b> pairs at or above the threshold {threshold:.2f}
(shaded); the first {min(views, len(rows))} open side by side below, matches marked; every
pair is in <code>pairs.csv</code>.</p>
<table><thead><tr><th>#</th><th>pair</th><th>score</th><th>code</th><th>text</th></tr>
</thead><tbody>{''.join(rows)}</tbody></table>
<h2>Side by side</h2>{''.join(sections)}</body></html>
""")


def write_csv(path: Path, pairs: list[Pair], threshold: float) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["rank", "students_a", "group_a", "students_b", "group_b", "score",
                      "code", "text", "flagged"])
        for rank, p in enumerate(pairs, 1):
            out.writerow([rank, " ".join(p.a.students), p.a.group, " ".join(p.b.students),
                          p.b.group, f"{p.score:.3f}", f"{p.code:.3f}", f"{p.text:.3f}",
                          int(p.score >= threshold)])


def report(course: Path, threshold: float | None = None, templates=(), progress: bool = True,
           conf: Similarity | None = None) -> tuple[list[Pair], list[str]]:
    """Compare the class of ``course`` and write ``course/similarity/``; the pairs, highest
    first, and the notebooks that could not be read. ``templates`` add to the settings'."""
    conf = conf or settings(course)
    threshold = conf.threshold if threshold is None else threshold
    subs, unread = load(course, [*conf.templates, *templates], progress)
    pairs = compare(subs, progress)
    out = course / OUTPUT
    out.mkdir(exist_ok=True)
    write_csv(out / PAIRS, pairs, threshold)
    write_html(out / "report.html", pairs, threshold, conf.shown, conf.views, len(subs))
    return pairs, unread


# --- the gradebook ------------------------------------------------------------------------
def pair_key(p: Pair) -> str:
    return " | ".join(sorted(" ".join(sorted(s.students)) for s in (p.a, p.b)))


def mark(course: Path, pairs: list[Pair], threshold: float) -> list[Pair]:
    """Flag for review, in the course's gradebook, every submission of the pairs at or above
    ``threshold`` that were not marked by an earlier run; the pairs newly marked. A course
    without a gradebook, or a submission not autograded yet, is left as it is (the next run
    marks it)."""
    from nbgrader.api import MissingEntry

    path = Path(course) / OUTPUT / MARKED
    done = set(path.read_text().splitlines()[1:]) if path.is_file() else set()
    new = [p for p in pairs if p.score >= threshold and pair_key(p) not in done]
    if not new:
        return []
    marked = []
    try:
        with groups.gradebook(course) as gb:
            for p in new:
                try:
                    nbs = [gb.find_submission_notebook(ASSIGNMENT, ASSIGNMENT, student)
                           for sub in (p.a, p.b) for student in sub.students]
                except MissingEntry:
                    continue
                for nb in nbs:
                    nb.flagged = True
                gb.db.commit()
                marked.append(p)
    except groups.CourseError:
        return []
    lines = ["pair", *sorted(done | {pair_key(p) for p in marked})]
    path.write_text("\n".join(lines) + "\n")
    return marked


def reasons(course: Path) -> dict[str, list[str]]:
    """submission -> why the report flagged it (``pairs.csv``), for the instructor's export."""
    path = Path(course) / OUTPUT / PAIRS
    out: dict[str, list[str]] = {}
    if not path.is_file():
        return out
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            if row["flagged"] != "1":
                continue
            for mine, other in (("a", "b"), ("b", "a")):
                for student in row[f"students_{mine}"].split():
                    out.setdefault(student, []).append(
                        f"similar to {row[f'group_{other}']} (score {float(row['score']):.2f}, "
                        f"{OUTPUT}/report.html)")
    return out


def summary(course: Path, threshold: float | None = None, templates=(),
            progress: bool = False) -> list[str]:
    """Compare the class, mark the pairs at or above the threshold in the gradebook and say
    so in a few lines (``make similarity``; ``make grade``'s summary)."""
    conf = settings(course)
    threshold = conf.threshold if threshold is None else threshold
    start = time.perf_counter()
    pairs, unread = report(course, threshold, templates, progress, conf)
    flagged = [p for p in pairs if p.score >= threshold]
    new = {pair_key(p) for p in mark(course, pairs, threshold)}
    lines = [f"similarity: {len(pairs)} pairs compared in {time.perf_counter() - start:.0f} s; "
             f"{len(flagged)} at or above the threshold {threshold:.2f}"
             + (" (both sides flagged for review in the gradebook, for the instructor only)"
                if flagged else "")]
    lines += [f"  {p.score:.2f}  {p.a.name} – {p.b.name} (code {p.code:.2f}, text "
              f"{p.text:.2f}){'' if pair_key(p) in new else ' (marked before)'}"
              for p in flagged]
    lines += [f"  not read: {line}" for line in unread]
    lines.append(f"  report: {Path(course) / OUTPUT / 'report.html'} (for the instructor only)")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("course", type=Path, nargs="?", default=Path("."),
                        help="the nbgrader course folder (default: here)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="flag the pairs scoring at least this (default: c.Similarity."
                             f"threshold of nbgrader_config.py, else {THRESHOLD})")
    parser.add_argument("--template", type=Path, nargs="*", default=[],
                        help="more public sources (files or folders) to remove as template")
    args = parser.parse_args(argv)
    print("\n".join(summary(args.course, args.threshold, args.template, progress=True)))


if __name__ == "__main__":
    main()
