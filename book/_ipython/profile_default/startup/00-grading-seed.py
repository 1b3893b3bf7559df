"""Runs in every kernel that `make book` starts (IPYTHONDIR=book/_ipython): Keras is seeded
with the grading seed, as `make calibrate` seeds its runs, so the reference solution's page
shows the grading seed's run rather than an arbitrary initialisation (multi-threaded
arithmetic can still move its last digits from one build to the next)."""

try:
    import keras

    from vae_anomaly.config import GRADING_SEED

    keras.utils.set_random_seed(GRADING_SEED)
except ImportError:  # a page that needs neither
    pass
