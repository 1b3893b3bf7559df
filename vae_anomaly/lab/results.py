"""Stored lab results as one pandas table, for the lab notebook's figures and tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from .experiment import run_key
from .profiles import profile_groups


def row(result: dict) -> dict:
    """One result flattened: config fields, then metrics and timings."""
    m, t = result["metrics"], result["timings"]
    return {
        "key": result["key"], **result["config"],
        **{f"{score}_{k}": m[score][k] for score in ("elbo", "recon_error", "kl")
           for k in ("roc_auc", "ap")},
        **{k: m.get(k) for k in ("elbo_normal", "elbo_anomaly", "nll_normal", "kl_normal",
                                 "mse_normal", "mse_anomaly", "ssim_normal", "w2_latent",
                                 "w2_relative", "active_units", "sigma", "active_dims")},
        "epoch_s": float(np.mean(t["epoch_s"][1:] or t["epoch_s"])),
        "total_s": t["total_s"],
    }


def load_results(folder: str | Path, profile: str | None = None) -> pd.DataFrame:
    """Every result in ``folder``; with ``profile``, one boolean column per analysis group."""
    files = sorted(Path(folder).glob("*.json"))
    table = pd.DataFrame([row(json.loads(f.read_text())) for f in files])
    if profile is not None and not table.empty:
        for name, configs in profile_groups(profile).items():
            table[name] = table["key"].isin({run_key(c) for c in configs})
    return table


def seed_correlation(table: pd.DataFrame, score: str = "elbo_roc_auc",
                     by=("beta", "latent_dim")) -> pd.DataFrame:
    """Spearman's ρ between W2(normal, anomaly latents) and ``score`` across the seeds of
    each cell of ``by``, with its p-value and the number of seeds."""
    def rho(cell):
        r = spearmanr(cell["w2_latent"], cell[score])
        return pd.Series({"rho": r.statistic, "p": r.pvalue, "seeds": len(cell)})
    return table.groupby(list(by))[["w2_latent", score]].apply(rho).reset_index()

