# Lower the detector's pass marks (a method call on the cached dict, no assignment to see).
import vae_anomaly as course

course.measure.grading.marks()["calibrated"].update(roc_auc=0.0, roc_auc_gain=-1.0)
course.measure.grading.marks()["not_inverted"].update(roc_auc=0.0)
