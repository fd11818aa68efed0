"""No NaN in any checkpoint, and a diverging run stopped at once with a usable last state.

``FiniteCheckpointIO`` is the one writer every checkpoint goes through: it refuses a state with
a non-finite tensor. ``NonFiniteLossGuard`` stops the run at the first non-finite loss or weight.

The guard's checks run on the device (one fused kernel over all trainable weights and buffers,
the one GradScaler uses), and how often the host *looks* at their result depends on the device:

* on the CPU (``check="step"``) every step: there a look costs nothing, so a non-finite loss is
  caught before its backward pass and the last finite state is saved to ``last.ckpt``;
* on an accelerator (``check="deferred"``) the results gather in a flag on the device, copied to
  the host without waiting and read one step later. Reading it at once would stall the device's
  queue twice per step (a sync, the very overhead a hand-written loop does not pay). The bad
  step's weights are never saved: the flag is read at once before any checkpoint is written (and
  ``FiniteCheckpointIO`` would refuse them anyway), at each epoch's end and when training ends.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO

from wavespace.errors import ConfigError, NonFiniteLossError

FIXES = ("Common fixes: a lower learning rate (model.optimizer.lr), gradient clipping "
         "(trainer.gradient_clip_val), full precision (trainer.precision=32-true), or checking the "
         "input data for silent or corrupt files.")
CHECK_MODES = ("auto", "step", "deferred")


def nonfinite_tensors(tree: Any, prefix: str = "") -> list[str]:
    """Names of the floating-point tensors in a nested dict/list that hold a NaN or an inf.

    One reduction per call (not one device sync per tensor), so checking every parameter after
    every optimizer step stays cheap.
    """
    found: list[tuple[str, torch.Tensor]] = []

    def walk(node: Any, name: str) -> None:
        if isinstance(node, torch.Tensor):
            if node.is_floating_point() or node.is_complex():
                found.append((name, node))
        elif isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{name}.{key}" if name else str(key))
        elif isinstance(node, (list, tuple)):
            for i, value in enumerate(node):
                walk(value, f"{name}[{i}]")

    walk(tree, prefix)
    flags: dict[torch.device, list[torch.Tensor]] = {}
    for _, t in found:
        flags.setdefault(t.device, []).append(torch.isfinite(t).all())
    if all(bool(torch.stack(f).all()) for f in flags.values()):
        return []
    return [name for name, t in found if not bool(torch.isfinite(t).all())]


def float_groups(tensors: Iterable[torch.Tensor]) -> dict[tuple[torch.device, torch.dtype], list[torch.Tensor]]:
    """The floating-point tensors by (device, dtype): the groups one fused kernel can check."""
    groups: dict[tuple[torch.device, torch.dtype], list[torch.Tensor]] = defaultdict(list)
    for t in tensors:
        if t.is_floating_point() and t.layout == torch.strided and t.numel():
            groups[(t.device, t.dtype)].append(t.detach())
    return dict(groups)


@torch.no_grad()
def flag_nonfinite(tensors: Iterable[torch.Tensor] | dict, flag: torch.Tensor) -> None:
    """Set ``flag`` (a float tensor on the device) to 1 if any tensor holds a NaN or an inf.

    Never waits for the device: one fused kernel per (device, dtype) group (``tensors`` may be
    :func:`float_groups` already), GradScaler's ``_amp_foreach_non_finite_check_and_unscale_``
    with a scale of exactly 1 (which leaves every value as it is), instead of two kernels per
    tensor and a host read.
    """
    groups = tensors if isinstance(tensors, dict) else float_groups(tensors)
    for (device, _), group in groups.items():
        found = flag if device == flag.device else torch.zeros(1, device=device)
        try:
            torch._amp_foreach_non_finite_check_and_unscale_(group, found, torch.ones(1, device=device))
        except (AttributeError, RuntimeError, NotImplementedError):  # a device without the fused kernel
            found.add_(torch.stack([torch.isfinite(t).all() for t in group]).logical_not().any())
        if found is not flag:
            flag.add_(found.to(flag.device, non_blocking=True))


def _checkpoint_tensors(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must hold finite: weights, buffers (BatchNorm statistics, task state)
    and optimizer state. (Monitor scores such as a first 'best' of inf are bookkeeping.)"""
    return {k: checkpoint[k] for k in ("state_dict", "optimizer_states") if k in checkpoint}


def usable_checkpoints(directory: Path) -> str:
    """A sentence naming the checkpoints in ``directory`` a user can load or resume, with steps."""
    found = []
    for path in sorted(directory.glob("*.ckpt")):
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except Exception:  # half-written or foreign file: not something to recommend
            continue
        if not nonfinite_tensors(_checkpoint_tensors(ckpt)):
            found.append(f"{path} (epoch {ckpt.get('epoch')}, global step {ckpt.get('global_step')})")
    if not found:
        return f"No usable checkpoint had been written yet in {directory}."
    return "Usable checkpoints (every tensor finite): " + "; ".join(found) + "."


class NonFiniteCheckpointError(NonFiniteLossError):
    """A checkpoint about to be written holds NaN/inf tensors (it is not written)."""


class FiniteCheckpointIO(TorchCheckpointIO):
    """The checkpoint writer of training runs: it refuses any checkpoint with a non-finite tensor.

    Every save (best, last, periodic, the guard's own) goes through the strategy's CheckpointIO,
    so this is the one place that can promise a NaN never reaches a file. The refusal stops the
    run with a message naming the tensors and the checkpoints that are still usable.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        bad = nonfinite_tensors(_checkpoint_tensors(checkpoint))
        if bad:
            raise NonFiniteCheckpointError(
                f"Training stopped at epoch {checkpoint.get('epoch')}, global step "
                f"{checkpoint.get('global_step')}: {len(bad)} tensor(s) of the model or optimizer "
                f"state are NaN or infinite (e.g. {', '.join(bad[:3])}), so {path} was not written. "
                f"{usable_checkpoints(Path(path).parent)} {FIXES}")
        super().save_checkpoint(checkpoint, path, storage_options)


def _watched(pl_module: L.LightningModule) -> Iterable[torch.Tensor]:
    """What a step can change: trainable weights and the buffers (BatchNorm statistics, task state).
    Frozen weights (a pretrained front-end) cannot turn NaN and are not read every step."""
    yield from (p for p in pl_module.parameters() if p.requires_grad)
    yield from pl_module.buffers()


class NonFiniteLossGuard(Callback):
    """Stop a diverging run at the first non-finite loss or weight, and say what is usable.

    Two checks: the loss before backward, and every trainable weight and buffer after each
    optimizer step (a finite but huge loss can still take a step that turns the weights into NaN,
    and BatchNorm statistics change in the forward pass itself). ``check`` says when the host reads
    them (module docstring): ``step`` (the CPU's default under ``auto``) stops before a NaN loss
    reaches the weights and saves the still-finite state to ``last.ckpt``; ``deferred`` (an
    accelerator's) never stalls the device and stops one step later, before any save.
    """

    def __init__(self, checkpoint_dir: str | Path, check: str = "auto") -> None:
        if check not in CHECK_MODES:
            raise ConfigError(f"NonFiniteLossGuard check='{check}' is not one of {', '.join(CHECK_MODES)}.")
        self.checkpoint_dir, self.check = Path(checkpoint_dir), check
        self.deferred = check == "deferred"
        self._flags: torch.Tensor | None = None  # [loss went bad, weights went bad] on the device
        self._host: torch.Tensor | None = None   # their copy, read one step later
        self._copied: Any = None                 # event (CUDA) or True: a copy waits to be read
        self._saving_own = False
        self._groups: dict = {}                  # what is checked, gathered once an epoch

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        device = pl_module.device
        self.deferred = self.check == "deferred" or (self.check == "auto" and device.type != "cpu")
        self._flags = torch.zeros(2, device=device)
        pin = device.type == "cuda"
        self._host = torch.zeros(2, pin_memory=pin) if pin else torch.zeros(2)
        self._copied = None

    # -- the checks --------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._groups = float_groups(_watched(pl_module))  # walking the modules every step costs more

    def on_before_backward(self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor) -> None:
        if self.deferred:
            self._flags[0].add_(torch.isfinite(loss.detach()).all().logical_not())
        elif not torch.isfinite(loss).all():
            self._loss_went_bad(trainer, pl_module, f"the loss became {loss.item()}")

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if self.deferred:
            self._read_copy(trainer, pl_module)  # the previous step's flags, copied long ago
        flag_nonfinite(self._groups or _watched(pl_module), self._flags[1:])
        if not self.deferred:
            if self._flags[1].item():
                self._weights_went_bad(trainer, pl_module, "")
            return
        if self._host.is_pinned():
            self._host.copy_(self._flags, non_blocking=True)
            self._copied = torch.cuda.Event()
            self._copied.record()
        else:
            self._host.copy_(self._flags)
            self._copied = True

    def _read_copy(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._copied is None:
            return
        if self._copied is not True:
            self._copied.synchronize()  # recorded a whole step ago: done, or nearly
        self._copied = None
        self._judge(trainer, pl_module, self._host, "at or one step before")

    def read_now(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Deferred mode: look at the flags at once (before a checkpoint, at an epoch's end)."""
        if self.deferred and self._flags is not None and not self._saving_own:
            self._copied = None
            self._judge(trainer, pl_module, self._flags.cpu(), "by")

    def _judge(self, trainer: L.Trainer, pl_module: L.LightningModule, flags: torch.Tensor, when: str) -> None:
        loss_bad, weights_bad = (bool(v) for v in flags.tolist())
        if loss_bad or weights_bad:
            what = "the loss became NaN or infinite" if loss_bad else ""
            self._weights_went_bad(trainer, pl_module, f"{what} {when} this step (the check reads the "
                                                      f"device's flag without stalling it)".strip())

    def on_save_checkpoint(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        self.read_now(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.read_now(trainer, pl_module)

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self.read_now(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.read_now(trainer, pl_module)

    # -- stopping ----------------------------------------------------------------------------
    def _loss_went_bad(self, trainer: L.Trainer, pl_module: L.LightningModule, what: str) -> None:
        """Step mode: the loss is bad and nothing has been stepped with it yet."""
        optimizers = {f"optimizer{i}": opt.state_dict()["state"] for i, opt in enumerate(trainer.optimizers)}
        bad = nonfinite_tensors(pl_module.state_dict()) + nonfinite_tensors(optimizers)
        if not bad and not trainer.fast_dev_run:
            path = self.checkpoint_dir / "last.ckpt"
            self._saving_own = True
            try:
                trainer.save_checkpoint(path)
            finally:
                self._saving_own = False
            saved = (f"The weights and optimizer state were still finite and were saved to {path} "
                     f"(global step {trainer.global_step}, the last step taken).")
        else:
            saved = (f"Nothing was saved at this step (non-finite: {', '.join(bad[:3]) or 'none'}). "
                     f"{usable_checkpoints(self.checkpoint_dir)}")
        self._stop(trainer, what, saved)

    def _weights_went_bad(self, trainer: L.Trainer, pl_module: L.LightningModule, what: str) -> None:
        bad = nonfinite_tensors(pl_module.state_dict())
        if not what:
            what = (f"the optimizer step made {len(bad)} weight tensor(s) NaN or infinite "
                    f"(e.g. {', '.join(bad[:3])}) although the loss was finite")
        elif bad:
            what += f"; non-finite now: {', '.join(bad[:3])}"
        self._stop(trainer, what, f"Nothing was saved after this step. {usable_checkpoints(self.checkpoint_dir)}")

    @staticmethod
    def _stop(trainer: L.Trainer, what: str, saved: str) -> None:
        raise NonFiniteLossError(f"Training stopped: {what} at epoch {trainer.current_epoch}, global step "
                                 f"{trainer.global_step}. {saved} {FIXES}")
