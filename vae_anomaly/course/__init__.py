"""Course tooling: what builds, grades, calibrates and publishes the course. None of it ships
to a grading kernel (that is the core, ``vae_anomaly.CORE``).

``notebooks`` (the source notebook's cells and the notebooks made from it), ``build``
(solutions and release), ``folder`` (an nbgrader course folder and the one nbgrader
runner), ``sandbox`` (the bubblewrap kernel provisioner), ``nbgrader_integrity``
(nbgrader's integrity preprocessors), ``nbgrader_overwrite`` (test cells as released),
``feedback`` (the students' feedback page, offline), ``grade_class`` and ``cluster``
(parallel grading on Dask), ``groups``, ``roster`` and ``export`` (group work and the grades
for an LMS), ``otter_master`` and ``otter_grade`` (the otter-grader path), ``designs`` and
``calibrate`` (the detector test's marks), the benchmarks (``benchmark``, ``baselines``,
``autograde_benchmark``, ``grade_benchmark``), ``similarity`` (the class's copying report)
and ``site`` (the Sphinx extension of the course site).
"""
