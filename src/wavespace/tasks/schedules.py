"""Learning-rate schedules that need the run's total step count (known only inside Lightning)."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from wavespace.errors import ConfigError


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


def unbounded_schedule_error(scheduler: object) -> ConfigError:
    """The error for a schedule asked to span a run that has no end (``trainer.max_epochs=-1``).

    Every schedule here is laid out over the run's total step count; Lightning's "train until
    stopped" has none (its estimate is infinite), which would otherwise surface as an
    OverflowError deep inside the optimizer setup.
    """
    return ConfigError(
        f"trainer.max_epochs=-1 (train until stopped) with no trainer.max_steps gives the run no total "
        f"number of steps, but the learning-rate schedule model.scheduler ({scheduler}) is laid out over "
        f"the run's total steps. Bound the run (trainer.max_steps=N or a finite trainer.max_epochs), or "
        f"train at a constant learning rate with model.scheduler=null."
    )
