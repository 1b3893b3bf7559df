"""β schedules: their values per epoch, and that the callback drives the model's β."""

import numpy as np
import pytest

from vae_anomaly.lab.schedules import Constant, Cyclical, WarmUp, make_schedule
from vae_anomaly.model import build_vae


def values(schedule, epochs):
    return [schedule.value(e) for e in range(epochs)]


def test_constant():
    assert values(Constant(4.0), 5) == [4.0] * 5


def test_warm_up_rises_linearly_then_stays():
    np.testing.assert_allclose(values(WarmUp(4.0, epochs=5), 8),
                               [0.0, 0.8, 1.6, 2.4, 3.2, 4.0, 4.0, 4.0])
    assert WarmUp(4.0, epochs=5).value(2.5) == pytest.approx(2.0)


def test_cyclical_follows_fu_et_al():
    """T = 8 epochs, M = 2 cycles, R = 0.5: β rises over 2 epochs, holds 2, restarts at 0."""
    schedule = Cyclical(1.0, total_epochs=8, cycles=2, ratio=0.5)
    np.testing.assert_allclose(values(schedule, 8), [0, 0.5, 1, 1, 0, 0.5, 1, 1])
    assert schedule.value(4.5) == pytest.approx(0.25)  # within an epoch, as per iteration
    fu = Cyclical(10.0, total_epochs=20, cycles=4, ratio=0.5)  # the paper's M = 4, R = 0.5
    np.testing.assert_allclose(values(fu, 5), [0, 4, 8, 10, 10])
    assert values(fu, 20) == values(fu, 5) * 4


def test_make_schedule_reaches_the_final_beta():
    for name in ("constant", "warmup", "cyclical"):
        assert make_schedule(name, 4.0, epochs=10).value(9.99) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_schedule("linear", 1.0, 10)


def test_the_callback_sets_the_beta_the_loss_reads():
    x = np.random.default_rng(0).random((256, 28, 28)).astype("float32")
    vae = build_vae(4, beta=0.0, seed=0)
    schedule = WarmUp(2.0, epochs=2)
    history = vae.fit(x, epochs=3, batch_size=64, callbacks=[schedule], verbose=0)
    assert history.history["beta"] == [0.0, 1.0, 2.0]
    assert float(vae.beta.numpy()) == pytest.approx(2.0)
    nll, kl = vae.elbo_terms(x[:8], n_samples=1)
    assert float(vae.beta.numpy()) == pytest.approx(2.0)  # elbo_terms restores β
    vae.encoder.get_layer("z").seed_generator.state.assign([0, 0])  # the same draw twice
    loss_2 = vae.predict(x[:8], verbose=0)
    vae.beta.assign(0.0)
    vae.encoder.get_layer("z").seed_generator.state.assign([0, 0])
    loss_0 = vae.predict(x[:8], verbose=0)
    # float32 losses near 750 nats: the difference is exact up to ~1e-4
    np.testing.assert_allclose(loss_2 - loss_0, 2.0 * kl, atol=2e-4)
