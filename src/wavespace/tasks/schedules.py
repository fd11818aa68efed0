"""Learning-rate schedules laid out over the run: its total step count or its time budget.

Both are known only inside Lightning. ``span: steps`` (the default) lays the schedule over the
trainer's estimate of the run's optimizer steps. ``span: time`` lays it over
``trainer.max_time`` instead, so that a preset sized as a wall-clock budget ends its schedule on
any machine: a step count sized for one machine (rendered_transcriber: 14 epochs, 30 minutes on
one 2-core machine, 20 on another) is cut short by the time guard on a slower one, which then
stops with the learning rate still high (issue 14).

The clock is Lightning's own ``Timer`` callback, the one that stops the run at ``max_time``:
its elapsed training time is saved in every checkpoint and restored on resume, so a run killed
and resumed continues the schedule where the checkpoint left it, and the schedule's end is the
moment the run stops. Under DDP every rank takes rank 0's reading (the Timer broadcasts its stop
decision every step too), so the replicas never step with different rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from wavespace.errors import ConfigError

SPANS = ("steps", "time")


@dataclass(frozen=True)
class TimeBudget:
    """Seconds of training a run may take and a clock of the seconds taken so far.

    ``elapsed`` is injectable (tests); :func:`lightning_time_budget` reads Lightning's Timer.
    """

    seconds: float
    elapsed: Callable[[], float]

    def fraction(self) -> float:
        """Share of the budget spent, in [0, 1]."""
        return min(1.0, max(0.0, float(self.elapsed()) / self.seconds))


def warmup_cosine(
    optimizer: Optimizer,
    total_steps: int | None,
    warmup_steps: int = 100,
    min_factor: float = 0.05,
    span: str = "steps",
    time_budget: TimeBudget | None = None,
) -> LambdaLR:
    """Linear warmup then cosine decay to ``min_factor`` of the base rate.

    Warmup is what keeps attention models and large learning rates from the early instabilities
    the seed study saw; the floor keeps late training from stalling entirely. Warmup counts
    optimizer steps in both spans (it is about how many updates the optimizer state has seen).

    The decay follows the run's progress: with ``span: steps``, steps after warmup over the
    steps left after it; with ``span: time``, the share of ``time_budget`` spent, or the step
    progress when the run has a step bound that comes first (``total_steps``; None when
    unbounded), so the rate reaches its floor whichever of ``max_time`` or
    ``max_epochs``/``max_steps`` ends the run. The factor is ``min(warmup ramp, cosine)``,
    which is exactly the step schedule when time plays no part.
    """
    check_span(span)
    if span == "time" and time_budget is None:
        raise no_time_budget_error()
    if total_steps is None and span != "time":
        raise ValueError("a step-span schedule needs total_steps")
    budget = time_budget if span == "time" else None
    warmup_steps = max(0, int(warmup_steps))
    if total_steps is not None:
        warmup_steps = min(warmup_steps, max(total_steps - 1, 0))

    def factor(step: int) -> float:
        ramp = (step + 1) / warmup_steps if step < warmup_steps else 1.0
        progress = 0.0
        if total_steps is not None:
            progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        if budget is not None:
            progress = max(progress, budget.fraction())
        progress = min(1.0, max(0.0, progress))
        cosine = min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * progress))
        return min(ramp, cosine)

    return LambdaLR(optimizer, factor)


def check_span(span: Any) -> str:
    if span not in SPANS:
        raise ConfigError(f"model.scheduler.span={span}: choose 'steps' (the schedule spans the run's "
                          f"optimizer steps) or 'time' (it spans trainer.max_time).")
    return str(span)


def scheduler_span(factory: Any) -> str:
    """``span`` of a configured scheduler factory (a ``functools.partial`` from Hydra)."""
    return check_span((getattr(factory, "keywords", None) or {}).get("span", "steps"))


def lightning_time_budget(trainer: Any) -> TimeBudget:
    """The run's ``max_time`` and elapsed training time, from Lightning's ``Timer`` callback.

    Called from ``configure_optimizers``, before training starts, when the Timer's elapsed time
    is still the constant restored from a checkpoint (or 0): elapsed + remaining is then exactly
    the budget.
    """
    from lightning.pytorch.callbacks import Timer

    timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
    remaining = timer.time_remaining() if timer is not None else None
    if timer is None or remaining is None:
        raise no_time_budget_error()
    seconds = timer.time_elapsed() + remaining
    if seconds <= 0:
        raise ConfigError(f"trainer.max_time is {seconds:g} s: a time budget must be positive.")
    broadcast = trainer.strategy.broadcast
    return TimeBudget(seconds, lambda: float(broadcast(timer.time_elapsed())))


def no_time_budget_error() -> ConfigError:
    return ConfigError(
        "model.scheduler.span=time lays the learning-rate schedule over trainer.max_time, but the "
        "trainer has no time budget. Give it one in Lightning's DD:HH:MM:SS format "
        "(+trainer.max_time=00:00:30:00 on the command line, trainer.max_time in a preset), or "
        "use model.scheduler.span=steps.")


def unbounded_schedule_error(scheduler: object) -> ConfigError:
    """The error for a schedule asked to span a run that has no end (``trainer.max_epochs=-1``).

    Every step-span schedule is laid out over the run's total step count; Lightning's "train
    until stopped" has none (its estimate is infinite), which would otherwise surface as an
    OverflowError deep inside the optimizer setup.
    """
    return ConfigError(
        f"trainer.max_epochs=-1 (train until stopped) with no trainer.max_steps gives the run no total "
        f"number of steps, but the learning-rate schedule model.scheduler ({scheduler}) is laid out over "
        f"the run's total steps. Bound the run (trainer.max_steps=N or a finite trainer.max_epochs), "
        f"lay the schedule over a time budget (+trainer.max_time=DD:HH:MM:SS and "
        f"+model.scheduler.span=time), or train at a constant learning rate with model.scheduler=null."
    )
