"""β schedules as Keras callbacks that set the model's ``beta`` variable.

``value(t)`` is β at training time ``t`` in epochs (``t = 2.5`` is half-way
through the third epoch). The callback sets β before every batch, so a schedule
is as smooth as Fu et al.'s (2019) per-iteration one however few the epochs, and
logs the β of each epoch's start as ``beta`` in the history.
"""

from __future__ import annotations

import math

import keras


class BetaSchedule(keras.callbacks.Callback):
    """Base class: subclasses define ``value(t)``; ``beta`` is the final (maximum) β."""

    def __init__(self, beta: float):
        super().__init__()
        self.beta = float(beta)
        self._epoch = 0

    def value(self, t: float) -> float:
        raise NotImplementedError

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        steps = self.params.get("steps") or 1
        self.model.beta.assign(self.value(self._epoch + batch / steps))

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["beta"] = self.value(epoch)


class Constant(BetaSchedule):
    """β fixed throughout."""

    def value(self, t):
        return self.beta


class WarmUp(BetaSchedule):
    """Monotonic warm-up: β rises linearly from 0 to ``beta`` over ``epochs``, then stays."""

    def __init__(self, beta, epochs):
        super().__init__(beta)
        if epochs <= 0:
            raise ValueError(f"warm-up epochs must be positive, not {epochs}")
        self.epochs = epochs

    def value(self, t):
        return self.beta * min(1.0, t / self.epochs)


class Cyclical(BetaSchedule):
    """Cyclical annealing (Fu et al., 2019): ``cycles`` cycles over ``total_epochs``; in
    each, β rises linearly from 0 to ``beta`` over the first ``ratio`` of the cycle, then stays."""

    def __init__(self, beta, total_epochs, cycles=4, ratio=0.5):
        super().__init__(beta)
        if total_epochs <= 0 or cycles <= 0 or not 0 < ratio <= 1:
            raise ValueError("need total_epochs > 0, cycles > 0 and 0 < ratio <= 1")
        self.period, self.ratio = total_epochs / cycles, ratio

    def value(self, t):
        tau = math.fmod(t, self.period) / self.period
        return self.beta * min(1.0, tau / self.ratio)


SCHEDULES = ("constant", "warmup", "cyclical")


def make_schedule(name: str, beta: float, epochs: int, cycles: int = 4,
                  ratio: float = 0.5) -> BetaSchedule:
    """The schedule ``name`` reaching ``beta``: warm-up over the first ``ratio`` of training,
    cyclical with ``cycles`` cycles and the same ratio."""
    if name == "constant":
        return Constant(beta)
    if name == "warmup":
        return WarmUp(beta, ratio * epochs)
    if name == "cyclical":
        return Cyclical(beta, epochs, cycles, ratio)
    raise ValueError(f"schedule must be one of {SCHEDULES}, not {name!r}")
