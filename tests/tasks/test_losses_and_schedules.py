"""The loss and the learning-rate schedule of every supervised model, against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from wavespace.tasks.losses import sparse_bce
from wavespace.tasks.schedules import warmup_cosine


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _bce(x: float, y: float) -> float:
    """-(y log p + (1 - y) log(1 - p)), p = sigmoid(x), written out."""
    p = _sigmoid(x)
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


# (logit, target): a confident miss, a coin flip on a positive, an easy negative, a soft target.
CASES = [(2.0, 0.0), (0.0, 1.0), (-3.0, 0.0), (1.0, 0.5)]


def _tensors() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.tensor([c[0] for c in CASES], dtype=torch.float64)
    y = torch.tensor([c[1] for c in CASES], dtype=torch.float64)
    return x, y


def test_plain_bce_is_the_mean_of_the_per_bin_losses():
    x, y = _tensors()
    expected = sum(_bce(a, b) for a, b in CASES) / len(CASES)  # 2.1269, 0.6931, 0.0486, 0.8133
    assert float(sparse_bce(x, y)) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.92048, abs=1e-5)


def test_pos_weight_scales_positives_only_and_soft_targets_in_proportion():
    x, y = _tensors()
    # weight 1 + (pos_weight - 1) * target: 1 on negatives, 3 on the positive, 2 on the 0.5 target.
    expected = (_bce(2.0, 0.0) + 3 * _bce(0.0, 1.0) + _bce(-3.0, 0.0) + 2 * _bce(1.0, 0.5)) / 4
    assert float(sparse_bce(x, y, pos_weight=3.0)) == pytest.approx(expected, rel=1e-12)
    assert float(sparse_bce(x, y, pos_weight=3.0)) > float(sparse_bce(x, y))


def test_focal_term_down_weights_easy_bins_by_one_minus_p_t_to_the_gamma():
    x, y = _tensors()
    gamma = 2.0

    def focal(a: float, b: float) -> float:
        p = _sigmoid(a)
        p_t = p * b + (1 - p) * (1 - b)
        return (1 - p_t) ** gamma

    expected = sum(_bce(a, b) * focal(a, b) for a, b in CASES) / len(CASES)
    assert float(sparse_bce(x, y, focal_gamma=gamma)) == pytest.approx(expected, rel=1e-12)
    # The coin flip keeps a quarter of its loss, the easy negative (p = 0.047) almost none.
    assert focal(0.0, 1.0) == pytest.approx(0.25) and focal(-3.0, 0.0) < 0.003
    both = sum((1 + 2 * b) * _bce(a, b) * focal(a, b) for a, b in CASES) / len(CASES)
    assert float(sparse_bce(x, y, pos_weight=3.0, focal_gamma=gamma)) == pytest.approx(both, rel=1e-12)


def test_loss_gradient_reaches_every_bin():
    x, y = _tensors()
    x.requires_grad_(True)
    sparse_bce(x, y, pos_weight=3.0, focal_gamma=2.0).backward()
    assert x.grad is not None and bool((x.grad != 0).all())


def _factors(total: int, warmup: int, min_factor: float = 0.05) -> list[float]:
    """The learning-rate factor before each of ``total + 1`` optimizer steps (base lr 1)."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = warmup_cosine(opt, total_steps=total, warmup_steps=warmup, min_factor=min_factor)
    out = []
    for _ in range(total + 1):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_warmup_cosine_at_start_end_of_warmup_middle_and_end():
    f = _factors(total=110, warmup=10)
    assert f[0] == pytest.approx(0.1)          # step 0: 1 / warmup
    assert f[4] == pytest.approx(0.5)          # linear: (4 + 1) / 10
    assert f[9] == pytest.approx(1.0)          # last warmup step reaches the base rate
    assert f[10] == pytest.approx(1.0)         # cosine starts at the top
    assert f[60] == pytest.approx(0.05 + 0.95 * 0.5)  # half way through the decay: 0.525
    assert f[110] == pytest.approx(0.05)       # the floor at the last step
    decay = f[10:]
    assert all(a >= b for a, b in zip(decay, decay[1:]))  # never rises again


def test_warmup_longer_than_the_run_is_cut_and_zero_warmup_starts_at_the_top():
    f = _factors(total=5, warmup=100)  # warmup clamped to total - 1 = 4 steps
    assert f[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert f[5] == pytest.approx(0.05)
    g = _factors(total=4, warmup=0, min_factor=0.0)
    assert g == pytest.approx([1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.5 * (1 + math.cos(3 * math.pi / 4)), 0.0])
