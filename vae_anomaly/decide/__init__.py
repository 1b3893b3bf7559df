"""The trusted side of grading: code that runs outside the student's kernel and *decides*.

``sandbox`` starts each grading kernel in bubblewrap, with an allow-listed environment and
limits; ``integrity`` scans the notebook and turns the checks' records into verdicts, read
with the calibration it loads itself; ``nbgrader_integrity`` and ``nbgrader_overwrite`` (the
nbgrader preprocessors) and ``otter_plugin`` (otter's) run them. This package never imports
``vae_anomaly.measure``: what a notebook changes in its kernel cannot change a verdict here.
"""
