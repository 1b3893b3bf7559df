"""What the grader checks outside the student's kernel, on the executed notebook.

* ``scan``: a static look at every cell a student could write, for code that reaches into
  the grading (rebinding a module's functions, IPython's error and event hooks, frames and
  globals of other code, the import machinery, the records of the checks, the budget).
* ``verify``: the trusted verdict of each autograded test cell. A cell passes only when it
  ran without error **and** its check left exactly its own passing record
  (``records.RECORD_MIME``); a cell that looks passed without that record had its failure
  hidden, and is flagged.
* ``judge``: the numeric verdicts, decided here from what the record measured, with the
  marks and the budget the grader reads itself (never the kernel's copies): the detector's
  areas against the calibrated marks and the flag, the epochs trained against the budget.
  Lowering a mark or lifting the budget inside the kernel changes nothing.

Both return human-readable reasons; the nbgrader preprocessors and the otter plugin turn
them into zero points and "flagged for review: …" lines in the feedback and the gradebook.
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass

from ..records import MEASURED, RECORD_MIME

GUARDED_MODULES = ("numpy", "sklearn", "scipy", "keras", "tensorflow", "vae_anomaly", "IPython",
                   "ipykernel", "builtins", "sys", "otter", "nbgrader", "jupyter_client",
                   "importlib", "gc", "inspect", "types")
FORBIDDEN_NAMES = {"exec", "eval", "compile", "__import__", "breakpoint", "__builtins__"}
ALLOWED_MAGICS = {"matplotlib", "time", "timeit", "load_ext", "autoreload", "config"}
FORBIDDEN_ATTRIBUTES = {
    "set_custom_exc", "excepthook", "showtraceback", "showsyntaxerror", "events",
    "ast_transformers", "input_transformers_post", "input_transformers_cleanup",
    "display_pub", "displayhook", "user_ns", "run_cell", "settrace", "setprofile",
    "_getframe", "f_globals", "f_locals", "f_back", "tb_frame", "gi_frame", "__globals__",
    "__code__", "__closure__", "__dict__", "__subclasses__", "__builtins__", "meta_path",
    "path_hooks", "modules", "get_objects", "get_referrers", "__wrapped__",
    "__getattribute__", "__setattr__", "__delattr__", "cell_contents", "__self__", "__func__",
    "attrgetter", "methodcaller",
}
# reading pickled data calls whatever function the data names (saving is fine)
UNPICKLERS = {f"{module}.{name}" for module in ("pickle", "_pickle", "marshal", "dill",
                                                 "cloudpickle", "shelve")
              for name in ("load", "loads", "Unpickler", "open")}
# the core's own modules a notebook has no business touching (the data loader it may use)
INTERNAL = ("vae_anomaly.measure", "vae_anomaly.decide", "vae_anomaly.records")
# strings that name the way into another object's insides (getattr(f, "__closure__"))
FORBIDDEN_STRINGS = ("__", "f_globals", "f_locals", "f_back", "tb_frame", "gi_frame",
                     "cell_contents")
# builtins that reach objects by a name computed at run time, or a module's namespace
DYNAMIC = {"getattr": 1, "setattr": 1, "delattr": 1, "hasattr": 1, "vars": 0}
FORBIDDEN_IMPORTS = ("ctypes", "gc", "importlib", "inspect", "otter", "nbgrader",
                     "jupyter_client", "ipykernel", *INTERNAL, "builtins", "sqlite3", "socket",
                     "subprocess", "multiprocessing", "signal", "operator.attrgetter",
                     "operator.methodcaller", "code", "codeop", "runpy")
FORBIDDEN_TEXT = ("vnd.vae-anomaly", "VAE_CALIBRATION", "FASHION_MNIST_DIR")


@dataclass(frozen=True)
class Finding:
    cell: str  # the cell's grade id, or its index for a cell the student added
    line: int
    what: str

    def __str__(self) -> str:
        return f"cell {self.cell}, line {self.line}: {self.what}"


def python_source(cell_source: str) -> str:
    """The cell as the kernel runs it (IPython's magics and ! lines turned into Python)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def _root(node: ast.AST) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Call)):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else None


class _Scanner(ast.NodeVisitor):
    def __init__(self, aliases: dict[str, str]):
        self.aliases, self.found = aliases, []

    def _add(self, node, what):
        self.found.append((getattr(node, "lineno", 0), what))

    def _guarded(self, node) -> str | None:
        module = self.aliases.get(_root(node) or "")
        return module if module and module.split(".")[0] in GUARDED_MODULES else None

    def _module_of(self, node) -> str | None:
        """The module an expression names (``np``, ``np.linalg``, ``v.grading``), or None."""
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in self.aliases:
            return None
        return ".".join([self.aliases[node.id], *reversed(parts)])

    def _target(self, target, node):
        if isinstance(target, (ast.Attribute, ast.Subscript)):
            module = self._guarded(target)
            if module:
                self._add(node, f"assigns into the module {module}")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._target(element, node)

    def visit_Assign(self, node):
        for target in node.targets:
            self._target(target, node)
        module = self._module_of(node.value)  # ``m = np``: m is numpy, whatever its name
        for target in node.targets:
            if isinstance(target, ast.Name):
                if module:
                    self.aliases[target.id] = module
                else:
                    self.aliases.pop(target.id, None)
        self.generic_visit(node)

    def visit_AugAssign(self, node):
        self._target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node):
        for target in node.targets:
            self._target(target, node)
        self.generic_visit(node)

    def visit_Import(self, node):
        for alias in node.names:
            self._import(node, alias.name)
            self.aliases[(alias.asname or alias.name).split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        for alias in node.names:
            full = f"{node.module}.{alias.name}" if node.module else alias.name
            self._import(node, full)
            self.aliases[alias.asname or alias.name] = full
        self.generic_visit(node)

    def _import(self, node, name):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IMPORTS):
            self._add(node, f"imports {name}")

    def visit_Call(self, node):
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in ("setattr", "delattr") and node.args and self._guarded(node.args[0]):
            self._add(node, f"{name} on the module {self._guarded(node.args[0])}")
        called = self._module_of(node.func) or self.aliases.get(name or "")
        if called in UNPICKLERS:
            self._add(node, f"unpickles with {called} (the data can call any function)")
        if name in DYNAMIC and len(node.args) > DYNAMIC[name]:
            attribute = node.args[DYNAMIC[name]] if name != "vars" else None
            if name == "vars":
                self._add(node, "uses vars() on an object (its namespace)")
            elif not (isinstance(attribute, ast.Constant) and isinstance(attribute.value, str)):
                self._add(node, f"uses {name} with an attribute name computed at run time")
        if (isinstance(node.func, ast.Attribute) and _root(node.func) == "get_ipython"):
            magic = node.args[0].value if node.args and isinstance(node.args[0],
                                                                   ast.Constant) else None
            if not (node.func.attr in ("system", "getoutput") or (
                    node.func.attr in ("run_line_magic", "run_cell_magic")
                    and magic in ALLOWED_MAGICS)):
                self._add(node, f"uses get_ipython().{node.func.attr}")
            for arg in node.args + [k.value for k in node.keywords]:
                self.visit(arg)
            return
        elif name == "get_ipython":
            self._add(node, "uses get_ipython()")
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in FORBIDDEN_NAMES:
            self._add(node, f"uses {node.id}")
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if node.attr in FORBIDDEN_ATTRIBUTES:
            self._add(node, f"uses .{node.attr}")
        module = self._module_of(node)
        if module and any(module == m or module.startswith(m + ".") for m in INTERNAL):
            self._add(node, f"reaches {module}")
            return  # once per expression
        self.generic_visit(node)

    def visit_Constant(self, node):
        if isinstance(node.value, str):
            for text in FORBIDDEN_TEXT:
                if text in node.value:
                    self._add(node, f"mentions {text!r}")
            if (node.value in FORBIDDEN_ATTRIBUTES | FORBIDDEN_NAMES
                    and node.value.startswith(FORBIDDEN_STRINGS)):
                self._add(node, f"names {node.value!r}")
        self.generic_visit(node)


def digest(source: str) -> str:
    """The fingerprint of a cell's code that marks it as the course's own, unchanged."""
    return hashlib.sha256(source.strip().encode()).hexdigest()


def _student_cells(nb) -> list:
    """Every code cell a student could have written: answer cells and cells they added.
    Tests and locked cells are put back from the source by nbgrader; in otter's notebook
    the course's own cells carry ``digest`` of their code."""
    cells = []
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        origin = cell.get("metadata", {}).get("nbgrader_origin", {})
        if cell.get("cell_type") != "code" or meta.get("locked") or (
                meta.get("grade") and not meta.get("solution")):
            continue
        if origin.get("sha256") and origin["sha256"] == digest(cell.get("source", "")):
            continue
        cells.append(cell)
    return cells


def _label(cell, index: int) -> str:
    meta = cell.get("metadata", {})
    return (meta.get("nbgrader", {}).get("grade_id")
            or meta.get("nbgrader_origin", {}).get("grade_id") or f"#{index + 1}")


def scan(nb, aliases: dict | None = None) -> list[Finding]:
    """Everything in the student's cells that reaches into the grading. The names the
    course's own cells bind (``np``, ``keras``, ``grading`` …) are followed from the cell
    that binds them, in the notebook's order; only the student's cells are reported."""
    aliases = dict(aliases or {})
    findings = []
    mine = {id(cell) for cell in _student_cells(nb)}
    for index, cell in enumerate(nb["cells"]):
        if cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(python_source(cell.get("source", "")))
        except SyntaxError:
            continue  # fails when it runs; nothing ran to hide
        scanner = _Scanner(aliases)
        scanner.visit(tree)
        aliases = scanner.aliases  # names carry over to later cells
        if id(cell) in mine:
            findings += [Finding(_label(cell, index), line, what)
                         for line, what in scanner.found]
    return findings


def scan_files(folder) -> list[Finding]:
    """``scan`` of the Python files handed in beside the notebook (a notebook may import them)."""
    from pathlib import Path

    findings = []
    for file in sorted(Path(folder).rglob("*.py")):
        fake = {"cells": [{"cell_type": "code", "metadata": {}, "source": file.read_text(
            errors="replace")}]}
        findings += [Finding(file.name, f.line, f.what) for f in scan(fake)]
    return findings


def records(cell) -> list[dict]:
    """The check records in a cell's outputs."""
    return [out["data"][RECORD_MIME] for out in cell.get("outputs", [])
            if out.get("output_type") in ("display_data", "execute_result")
            and RECORD_MIME in out.get("data", {})]


def has_error(cell) -> bool:
    return any(out.get("output_type") == "error" for out in cell.get("outputs", []))


def verify(cell, grade_id: str, marks: dict | None = None,
           budget: int | None = None) -> str | None:
    """Why an autograded test cell that looks passed must not count, or None.

    A failed cell (an error output) fails anyway; a passed one needs exactly its own
    passing record, and its measurements must pass ``judge`` with ``marks`` (the detector
    test's, ``records.calibration()["marks"]``) and ``budget`` (epochs).
    """
    if has_error(cell):
        return None
    found = records(cell)
    if [r.get("grade_id") for r in found] != [grade_id]:
        return (f"test {grade_id} shows no error but its check did not report once, as "
                "itself (a hidden failure, or a forged record)")
    if not found[0].get("passed"):
        return f"test {grade_id} failed ({found[0].get('message')}) but shows no error"
    return judge(found[0], marks, budget)


def rules() -> tuple[dict, int]:
    """The marks and the budget of this grading, read by the grader itself: the stored
    calibration and ``$VAE_EPOCHS`` of the grading process (its default, the course's)."""
    import os

    from ..config import EPOCHS_ENV, GRADING_EPOCHS
    from ..records import calibration

    return calibration()["marks"], int(os.environ.get(EPOCHS_ENV) or GRADING_EPOCHS)


def judge(record: dict, marks: dict | None, budget: int | None) -> str | None:
    """Why a check the kernel passed fails on the grader's own marks and budget, or None."""
    if budget is not None and record.get("epochs", 0) > budget:
        return (f"test {record['grade_id']}: the notebook trained {record['epochs']} epochs, "
                f"past the budget of {budget}")
    measured = record.get("measured") or {}
    if marks is None or not measured:
        return None
    if set(MEASURED) - set(measured):
        return f"test {record['grade_id']}: its record lacks the measured areas"
    roc, pr = float(measured["roc_auc"]), float(measured["pr_auc"])
    before = measured["roc_auc_untrained"]
    flag = marks["flag_above"]["roc_auc"]
    if roc > flag:
        return (f"ROC AUC {roc:.3f} is above anything a VAE trained without trousers reached "
                f"at this budget ({flag:.3f}): a detector that has seen the anomaly?")
    learned = marks["calibrated"]
    low = {"task4_auc_not_inverted": roc < marks["not_inverted"]["roc_auc"],
           "task4_auc_threshold": (before is None or roc < learned["roc_auc"]
                                   or roc - float(before) < learned["roc_auc_gain"])}
    if low.get(record["grade_id"]):
        return (f"test {record['grade_id']} passed in the kernel, but its measured ROC AUC "
                f"{roc:.3f} (before training: {before}) / PR AUC {pr:.3f} is below the "
                "grader's marks (were the marks changed in the kernel?)")
    return None
