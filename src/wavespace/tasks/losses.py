"""Losses for sparse pitch targets."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sparse_bce(
    logits: torch.Tensor, target: torch.Tensor, pos_weight: float = 1.0, focal_gamma: float = 0.0
) -> torch.Tensor:
    """Binary cross-entropy for targets that are mostly zero (salience maps, piano rolls).

    ``pos_weight`` > 1 counters class imbalance as in basic-pitch's class-balanced BCE;
    ``focal_gamma`` > 0 gives the focal loss, down-weighting easy (mostly silent) bins.
    Targets may be soft (Gaussian salience).
    """
    weight = None
    if pos_weight != 1.0:
        weight = 1.0 + (pos_weight - 1.0) * target
    loss = F.binary_cross_entropy_with_logits(logits, target, weight=weight, reduction="none")
    if focal_gamma > 0:
        p = torch.sigmoid(logits)
        p_t = p * target + (1 - p) * (1 - target)
        loss = loss * (1 - p_t).pow(focal_gamma)
    return loss.mean()
