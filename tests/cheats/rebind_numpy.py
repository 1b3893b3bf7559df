np.median = lambda *args, **kwargs: 0.0  # noqa: F821 (the notebook's numpy)
np.percentile = lambda *args, **kwargs: 0.0  # noqa: F821
