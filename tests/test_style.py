"""The code base stays ruff-clean."""

import subprocess
import sys


def test_ruff_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
