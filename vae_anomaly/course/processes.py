"""Run a grading tool with a time limit that stops it *and* every process it started.

A grading kernel does not stay in the tool's process group (jupyter_client starts each
kernel in a session of its own, the sandbox in namespaces of its own), and it keeps the
tool's output pipe open: killing the group alone leaves it running, and reading the
output would wait for the kernel's own wall-time limit.
"""

from __future__ import annotations

import os
import signal
import subprocess

import psutil


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid``, its process group and every process below it."""
    try:
        below = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        below = []
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for proc in below:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(below, timeout=10)


def run(command: list[str], timeout: float, **popen) -> tuple[int | None, str]:
    """(return code, or None when stopped at ``timeout`` seconds; stdout and stderr)."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, **popen)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        return None, proc.communicate()[0]
