"""``python -m vae_anomaly.lab.run --profile quick|full``: run a profile, resumably.

Each run writes ``<out>/<run_key>.json`` (default ``results/lab/<profile>``); runs
whose file already exists are skipped, so an interrupted profile resumes where it
stopped. Before training, the remaining time is estimated from the per-epoch and
evaluation times of the runs already stored, or else from a short calibration run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from vae_anomaly.config import LAB_RESULTS
from vae_anomaly.data import anomaly_split

from . import experiment
from .experiment import RunConfig, run_key
from .profiles import PROFILES, profile_configs

CALIBRATION_EPOCHS, CALIBRATION_TRAIN = 2, 6000


def result_path(out: Path, config: RunConfig) -> Path:
    return out / f"{run_key(config)}.json"


def is_done(path: Path) -> bool:
    """True for a readable result; an unreadable one is set aside as ``.bad`` and redone."""
    if not path.exists():
        return False
    try:
        json.loads(path.read_text())["metrics"]
        return True
    except (ValueError, KeyError, TypeError) as err:
        bad = path.with_suffix(".bad")
        path.replace(bad)
        print(f"warning: {path.name} is not a valid result ({err}); moved to {bad.name}, "
              "running it again", file=sys.stderr)
        return False


def write_result(path: Path, result: dict) -> None:
    """Write atomically: a killed run never leaves a half-written result behind."""
    part = path.with_suffix(".part")
    part.write_text(json.dumps(result, indent=1) + "\n")
    part.replace(path)


def train_sizes(config: RunConfig, split) -> tuple[int, int]:
    """Training images and test images (normal + anomaly) a config uses."""
    def size(n, total):
        return total if n is None else min(n, total)

    return (size(config.n_train, len(split.x_train)),
            size(config.n_test_normal, len(split.x_test_normal))
            + size(config.n_test_anomaly, len(split.x_test_anomaly)))


def timing_model(results: list[dict], split, clock: str = "") -> dict:
    """Seconds per training image-epoch (after the first epoch), per test image and ELBO
    sample, and per run (graph building, first-epoch surplus), from stored results;
    ``clock="cpu_"`` uses their CPU seconds instead of wall-clock seconds."""
    per_image, per_eval, overhead = [], [], []
    for r in results:
        config, t = RunConfig.from_dict(r["config"]), r["timings"]
        n_train, n_test = train_sizes(config, split)
        epochs = t[f"{clock}epoch_s"]
        steady = epochs[1:] or epochs
        per_image.append(sum(steady) / len(steady) / n_train)
        per_eval.append(t[f"{clock}eval_s"] / (n_test * (config.elbo_samples + 2)))
        overhead.append(t[f"{clock}build_fit_s"] - per_image[-1] * n_train * config.epochs)

    def mean(v):
        return sum(v) / len(v)

    return {"s_per_image_epoch": mean(per_image), "s_per_eval_image": mean(per_eval),
            "s_overhead": max(0.0, mean(overhead)), "from_runs": len(results)}


def estimate_seconds(configs: list[RunConfig], model: dict, split) -> float:
    """Predicted wall time of ``configs`` under a ``timing_model``."""
    total = 0.0
    for c in configs:
        n_train, n_test = train_sizes(c, split)
        total += (model["s_overhead"] + model["s_per_image_epoch"] * n_train * c.epochs
                  + model["s_per_eval_image"] * n_test * (c.elbo_samples + 2))
    return total


def calibrate(config: RunConfig, split) -> dict:
    """Time a short run of ``config`` (a subsample, two epochs, the full evaluation)."""
    short = replace(config, epochs=CALIBRATION_EPOCHS,
                    n_train=min(CALIBRATION_TRAIN, train_sizes(config, split)[0]))
    return experiment.run(short, split)


def fmt(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def report_estimate(todo, done_results, split) -> None:
    """Print the measured per-epoch times and the predicted time of ``todo``."""
    if not todo:
        return
    done_results = [r for r in done_results if "cpu_epoch_s" in r["timings"]]
    if done_results:
        source = f"{len(done_results)} stored run(s)"
    else:
        print(f"calibrating: {CALIBRATION_EPOCHS} epochs on {CALIBRATION_TRAIN} images ...",
              flush=True)
        done_results = [calibrate(todo[0], split)]
        source = "a calibration run"
    n_train = train_sizes(todo[0], split)[0]
    print(f"measured from {source} (batch {todo[0].batch_size}):")
    for clock, name in (("", "wall-clock"), ("cpu_", "CPU")):
        model = timing_model(done_results, split, clock)
        print(f"  {name}: {model['s_per_image_epoch'] * n_train:.1f} s per epoch of {n_train} "
              f"images, {model['s_per_eval_image'] * 1e3:.3f} ms per test image and ELBO "
              f"sample, {model['s_overhead']:.1f} s overhead per run -> "
              f"{fmt(estimate_seconds(todo, model, split))} for {len(todo)} run(s)")
    print(f"  (wall-clock figures include other load on this machine's {os.cpu_count()} "
          "core(s); the CPU figure is about the most the same machine takes when idle)",
          flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vae_anomaly.lab.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", choices=sorted(PROFILES), required=True)
    parser.add_argument("--out", type=Path, help="results folder (default results/lab/PROFILE)")
    parser.add_argument("--estimate", action="store_true",
                        help="print the plan and the time estimate, train nothing else")
    args = parser.parse_args(argv)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    out = args.out or LAB_RESULTS / args.profile
    out.mkdir(parents=True, exist_ok=True)

    configs = profile_configs(args.profile)
    done = [c for c in configs if is_done(result_path(out, c))]
    todo = [c for c in configs if c not in done]
    print(f"profile {args.profile}: {len(configs)} runs, {len(done)} done (skipped), "
          f"{len(todo)} to do -> {out}", flush=True)
    if not todo:
        return 0
    split = anomaly_split()
    done_results = [json.loads(result_path(out, c).read_text()) for c in done]
    done_results = [r for r in done_results if r["config"]["batch_size"] == todo[0].batch_size]
    if done_results or args.estimate or args.profile == "full":  # quick: not worth a calibration
        report_estimate(todo, done_results, split)
    if args.estimate:
        return 0

    started, failed = time.perf_counter(), []
    bar = tqdm(todo, desc=args.profile, unit="run", dynamic_ncols=True)
    for config in bar:
        bar.set_postfix_str(run_key(config).rsplit("-", 1)[0])
        try:
            result = experiment.run(config, split)
        except Exception as err:  # one failed run must not stop the others
            failed.append(run_key(config))
            tqdm.write(f"FAILED {run_key(config)}: {type(err).__name__}: {err}")
            continue
        write_result(result_path(out, config), result)
        m = result["metrics"]
        tqdm.write(f"{result['key']}: ELBO AUC {m['elbo']['roc_auc']:.3f}, recon AUC "
                   f"{m['recon_error']['roc_auc']:.3f}, SSIM {m['ssim_normal']:.3f}, "
                   f"{result['timings']['total_s']:.1f} s")
    print(f"ran {len(todo) - len(failed)} run(s) in {fmt(time.perf_counter() - started)}; "
          f"{len(failed)} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
