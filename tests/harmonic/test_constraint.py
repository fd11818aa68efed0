"""Entropy, the entropy gap, the dual step and the task's config checks (no Trainer)."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from wavespace.errors import ConfigError
from wavespace.features import CQT, HCQT, LogFreqSTFT, MelSpectrogram
from wavespace.models import HarmonicSalienceNet
from wavespace.tasks import HarmonicSalience
from wavespace.tasks.constraints import dual_step, entropy_gap, frame_entropy


def test_entropy_one_hot_is_zero_uniform_is_one_two_bins_known():
    v = torch.zeros(2, 50, 3)
    v[:, 7, 0] = 3.0  # one-hot
    v[:, :, 1] = 0.4  # uniform
    v[:, [3, 30], 2] = 1.0  # two equal bins: log 2 / log 50
    h = frame_entropy(v)
    assert h.shape == (2, 3)
    torch.testing.assert_close(h[0], torch.tensor([0.0, 1.0, math.log(2) / math.log(50)]))
    assert frame_entropy(torch.zeros(4, 10, 2)).eq(0).all()  # silent frames: 0, not NaN


def test_entropy_gap_ignores_frames_below_the_energy_floor():
    target = torch.zeros(1, 1, 40, 4)
    target[0, 0, :, 0] = 0.5  # loud, flat: H = 1
    target[0, 0, 10, 1] = 0.5 * 40  # loud, one bin: H = 0
    target[0, 0, :, 2:] = 1e-4  # near silence: ignored
    sal = torch.zeros(1, 2, 40, 4)
    sal[0, 0, 5, 0] = 1.0  # H = 0 in frame 0
    sal[0, :, :, 1] = 1.0  # H = 1 in frame 1
    sal[0, 0, :, 2:] = torch.rand(40, 2)  # whatever the silent frames hold
    gap, n = entropy_gap(sal, target, energy_floor=0.01)
    assert int(n) == 2
    assert float(gap) == pytest.approx(((0 - 1) + (1 - 0)) / 2, abs=1e-6)
    target[0, 0, :, 1] = 0.0  # now only frame 0 is active
    gap, n = entropy_gap(sal, target, energy_floor=0.01)
    assert int(n) == 1 and float(gap) == pytest.approx(-1.0, abs=1e-6)


def test_dual_step_rises_while_violated_decays_to_zero_never_negative():
    lam = torch.tensor(0.0)
    history = []
    for violation in [0.3, 0.3, 0.2] + [-0.1] * 10:
        lam = dual_step(lam, violation, dual_lr=0.5)
        history.append(float(lam))
    assert history[:3] == pytest.approx([0.15, 0.3, 0.4])
    assert all(b < a for a, b in zip(history[2:6], history[3:7]))
    assert history[-1] == 0.0 and min(history) >= 0.0


def _task(features=None, **kwargs):
    features = features or CQT(16000, 128, 55.0, 12, 48)
    net = functools.partial(HarmonicSalienceNet, n_salience=kwargs.pop("n_salience", 2), n_harmonics=4,
                            unet=dict(depth=2, channels=4))
    return HarmonicSalience(net, features, functools.partial(torch.optim.Adam, lr=1e-3), **kwargs)


@pytest.mark.parametrize("kwargs", [dict(threshold=1.5), dict(threshold=-1.01), dict(dual_lr=-0.1),
                                    dict(lambda_init=-1.0), dict(n_salience=0), dict(loss="l3"),
                                    dict(target_quantiles=[0.9, 0.1])])
def test_bad_config_values_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        _task(**kwargs)


def test_front_ends_without_a_log_frequency_grid_are_refused_naming_the_working_ones():
    mel = MelSpectrogram(16000, 128, n_bins=48, n_fft=512)
    hcqt = HCQT(16000, 128, 55.0, 12, 36, harmonics=[1, 2])
    for fe in (mel, hcqt):
        with pytest.raises(ConfigError, match="features=cqt or features=logfreq"):
            _task(fe)
    log = LogFreqSTFT(16000, 128, n_bins=64, fmin=55.0, fmax=3000.0, n_fft=1024)
    task = _task(log)
    assert task.net.decoder.bins_per_octave == pytest.approx(log.bins_per_octave)
    # a config value that disagrees with the front-end is an error, not silently used
    net = functools.partial(HarmonicSalienceNet, bins_per_octave=36, unet=dict(depth=2, channels=4))
    with pytest.raises(ConfigError, match="bins_per_octave"):
        HarmonicSalience(net, log, functools.partial(torch.optim.Adam, lr=1e-3))


def test_silent_batch_gives_a_finite_loss_and_finite_gradients():
    task = _task(threshold=-0.2, lambda_init=1.0)
    task.set_target_range(-8.0, 0.0)
    audio = torch.zeros(2, 4000)
    res = task.objective({"audio": audio})
    assert int(res["n_active"]) == 0 and float(res["loss1"]) == 0.0
    assert torch.isfinite(res["loss"])
    res["loss"].backward()
    assert all(torch.isfinite(p.grad).all() for p in task.parameters() if p.grad is not None)


def test_unfitted_target_range_is_a_clear_error():
    with pytest.raises(ConfigError, match="never fitted"):
        _task().objective({"audio": torch.zeros(1, 4000)})


def test_dual_update_uses_the_mean_loss1_since_the_last_step():
    task = _task(threshold=-0.1, dual_lr=0.5, lambda_init=0.2)
    task._pending_loss1 = [torch.tensor(0.1), torch.tensor(0.3)]  # mean 0.2: violation 0.3
    task.dual_update()
    assert float(task.lam) == pytest.approx(0.35)
    task._pending_loss1 = [torch.tensor(-0.9)]  # holds by 0.8: 0.35 - 0.4 -> projected to 0
    task.dual_update()
    assert float(task.lam) == 0.0
    task.dual_update()  # nothing pending: unchanged
    assert float(task.lam) == 0.0


def test_every_parameter_gets_a_gradient_from_the_objective():
    torch.manual_seed(0)
    task = _task(threshold=-0.5, lambda_init=1.0)
    t = torch.arange(8000) / 16000
    audio = torch.stack([torch.sin(2 * math.pi * 220 * t) + 0.5 * torch.sin(2 * math.pi * 440 * t)] * 2)
    task.fit_target_range([task.features.raw(audio)])
    task.objective({"audio": audio})["loss"].backward()
    missing = [n for n, p in task.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum() > 0)]
    assert not missing
