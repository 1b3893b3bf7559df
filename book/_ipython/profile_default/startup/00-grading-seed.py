"""Runs in every kernel that `make book` starts (IPYTHONDIR=book/_ipython): Keras is seeded
with the grading seed, as `make calibrate` seeds its runs, so the reference solution's page
shows a reproducible run rather than whatever the initialisation happened to be."""

try:
    import keras

    from vae_anomaly.config import GRADING_SEED

    keras.utils.set_random_seed(GRADING_SEED)
except ImportError:  # a page that needs neither
    pass
