"""Anomaly detection with variational autoencoders: the course module's code, in three parts.

* **The core** (the modules named in ``CORE``): what a student's notebook and its grading
  need — the data, the VAE and its likelihoods, the detection scores, and grading's two
  sides, which never import each other:

  - ``measure``, code that runs in the student's kernel: the guard (``measure.guard``) and
    the checks the hidden tests call (``measure.grading``); they measure and leave records;
  - ``decide``, code that runs outside it: the sandbox the kernel runs in, the static scan
    and the verdicts (``decide.integrity``), run by nbgrader's preprocessors and otter's
    plugin, which read the records and the calibration for themselves.

  ``records`` (the record's format, the calibration) and ``config`` are what they share.
  The core is the only code that ships to a grading kernel (copied, read-only, into every
  sandbox) and into the otter autograder.
* **The course tooling** (``vae_anomaly.course``): building the notebooks, grading with
  nbgrader and otter (sandbox, integrity checks, parallel grading), calibrating the pass
  marks, the benchmarks and the course site.
* **The research lab** (``vae_anomaly.lab``): β, schedules and the Sparse VAE.
"""

CORE = ("__init__", "config", "data", "likelihoods", "model", "scoring", "records",
        "measure/__init__", "measure/guard", "measure/grading",
        "decide/__init__", "decide/integrity", "decide/otter_plugin")
STUDENT = ("__init__", "config", "data")  # what students get with the otter notebook


def module_name(entry: str) -> str:
    """The module of a ``CORE`` entry: ``vae_anomaly.measure.guard`` for ``measure/guard``."""
    return ".".join(["vae_anomaly", *entry.split("/")]).removesuffix(".__init__")
