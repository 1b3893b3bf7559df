"""The lab notebook's analyses of stored results: tables, correlations and the paper's claims.

Everything here reads results (``results/lab/<profile>/*.json``) and trains nothing.
"""

from __future__ import annotations

import itertools
import json
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

from vae_anomaly.config import LAB_RESULTS

from .experiment import run_key
from .profiles import SCHEDULE_BETA, profile_configs, profile_groups

CELL = ("beta", "latent_dim")


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


class IncompleteResults(RuntimeError):
    """The results folder lacks runs of the profile."""


@dataclass
class LabResults:
    """One profile's stored results: ``table`` (one row per run, a boolean column per
    analysis group) and ``raw`` (run key -> the stored result, histories included)."""

    table: pd.DataFrame
    raw: dict

    def group(self, name: str) -> pd.DataFrame:
        return self.table[self.table[name]].copy()


def load_lab(folder: str | Path, profile: str = "full") -> LabResults:
    """Every stored run of ``profile`` in ``folder``; raises ``IncompleteResults`` naming
    the command that completes them when any is missing."""
    folder = Path(folder)
    keys = [run_key(c) for c in profile_configs(profile)]
    missing = [k for k in keys if not (folder / f"{k}.json").exists()]
    if missing:
        raise IncompleteResults(
            f"{len(keys) - len(missing)} of the {len(keys)} runs of the {profile!r} profile are "
            f"stored in {folder} (missing: {missing[0]}, ...). Run `make lab-{profile}` "
            "(it resumes where it stopped).")
    raw = {k: json.loads((folder / f"{k}.json").read_text()) for k in keys}
    table = pd.DataFrame([row(r) for r in raw.values()])
    for name, configs in profile_groups(profile).items():
        table[name] = table["key"].isin({run_key(c) for c in configs})
    return LabResults(table, raw)


def mean_sd(table: pd.DataFrame, by, columns, digits: int = 3) -> pd.DataFrame:
    """``mean ± sd`` over the rows (seeds) of each group, one column per metric."""
    grouped = table.groupby(list(by))[list(columns)]
    mean, sd = grouped.mean(), grouped.std(ddof=1)
    return pd.DataFrame({c: [f"{m:.{digits}f} ± {s:.{digits}f}"
                             for m, s in zip(mean[c], sd[c], strict=True)]
                         for c in columns}, index=mean.index)


def exact_spearman(x, y) -> tuple[float, float]:
    """Spearman's ρ and its exact two-sided p-value, from all n! pairings (n ≤ 8): with
    5 seeds, scipy's large-sample p-value is far too small (0 for a perfect ranking)."""
    rx, ry = rankdata(x), rankdata(y)
    if len(rx) > 8:
        raise ValueError(f"exact p-values need at most 8 pairs, not {len(rx)}")
    observed = spearmanr(rx, ry).statistic
    null = np.array([spearmanr(rx, perm).statistic for perm in itertools.permutations(ry)])
    return float(observed), float(np.mean(np.abs(null) >= abs(observed) - 1e-12))


def seed_correlation(table: pd.DataFrame, score: str = "elbo_roc_auc", by=CELL) -> pd.DataFrame:
    """Spearman's ρ between W2(normal, anomaly latents) and ``score`` across the seeds of
    each cell of ``by``, with its exact p-value and the number of seeds."""
    def rho(cell):
        r, p = exact_spearman(cell["w2_latent"], cell[score])
        return pd.Series({"rho": r, "p": p, "seeds": len(cell)})
    return table.groupby(list(by))[["w2_latent", score]].apply(rho).reset_index()


def within_cell_correlation(table: pd.DataFrame, x: str = "w2_latent",
                            y: str = "elbo_roc_auc", by=CELL, permutations: int = 10_000,
                            seed: int = 0) -> dict:
    """Mean over cells of Spearman's ρ(x, y) across seeds, with a two-sided permutation
    p-value (y shuffled within each cell, so that differences between cells play no part)."""
    cells = [(g[x].to_numpy(), g[y].to_numpy()) for _, g in table.groupby(list(by))]
    cells = [(a, b) for a, b in cells if len(a) > 2]

    def statistic(pairs):
        return float(np.nanmean([spearmanr(a, b).statistic for a, b in pairs]))

    observed = statistic(cells)
    rng = np.random.default_rng(seed)
    null = np.zeros(permutations)
    for a, b in cells:  # Spearman's ρ is Pearson's r on ranks
        a, b = rankdata(a), rankdata(b)
        a -= a.mean()
        shuffled = rng.permuted(np.tile(b, (permutations, 1)), axis=1)
        shuffled -= shuffled.mean(axis=1, keepdims=True)
        null += shuffled @ a / (np.linalg.norm(shuffled, axis=1) * np.linalg.norm(a))
    null /= len(cells)
    p = (1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + permutations)
    return {"rho": observed, "p": float(p), "cells": len(cells),
            "seeds": int(np.median([len(a) for a, _ in cells]))}


def cell_correlation(table: pd.DataFrame, x: str, y: str, by=CELL) -> dict:
    """Spearman's ρ(x, y) across the cells of ``by``, on the cells' means over seeds."""
    means = table.groupby(list(by))[[x, y]].mean()
    r = spearmanr(means[x], means[y])
    return {"rho": float(r.statistic), "p": float(r.pvalue), "cells": len(means)}


def paired_difference(table: pd.DataFrame, column: str, by: str, reference, other) -> dict:
    """Mean and sd over seeds of ``column`` under ``other`` minus under ``reference``
    (rows of ``by``), paired by seed: the same seed starts from the same weights."""
    wide = table.pivot_table(index="seed", columns=by, values=column)
    diff = (wide[other] - wide[reference]).dropna()
    return {"mean": float(diff.mean()), "sd": float(diff.std(ddof=1)),
            "wins": int((diff > 0).sum()), "seeds": len(diff)}


def compressed_bits_per_pixel(images) -> np.ndarray:
    """A complexity measure needing no model: zlib's compressed size of each 8-bit image,
    in bits per pixel (Serrà et al., 2020, use PNG and JPEG2000 the same way)."""
    pixels = np.round(np.asarray(images) * 255).astype("uint8").reshape(len(images), -1)
    return np.array([8 * len(zlib.compress(p.tobytes(), 9)) / p.size for p in pixels])


def results_folder(profile: str) -> Path:
    """Where a profile's results live: ``$VAE_LAB_RESULTS`` if set, else
    ``results/lab/<profile>`` in the repository."""
    override = os.environ.get("VAE_LAB_RESULTS")
    if override:
        return Path(override)
    return LAB_RESULTS / profile


# A change smaller than this (in AUC or SSIM) counts as no change in ``effect``.
NO_CHANGE = 0.005


def effect(d_ssim: float, d_auc: float, tol: float = NO_CHANGE) -> str:
    """Name what a change in reconstruction (SSIM) and detection (AUC) does to the trade-off."""
    up = [d > tol for d in (d_ssim, d_auc)]
    down = [d < -tol for d in (d_ssim, d_auc)]
    if any(up) and not any(down):
        return "mitigates: " + ("better at both" if all(up) else
                                "better reconstruction, same detection" if up[0] else
                                "better detection, same reconstruction")
    if any(up) and any(down):
        return "trades: " + ("better reconstruction, worse detection" if up[0] else
                             "better detection, worse reconstruction")
    if any(down):
        return "worse: " + ("at both" if all(down) else
                            "reconstruction" if down[0] else "detection")
    return f"no change beyond ±{tol}"


def conclusions(lab: LabResults) -> pd.DataFrame:
    """One row per finding of the paper: what was measured, the numbers, and the verdict
    by fixed rules: Spearman tests at p < 0.05 (finding 2: p < 0.01 holds, p < 0.05 weak
    evidence), and ``effect`` for the two remedies."""
    sweep, schedules, sparse = (lab.group(g) for g in ("sweep", "schedules", "sparse"))
    rows = []

    r = cell_correlation(sweep, "ssim_normal", "elbo_roc_auc")
    verdict = ("holds" if r["rho"] < 0 and r["p"] < 0.05 else
               "does not hold: the opposite" if r["rho"] > 0 and r["p"] < 0.05 else
               "not shown")
    rows.append(("1. A more constrained latent space detects better but reconstructs worse",
                 "Spearman ρ(mean SSIM, mean ELBO AUC) over the 12 (β, d) configurations",
                 f"ρ = {r['rho']:.2f}, p = {r['p']:.2g}", verdict))

    r = within_cell_correlation(sweep, "w2_latent", "elbo_roc_auc")
    sd = sweep.groupby(list(CELL))["elbo_roc_auc"].std()
    verdict = ("holds" if r["rho"] > 0 and r["p"] < 0.01 else
               "weak evidence (0.01 ≤ p < 0.05)" if r["rho"] > 0 and r["p"] < 0.05 else
               "not shown")
    rows.append(("2. Across seeds, detection follows the latent distance W2",
                 "mean over configurations of Spearman ρ(W2, ELBO AUC) across seeds; "
                 "permutation p",
                 f"ρ = {r['rho']:.2f}, p = {r['p']:.2g}; AUC sd over seeds: median "
                 f"{sd.median():.3f}, max {sd.max():.3f}", verdict))

    for name, label in (("warmup", "warm-up"), ("cyclical", "cyclical annealing")):
        ds = paired_difference(schedules, "ssim_normal", "schedule", "constant", name)
        da = paired_difference(schedules, "elbo_roc_auc", "schedule", "constant", name)
        rows.append((f"3. β-scheduling mitigates the trade-off ({label})",
                     f"{label} minus constant β = {SCHEDULE_BETA:g}, paired by seed",
                     f"ΔSSIM {ds['mean']:+.3f} ± {ds['sd']:.3f}, "
                     f"ΔAUC {da['mean']:+.3f} ± {da['sd']:.3f}", effect(ds["mean"], da["mean"])))

    baseline = sweep[sweep.beta == 1.0]
    for z in sorted(sparse["latent_dim"].unique()):
        s, g = sparse[sparse.latent_dim == z], baseline[baseline.latent_dim == z]
        d_ssim = s["ssim_normal"].mean() - g["ssim_normal"].mean()
        d_auc = s["elbo_roc_auc"].mean() - g["elbo_roc_auc"].mean()
        rows.append((f"4. The Sparse VAE mitigates it most (d = {z})",
                     f"Sparse minus Gaussian VAE at β = 1, d = {z}; "
                     f"{s['active_dims'].mean():.1f} active dims",
                     f"ΔSSIM {d_ssim:+.3f}, ΔAUC {d_auc:+.3f}", effect(d_ssim, d_auc)))
    return pd.DataFrame(rows, columns=["finding", "measured as", "numbers", "here"])
