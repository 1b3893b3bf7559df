"""The code base stays ruff-clean, and its layout shows who is trusted."""

import ast
import subprocess
import sys
from pathlib import Path

import vae_anomaly

PACKAGE = Path(vae_anomaly.__file__).parent


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def imported(path: Path) -> set[str]:
    """The modules a file imports, relative imports resolved, at any depth of its code."""
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module) if p)
            found |= {module} | {f"{module}.{a.name}" for a in node.names}
    return found


def test_the_kernel_side_and_the_trusted_side_never_import_each_other():
    """``vae_anomaly.measure`` runs in the student's kernel; ``vae_anomaly.decide`` decides
    outside it. Neither imports the other, nor does the shared ``records``."""
    sides = {"measure": "vae_anomaly.decide", "decide": "vae_anomaly.measure"}
    for side, other in sides.items():
        files = sorted((PACKAGE / side).glob("*.py"))
        assert len(files) >= 3, files
        for path in files:
            bad = {m for m in imported(path) if m == other or m.startswith(other + ".")}
            assert not bad, f"{path.name} ({side}) imports {sorted(bad)}"
    shared = imported(PACKAGE / "records.py") | imported(PACKAGE / "config.py")
    assert not {m for m in shared if m.startswith(("vae_anomaly.measure", "vae_anomaly.decide"))}
    assert all((PACKAGE / f"{m}.py").is_file() for m in vae_anomaly.CORE)
