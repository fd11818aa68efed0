"""The entropy constraint of the harmonic-salience study, and its dual (Lagrange multiplier) step.

Plain tensor functions, no Lightning: the task (tasks/harmonic.py) calls them, tests check them
against known answers.

Entropy of a frame. For a non-negative frame ``v`` over ``F`` frequency bins,

    p_f = v_f / sum_f v_f,        H(v) = -sum_f p_f log p_f / log F,

so ``H`` lies in [0, 1]: 0 for a single peak (one bin holds all energy), 1 for a flat frame.
A salience map that encodes each harmonic series as one f0 peak has a *lower* entropy than the
spectrum it explains; the constraint asks for ``mean_t [H(salience_t) - H(input_t)] <= threshold``.

Frames whose input carries (almost) no energy have no meaningful distribution: they are left out
of the mean (``energy_floor`` on the mean of the [0, 1] input frame). A batch with no frame above
the floor gives a gap of exactly 0, finite, with a gradient of zero.
"""

from __future__ import annotations

import math

import torch

LOSSES = ("l1", "l2", "bce")


def frame_entropy(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Normalised entropy over the frequency axis of non-negative ``v`` [..., F, T] -> [..., T].

    ``H = -sum_f p_f log p_f / log F`` with ``p_f = v_f / sum_f v_f`` (see the module docstring);
    an all-zero frame gives 0 (its ``p`` is taken as all zeros).
    """
    n_bins = v.shape[-2]
    if n_bins < 2:
        return torch.zeros_like(v.sum(-2))
    v = v.clamp_min(0)
    p = v / v.sum(-2, keepdim=True).clamp_min(eps)
    return -torch.special.xlogy(p, p).sum(-2) / math.log(n_bins)


def active_frames(target: torch.Tensor, energy_floor: float) -> torch.Tensor:
    """Boolean [B, T]: frames of the [0, 1] input [B, C, F, T] whose mean exceeds ``energy_floor``."""
    return target.float().mean(dim=(1, 2)) > energy_floor


def entropy_gap(salience: torch.Tensor, target: torch.Tensor, energy_floor: float) -> tuple[torch.Tensor, torch.Tensor]:
    """loss1 = mean over active frames of H(salience summed over channels) - H(input).

    ``salience`` [B, K, F, T] (>= 0), ``target`` [B, C, F, T] in [0, 1]. Returns (loss1 scalar,
    number of active frames). No active frame: loss1 = 0 (still attached to the graph).
    """
    h_sal = frame_entropy(salience.float().sum(1))
    h_in = frame_entropy(target.float().sum(1))
    mask = active_frames(target, energy_floor).to(h_sal.dtype)
    n = mask.sum()
    gap = ((h_sal - h_in) * mask).sum() / n.clamp_min(1.0)
    return gap, n


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, kind: str, eps: float = 1e-6) -> torch.Tensor:
    """loss0 between the decoder's output and the [0, 1] target.

    ``l1`` / ``l2``: mean absolute / squared error. ``bce``: binary cross-entropy with the
    reconstruction taken as a probability (clamped to [eps, 1 - eps]: a non-negative sum is no
    logit), which suits targets in [0, 1].
    """
    recon, target = recon.float(), target.float()
    if kind == "l1":
        return (recon - target).abs().mean()
    if kind == "l2":
        return (recon - target).pow(2).mean()
    if kind == "bce":
        return torch.nn.functional.binary_cross_entropy(recon.clamp(eps, 1 - eps), target)
    raise ValueError(f"unknown reconstruction loss '{kind}' (choose {', '.join(LOSSES)})")


def dual_step(lam: torch.Tensor, violation: torch.Tensor | float, dual_lr: float) -> torch.Tensor:
    """Projected dual ascent: ``max(0, lambda + dual_lr * (loss1 - threshold))``.

    ``violation`` = loss1 - threshold: lambda grows while the constraint is violated (> 0),
    shrinks once it holds (< 0), and is projected back onto lambda >= 0 (cooper's semantics for
    an inequality multiplier).
    """
    return (lam + dual_lr * torch.as_tensor(violation, dtype=lam.dtype, device=lam.device)).clamp_min(0.0)
