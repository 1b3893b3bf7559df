"""The grading kernel's sandbox, with the real bubblewrap and a real kernel (~1 min).

Each test runs a few cells in the ``vae-anomaly-grading`` kernel from a folder that plays a
submission's, inside a fake course (source, gradebook, classmates) the kernel must not see.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from vae_anomaly.config import (
    GRADING_EPOCHS,
    GRADING_THREADS,
    KERNEL_FILE_BYTES,
    KERNEL_FOLDER_BYTES,
    KERNEL_NAME,
    KERNEL_PROCESSES,
    KERNEL_TMP_BYTES,
)
from vae_anomaly.decide import sandbox

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
        "import vae_anomaly, vae_anomaly.measure.guard as g; print(g.installed())",
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


def test_the_kernel_gets_no_secret_of_the_grader(course, monkeypatch):
    """A JupyterHub token and cloud credentials in the grader's environment (nbgrader's and
    otter's kernels both start through this provisioner) never reach the kernel."""
    _, mine = course
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "planted-hub-token")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "planted-cloud-key")
    out = run(["import os; print(sorted(k for k, v in os.environ.items() if 'planted' in v))",
               "print('planted' in open('/proc/1/environ').read())",
               "print(os.environ['VAE_EPOCHS'], os.environ['TF_NUM_INTRAOP_THREADS'])"], mine)
    assert out[0].strip() == "[]"
    assert out[1].strip() == "False"  # nor in the sandbox's first process
    assert out[2].split() == [str(GRADING_EPOCHS), str(GRADING_THREADS)]


def test_memory_writes_and_wall_time_are_limited(course, monkeypatch):
    _, mine = course
    mib = 2**20
    def fill(folder, n):
        return (f"for i in range({n}):\n"
                f"    open(f'{folder}/part{{i}}', 'wb').write(bytes({KERNEL_FILE_BYTES - mib}))")

    out = run(["x = bytearray(8 * 2**30)",
               fill("/tmp", KERNEL_TMP_BYTES // KERNEL_FILE_BYTES + 1),
               f"open('big', 'wb').write(bytes({KERNEL_FILE_BYTES + mib}))",
               fill(".", KERNEL_FOLDER_BYTES // KERNEL_FILE_BYTES + 1),
               "print('still running')"], mine)
    assert "MemoryError" in out[0]
    assert "No space left on device" in out[1]  # the sandbox's /tmp is capped
    assert "File too large" in out[2]  # so is one file
    assert "No space left on device" in out[3]  # and the folder
    assert out[4].strip() == "still running"  # the notebook goes on with the reason
    monkeypatch.setattr(sandbox, "KERNEL_WALL_SECONDS", 40)  # the kernel starts in ~10 s
    with pytest.raises(DeadKernelError):
        run(["import time; time.sleep(120)"], mine, timeout=100)


def test_cpu_time_is_limited_from_outside_the_kernel(course, monkeypatch):
    """Past its CPU seconds the cell ends with the reason, then the kernel is killed,
    even where the notebook took away the guard's handler."""
    _, mine = course
    monkeypatch.setattr(sandbox, "cpu_seconds", lambda epochs: 15)  # the kernel starts in ~8
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in (
        "while True:\n    pass", "import signal; signal.signal(signal.SIGXCPU, signal.SIG_IGN)",
        "while True:\n    pass")])
    client = NotebookClient(nb, kernel_name=KERNEL_NAME, timeout=120, allow_errors=True,
                            resources={"metadata": {"path": str(mine)}})
    with pytest.raises(DeadKernelError):
        client.execute()
    assert "used up its CPU time" in nb.cells[0].outputs[0]["evalue"]


def test_processes_are_limited_for_an_ordinary_user():
    """RLIMIT_NPROC (no root, no cgroup): a fork bomb under the sandbox's limits in
    bubblewrap, run as the user ``nobody`` with the system's Python, stops at the cap."""
    python = "/usr/bin/python3"
    if not (shutil.which("setpriv") and Path(python).exists()):
        pytest.skip("setpriv (util-linux) and the system's python3 are needed")
    bomb = ("import os\nn = 0\ntry:\n    while n < 5000:\n        if os.fork() == 0:\n"
            "            import time; time.sleep(20); os._exit(0)\n        n += 1\n"
            "except OSError as e:\n    print('fork stopped after', n, e)")
    box = [sandbox.bwrap(), "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent",
           "--dev", "/dev", "--proc", "/proc", python, "-c", bomb]
    done = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                           "--", *sandbox.limits(GRADING_EPOCHS), *box],
                          capture_output=True, text=True, timeout=120)
    assert "fork stopped after" in done.stdout, done.stdout + done.stderr
    assert int(done.stdout.split()[3]) < KERNEL_PROCESSES
