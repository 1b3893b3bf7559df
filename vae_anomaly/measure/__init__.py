"""The kernel side of grading: code that runs in the student's kernel and *measures*.

``guard`` starts the grading kernel (threads, the epoch budget, the fit records, its state in
a closure); ``grading`` holds the checks the hidden test cells call. Each check leaves a
record (``vae_anomaly.records``) in its cell's output. Nothing here decides a mark that
counts: ``vae_anomaly.decide`` does, outside the kernel, and this package never imports it.
"""
