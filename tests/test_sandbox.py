"""The grading kernel's sandbox, with the real bubblewrap and a real kernel (~1 min).

Each test runs a few cells in the ``vae-anomaly-grading`` kernel from a folder that plays a
submission's, inside a fake course (source, gradebook, classmates) the kernel must not see.
"""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from vae_anomaly.config import KERNEL_NAME, SANDBOX_ENV
from vae_anomaly.course import sandbox

pytestmark = pytest.mark.slow


@pytest.fixture()
def course(tmp_path):
    """A course folder with secrets around one student's submission folder."""
    (tmp_path / "source_assignments").mkdir()
    (tmp_path / "source_assignments" / "hidden_tests.py").write_text("SECRET = 1\n")
    (tmp_path / "gradebook.db").write_text("scores")
    classmate = tmp_path / "submitted" / "classmate"
    classmate.mkdir(parents=True)
    (classmate / "anomaly_vae.ipynb").write_text("{}")
    mine = tmp_path / "autograded" / "me"
    mine.mkdir(parents=True)
    (mine / "helper.txt").write_text("my own file")
    return tmp_path, mine


def run(cells, where, timeout=120):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=timeout, allow_errors=True,
                   resources={"metadata": {"path": str(where)}}).execute()
    return ["".join(o.get("text", "") or f"{o.get('ename')}: {o.get('evalue')}"
                    for o in c.outputs)
            for c in nb.cells]


def test_the_kernel_sees_its_folder_and_nothing_of_the_course(course):
    root, mine = course
    out = run([
        "import os; print(sorted(os.listdir('.')))",
        f"print(os.path.exists({str(root / 'gradebook.db')!r}), "
        f"os.path.exists({str(root / 'source_assignments')!r}), "
        f"os.path.exists({str(root / 'submitted')!r}))",
        "open('written.txt', 'w').write('x'); print(sorted(os.listdir('.')))",
        "import vae_anomaly, vae_anomaly.guard as g; print(g.state['installed'])",
        "open(vae_anomaly.__file__, 'a')",
        "import socket; socket.create_connection(('127.0.0.1', 22), timeout=2)",
        "from vae_anomaly.data import load_fashion_mnist; print(load_fashion_mnist()[0][0].shape)",
    ], mine)
    assert out[0].strip() == "['helper.txt']"
    assert out[1].strip() == "False False False"
    assert out[2].strip() == "['helper.txt', 'written.txt']"
    assert out[3].strip() == "True"  # the guard ran before any cell
    assert "Read-only file system" in out[4]  # the core package is a read-only copy
    assert out[5]  # no network: the connection fails
    assert out[6].strip() == "(60000, 28, 28)"  # the data, read-only
    assert not (mine / "written.txt").exists()  # writes stay in the sandbox


def test_memory_processes_and_wall_time_are_limited(course, monkeypatch):
    _, mine = course
    out = run(["x = bytearray(8 * 2**30)",
               "import os\npids = []\ntry:\n    for _ in range(2000):\n"
               "        pid = os.fork()\n        if pid == 0:\n            import time; "
               "time.sleep(30); os._exit(0)\n        pids.append(pid)\nexcept OSError as e:\n"
               "    print('fork stopped', len(pids), e)"], mine)
    assert "MemoryError" in out[0]
    if sandbox._cgroup("pids", "vae-sandbox-probe", {}) is not None:  # where enforceable
        (sandbox.CGROUPS / "pids" / "vae-sandbox-probe").rmdir()
        assert "fork stopped" in out[1]
    monkeypatch.setattr(sandbox, "KERNEL_WALL_SECONDS", 40)  # the kernel starts in ~10 s
    with pytest.raises(DeadKernelError):
        run(["import time; time.sleep(120)"], mine, timeout=100)


def test_the_sandbox_can_be_turned_off_loudly(course, monkeypatch, capfd):
    root, mine = course
    monkeypatch.setenv(SANDBOX_ENV, "off")
    out = run([f"import os; print(os.path.exists({str(root / 'gradebook.db')!r}))"], mine)
    assert out[0].strip() == "True"
    assert "runs WITHOUT the sandbox" in capfd.readouterr().err


def test_a_missing_bubblewrap_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    sandbox.bwrap.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
            sandbox.bwrap()
    finally:
        sandbox.bwrap.cache_clear()
