"""Anomaly detection with variational autoencoders: the course module's code, in three parts.

* **The core** (the modules named in ``CORE``): what a student's notebook and its grading
  need — the data, the VAE and its likelihoods, the detection scores, the hidden tests'
  checks. It is the only code that ships to a grading
  kernel (copied, read-only, into every sandbox) and into the otter autograder.
* **The course tooling** (``vae_anomaly.course``): building the notebooks, grading with
  nbgrader and otter (sandbox, integrity checks, parallel grading), calibrating the pass
  marks, the benchmarks and the course site.
* **The research lab** (``vae_anomaly.lab``): β, schedules and the Sparse VAE.
"""

CORE = ("__init__", "config", "data", "likelihoods", "model", "scoring", "grading", "guard",
        "integrity", "otter_plugin")
STUDENT = ("__init__", "config", "data")  # what students get with the otter notebook
