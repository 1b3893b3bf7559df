"""Anomaly detection with variational autoencoders: the course module's shared code."""
