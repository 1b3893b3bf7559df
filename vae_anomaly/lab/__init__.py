"""Research lab: the reconstruction-detection trade-off of VAEs on Fashion-MNIST.

It trains the core VAE (``vae_anomaly.model``, with any likelihood of
``vae_anomaly.likelihoods``) and adds only what the lab studies. Modules: ``schedules``
(β callbacks), ``sparse`` (the Sparse VAE's encoder and KL), ``wasserstein``
(closed-form W2 between Gaussians), ``quality`` (MSE, SSIM), ``experiment`` (one run),
``profiles`` (the run grids), ``run`` (the CLI) and ``report`` (the lab notebook's
analyses of stored results).
"""
