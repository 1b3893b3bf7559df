"""Every fact of the course that more than one module needs: paths, the grading budget and
the settings of a grading kernel. Everything else imports them from here.

Paths are relative to the folder holding this package (the repository, or a copy of the
core shipped to a grading machine).
"""

from __future__ import annotations

from pathlib import Path

# --- paths -------------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"
LAB_RESULTS = RESULTS / "lab"  # one folder of runs per profile (vae_anomaly.lab.run)
ASSIGNMENT = "anomaly_vae"
SOURCE = ROOT / "source_assignments" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SOLUTION = ROOT / "solutions" / f"{ASSIGNMENT}.ipynb"
SITE_NOTEBOOK = ROOT / "book" / "assignment" / f"{ASSIGNMENT}.ipynb"
AUTOGRADER = ROOT / "autograder"  # otter's configuration (assignment.yml, packages.txt)
AUTOGRADER_DIST = AUTOGRADER / "dist"  # what `make autograder` builds
OTTER_ZIP = AUTOGRADER_DIST / "autograder" / "autograder.zip"
CALIBRATION = RESULTS / "calibration.json"
CALIBRATION_ENV = "VAE_CALIBRATION"  # points the hidden tests at another calibration file

# --- the grading budget ----------------------------------------------------------------------
EPOCHS_ENV = "VAE_EPOCHS"  # the notebook reads its largest epoch count from this variable
STUDENT_EPOCHS = 30  # the notebook's default when the variable is unset
GRADING_EPOCHS = 10  # the budget every submission is graded at (`make calibrate` chooses it)
GRADING_SEED = 0  # the seed of the notebook's setup cell
CONVERGED_EPOCHS = 200  # the most epochs of the converged reference run (`make converged`)
GRADING_THREADS = 1  # TensorFlow threads of a grading kernel: the same arithmetic on any machine

# --- the grading kernel (vae_anomaly.measure.guard, vae_anomaly.decide.sandbox) -----------
KERNEL_NAME = "vae-anomaly-grading"  # the kernelspec nbgrader and otter grade with
SANDBOX_ENV = "VAE_SANDBOX"  # "off" grades without the sandbox (unsafe; says so loudly)
SANDBOX_SHARE_ENV = "VAE_SANDBOX_SHARE"  # a folder the sandbox binds writable (otter's results)
CELL_TIMEOUT = 300  # seconds one cell of a graded notebook may run
KERNEL_WALL_SECONDS = 600  # seconds one graded notebook's kernel may live
KERNEL_MEMORY_BYTES = 6 * 2**30  # address space of a grading kernel
KERNEL_PROCESSES = 512  # processes and threads of the grader's user in the sandbox (RLIMIT_NPROC)
KERNEL_TMP_BYTES = 512 * 2**20  # the sandbox's /tmp: a tmpfs of this size
KERNEL_FOLDER_BYTES = 512 * 2**20  # the submission's folder in the sandbox: a tmpfs of this size
KERNEL_FILE_BYTES = 256 * 2**20  # the largest file a kernel may write anywhere (RLIMIT_FSIZE)
# CPU seconds of one graded notebook (RLIMIT_CPU, counted outside the kernel): this factor
# times the grading seconds of the slowest correct design (results/autograde_benchmark.json)
KERNEL_CPU_FACTOR = 5
# the only variables of the grader's environment a grading kernel gets (the sandbox sets its
# own: the budget, the threads, the paths); tokens and credentials never reach a notebook
KERNEL_ENV_ALLOWED = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TERM",
                      "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", EPOCHS_ENV)
