"""The grading kernel's sandbox: bubblewrap around every kernel nbgrader or otter starts.

The kernelspec ``vae-anomaly-grading`` (installed by ``python -m vae_anomaly.decide.sandbox
install``, part of ``make course``) runs the guard (``vae_anomaly.measure.guard.main``) through the
kernel provisioner ``SandboxProvisioner`` (a ``jupyter_client`` entry point). For each
kernel it launches:

* **bubblewrap** with a deny-by-default view of the machine: the system (``/usr``, the
  libraries, a few files of ``/etc``), this Python environment and the data read-only; a
  read-only copy of the core package and the calibration (the only grading assets the
  hidden tests need); the submission's folder copied into a private tmpfs of
  ``KERNEL_FOLDER_BYTES`` as the working folder; a private ``/tmp`` of ``KERNEL_TMP_BYTES``;
  no network and no other namespace shared (``--unshare-all``); killed with its parent.
  The course folder — source, release, gradebook, other submissions, autograder files — is
  not there at all.
* **A clean environment**: the kernel gets the variables of ``KERNEL_ENV_ALLOWED`` and the
  sandbox's own (budget, threads, paths), nothing else of the grader's environment (no
  ``JUPYTERHUB_API_TOKEN``, no cloud or Git credentials).
* The kernel talks to nbgrader or otter over ZMQ on Unix sockets (``transport = "ipc"``) in
  a private folder shared with the sandbox, since it has no network.
* **Limits** that need no root and no cgroup: ``KERNEL_WALL_SECONDS`` of wall time
  (``timeout -s KILL``); with ``prlimit``, an address space of ``KERNEL_MEMORY_BYTES``,
  ``KERNEL_PROCESSES`` processes (RLIMIT_NPROC: per user, enforced for every grader but
  root), files of at most ``KERNEL_FILE_BYTES`` and ``cpu_seconds()`` of CPU time
  (RLIMIT_CPU: SIGXCPU, on which the guard ends the cell with the reason, then SIGKILL).
  Where the machine lets a cgroup be made (root on cgroup v1), the processes and the
  memory are also capped in a cgroup of their own. The whole tree dies with the sandbox's
  first process.

``VAE_SANDBOX=off`` starts the same kernel without bubblewrap (for machines without
it), and says so loudly on every kernel start.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from functools import cache
from pathlib import Path

from jupyter_client.provisioning import LocalProvisioner

from .. import CORE
from ..config import (
    CALIBRATION,
    EPOCHS_ENV,
    GRADING_EPOCHS,
    GRADING_THREADS,
    KERNEL_CPU_FACTOR,
    KERNEL_ENV_ALLOWED,
    KERNEL_FILE_BYTES,
    KERNEL_FOLDER_BYTES,
    KERNEL_MEMORY_BYTES,
    KERNEL_NAME,
    KERNEL_PROCESSES,
    KERNEL_TMP_BYTES,
    KERNEL_WALL_SECONDS,
    RESULTS,
    ROOT,
    SANDBOX_ENV,
    SANDBOX_SHARE_ENV,
)

PROVISIONER = "vae-sandbox"  # the entry point's name (pyproject.toml)
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "passwd", "group", "nsswitch.conf",
       "hosts", "localtime", "fonts", "ssl", "ca-certificates", "alternatives", "mime.types")
CGROUPS = Path("/sys/fs/cgroup")
SUBMISSION = "/submission"  # the read-only copy of the submission's folder in the sandbox
INLINE_FIGURES = "module://matplotlib_inline.backend_inline"
OFF_WARNING = (f"\n{'!' * 78}\n!! {SANDBOX_ENV}=off: this kernel runs WITHOUT the sandbox. The "
               "notebook can read and\n!! write everything this user can: the source, the "
               "gradebook, other submissions.\n" + "!" * 78 + "\n")


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot make namespaces here."""


def enabled() -> bool:
    return os.environ.get(SANDBOX_ENV, "on").lower() not in ("off", "0", "no", "false")


@cache
def bwrap() -> str:
    """The bubblewrap executable, checked to work on this machine."""
    found = shutil.which("bwrap")
    if not found:
        raise SandboxUnavailable(
            "bubblewrap (bwrap) is not installed, so student notebooks cannot be graded in "
            "a sandbox. Install it (Debian/Ubuntu: apt-get install bubblewrap; `make course` "
            f"does), or grade without the sandbox, unsafely: {SANDBOX_ENV}=off")
    probe = subprocess.run([found, "--ro-bind", "/", "/", "--unshare-all", "--dev", "/dev",
                            "--proc", "/proc", "true"], capture_output=True, text=True)
    if probe.returncode:
        raise SandboxUnavailable(
            f"bubblewrap cannot make a sandbox on this machine ({probe.stderr.strip()}); "
            f"enable unprivileged user namespaces, or grade unsafely with {SANDBOX_ENV}=off")
    return found


def data_folder() -> Path:
    """The folder of the Fashion-MNIST files the kernel reads (found here, bound read-only)."""
    from ..data import find_files

    return find_files(download=False)


def core_bundle(folder: Path) -> Path:
    """A copy of the core package and the calibration, the only code and assets a grading
    kernel gets (``vae_anomaly.CORE``)."""
    package = folder / "vae_anomaly"
    package.mkdir(parents=True)
    for module in CORE:
        (package / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "vae_anomaly" / f"{module}.py", package / f"{module}.py")
    calibration = Path(os.environ.get("VAE_CALIBRATION") or CALIBRATION)
    (folder / "results").mkdir()
    shutil.copy2(calibration, folder / "results" / "calibration.json")
    return folder


def _cgroup(controller: str, name: str, settings: dict) -> Path | None:
    """A new cgroup (v1 hierarchy) with ``settings``, or None where this is not allowed."""
    folder = CGROUPS / controller / name
    try:
        folder.mkdir()
        for key, value in settings.items():
            (folder / key).write_text(str(value))
    except OSError:
        return None
    return folder


def cpu_seconds(epochs: int) -> int:
    """CPU seconds of one graded notebook: ``KERNEL_CPU_FACTOR`` times the grading seconds of
    the slowest correct design measured by ``make benchmark-autograde``, scaled to ``epochs``."""
    measured = json.loads((RESULTS / "autograde_benchmark.json").read_text())
    slowest = max(measured["seconds_per_submission"], measured["conv_seconds_per_submission"])
    return int(KERNEL_CPU_FACTOR * slowest * max(1.0, epochs / measured["epochs"]))


def kernel_env(parent: dict, epochs: int | None = None) -> dict:
    """The grading kernel's whole environment: the allow-list of the grader's, then the
    budget, the threads and the paths of the grading kernel."""
    env = {key: parent[key] for key in KERNEL_ENV_ALLOWED if key in parent}
    env.setdefault(EPOCHS_ENV, str(epochs or GRADING_EPOCHS))
    threads = str(GRADING_THREADS)
    env.update({"TF_NUM_INTRAOP_THREADS": threads, "TF_NUM_INTEROP_THREADS": threads,
                "MPLBACKEND": INLINE_FIGURES, "TF_CPP_MIN_LOG_LEVEL": "3",
                "MPLCONFIGDIR": "/tmp/matplotlib", "KERAS_HOME": "/tmp/keras"})
    return env


def limits(epochs: int) -> list[str]:
    """``timeout`` and ``prlimit`` before a command: limits that hold for any user."""
    cpu = cpu_seconds(epochs)
    return ["timeout", "-s", "KILL", str(KERNEL_WALL_SECONDS),
            "prlimit", f"--as={KERNEL_MEMORY_BYTES}", f"--nproc={KERNEL_PROCESSES}",
            f"--fsize={KERNEL_FILE_BYTES}", f"--cpu={cpu}:{cpu + 10}", "--"]


def sandboxed(cmd: list[str], cwd: Path, runtime: Path, core: Path, work: Path,
              cgroups: list[Path], epochs: int = GRADING_EPOCHS) -> list[str]:
    """``cmd`` wrapped in the limits and the bubblewrap sandbox."""
    binds = []
    for path in SYSTEM:
        binds += ["--ro-bind-try", path, path]
    for name in ETC:
        binds += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    for path in sorted({sys.prefix, sys.base_prefix, os.path.realpath(sys.executable)}):
        binds += ["--ro-bind", path, path]
    data = data_folder()
    binds += ["--ro-bind", str(data), str(data), "--ro-bind", str(core), str(core),
              "--bind", str(runtime), str(runtime), "--ro-bind", str(work), SUBMISSION,
              "--size", str(KERNEL_FOLDER_BYTES), "--tmpfs", str(cwd)]
    share = os.environ.get(SANDBOX_SHARE_ENV)
    if share:  # otter's results file (vae_anomaly.decide.otter_plugin)
        binds += ["--bind", share, share]
    box = [bwrap(), "--unshare-all", "--die-with-parent", "--new-session",
           "--dev", "/dev", "--proc", "/proc", "--size", str(KERNEL_TMP_BYTES), "--tmpfs", "/tmp",
           *binds, "--setenv", "HOME", "/tmp", "--setenv", "FASHION_MNIST_DIR", str(data),
           "--unsetenv", "JPY_PARENT_PID",  # its parent is not visible: bwrap kills it instead
           "--chdir", str(cwd), "--",
           # the folder's files into its size-capped tmpfs, then the kernel
           "/bin/sh", "-c", f'cp -a {SUBMISSION}/. . && exec "$@"', "sh", *cmd]
    join = [f'echo $$ > "{g}/cgroup.procs"' for g in cgroups]
    if join:
        return ["sh", "-c", " && ".join(join) + ' && exec "$@"', "sh", *limits(epochs), *box]
    return limits(epochs) + box


class SandboxProvisioner(LocalProvisioner):
    """``LocalProvisioner`` that starts the kernel inside the sandbox (module docstring)."""

    async def pre_launch(self, **kwargs):
        epochs = int((kwargs.get("env") or os.environ).get(EPOCHS_ENV) or GRADING_EPOCHS)
        if not enabled():
            sys.stderr.write(OFF_WARNING)
            self.log.warning(OFF_WARNING)
            kwargs = await super().pre_launch(**kwargs)
            kwargs["env"] = {k: v for k, v in kernel_env(kwargs.get("env") or os.environ,
                                                          epochs).items()
                             if k not in ("MPLCONFIGDIR", "KERAS_HOME")}
            return kwargs
        bwrap()  # fails here, with the reason, if the sandbox cannot be made
        self.scratch = Path(tempfile.mkdtemp(prefix="vae-sandbox-"))
        runtime, work = self.scratch / "runtime", self.scratch / "work"
        runtime.mkdir()
        cwd = Path(kwargs.get("cwd") or os.getcwd()).resolve()
        shutil.copytree(cwd, work, ignore=shutil.ignore_patterns(".*"))
        core = core_bundle(self.scratch / "core")
        name = f"vae-sandbox-{uuid.uuid4().hex[:12]}"
        self.cgroups = [g for g in (
            _cgroup("pids", name, {"pids.max": KERNEL_PROCESSES}),
            _cgroup("memory", name, {"memory.limit_in_bytes": KERNEL_MEMORY_BYTES})) if g]
        km = self.parent
        km.transport, km.cache_ports = "ipc", False
        km.ip = str(runtime / "zmq")
        km.connection_file = str(runtime / "kernel.json")
        kwargs = await super().pre_launch(**kwargs)
        kwargs["env"] = {**kernel_env(kwargs.get("env") or os.environ, epochs),
                         "PYTHONPATH": str(core),
                         "VAE_CALIBRATION": str(core / "results" / "calibration.json")}
        kwargs["cmd"] = sandboxed(kwargs["cmd"], cwd, runtime, core, work, self.cgroups, epochs)
        return kwargs

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if restart:
            return
        for group in getattr(self, "cgroups", []):
            try:
                group.rmdir()
            except OSError:
                pass
        if getattr(self, "scratch", None):
            shutil.rmtree(self.scratch, ignore_errors=True)


def kernelspec() -> dict:
    return {"argv": [sys.executable, "-P", "-c",
                     "from vae_anomaly.measure.guard import main; main()",
                     "-f", "{connection_file}"],
            "display_name": "Python 3 (VAE grading sandbox)", "language": "python",
            "interrupt_mode": "message",
            "metadata": {"kernel_provisioner": {"provisioner_name": PROVISIONER}}}


def install(prefix: str = sys.prefix) -> Path:
    """Write the grading kernelspec into this environment's Jupyter data folder."""
    folder = Path(prefix) / "share" / "jupyter" / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(kernelspec(), indent=1) + "\n")
    return folder


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Install the grading kernel; check bubblewrap.")
    parser.add_argument("command", choices=["install", "check"])
    args = parser.parse_args(argv)
    if args.command == "install":
        print(f"installed the kernel {KERNEL_NAME} in {install()}")
    if enabled():
        bwrap()
        print("bubblewrap works: submissions are graded in a sandbox")
    else:
        print(OFF_WARNING)


if __name__ == "__main__":
    main()
