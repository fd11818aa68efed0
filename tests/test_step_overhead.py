"""Issue 14, "Lightning overhead": a training step asks nothing of the host, and the NaN guard
that no longer waits for the device still stops a diverging run with a usable last checkpoint.

On an accelerator every read of a device value (``.item()``, ``bool(t)``, boolean indexing)
drains the device's queue; a hand-written loop pays none per step. There is no GPU in CI, so the
test counts, during real training steps on the CPU with the guard in its accelerator mode
(``nonfinite_check=deferred``), the ATen ops that force such a read on any device.
"""

from __future__ import annotations

import os
import sys
import weakref
from collections import Counter

import lightning as L
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

# Ops whose result the host must wait for: a scalar read, or an output sized by the data.
SYNC_OPS = {"_local_scalar_dense", "is_nonzero", "item", "nonzero", "masked_select", "unique", "_unique2", "unique_consecutive"}


def _in_optimizer() -> bool:
    """torch.optim reads its step counts, which stay on the host unless ``capturable``: no sync."""
    frame = sys._getframe(2)
    while frame is not None:
        if f"torch{os.sep}optim{os.sep}" in frame.f_code.co_filename:
            return True
        frame = frame.f_back
    return False


class HostReads(TorchDispatchMode):
    """Counts the ops that make the host wait for the device (any device: the op is the same).

    Reads of host copies are free: a tensor copied to the CPU (``.to("cpu", copy=True)``), and
    whatever is computed from host tensors only, is tracked as living on the host.
    """

    def __init__(self, host: set[int]) -> None:
        super().__init__()
        self.ops: Counter[str] = Counter()
        self.host = host  # ids of the tensors on the host, kept across steps

    def _mark(self, out) -> None:
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor) and id(t) not in self.host:
                self.host.add(id(t))
                weakref.finalize(t, self.host.discard, id(t))

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = func.overloadpacket.__name__
        inputs = [t for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)]
        on_host = bool(inputs) and all(id(t) in self.host for t in inputs)
        if (name == "_to_copy" and kwargs.get("device") == torch.device("cpu")) or on_host:
            self._mark(out)
        elif (name in SYNC_OPS or (name == "index" and any(t.dtype == torch.bool for t in inputs[1:]))) \
                and not _in_optimizer():
            self.ops[name] += 1
        return out


class CountPerStep(L.Callback):
    """Host reads from one batch's start to the next's (every hook, the logger and the bar included)."""

    def __init__(self) -> None:
        self.mode: HostReads | None = None
        self.host: set[int] = set()
        self.steps: list[tuple[int, bool, Counter[str]]] = []  # (batch index, writes logs, reads)

    def _close(self) -> None:
        if self.mode is not None:
            self.mode.__exit__(None, None, None)
            self.steps[-1] = (*self.steps[-1][:2], self.mode.ops)
            self.mode = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._close()
        self.steps.append((batch_idx, trainer._logger_connector.should_update_logs, Counter()))
        self.mode = HostReads(self.host)
        self.mode.__enter__()

    def on_train_epoch_end(self, trainer, pl_module):
        self._close()


@pytest.mark.parametrize(("model", "logged"), [
    ("transcriber", ["train/loss_velocity"]),
    # five per-step values (the dual trajectory `analyze salience` reads): still one copy per logging step
    ("harmonic", ["train/loss0", "train/loss1", "train/lambda", "train/slack", "train/lambda_epoch"]),
])
def test_a_training_step_makes_no_host_read_outside_logging_steps(compose_cfg, model, logged):
    """The transcriber (velocity loss) and the harmonic model (primal-dual) with the default
    callbacks (progress bar, LR monitor, checkpoints, NaN guard) and a worker process: between
    logging steps, no op waits for the device. Logging steps read the logged values once; epoch
    means are read once per epoch."""
    from wavespace.train import train

    cfg = compose_cfg(f"model={model}", "debug=tiny", "nonfinite_check=deferred", "data.num_workers=1",
                      "trainer.limit_train_batches=7", "trainer.log_every_n_steps=3", "test=false",
                      "callbacks.progress_bar.refresh_rate=1", "callbacks.figures=null",
                      "+callbacks.count._target_=tests.test_step_overhead.CountPerStep")
    _, objects = train(cfg)
    [counter] = [c for c in objects["trainer"].callbacks if isinstance(c, CountPerStep)]
    steps = counter.steps[1:-1]  # the first builds state; the last one's window holds the epoch end
    assert [i for i, _, _ in steps] == [1, 2, 3, 4, 5]
    quiet = {i: dict(reads) for i, logs, reads in steps if not logs}
    assert sorted(quiet) == [1, 3, 4] and all(not reads for reads in quiet.values()), quiet
    logging = {i: sum(reads.values()) for i, logs, reads in steps if logs}
    assert logging and all(n <= 2 for n in logging.values()), logging
    assert all(key in objects["trainer"].callback_metrics for key in logged)


def test_the_deferred_nan_guard_stops_a_diverging_run_with_a_usable_last_checkpoint(compose_cfg, tmp_path):
    """lr=1e30: step 1 leaves the weights finite, step 2's loss is NaN. The accelerator-mode guard
    sees that one step late, but the step-2 save reads it first: only step 1's state is on disk."""
    from wavespace.callbacks import nonfinite_tensors
    from wavespace.errors import NonFiniteLossError
    from wavespace.train import train

    cfg = compose_cfg("debug=tiny", "nonfinite_check=deferred", "trainer.max_epochs=10", "model.optimizer.lr=1e30",
                      "callbacks.periodic_checkpoint.every_n_train_steps=1")
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg)
    [run] = sorted((tmp_path / "outputs" / "runs").glob("*"))
    written = sorted((run / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in written] == ["last.ckpt"]
    state = torch.load(written[0], map_location="cpu", weights_only=True)
    assert state["global_step"] == 1
    assert nonfinite_tensors({k: state[k] for k in ("state_dict", "optimizer_states")}) == []
    message = str(err.value)
    assert message.startswith("Training stopped: the loss became NaN or infinite by this step")
    assert f"Usable checkpoints (every tensor finite): {written[0]} (epoch 0, global step 1)." in message


def test_the_guard_flags_a_nan_anywhere_without_changing_a_value():
    """The fused check (GradScaler's kernel at a scale of exactly 1) over mixed dtypes."""
    from wavespace.nonfinite import flag_nonfinite

    tensors = [torch.randn(3, 4), torch.randn(5, dtype=torch.bfloat16), torch.arange(3), torch.empty(0)]
    before = [t.clone() for t in tensors]
    flag = torch.zeros(1)
    flag_nonfinite(tensors, flag)
    assert flag.item() == 0 and all(torch.equal(a, b) for a, b in zip(tensors, before))
    tensors[1][2] = float("inf")
    flag_nonfinite(tensors, flag)
    assert flag.item() == 1
