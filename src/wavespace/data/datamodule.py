"""A LightningDataModule that serves already-built Datasets (built from config by Hydra)."""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


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
    ) -> None:
        super().__init__()
        self.train_set, self.val_set, self.test_set = train, val, test
        self.batch_size = int(batch_size)
        self.eval_batch_size = int(eval_batch_size or batch_size)
        self.num_workers, self.pin_memory = int(num_workers), bool(pin_memory)
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.drop_last = drop_last

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool, drop_last: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            drop_last=drop_last and len(dataset) >= batch_size,  # type: ignore[arg-type]
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=collate,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, self.batch_size, True, self.drop_last)

    def val_dataloader(self) -> DataLoader | list:
        return [] if self.val_set is None else self._loader(self.val_set, self.eval_batch_size, False, False)

    def test_dataloader(self) -> DataLoader | list:
        test = self.test_set if self.test_set is not None else self.val_set
        return [] if test is None else self._loader(test, self.eval_batch_size, False, False)
