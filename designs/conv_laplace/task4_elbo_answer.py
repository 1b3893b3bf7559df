# ruff: noqa: F821  (the names come from the notebook's earlier cells)
elbo_normal = -negative_elbo(x_test_normal)
elbo_anomaly = -negative_elbo(x_test_anomaly)
