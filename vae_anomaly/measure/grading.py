"""Helpers the assignment's hidden tests call, so that each test cell stays one short assert.

Every helper recomputes from the student's own objects (arrays, model, history) and the
original data; nothing printed in the notebook is trusted.
"""

from __future__ import annotations

import random
import time
from contextlib import contextmanager
from functools import cache

import numpy as np
from IPython.display import display as _display
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from ..data import SCALE, AnomalySplit, anomaly_split
from ..records import MEASURED, RECORD_MIME, calibration
from ..scoring import labels_and_scores
from . import guard

BEFORE_TRAINING = "[grading] the detector before this model's first fit:"  # and its seconds
DETECTOR_DRAWS = 4  # draws of z per test image in the grader's ELBO estimate
AUC_DECIMALS = 3  # reported areas must agree with the recomputed ones to this many decimals


@cache
def reference_split() -> AnomalySplit:
    """The correct trouser-anomaly split, from the original files, in 8-bit pixels: compared as
    they are, scaled where a model reads them (``reference_like``)."""
    return anomaly_split(scaled=False)


ROWS_AT_ONCE = 4096  # images converted at a time (a float copy of all of x_train is 170 MB)


def image_rows(x) -> list[bytes]:
    """The images of ``x`` as a sorted list of rows of 8-bit pixels: their multiset, whatever
    its order or shape.

    Pixels in [0, 1] are scaled back to 0..255, so the test of the split does not also
    test the scaling (which has its own test).
    """
    x = np.asarray(x)
    x = x.reshape(len(x), -1)
    if x.dtype != np.uint8:
        scale = SCALE if x.size and x.max() <= 1 else 1
        rows = np.empty(x.shape, np.uint8)
        for start in range(0, len(x), ROWS_AT_ONCE):
            block = np.multiply(x[start:start + ROWS_AT_ONCE], scale, dtype=np.float32)
            rows[start:start + ROWS_AT_ONCE] = np.clip(np.rint(block, out=block), 0, 255,
                                                       out=block)
        x = rows
    return sorted(map(bytes, np.ascontiguousarray(x)))


def same_images(x, reference) -> bool:
    """True when ``x`` holds exactly the images of ``reference``, each as often, any order."""
    if len(x) != len(reference) or np.size(x) != np.size(reference):
        return False
    return image_rows(x) == image_rows(reference)


def training_losses(history) -> np.ndarray:
    """The per-epoch training loss of a Keras ``History`` (``loss``, or ``total_loss``)."""
    logs = getattr(history, "history", history) or {}
    return np.asarray(logs.get("loss", logs.get("total_loss", [])), dtype=np.float64)


def subset(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A fixed random subset of row indices."""
    return np.sort(np.random.default_rng(seed).choice(n_total, min(n, n_total), replace=False))


def loss_agrees(negative_elbo, x_train, history, n: int = 2000) -> bool:
    """Is the mean of ``negative_elbo`` on training images the loss that training reached?

    The target is the best epoch's loss; the tolerance is the last epoch's drop (an
    epoch's loss is a running mean, higher than the loss at its end) plus 5% + 5 nats.
    An untrained model, or a ``negative_elbo`` that is not the training objective (other
    sign, per pixel, in bits), misses it by far more.
    """
    losses = training_losses(history)
    if len(losses) < 2 or not np.all(np.isfinite(losses)):
        return False
    rows = subset(len(x_train), n, seed=1)
    value = float(np.mean(np.asarray(negative_elbo(np.asarray(x_train)[rows]))))
    target = losses.min()
    tolerance = abs(losses[-2] - losses[-1]) + 0.05 * abs(target) + 5
    return bool(np.isfinite(value) and abs(value - target) <= tolerance)


def elbos_agree(reported: dict, negative_elbo, sets: dict, n: int = 200,
                draws: int = 8) -> list[str]:
    """The names of ``sets`` whose ``reported`` ELBO is not ``-negative_elbo`` of their images
    within Monte-Carlo noise (none: all agree).

    On a fixed random subset of each set, each reported value is compared with an 8-draw
    estimate, in units of that image's own Monte-Carlo spread (measured from the draws,
    plus 1 nat). A correct answer, even a single draw, sits within about one unit (median
    ~0.7); the median must be below 2. A flipped sign, another model or made-up numbers
    miss by far more, however noisy or however spread out the student's ELBO is.
    """
    values = {name: np.ravel(np.asarray(reported[name], dtype=np.float64)) for name in sets}
    wrong = [name for name in sets if len(values[name]) != len(sets[name])]
    rows = {name: subset(len(x), n, seed=2) for name, x in sets.items() if name not in wrong}
    samples = set_draws(negative_elbo, {name: np.asarray(sets[name])[rows[name]]
                                        for name in rows}, draws)
    for name, drawn in samples.items():
        spread = drawn.std(axis=0, ddof=1) * np.sqrt(1 + 1 / draws) + 1
        z = np.abs(values[name][rows[name]] - drawn.mean(axis=0)) / spread
        if not (np.all(np.isfinite(z)) and np.median(z) <= 2):
            wrong.append(name)
    return [name for name in sets if name in wrong]


def elbo_agrees(reported, negative_elbo, x, n: int = 200, draws: int = 8) -> bool:
    """Does ``reported`` equal ``-negative_elbo(x)`` within Monte-Carlo noise (``elbos_agree``
    for one set of images)?"""
    return not elbos_agree({"x": reported}, negative_elbo, {"x": x}, n, draws)


def aucs(elbo_normal, elbo_anomaly) -> dict:
    """ROC AUC and PR AUC of the anomaly score -ELBO, anomaly = positive class.

    ``pr_auc`` is the average precision; ``pr_auc_trapezoid`` the trapezoidal area under
    the precision-recall curve (both are accepted from students).
    """
    labels, scores = labels_and_scores(-np.asarray(elbo_normal), -np.asarray(elbo_anomaly))
    precision, recall, _ = precision_recall_curve(labels, scores)
    return {"roc_auc": float(roc_auc_score(labels, scores)),
            "pr_auc": float(average_precision_score(labels, scores)),
            "pr_auc_trapezoid": float(auc(recall, precision))}


def aucs_agree(roc_auc, pr_auc, elbo_normal, elbo_anomaly) -> bool:
    """Are the reported areas those of the student's own ELBO, anomaly positive?"""
    areas = aucs(elbo_normal, elbo_anomaly)
    tolerance = 10.0 ** -AUC_DECIMALS
    return bool(abs(float(roc_auc) - areas["roc_auc"]) <= tolerance
                and min(abs(float(pr_auc) - areas["pr_auc"]),
                        abs(float(pr_auc) - areas["pr_auc_trapezoid"])) <= tolerance)


@cache
def marks() -> dict:
    """The detector test's marks: ``not_inverted``, ``calibrated`` and ``flag_above``, read
    once (the grading kernel's guard reads them before any student code runs)."""
    return calibration()["marks"]


# --- the grader's own measure of the detector ------------------------------------------------

def _seed_generators(namespace: dict) -> list:
    """Every Keras ``SeedGenerator`` of the models and layers in ``namespace``, and the
    global one."""
    import keras
    from keras.src.random.seed_generator import global_seed_generator

    found = {id(g): g for g in [global_seed_generator()]}
    for value in list(namespace.values()):
        if isinstance(value, keras.layers.Layer):
            for layer in value._flatten_layers():
                for generator in getattr(layer, "_seed_generators", []):
                    found[id(generator)] = generator
    return list(found.values())


@contextmanager
def preserved_rng(namespace: dict | None = None):
    """Run the block, then put back every random state a student's later cells draw from.

    A hidden test that draws from the student's model must not change what the student's
    next cells compute: the notebook gives the same numbers with and without the tests.
    """
    generators = _seed_generators(namespace or {})
    states = [np.array(g.state.numpy()) for g in generators]
    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        for generator, state in zip(generators, states, strict=True):
            generator.state.assign(state)
        np.random.set_state(numpy_state)
        random.setstate(python_state)


def elbo_draws(negative_elbo, x, draws: int) -> np.ndarray:
    """``draws`` Monte-Carlo draws of the ELBO of each image of ``x``, shape ``(draws, n)``."""
    return -np.array([np.ravel(np.asarray(negative_elbo(x), dtype=np.float64))
                      for _ in range(draws)])


def set_draws(negative_elbo, sets: dict, draws: int) -> dict:
    """``elbo_draws`` of several sets of images, by name: one call of ``negative_elbo`` per
    draw on all their images together (each call costs a model's set-up, ~40 ms with
    ``predict``), split back by set; one call per set and draw where their formats differ."""
    arrays = {name: np.asarray(x) for name, x in sets.items()}
    if len({(x.shape[1:], x.dtype.str) for x in arrays.values()}) != 1:
        return {name: elbo_draws(negative_elbo, x, draws) for name, x in arrays.items()}
    together = elbo_draws(negative_elbo, np.concatenate(list(arrays.values())), draws)
    ends = np.cumsum([len(x) for x in arrays.values()])[:-1]
    return dict(zip(arrays, np.split(together, ends, axis=1), strict=True))


def reference_like(x, reference: np.ndarray) -> np.ndarray:
    """The reference images (8-bit pixels) scaled to [0, 1] as ``anomaly_split`` scales them,
    in the format of the student's ``x`` (its shape per image and its float type)."""
    shape = np.shape(x)[1:]
    if int(np.prod(shape)) != 28 * 28:
        raise ValueError(f"images of shape {shape} are not 28 x 28 pixels")
    dtype = x.dtype if np.issubdtype(np.asarray(x).dtype, np.floating) else np.float32
    return (reference / SCALE).astype(dtype).reshape((len(reference), *shape))


def detector_aucs(negative_elbo, x_normal, x_anomaly, draws: int = DETECTOR_DRAWS,
                  namespace: dict | None = None) -> dict:
    """The grader's measure of a detector: the areas of the anomaly score -ELBO, the ELBO
    estimated from ``draws`` draws of ``negative_elbo`` on the original test images (in
    the format of the student's arrays), the student's random state left as it was; and the
    mean ELBO of each set."""
    split = reference_split()
    normal = reference_like(x_normal, split.x_test_normal)
    anomaly = reference_like(x_anomaly, split.x_test_anomaly)
    with preserved_rng(namespace):
        elbo_normal = elbo_draws(negative_elbo, normal, draws).mean(axis=0)
        elbo_anomaly = elbo_draws(negative_elbo, anomaly, draws).mean(axis=0)
    return {**aucs(elbo_normal, elbo_anomaly), "elbo_normal": float(elbo_normal.mean()),
            "elbo_anomaly": float(elbo_anomaly.mean())}


# --- the hidden tests: one check per autograded cell ------------------------------------------
# ``check(grade_id, globals())`` ends every autograded test cell. It re-checks the cell's
# visible asserts and its hidden ones from the student's objects, prints a verdict that
# teaches, leaves a record in the cell's output (the grader's proof that the check ran
# and passed), and raises ``AssertionError`` when the cell fails.

SNAPSHOT_ROWS = 100  # test images per set in the post-training ELBO snapshot
SNAPSHOT_DRAWS = 8


class Failed(AssertionError):
    """A check that failed, with the message a student reads."""


class Flagged(Failed):
    """A check that cannot be trusted: zero, and flagged for an instructor to review."""


def snapshot(namespace: dict) -> dict | None:
    """ELBO draws of ``negative_elbo`` on fixed test images, taken right after training."""
    function = namespace.get("negative_elbo")
    if not callable(function) or "x_test_normal" not in namespace:
        return None
    split = reference_split()
    try:
        rows = {name: reference_like(namespace[name], ref)[subset(len(ref), SNAPSHOT_ROWS, 3)]
                for name, ref in (("x_test_normal", split.x_test_normal),
                                  ("x_test_anomaly", split.x_test_anomaly))}
        with preserved_rng(namespace):
            draws = set_draws(function, rows, SNAPSHOT_DRAWS)
    except Exception:  # noqa: BLE001 (a broken model has no snapshot; its tests say why)
        return None
    return {"function": function, "rows": rows, "draws": draws}


def before_training(namespace: dict) -> dict | None:
    """The detector as a model's first ``fit`` starts (``guard.ON_FIRST_FIT``): the
    grader's areas of the untrained model, or None where it cannot be measured yet."""
    try:
        negative_elbo, x_normal, x_anomaly = (namespace[name] for name in (
            "negative_elbo", "x_test_normal", "x_test_anomaly"))
        if not callable(negative_elbo):
            return None
        start = time.perf_counter()
        areas = detector_aucs(negative_elbo, x_normal, x_anomaly, namespace=namespace)
        print(f"{BEFORE_TRAINING} ROC AUC {areas['roc_auc']:.3f} "
              f"({time.perf_counter() - start:.2f} s)", flush=True)
        return areas
    except Exception:  # noqa: BLE001 (no untrained areas; the detector test says why)
        return None


def _changed_since_training(negative_elbo, namespace: dict) -> str | None:
    """Why ``negative_elbo`` is not the function measured right after training, or None."""
    taken = _snapshot()
    if taken is None:
        raise Failed("no ELBO could be measured right after training: define negative_elbo "
                     "(Task 2a) before you train with fit (Task 2b)")
    with preserved_rng(namespace):
        drawn = set_draws(negative_elbo, taken["rows"], SNAPSHOT_DRAWS)
        for name, now in drawn.items():
            then = taken["draws"][name]
            spread = np.sqrt(then.var(axis=0, ddof=1) + now.var(axis=0, ddof=1)) + 1
            z = np.abs(then.mean(axis=0) - now.mean(axis=0)) / spread
            if not np.all(np.isfinite(z)) or np.median(z) > 2:
                return (f"negative_elbo gives other values on {name} than right after "
                        "training: the detector must be the trained VAE's ELBO")
    return None


def _need(namespace: dict, *names: str) -> list:
    missing = [n for n in names if n not in namespace]
    if missing:
        raise Failed(f"define {', '.join(missing)} (run the answer cells above first)")
    return [namespace[n] for n in names]


def _fit_history(namespace: dict):
    """The student's ``history``, checked to be what ``fit`` returned, unchanged."""
    (history,) = _need(namespace, "history")
    fits = [f for f in _fits() if f["history"] is history]
    if not _installed():
        raise Failed("grade with the course's grading kernel (vae_anomaly.measure.guard)")
    if not fits:
        raise Failed("history must be the History object that vae.fit(...) returned")
    if getattr(history, "history", None) != fits[-1]["logs"]:
        raise Failed("history.history was changed after training")
    return history


def _check_counts(ns):
    x_train, x_normal, x_anomaly = _need(ns, "x_train", "x_test_normal", "x_test_anomaly")
    for x, n, what in ((x_train, 54_000, "x_train must hold the 54 000 images that are not "
                        "trousers"), (x_normal, 9_000, "x_test_normal must hold the 9 000 "
                                      "non-trouser test images"),
                       (x_anomaly, 1_000, "x_test_anomaly must hold the 1 000 test trousers")):
        if len(x) != n:
            raise Failed(f"{what} (it has {len(x)})")


def _check_shapes(ns):
    for x in _need(ns, "x_train", "x_test_normal", "x_test_anomaly"):
        if np.shape(x)[1:] not in [(28, 28), (28, 28, 1), (784,)]:
            raise Failed(f"images must be 28 x 28 pixels (rows of shape {np.shape(x)[1:]})")


def _check_scaling(ns):
    for x in _need(ns, "x_train", "x_test_normal", "x_test_anomaly"):
        x = np.asarray(x)
        if not np.issubdtype(x.dtype, np.floating):
            raise Failed(f"pixels must be floats (they are {x.dtype})")
        if not (np.min(x) >= 0 and 0.5 < np.max(x) <= 1):
            raise Failed(f"scale the pixels to [0, 1] (they span {np.min(x)}..{np.max(x)})")


def _check_train(ns):
    (x_train,) = _need(ns, "x_train")
    if not same_images(x_train, reference_split().x_train):
        raise Failed("x_train must hold each training image that is not a trouser, once")


def _check_test(ns):
    x_normal, x_anomaly = _need(ns, "x_test_normal", "x_test_anomaly")
    split = reference_split()
    if not same_images(x_normal, split.x_test_normal):
        raise Failed("x_test_normal must hold each test image that is not a trouser, once")
    if not same_images(x_anomaly, split.x_test_anomaly):
        raise Failed("x_test_anomaly must hold each test trouser, once")


def _call(model, x):
    """``model`` on a few rows, as ``predict`` would give them (NumPy, a list for several
    outputs), called directly: ``predict`` would first trace a function for a few rows."""
    outputs = model(np.asarray(x, dtype=np.float32), training=False)
    if isinstance(outputs, (list, tuple)):
        return [np.asarray(o) for o in outputs]
    return np.asarray(outputs)


def _check_encoder(ns):
    import keras

    encoder, x_train = _need(ns, "encoder", "x_train")
    if not isinstance(encoder, keras.Model):
        raise Failed("encoder must be a keras.Model")
    with preserved_rng(ns):
        outputs = _call(encoder, x_train[:8])
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 3:
        raise Failed("encoder must map n images to [z_mean, z_log_var, z]")
    shapes = {np.shape(o) for o in outputs}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2 or next(iter(shapes))[0] != 8:
        raise Failed("encoder must map n images to [z_mean, z_log_var, z], each of shape "
                     "(n, latent size)")
    if np.shape(outputs[2])[1] <= 2:
        raise Failed("the latent space must have more than 2 dimensions")


def _check_decoder(ns):
    import keras

    decoder, encoder, x_train = _need(ns, "decoder", "encoder", "x_train")
    if not isinstance(decoder, keras.Model):
        raise Failed("decoder must be a keras.Model")
    with preserved_rng(ns):
        size = np.shape(_call(encoder, x_train[:2])[0])[1]
        decoded = _call(decoder, np.random.default_rng(0).normal(size=(8, size)))
    decoded = np.asarray(decoded[0] if isinstance(decoded, (list, tuple)) else decoded)
    if len(decoded) != 8 or decoded[0].size % 784:
        raise Failed("decoder must map n codes to n images")


def _check_negative_elbo(ns):
    negative_elbo, x_train = _need(ns, "negative_elbo", "x_train")
    with preserved_rng(ns):
        values = np.asarray(negative_elbo(np.asarray(x_train[:64])))
    if values.shape != (64,):
        raise Failed("negative_elbo(x) must return one number per image, shape (n,)")
    if not np.all(np.isfinite(values)):
        raise Failed("negative_elbo(x) must be finite")


def _check_loss_decreases(ns):
    losses = training_losses(_fit_history(ns))
    if len(losses) < 2:
        raise Failed("train for at least 2 epochs (see history.history['loss'])")
    if not (np.all(np.isfinite(losses)) and losses[-1] < losses[0]):
        raise Failed("the training loss must go down")


def _check_loss_matches(ns):
    history = _fit_history(ns)
    negative_elbo, x_train = _need(ns, "negative_elbo", "x_train")
    with preserved_rng(ns):
        agrees = loss_agrees(negative_elbo, x_train, history)
    if not agrees:
        raise Failed("the mean of negative_elbo(x) on training images must match the loss "
                     "training reached (same model, nats per image, the sign of a loss)")


def _check_elbo_shapes(ns):
    elbo_normal, elbo_anomaly = _need(ns, "elbo_normal", "elbo_anomaly")
    if np.shape(elbo_normal) != (9_000,):
        raise Failed("elbo_normal needs one value per normal test image, shape (9000,)")
    if np.shape(elbo_anomaly) != (1_000,):
        raise Failed("elbo_anomaly needs one value per anomalous test image, shape (1000,)")
    if not (np.isfinite(elbo_normal).all() and np.isfinite(elbo_anomaly).all()):
        raise Failed("the ELBO must be finite")


def _check_elbo_matches(ns):
    names = ("elbo_normal", "elbo_anomaly", "negative_elbo", "x_test_normal", "x_test_anomaly")
    elbo_normal, elbo_anomaly, negative_elbo, x_normal, x_anomaly = _need(ns, *names)
    with preserved_rng(ns):
        wrong = elbos_agree({"elbo_normal": elbo_normal, "elbo_anomaly": elbo_anomaly},
                            negative_elbo, {"elbo_normal": x_normal, "elbo_anomaly": x_anomaly})
    if wrong:
        raise Failed(f"{wrong[0]} must be -negative_elbo(x) of your trained model")
    changed = _changed_since_training(negative_elbo, ns)
    if changed:
        raise Flagged(changed)


def _check_auc_reported(ns):
    roc_auc, pr_auc, elbo_normal, elbo_anomaly = _need(ns, "roc_auc", "pr_auc", "elbo_normal",
                                                       "elbo_anomaly")
    if not (0 <= roc_auc <= 1 and 0 <= pr_auc <= 1):
        raise Failed("roc_auc and pr_auc must be numbers in [0, 1]")
    if not aucs_agree(roc_auc, pr_auc, elbo_normal, elbo_anomaly):
        raise Failed("roc_auc and pr_auc must be the areas of -elbo with the anomaly as the "
                     "positive class")


def _measured_once():
    """``known(key)`` and ``measure(key, compute)``: ``compute()`` once per key, kept where a
    notebook cannot reach it (a closure), so the two detector cells share one measurement
    of a model."""
    memory = {}

    def known(key) -> bool:
        return key in memory

    def measure(key, compute):
        if key not in memory:
            memory.clear()
            memory[key] = compute()
        return dict(memory[key])

    return known, measure


_detector_known, _measure_detector = _measured_once()


def _detector(ns) -> dict:
    """The grader's areas for the trained VAE, after the checks that make them meaningful
    (measured once per trained model and ``negative_elbo``, checked unchanged since training
    before that one measurement)."""
    history = _fit_history(ns)
    negative_elbo, x_normal, x_anomaly = _need(ns, "negative_elbo", "x_test_normal",
                                               "x_test_anomaly")
    model = next(f["model"] for f in _fits() if f["history"] is history)
    key = (id(negative_elbo), id(_snapshot()), _epochs(model),
           np.shape(x_normal)[1:], np.asarray(x_normal).dtype.str)
    changed = None if _detector_known(key) else _changed_since_training(negative_elbo, ns)
    if changed:
        raise Flagged(changed)
    if _epochs(model) < 2:  # Keras' fit(epochs=0) still trains one epoch
        raise Failed("the detector is graded on your trained VAE: train it with fit for "
                     "EPOCHS epochs (at least 2)")
    sizes = [f["images"] for f in _fits() if f["images"] is not None and f["model"] is model]
    if sizes and max(sizes) < 0.9 * len(reference_split().x_train):
        raise Failed(f"the detector is graded on a VAE trained on all of x_train; your "
                     f"largest fit saw {max(sizes)} images")
    areas = _measure_detector(key, lambda: detector_aucs(negative_elbo, x_normal, x_anomaly,
                                                           namespace=ns))
    untrained = _untrained(model)
    areas["roc_auc_untrained"] = untrained["roc_auc"] if untrained else None
    flag = marks()["flag_above"]["roc_auc"]
    if areas["roc_auc"] > flag:
        raise Flagged(f"ROC AUC {areas['roc_auc']:.3f} is above anything a VAE trained "
                      f"without trousers reached at this budget ({flag:.3f}): a detector "
                      "that has seen the anomaly?")
    return areas


STILL_FALLING = 0.01  # a last epoch that lowered the loss by more than this share: unfinished


def last_drop(losses) -> float:
    """The share by which the last epoch lowered the loss (0 for fewer than two epochs)."""
    if len(losses) < 2:
        return 0.0
    return float((losses[-2] - losses[-1]) / max(abs(losses[-1]), 1e-9))


def stalled(roc_auc: float, roc_auc_untrained: float | None, losses) -> bool:
    """A collapse: the model ranks worse than it did before its first ``fit``, and its loss
    has levelled off (no mark can pass it without passing an untrained model)."""
    return (roc_auc_untrained is not None and len(losses) >= 2
            and last_drop(losses) <= STILL_FALLING and roc_auc < roc_auc_untrained)


def likely_cause(areas: dict, losses) -> str:
    """What the grader can see of why a detector is weak: a ranking that puts trousers first
    points at the likelihood; one no better than an untrained model's, or a loss still
    falling at the end, at the training; else the model."""
    losses = np.asarray(losses, dtype=np.float64)
    if areas["roc_auc"] < 0.5:
        return ("it ranks trousers as more normal than the clothes it was trained on: the "
                "likelihood is the likely cause (with a Bernoulli, binary cross-entropy, "
                "decoder, dark and simple trousers get a higher ELBO); use a Gaussian")
    untrained = calibration().get("untrained", {}).get("roc_auc", {}).get("max", 0.0)
    start = (f"it ranks no better than an untrained model does (ROC AUC up to {untrained:.3f}: "
             "a decoder that draws the same grey image for every code); "
             if areas["roc_auc"] <= untrained else "")
    if len(losses) >= 2 and np.all(np.isfinite(losses)):
        drop, before = last_drop(losses), areas.get("roc_auc_untrained")
        if stalled(areas["roc_auc"], before, losses):
            return (f"training stalled: your model ranks trousers worse than it did untrained "
                    f"(ROC AUC {before:.3f} before the first fit, {areas['roc_auc']:.3f} "
                    f"after) and its loss levelled off at {losses[-1]:.1f}; the encoder has "
                    "likely collapsed (a narrow ReLU layer whose units all output 0 passes "
                    "nothing to z, and the decoder then draws one average image): look at your "
                    "reconstructions, then widen or drop that layer")
        if drop > STILL_FALLING:
            return (f"{start}your loss was still falling ({100 * drop:.1f}% in the last epoch) "
                    f"when training stopped after {len(losses)} epochs: train for all EPOCHS "
                    "epochs, with a learning rate and batch size that make them count")
    return (f"{start}training had levelled off: look at the model (a latent space or layers "
            "too small for 28 x 28 images) and at the likelihood (a density of the pixels: a "
            "Gaussian with a learned or well-chosen σ)")


def _check_not_inverted(ns):
    areas, mark = _detector(ns), marks()["not_inverted"]["roc_auc"]
    if areas["roc_auc"] < mark:
        cause = likely_cause(areas, training_losses(_fit_history(ns)))
        raise Failed(f"your detector's ROC AUC is {areas['roc_auc']:.3f}, below {mark:.2f}: "
                     + cause)
    return {key: areas[key] for key in MEASURED}


def _check_calibrated(ns):
    areas, mark = _detector(ns), marks()["calibrated"]
    roc, before = areas["roc_auc"], areas["roc_auc_untrained"]
    if before is None:
        raise Failed("the grader measures your VAE's detector as its first fit starts, to see "
                     "what training added: define negative_elbo (Task 2a) before you train "
                     "it with fit")
    low = []
    if roc < mark["roc_auc"]:
        low.append(f"ROC AUC {roc:.3f} is below {mark['roc_auc']:.3f}, the most that an "
                   "untrained model reached")
    if roc - before < mark["roc_auc_gain"]:
        low.append(f"training raised the ROC AUC by {roc - before:+.3f} (from {before:.3f} "
                   f"before the first fit), less than {mark['roc_auc_gain']:.3f}")
    if low:
        cause = likely_cause(areas, training_losses(_fit_history(ns)))
        raise Failed("your detector has not learned enough at the grading budget: "
                     + "; ".join(low) + f": {cause}")
    return {key: areas[key] for key in MEASURED}


CHECKS = {
    "task1_split_counts": _check_counts, "task1_split_shapes": _check_shapes,
    "task1_split_scaling": _check_scaling, "task1_split_train": _check_train,
    "task1_split_test": _check_test, "task2_encoder": _check_encoder,
    "task2_decoder": _check_decoder, "task2_negative_elbo": _check_negative_elbo,
    "task2_loss_decreases": _check_loss_decreases, "task2_loss_matches": _check_loss_matches,
    "task4_elbo_shapes": _check_elbo_shapes, "task4_elbo_matches": _check_elbo_matches,
    "task4_auc_reported": _check_auc_reported, "task4_auc_not_inverted": _check_not_inverted,
    "task4_auc_threshold": _check_calibrated,
}


def _said(record: dict) -> str:
    """The record as a student and a hand grader read it: what failed, or what passed
    (with what was measured)."""
    if not record["passed"]:
        return record["message"]
    measured = record.get("measured") or {}
    if not measured:
        return "passed"
    if record["grade_id"] == "task4_auc_not_inverted":
        return (f"passed: ROC AUC {measured['roc_auc']:.3f} (mark "
                f"{marks()['not_inverted']['roc_auc']:.2f})")
    mark, before = marks()["calibrated"], measured.get("roc_auc_untrained")
    gain = (f", {measured['roc_auc'] - before:+.3f} over the model before training (mark "
            f"{mark['roc_auc_gain']:+.3f})" if before is not None else "")
    return (f"passed: ROC AUC {measured['roc_auc']:.3f} (mark {mark['roc_auc']:.3f}){gain}, "
            f"PR AUC {measured['pr_auc']:.3f}")


def _publish(record: dict) -> None:
    _display({RECORD_MIME: record, "text/plain": f"[grading] {record['grade_id']}: "
              + _said(record)}, raw=True)


def check(grade_id: str, namespace: dict) -> None:
    """Run the check of test cell ``grade_id`` on the notebook's variables ``namespace``.

    The record says what the check measured (the detector's areas, the epochs trained);
    the grader decides the verdict from it outside the kernel (``integrity.judge``), with
    the marks and the budget it reads itself."""
    changed = _tampered()
    record = {"grade_id": grade_id, "passed": False, "flagged": False, "message": "",
              "epochs": _epochs(), "measured": {}}
    try:
        if changed:
            raise Flagged("functions the grading relies on were replaced: "
                          + ", ".join(changed[:5]))
        record["measured"] = CHECKS[grade_id](namespace) or {}
    except Failed as failure:
        flagged = isinstance(failure, Flagged)
        message = ("flagged for review: " if flagged else "") + str(failure)
        _publish({**record, "flagged": flagged, "message": message})
        raise Failed(message) from None
    except Exception as error:  # noqa: BLE001 (a broken answer fails its test, with the reason)
        message = f"{type(error).__name__}: {error}"
        _publish({**record, "message": message})
        raise Failed(message) from None
    _publish({**record, "passed": True})


# What the checks read of the guard, bound once: a notebook that rebinds the guard's
# functions changes nothing here (and the fingerprints find the rebinding). The guard calls
# ``snapshot`` after each fit and reads the marks and the data before any student code.
_installed, _epochs, _fits, _snapshot, _untrained, _tampered = (
    guard.installed, guard.epochs, guard.fits, guard.snapshot, guard.untrained, guard.tampered)
guard.ON_FIT.append(snapshot)
guard.ON_FIRST_FIT.append(before_training)
guard.ON_INSTALL.append(lambda: (marks(), reference_split()))
