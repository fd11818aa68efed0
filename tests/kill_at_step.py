"""``python -m tests.kill_at_step STEP [train overrides]``: ``wavespace.train`` that SIGKILLs itself.

The process kills itself (``kill -9``: no cleanup, no exception hooks) when training is about to
take optimizer step ``STEP``, mid-epoch if the test says so. A callback cannot be added through the
config without changing the run's hash, so it is added to the Trainer here instead.
"""

from __future__ import annotations

import os
import signal
import sys

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback


class KillAtStep(Callback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer: pl.Trainer, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def _main() -> None:
    step = int(sys.argv.pop(1))
    init = pl.Trainer.__init__

    def patched(self: pl.Trainer, *args: object, callbacks: list | None = None, **kwargs: object) -> None:
        init(self, *args, callbacks=[*(callbacks or []), KillAtStep(step)], **kwargs)

    pl.Trainer.__init__ = patched  # type: ignore[method-assign]
    from wavespace.train import main

    main()


if __name__ == "__main__":
    _main()
