"""What the two sides of grading share: the record a check leaves in its cell's output, and
the calibration both read for themselves.

The kernel side (``vae_anomaly.measure``) writes records; the trusted side
(``vae_anomaly.decide``) reads them and decides. Neither imports the other: this module and
``config`` are all they have in common.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .config import CALIBRATION, CALIBRATION_ENV

RECORD_MIME = "application/vnd.vae-anomaly.check+json"  # a check's record, in its cell's output
# what a detector check's record carries for the verdict: the trained model's areas, and its
# ROC AUC as its first fit started (None where it could not be measured)
MEASURED = ("roc_auc", "pr_auc", "roc_auc_untrained")


def calibration(path: str | os.PathLike | None = None) -> dict:
    """The stored calibration (``results/calibration.json``, or ``$VAE_CALIBRATION``)."""
    path = Path(path or os.environ.get(CALIBRATION_ENV) or CALIBRATION)
    return json.loads(path.read_text())
