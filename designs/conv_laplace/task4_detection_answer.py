# ruff: noqa: F821  (the names come from the notebook's earlier cells)
from sklearn.metrics import auc, precision_recall_curve, roc_auc_score

truth = np.r_[np.zeros(len(elbo_normal)), np.ones(len(elbo_anomaly))]
score = -np.r_[elbo_normal, elbo_anomaly]
roc_auc = round(roc_auc_score(truth, score), 3)
precision, recall, _ = precision_recall_curve(truth, score)
pr_auc = round(auc(recall, precision), 3)
