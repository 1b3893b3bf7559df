"""The student's install: ``requirements-student.txt`` holds the course's own pins for what
the released notebook imports (and JupyterLab to run it), and nothing else is needed.

The slow test makes a fresh virtual environment from that file alone (pip with this
machine's settings), and runs the reference solution there at two epochs, as a student would
run the notebook: from its own folder, where the course's package cannot be imported, with
Fashion-MNIST in the Keras cache, where Keras's own loader finds it (it downloads it there
on a student's first run; this machine has no network, so the test puts the verified local
copy there).
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from vae_anomaly import data
from vae_anomaly.config import EPOCHS_ENV, ROOT, SITE_NOTEBOOK, SOLUTION

STUDENT = ROOT / "requirements-student.txt"
COURSE = ROOT / "requirements.txt"
RUNNER = "jupyterlab"  # what the student runs the notebook in (book/intro.md)
COURSE_ONLY = ("nbgrader", "otter", "jupyter_book", "playwright", "distributed", "pytest",
               "ruff", "vae_anomaly")  # never in a student's environment


def requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def imports(notebook: Path) -> tuple[set[str], set[str]]:
    """Top-level modules the notebook's code cells import, outside the standard library:
    (required, optional), optional ones being imported in a ``try`` that catches an
    ``ImportError`` (the course's data loader, with Keras's as the fallback)."""
    required, optional = set(), set()
    for cell in nbformat.read(notebook, 4).cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        guarded = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Try) and any(
                    isinstance(h.type, ast.Name) and h.type.id in
                    ("ImportError", "ModuleNotFoundError") for h in node.handlers):
                guarded |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            (optional if id(node) in guarded else required).update(
                n.split(".")[0] for n in names)
    stdlib = set(sys.stdlib_module_names)
    return required - stdlib, optional - stdlib - required


def test_student_pins_are_the_course_pins():
    """One home for versions: every student requirement is a line of requirements.txt."""
    course = {str(r) for r in requirements(COURSE)}
    student = requirements(STUDENT)
    assert student, "requirements-student.txt is empty"
    assert [str(r) for r in student if str(r) not in course] == [], \
        "requirements-student.txt pins what requirements.txt does not (copy its line)"
    assert all(len(r.specifier) == 1 and next(iter(r.specifier)).operator == "=="
               for r in student)


def test_student_requirements_cover_what_the_notebook_imports():
    """Each module the released notebook (and the solution) imports comes from a student
    requirement; the course's own package is optional (the notebook falls back to Keras)."""
    student = {canonicalize_name(r.name) for r in requirements(STUDENT)}
    provides = importlib.metadata.packages_distributions()
    for notebook in (SITE_NOTEBOOK, SOLUTION):
        required, optional = imports(notebook)
        assert {"tensorflow", "keras", "numpy", "sklearn"} <= required
        assert optional == {"vae_anomaly"}, optional
        missing = {module for module in required
                   if not {canonicalize_name(d) for d in provides.get(module, [])} & student}
        assert not missing, f"{notebook.name} imports {missing}, not in requirements-student.txt"
    assert RUNNER in student
    assert not student & {canonicalize_name(m) for m in COURSE_ONLY}


def run(*args, timeout, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_the_notebook_runs_in_a_fresh_student_environment(tmp_path):
    """A new venv, ``pip install -r requirements-student.txt`` and nothing else, then the
    reference solution executed there by the venv's own Jupyter at ``VAE_EPOCHS=2`` (its visible
    test of Task 2b asks for two epochs: the loss must go down)."""
    started = time.monotonic()
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv, timeout=300)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "JUPYTER_PATH", "IPYTHONDIR")}
    run(python, "-m", "pip", "install", "--quiet", "-r", STUDENT, timeout=1800, env=env)
    installed = time.monotonic()
    absent = run(python, "-c", "import importlib.util as u, sys; print([m for m in sys.argv[1:] "
                 "if u.find_spec(m)])", *COURSE_ONLY, timeout=120, cwd=tmp_path, env=env)
    assert absent.stdout.strip() == "[]", f"course tools in a student's venv: {absent.stdout}"

    # Fashion-MNIST where Keras caches it (as after a student's first, downloading run).
    keras_home = tmp_path / "keras"
    (keras_home / "datasets").mkdir(parents=True)
    shutil.copytree(data.find_files(download=False), keras_home / "datasets" / "fashion-mnist")
    work = tmp_path / "student"
    work.mkdir()
    notebook = nbformat.read(SOLUTION, 4)
    notebook.cells.append(nbformat.v4.new_code_cell(  # where the kernel and the data came from
        "import sys\nprint('KERNEL', sys.prefix)\nprint('LOADER', load_fashion_mnist.__module__)"))
    nbformat.write(notebook, work / "anomaly_vae.ipynb")
    env.update({EPOCHS_ENV: "2", "KERAS_HOME": str(keras_home), "TF_CPP_MIN_LOG_LEVEL": "3",
                "JUPYTER_DATA_DIR": str(tmp_path / "jupyter-data"),
                "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
                "PATH": f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"})
    run(venv / "bin" / "jupyter", "nbconvert", "--to", "notebook", "--execute",
        "--ExecutePreprocessor.timeout=900", "--ExecutePreprocessor.kernel_name=python3",
        "--output", "executed.ipynb", "anomaly_vae.ipynb", timeout=1800, cwd=work, env=env)
    executed = nbformat.read(work / "executed.ipynb", 4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    printed = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert f"KERNEL {venv}" in printed, printed[-2000:]
    assert "LOADER keras." in printed, "the notebook did not use Keras's own data loader"
    assert "ROC AUC" in printed and "Epoch 2/2" in printed
    print(f"student venv: pip install {installed - started:.0f} s, "
          f"notebook {time.monotonic() - installed:.0f} s")
