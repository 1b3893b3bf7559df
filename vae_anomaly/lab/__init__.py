"""Research lab: the reconstruction-detection trade-off of VAEs on Fashion-MNIST.

Modules: ``likelihoods`` (decoder log-densities), ``schedules`` (β callbacks),
``models`` (the reference VAE with a pluggable likelihood and a β variable),
``sparse`` (the Sparse VAE), ``wasserstein`` (closed-form W2 between Gaussians),
``quality`` (MSE, SSIM), ``experiment`` (one run), ``profiles`` (the run grids),
``run`` (the CLI) and ``report`` (the lab notebook's analyses of stored results).
"""
