"""The nbgrader source notebook as an otter-assign (v1 format) master notebook.

One otter question per nbgrader autograded test cell, named by its ``grade_id`` and
worth its points. nbgrader scores a test cell all or nothing (it passes when the
whole cell, hidden tests included, runs without error), so each question is
``all_or_nothing`` and holds two exception-based test cases:

* public: the cell as nbgrader releases it (hidden tests removed), which is what
  ``grader.check`` runs for students;
* hidden: the whole source cell, as ``nbgrader autograde`` runs it.

Both run the test code with ``exec`` in the notebook's own namespace, as a test
cell does in nbgrader, so a failing ``assert`` gives students the same message.

Answer cells become ``# BEGIN PROMPT`` (nbgrader's release stub, made by
nbgrader's own ``ClearSolutions`` with this course's ``nbgrader_config.py``) plus
``# BEGIN SOLUTION NO PROMPT`` (the source cell), so the otter student notebook
shows exactly the cells of the nbgrader release. Manually graded cells become
manual otter questions; they are graded on Gradescope, not by ``otter run``.

``python -m vae_anomaly.course.otter_master`` (``make autograder``) builds everything into
``autograder/dist/``: the master, then ``otter assign``'s student notebook
(``student/``), solution notebook and Gradescope zip (``autograder/autograder.zip``).
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import yaml
from nbformat.corpus.words import generate_corpus_id as random_cell_id
from nbgrader.preprocessors import ClearHiddenTests, ClearSolutions
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from .. import CORE, STUDENT
from ..config import AUTOGRADER, AUTOGRADER_DIST, GRADING_EPOCHS, ROOT, SOURCE
from ..decide import integrity
from .notebooks import kind

ORIGIN_KEY = "nbgrader_origin"  # cell metadata: {"grade_id": ...} of the source cell
OTTER_MARKERS = re.compile(r"#\s*(BEGIN|END)\s+(SOLUTION|PROMPT|TEST CONFIG|IGNORE)|#\s*SEED\s*$")


class ConversionError(ValueError):
    """A source cell that otter cannot express the way nbgrader grades it."""


def nbgrader_config(root: Path) -> Config:
    """The course's nbgrader configuration (empty when there is no ``nbgrader_config.py``)."""
    file = Path(root) / "nbgrader_config.py"
    if not file.is_file():
        return Config()
    return PyFileConfigLoader(file.name, path=str(file.parent)).load_config()


def release_view(nb: nbformat.NotebookNode, config: Config | None = None):
    """The notebook as ``nbgrader generate_assignment`` releases it (stubs, no hidden tests)."""
    released = copy.deepcopy(nb)
    for preprocessor in (ClearSolutions, ClearHiddenTests):
        released, _ = preprocessor(config=config or Config()).preprocess(released, {})
    return released


def _points(cell) -> float | int:
    points = cell.metadata["nbgrader"].get("points", 0)
    return int(points) if float(points).is_integer() else float(points)


def _raw(text: str):
    return nbformat.v4.new_raw_cell(text)


def _clean(cell, origin: str | None = None):
    """A copy without nbgrader's metadata, outputs or id; ``origin`` names its source cell."""
    cell = copy.deepcopy(cell)
    cell.metadata.pop("nbgrader", None)
    cell.pop("id", None)
    if origin:
        cell.metadata[ORIGIN_KEY] = {"grade_id": origin}
    if cell.cell_type == "code":
        cell.outputs, cell.execution_count = [], None
    return cell


def _check_free_of_otter_markers(source: str, where: str, code: bool = True) -> None:
    """Refuse lines that otter assign would drop or rewrite (it strips every cell)."""
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line or "END SOLUTION" in line:
            continue  # nbgrader's own markers, handled here
        if re.search(r"#\s*(BEGIN|END)\s*IGNORE|# IGNORE\s*$", line) or code and (
                OTTER_MARKERS.search(line) or re.search(r"# ?SOLUTION", line)):
            raise ConversionError(f"{where}: otter assign would rewrite the line {line!r}")


def answer_source(solution: str, stub: str, where: str) -> str:
    """A code cell that otter strips to ``stub`` and that runs ``solution`` when graded."""
    for text in (solution, stub):
        _check_free_of_otter_markers(text, where)
    if solution.lstrip().startswith("%%"):
        raise ConversionError(f"{where}: a cell magic cannot follow otter's prompt string")
    quote = '"""' if '"""' not in stub else "'''"
    if quote in stub:
        raise ConversionError(f"{where}: the stub holds both kinds of triple quotes")
    kept = [line for line in solution.splitlines()
            if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line]
    return "\n".join([f"r{quote} # BEGIN PROMPT", stub, f"{quote} # END PROMPT",
                      "# BEGIN SOLUTION NO PROMPT", *kept, "# END SOLUTION"])


HIDDEN_ONLY = "This question's tests are hidden: they run when your notebook is graded."


def test_source(name: str, code: str, hidden: bool) -> str:
    """An exception-based otter test case that runs ``code`` in the notebook's namespace."""
    config = {"hidden": hidden}
    if not hidden and not _has_code(code):
        config["success_message"] = HIDDEN_ONLY
    function = re.sub(r"\W", "_", f"test_{name}_{'hidden' if hidden else 'public'}")
    return (f'""" # BEGIN TEST CONFIG\n{yaml.safe_dump(config).strip()}\n""" # END TEST CONFIG\n'
            f"def {function}(env):\n"
            f"    code = {code!r}\n"
            f"    exec(compile(code, {name!r}, 'exec'), env)\n")


def _has_code(source: str) -> bool:
    return any(line.strip() and not line.strip().startswith("#") for line in source.splitlines())


def _question_header(cell, **extra) -> nbformat.NotebookNode:
    meta = cell.metadata["nbgrader"]
    config = {"name": meta["grade_id"], **extra, "points": _points(cell)}
    return _raw("# BEGIN QUESTION\n" + yaml.safe_dump(config, sort_keys=False).rstrip())


def test_question(cell, public) -> list:
    """An autograded question: the nbgrader test cell as a public and a hidden test case."""
    name = cell.metadata["nbgrader"]["grade_id"]
    # the public case is there even when it only holds a comment, as nbgrader's released
    # cell is: its check cell then stands where the test cell stood, and grading runs the
    # hidden case at that point of the notebook, as nbgrader does
    return [_question_header(cell, all_or_nothing=True), _raw("# BEGIN TESTS"),
            nbformat.v4.new_code_cell(test_source(name, public.source, False)),
            nbformat.v4.new_code_cell(test_source(name, cell.source, True)),
            _raw("# END TESTS"), _raw("# END QUESTION")]


def manual_question(cell, stub, prompt) -> list:
    """A manually graded question: its prompt (locked by otter), then the answer cell."""
    name = cell.metadata["nbgrader"]["grade_id"]
    cells = [_question_header(cell, manual=True)]
    if kind(cell) == "task":  # the task's own (locked) text is its prompt
        return cells + [c for c in (prompt, _clean(cell)) if c] + [_raw("# END QUESTION")]
    if prompt is None:  # otter tags and locks the first cell of a manual question
        prompt = nbformat.v4.new_markdown_cell(f"*{name}* (graded by hand)",
                                               metadata={ORIGIN_KEY: {"inserted": True}})
    cells.append(prompt)
    if cell.cell_type == "markdown":
        solution = _clean(cell)
        solution.source = "\n".join(line for line in cell.source.splitlines()
                                    if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line)
        cells += [_raw("# BEGIN PROMPT"), _clean(stub, name), _raw("# END PROMPT"),
                  _raw("# BEGIN SOLUTION"), solution, _raw("# END SOLUTION")]
    else:
        answer = _clean(cell, name)
        answer.source = answer_source(cell.source, stub.source, name)
        cells += [_raw("# BEGIN SOLUTION"), answer, _raw("# END SOLUTION")]
    return cells + [_raw("# END QUESTION")]


def build_master(source: nbformat.NotebookNode, assignment_config: dict,
                 config: Config | None = None) -> nbformat.NotebookNode:
    """The otter-assign master notebook for an nbgrader source notebook."""
    released = release_view(source, config)
    cells = [_raw("# ASSIGNMENT CONFIG\n" + yaml.safe_dump(assignment_config, sort_keys=False))]
    previous = None  # kind of the previous source cell
    for cell, public in zip(source.cells, released.cells, strict=True):
        what = kind(cell)
        where = cell.metadata.get("nbgrader", {}).get("grade_id", "a cell")
        if what == "test":
            cells += test_question(cell, public)
        elif what in ("manual", "task"):
            # the Markdown cell just before it is its prompt: it goes into the question
            prompt = cells.pop() if previous == "plain" and cells[-1].cell_type == "markdown" \
                else None
            cells += manual_question(cell, public, prompt)
        elif what == "answer" and cell.cell_type == "code":
            answer = _clean(cell, cell.metadata["nbgrader"]["grade_id"])
            answer.source = answer_source(cell.source, public.source, where)
            cells.append(answer)
        elif what == "answer":
            raise ConversionError(f"{where}: an ungraded Markdown answer has no otter form")
        else:
            _check_free_of_otter_markers(cell.source, where, cell.cell_type == "code")
            cells.append(_clean(cell))
            if cell.cell_type == "code":  # the plugin trusts it while it is unchanged
                cells[-1].metadata[ORIGIN_KEY] = {"grade_id": where,
                                                  "sha256": integrity.digest(cell.source)}
        previous = what
    for i, cell in enumerate(cells):  # deterministic ids: the master builds the same each time
        cell.id = f"cell-{i}"
    master = nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(source.metadata))
    master.metadata.pop("celltoolbar", None)
    return master


def graded_cells(source: nbformat.NotebookNode) -> dict[str, dict]:
    """``grade_id`` -> ``{"kind", "points"}`` of every graded cell, in notebook order."""
    return {cell.metadata["nbgrader"]["grade_id"]: {"kind": kind(cell), "points": _points(cell)}
            for cell in source.cells
            if cell.metadata.get("nbgrader", {}).get("grade") or kind(cell) == "task"}


def transplant(submission: nbformat.NotebookNode,
               student: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The answers of an nbgrader-format ``submission`` put into otter's student notebook.

    Answer cells are matched by ``grade_id``; cells the student added follow the answer
    cell they followed. Test cells are not carried over: each tool brings its own.
    """
    out = copy.deepcopy(student)
    where = {c.metadata[ORIGIN_KEY]["grade_id"]: i for i, c in enumerate(out.cells)
             if c.metadata.get(ORIGIN_KEY, {}).get("grade_id")}
    inserts: dict[int, list] = {}
    anchor = 0  # insert added cells after the otter init cell by default
    for cell in submission.cells:
        meta = cell.metadata.get("nbgrader")
        if meta and meta.get("grade_id") in where:
            anchor = where[meta["grade_id"]]
            out.cells[anchor].source = cell.source
        elif meta is None:
            added = copy.deepcopy(cell)
            added.id = random_cell_id()  # the student's ids may clash with otter's
            inserts.setdefault(anchor, []).append(added)
    for index in sorted(inserts, reverse=True):
        out.cells[index + 1:index + 1] = inserts[index]
    return out


def gradescope_requirements(packages: Path, pins: Path) -> str:
    """The lines of ``pins`` (requirements.txt) for the packages listed in ``packages``."""
    wanted = {line.strip().lower() for line in packages.read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    lines = [line for line in pins.read_text().splitlines()
             if re.split(r"[=<>!~;\s\[]", line.strip(), maxsplit=1)[0].lower() in wanted]
    found = {re.split(r"[=<>!~;\s\[]", line, maxsplit=1)[0].lower() for line in lines}
    if wanted - found:
        raise ConversionError(f"{pins} pins none of {sorted(wanted - found)}")
    return "\n".join(lines) + "\n"


def _set_grading_budget(zip_path: Path, epochs: int) -> None:
    """Export VAE_EPOCHS in Gradescope's run_autograder, as nbgrader grading sets it."""
    with zipfile.ZipFile(zip_path) as zf:
        entries = {info: zf.read(info) for info in zf.infolist()}
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries.items():
            if info.filename == "run_autograder":
                shebang, rest = data.decode().split("\n", 1)
                data = (f'{shebang}\nexport VAE_EPOCHS="${{VAE_EPOCHS:-{epochs}}}"\n'
                        f"{rest}").encode()
            zf.writestr(info, data)


PACKAGE = Path(__file__).parents[1]


def core_files(modules=CORE) -> list[str]:
    """The core's modules as paths relative to the repository (``vae_anomaly.CORE``)."""
    return [f"{PACKAGE.name}/{module}.py" for module in modules]


def stage_files(files: list[str], stage: Path, root: Path):
    """Copy each file of ``files`` (relative to ``root``) next to the master."""
    for name in files:
        if not (root / name).is_file():
            raise ConversionError(f"{root / name} (listed in files:) does not exist; "
                                  "the grading image needs it")
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, stage / name)


def build(source: Path, config_dir: Path, dist: Path, epochs: int, root: Path = ROOT):
    """Master notebook, then ``otter assign``: student notebook and Gradescope zip."""
    stage = dist / "master"
    shutil.rmtree(dist, ignore_errors=True)
    stage.mkdir(parents=True)
    notebook = nbformat.read(source, as_version=4)
    assignment_config = yaml.safe_load((config_dir / "assignment.yml").read_text())
    # files are listed one by one: students get the data loader, the grader the whole core
    students = core_files(STUDENT)
    assignment_config["files"] = [name for entry in assignment_config.get("files", [])
                                  for name in (students if entry == PACKAGE.name else [entry])]
    assignment_config["autograder_files"] = (
        [f for f in core_files() if f not in students] + assignment_config["autograder_files"])
    stage_files(assignment_config["files"] + assignment_config["autograder_files"], stage, root)
    (stage / "requirements.txt").write_text(
        gradescope_requirements(config_dir / "packages.txt", root / "requirements.txt"))
    master = build_master(notebook, assignment_config, nbgrader_config(root))
    nbformat.write(master, stage / source.name)
    subprocess.run([str(Path(sys.executable).with_name("otter")), "assign",
                    str(stage / source.name), str(dist.resolve())], check=True)
    (zipped,) = (dist / "autograder").glob("*-autograder_*.zip")
    zipped.rename(dist / "autograder" / "autograder.zip")
    _set_grading_budget(dist / "autograder" / "autograder.zip", epochs)
    print(f"built {dist}/student/{source.name} and {dist}/autograder/autograder.zip "
          f"(VAE_EPOCHS={epochs} on Gradescope)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--config", type=Path, default=AUTOGRADER,
                        help="folder with assignment.yml and packages.txt")
    parser.add_argument("--dist", type=Path, default=AUTOGRADER_DIST)
    parser.add_argument("--epochs", type=int, default=None,
                        help="VAE_EPOCHS on Gradescope (default: nbgrader's grading budget)")
    args = parser.parse_args(argv)
    build(args.source, args.config, args.dist, args.epochs or GRADING_EPOCHS, root=ROOT)


if __name__ == "__main__":
    main()
