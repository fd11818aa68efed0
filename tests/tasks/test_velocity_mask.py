"""SupervisedSalience learns velocity only where a note sounds (its value elsewhere means nothing)."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

from wavespace.features import MelSpectrogram
from wavespace.tasks import SupervisedSalience

B, K, T = 2, 5, 12


def _task(**kw) -> SupervisedSalience:
    # losses() reads only the outputs and the batch: any net and a cheap front-end will do.
    return SupervisedSalience(nn.Identity(), MelSpectrogram(22050, 256, n_bins=32),
                              functools.partial(torch.optim.SGD, lr=0.1), note_metrics=False, **kw)


def _example(seed: int = 0) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    on = torch.rand(B, K, T, generator=g) < 0.3
    on[0, 0, 0], on[1, 4, 11] = True, False  # at least one bin each way
    out = {"frame": torch.randn(B, K, T, generator=g), "velocity": torch.randn(B, K, T, generator=g)}
    batch = {"frame": on.float(), "velocity": torch.rand(B, K, T, generator=g)}
    return out, batch, on


def test_velocity_loss_is_bce_over_sounding_bins_only():
    task = _task(loss_weights={"frame": 1.0, "velocity": 2.0})
    out, batch, on = _example()
    parts = task.losses(out, batch)
    x, y = out["velocity"][on].double(), batch["velocity"][on].double()
    by_hand = -(y * torch.log(torch.sigmoid(x)) + (1 - y) * torch.log(1 - torch.sigmoid(x))).mean()
    assert float(parts["velocity"]) == pytest.approx(2.0 * float(by_hand), rel=1e-5)
    # Averaged over every bin, as a mask-less loss would, it is a different number.
    unmasked = nn.functional.binary_cross_entropy_with_logits(out["velocity"], batch["velocity"])
    assert abs(float(parts["velocity"]) - 2.0 * float(unmasked)) > 1e-3


def test_off_frame_velocity_targets_change_nothing_on_frame_ones_do():
    task = _task(loss_weights={"frame": 1.0, "velocity": 1.0})
    out, batch, on = _example(1)
    base = float(task.losses(out, batch)["velocity"])
    off_changed = dict(batch, velocity=torch.where(on, batch["velocity"], 1.0 - batch["velocity"]))
    assert float(task.losses(out, off_changed)["velocity"]) == base
    on_changed = dict(batch, velocity=torch.where(on, 1.0 - batch["velocity"], batch["velocity"]))
    assert float(task.losses(out, on_changed)["velocity"]) != pytest.approx(base, rel=1e-3)


def test_velocity_gradient_is_zero_where_no_note_sounds():
    task = _task(loss_weights={"frame": 1.0, "velocity": 1.0})
    out, batch, on = _example(2)
    out["velocity"].requires_grad_(True)
    task.losses(out, batch)["velocity"].backward()
    grad = out["velocity"].grad
    assert bool((grad[~on] == 0).all()) and bool((grad[on] != 0).all())


def test_silent_batch_has_a_zero_velocity_term_but_keeps_the_frame_loss():
    """Zero, not absent: deciding to drop the term would make the host wait for the device to
    count the sounding bins, every step (issue 14). Zero adds nothing and moves nothing."""
    task = _task(loss_weights={"frame": 1.0, "velocity": 1.0})
    out, batch, _ = _example(3)
    out["velocity"].requires_grad_(True)
    batch = dict(batch, frame=torch.zeros(B, K, T))
    parts = task.losses(out, batch)
    assert float(parts["velocity"]) == 0.0 and torch.isfinite(parts["frame"])
    parts["velocity"].backward()
    assert bool((out["velocity"].grad == 0).all())
