"""``make benchmark``: the reference VAE against the BCE VAE and classical baselines.

Every method is scored on the same split and seeds. One JSON line is printed per
(method, seed), then one summary line per method, then the targets of the
foundation issue; everything goes to ``results/benchmark.json``, which the book
renders. ``--frontier`` adds other designs (AUC against training time).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import keras
import numpy as np
import sklearn
import tensorflow as tf
from tqdm import tqdm

from ..config import RESULTS
from ..data import anomaly_split
from ..model import build_vae, elbo
from ..scoring import detection_metrics, elbo_metrics
from .baselines import BASELINES, reconstruction_mse

OUT = RESULTS / "benchmark.json"
REFERENCE = {"likelihood": "gaussian_learned", "latent_dim": 16, "beta": 1.0, "epochs": 10,
             "batch_size": 128}
# design name -> overrides of REFERENCE; "bce_vae" is the pitfall, the rest the frontier
DESIGNS = {"reference": {}, "bce_vae": {"likelihood": "bernoulli"}}
FRONTIER = {
    "reference_e5": {"epochs": 5},
    "reference_e20": {"epochs": 20},
    "reference_z2": {"latent_dim": 2},
    "reference_z32": {"latent_dim": 32},
    "reference_beta4": {"beta": 4.0},
}
TARGETS = {"roc_auc_mean": 0.85, "ap_mean": 0.30, "train_s_max": 60.0}


def run_vae(name, overrides, split, seed, epochs=None):
    """Train one VAE design; its -ELBO record (and the recon-MSE record of the reference)."""
    cfg = {**REFERENCE, **overrides}
    if epochs:
        cfg["epochs"] = epochs
    keras.utils.set_random_seed(seed)
    vae = build_vae(cfg["latent_dim"], likelihood=cfg["likelihood"], beta=cfg["beta"], seed=seed)
    start = time.perf_counter()
    vae.fit(split.x_train, epochs=cfg["epochs"], batch_size=cfg["batch_size"])
    train_s = time.perf_counter() - start
    e_normal, e_anomaly = elbo(vae, split.x_test_normal), elbo(vae, split.x_test_anomaly)
    timing = {"train_s": round(train_s, 2), "s_per_epoch": round(train_s / cfg["epochs"], 2)}
    records = [{"method": name, "seed": seed, **elbo_metrics(e_normal, e_anomaly),
                "elbo_normal": float(e_normal.mean()), "elbo_anomaly": float(e_anomaly.mean()),
                "score": "-elbo", **timing, **cfg}]
    if name == "reference":
        mse = [reconstruction_mse(x, vae.reconstruct(x))
               for x in (split.x_test_normal, split.x_test_anomaly)]
        records.append({"method": "recon_mse", "seed": seed, **detection_metrics(*mse),
                        "elbo_normal": None, "elbo_anomaly": None,
                        "score": "pixel MSE of the reference's reconstruction", **timing, **cfg})
    return records


def run_baseline(name, split, seed):
    """Fit and score one classical baseline."""
    start = time.perf_counter()
    x_test = np.concatenate([split.x_test_normal, split.x_test_anomaly])
    scores = BASELINES[name](split.x_train, x_test, seed)
    n = len(split.x_test_normal)
    return [{"method": name, "seed": seed, **detection_metrics(scores[:n], scores[n:]),
             "elbo_normal": None, "elbo_anomaly": None, "score": name,
             "train_s": round(time.perf_counter() - start, 2), "s_per_epoch": None}]


def summarise(records):
    """Mean, spread and worst seed per method, in first-seen order."""
    out = []
    for method in dict.fromkeys(r["method"] for r in records):
        rows = [r for r in records if r["method"] == method]
        auc, ap = np.array([r["roc_auc"] for r in rows]), np.array([r["ap"] for r in rows])
        out.append({"summary": method, "n_seeds": len(rows),
                    "roc_auc_mean": round(float(auc.mean()), 4),
                    "roc_auc_std": round(float(auc.std(ddof=1)), 4),
                    "roc_auc_min": round(float(auc.min()), 4),
                    "ap_mean": round(float(ap.mean()), 4), "ap_min": round(float(ap.min()), 4),
                    "train_s_mean": round(float(np.mean([r["train_s"] for r in rows])), 2),
                    "train_s_max": round(float(np.max([r["train_s"] for r in rows])), 2)})
    return out


def check_targets(summary):
    """The foundation issue's required targets, and whether the reference beats every baseline."""
    ref = next(s for s in summary if s["summary"] == "reference")
    baselines = [s for s in summary if s["summary"] in BASELINES or s["summary"] == "recon_mse"]
    return {"roc_auc_mean >= 0.85": ref["roc_auc_mean"] >= TARGETS["roc_auc_mean"],
            "ap_mean >= 0.30": ref["ap_mean"] >= TARGETS["ap_mean"],
            "train_s <= 60": ref["train_s_max"] <= TARGETS["train_s_max"],
            "beats every baseline": bool(baselines) and all(ref["roc_auc_mean"] > b["roc_auc_mean"]
                                        for b in baselines)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--frontier-seeds", type=int, default=2,
                        help="seeds for each --frontier design (0 skips the frontier)")
    parser.add_argument("--methods", default=",".join([*DESIGNS, *BASELINES]),
                        help="comma-separated methods to run (default: all)")
    parser.add_argument("--epochs", type=int, help="override every VAE's epoch count")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    split = anomaly_split()
    methods = args.methods.split(",")
    jobs = [(name, seed) for seed in range(args.seeds) for name in methods]
    jobs += [(name, seed) for name in FRONTIER for seed in range(args.frontier_seeds)]
    records = []
    for name, seed in tqdm(jobs, desc="benchmark", unit="run"):
        if name in BASELINES:
            new = run_baseline(name, split, seed)
        else:
            new = run_vae(name, DESIGNS.get(name, FRONTIER.get(name)), split, seed, args.epochs)
        for record in new:
            tqdm.write(json.dumps(record))
        records += new
    summary = summarise(records)
    for line in summary:
        print(json.dumps(line))
    targets = check_targets(summary) if "reference" in methods else {}
    print(json.dumps({"targets": targets}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": "make benchmark", "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": {"cpus": os.cpu_count(), "processor": platform.machine(),
                    "python": platform.python_version()},
        "versions": {"keras": keras.__version__, "tensorflow": tf.__version__,
                     "numpy": np.__version__, "scikit-learn": sklearn.__version__},
        "reference": REFERENCE, "records": records, "summary": summary, "targets": targets,
    }, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
