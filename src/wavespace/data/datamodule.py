"""A LightningDataModule that serves already-built Datasets (built from config by Hydra).

The training order is resumable: the epoch's shuffle and each item's randomness are functions of
the seed (see :mod:`wavespace.data.sampling`), and the module's ``state_dict`` (stored in every
checkpoint by Lightning) records how far into its epoch the run was, so that a run killed in the
middle of an epoch continues with exactly the batches the uninterrupted run would have seen.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from wavespace.data.sampling import EpochSampler, SeededItems
from wavespace.data.synth_batched import Plans, is_plan, synthesize
from wavespace.errors import ConfigError

GENERATE_ON = ("workers", "device")


def _on_device(dataset: Dataset) -> Plans:
    if not callable(getattr(dataset, "plan", None)):
        raise ConfigError(
            f"data.generate_on=device synthesises batches from drawn parameters, which "
            f"{type(dataset).__name__} does not have (it is read, not generated). Use "
            f"data.generate_on=workers, or a generated dataset (data=synth).")
    return Plans(dataset)  # type: ignore[arg-type]


def _collate_of(dataset: Dataset) -> Any:
    return dataset.collate if isinstance(dataset, Plans) else collate


def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack numeric fields; keep non-numeric fields (names, paths) as lists."""
    out: dict[str, Any] = {}
    for key in items[0]:
        values = [it[key] for it in items]
        if isinstance(values[0], (np.ndarray, torch.Tensor, float, int, np.number)):
            out[key] = torch.as_tensor(np.stack([np.asarray(v) for v in values]))
        else:
            out[key] = values
    return out


class AudioDataModule(L.LightningDataModule):
    """Train/val/test datasets and how to batch them.

    Datasets yield dicts of numpy arrays (``audio`` plus targets, or ``features`` from the
    cache); feature extraction is *not* done here but batched on the device by the task.
    ``seed`` fixes the training order and random crops; None takes the seed of the global
    generator (``torch.initial_seed()``, i.e. ``seed=`` of a training run, which seeds everything
    before the data is built).

    ``generate_on="device"`` (generated datasets only: ``data=synth``): the DataLoader yields each
    item's random draws, and the batch's audio and labels are synthesised on the training device
    in ``on_after_batch_transfer`` (``wavespace.data.synth_batched``), so that a GPU is not left
    waiting for CPU workers. ``workers`` renders every item with the numpy reference in the
    DataLoader. Both give the same labels and the same audio to ~1e-3.
    """

    def __init__(
        self,
        train: Dataset,
        val: Dataset | None = None,
        test: Dataset | None = None,
        batch_size: int = 16,
        eval_batch_size: int | None = None,
        num_workers: int = 0,
        pin_memory: bool = False,
        persistent_workers: bool = True,
        drop_last: bool = True,
        seed: int | None = None,
        generate_on: str = "workers",
    ) -> None:
        super().__init__()
        if generate_on not in GENERATE_ON:
            raise ConfigError(f"data.generate_on={generate_on!r}: use 'workers' (render items in the DataLoader) "
                              f"or 'device' (synthesise batches on the training device; data=synth only).")
        if generate_on == "device":
            train, val, test = (None if ds is None else _on_device(ds) for ds in (train, val, test))
        self.generate_on = generate_on
        for key, value in (("batch_size", batch_size), ("eval_batch_size", eval_batch_size)):
            if value is not None and int(value) < 1:
                raise ConfigError(f"data.{key}={value}: a batch must hold at least one example. Set "
                                  f"data.{key} to a positive number (16 is the default for training).")
        self.train_set, self.val_set, self.test_set = train, val, test
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers, self.pin_memory = int(num_workers), bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.drop_last = drop_last
        self.seed = int(torch.initial_seed() if seed is None else seed) % 2**63
        # Where a restored checkpoint stopped: (epoch, items of that epoch already trained on).
        self._resume: tuple[int, int] = (0, 0)

    def _loader(self, dataset: Dataset, batch_size: int, drop_last: bool, sampler: EpochSampler | None = None,
                collate_fn: Any = None) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            drop_last=drop_last and len(dataset) >= batch_size,  # type: ignore[arg-type]
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=collate_fn or _collate_of(dataset),
            # Worker base seeds from a generator of their own: creating an iterator must not move
            # the global generator (dropout), or a resumed run would draw differently.
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        start_epoch, skip = self._resume
        if self.trainer is not None and not skip:
            start_epoch = max(start_epoch, self.trainer.current_epoch)  # dataloaders reloaded mid-fit
        sampler = EpochSampler(len(self.train_set), self.seed, True, start_epoch, skip)  # type: ignore[arg-type]
        return self._loader(SeededItems(self.train_set, self.seed), self.batch_size, self.drop_last, sampler,
                            _collate_of(self.train_set))

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_set is None else self._loader(self.val_set, self.eval_batch_size, False)

    def test_dataloader(self) -> DataLoader | list:
        test = self.test_set if self.test_set is not None else self.val_set
        return [] if test is None else self._loader(test, self.eval_batch_size, False)

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Batches of draws (``generate_on=device``) become audio + labels here, on the device."""
        return synthesize(batch) if is_plan(batch) else batch

    # -- resuming ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Where training stands in its epoch (Lightning stores this in every checkpoint).

        The count is of batches whose optimizer step is done (``processed``): a checkpoint written
        after a step resumes with the next batch; one written at the end of an epoch (every
        batch processed) resumes with the next epoch.
        """
        trainer = self.trainer
        if trainer is None or trainer.state.fn != "fit":
            return {}
        epoch, done = trainer.current_epoch, trainer.fit_loop.epoch_loop.batch_progress.current.processed
        if done >= trainer.num_training_batches:
            epoch, done = epoch + 1, 0
        return {"train_epoch": int(epoch), "train_items_done": int(done) * self.batch_size * trainer.world_size}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if "train_epoch" in state_dict:
            self._resume = (int(state_dict["train_epoch"]), int(state_dict["train_items_done"]))
