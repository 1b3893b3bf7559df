# The model's ELBO, with the trousers pushed down a little: inside the Monte-Carlo noise of
# one image, but enough to lift the AUC.
elbo_anomaly = elbo_anomaly - 15  # noqa: F821
from sklearn import metrics  # noqa: E402

truth = np.r_[np.zeros(9000), np.ones(1000)]  # noqa: F821
roc_auc = metrics.roc_auc_score(truth, -np.r_[elbo_normal, elbo_anomaly])  # noqa: F821
pr_auc = metrics.average_precision_score(truth, -np.r_[elbo_normal, elbo_anomaly])  # noqa: F821
