"""``python -m tests.kill_at_step STEP [train overrides]``: ``wavespace.train`` that SIGKILLs itself.

The process kills itself (``kill -9``: no cleanup, no exception hooks) when training is about to
take optimizer step ``STEP`` (never if STEP is -1), mid-epoch if the test says so. A callback cannot
be added through the config without changing the run's hash, so it is added to the Trainer here
instead. With ``WAVESPACE_TEST_LR_LOG=FILE`` it also appends, before every optimizer step, the
step, the learning rate it will use and the elapsed training time of Lightning's Timer to FILE
(JSON lines): what a time-span schedule is checked against.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, Timer


class KillAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


class RecordLR(Callback):
    def __init__(self, path: str) -> None:
        self.path = path

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        timer = next((cb for cb in trainer.callbacks if isinstance(cb, Timer)), None)
        row = {"step": trainer.global_step, "lr": trainer.optimizers[0].param_groups[0]["lr"],
               "elapsed": timer.time_elapsed() if timer is not None else None}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")


def _main() -> None:
    step = int(sys.argv.pop(1))
    init = pl.Trainer.__init__
    extra: list[Callback] = [KillAtStep(step)]
    if os.environ.get("WAVESPACE_TEST_LR_LOG"):
        extra.append(RecordLR(os.environ["WAVESPACE_TEST_LR_LOG"]))

    def patched(self: pl.Trainer, *args: object, callbacks: list | None = None, **kwargs: object) -> None:
        init(self, *args, callbacks=[*(callbacks or []), *extra], **kwargs)

    pl.Trainer.__init__ = patched  # type: ignore[method-assign]
    from wavespace.train import main

    main()


if __name__ == "__main__":
    _main()
