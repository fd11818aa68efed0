"""Learning-rate schedules that need the run's total step count (known only inside Lightning)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR


def warmup_cosine(
    optimizer: Optimizer, total_steps: int, warmup_steps: int = 100, min_factor: float = 0.05
) -> LambdaLR:
    """Linear warmup then cosine decay to ``min_factor`` of the base rate.

    Warmup is what keeps attention models and large learning rates from the early instabilities
    the seed study saw; the floor keeps late training from stalling entirely.
    """
    warmup_steps = max(0, min(int(warmup_steps), max(total_steps - 1, 0)))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
        return min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)
