"""A training order that a checkpoint can resume exactly, wherever the run was stopped.

Three things decide what a training step sees, and each must be a function of the run's seed and
its position alone, never of how the process got there:

* **which items, in which order**: :class:`EpochSampler` draws epoch ``e``'s permutation from
  ``(seed, e)`` with its own generator (not the global RNG, which dropout also draws from), and a
  resumed sampler skips the items the checkpointed run had already trained on. Lightning restarts
  an epoch's DataLoader from its first batch when it resumes mid-epoch; the skip is what makes
  the resumed epoch continue with the batch the killed run would have taken next.
* **each item's own randomness** (random crops): :class:`SeededItems` draws item ``i`` of epoch
  ``e`` with the torch, numpy and ``random`` generators seeded from ``(seed, e, i)``. A worker's
  generator otherwise depends on how many items that worker loaded before, which a resumed (or
  re-partitioned: other ``num_workers``) DataLoader cannot reproduce.
* **everything else** (dropout, ...) draws from the global generators, whose state the training
  entry point stores in every checkpoint (``wavespace.callbacks.RandomState``).

The sampler yields keys ``e * n + i`` rather than ``i`` so that the epoch travels with the index
into DataLoader worker processes (a worker's copy of the dataset never learns the epoch). Any
sampler Lightning substitutes (``SequentialSampler`` for ``overfit_batches``, the distributed
wrapper around this one) yields keys that :class:`SeededItems` reads the same way.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler


def derived_seeds(*parts: int) -> tuple[int, int]:
    """(64-bit torch seed, 32-bit numpy/random seed) from integers, well mixed by SeedSequence."""
    words = np.random.SeedSequence([int(p) for p in parts]).generate_state(3, dtype=np.uint32)
    return (int(words[0]) << 32) | int(words[1]), int(words[2])


@contextmanager
def seeded_rng(*parts: int) -> Iterator[None]:
    """Run a block with the CPU torch, numpy and ``random`` generators seeded from ``parts``.

    The previous states are put back afterwards, so loading items in the main process
    (``num_workers=0``) does not move the generators that dropout draws from. Only the CPU torch
    generator is touched: ``torch.manual_seed`` would also reseed every CUDA device.
    """
    torch_seed, np_seed = derived_seeds(*parts)
    saved = torch.get_rng_state(), np.random.get_state(), random.getstate()
    torch.default_generator.manual_seed(torch_seed)
    np.random.seed(np_seed)
    random.seed(np_seed)
    try:
        yield
    finally:
        torch.set_rng_state(saved[0])
        np.random.set_state(saved[1])
        random.setstate(saved[2])


class EpochSampler(Sampler[int]):
    """Keys ``epoch * n + i`` in an order drawn from ``(seed, epoch)`` (see the module docstring).

    ``start_epoch`` and ``skip`` come from a checkpoint: the first pass over ``start_epoch`` leaves
    out its first ``skip`` keys, the ones already trained on. Lightning calls :meth:`set_epoch`
    before every later epoch; the first pass of a fit is iterated before that call, which is why
    the starting epoch is given here.
    """

    def __init__(self, n: int, seed: int, shuffle: bool = True, start_epoch: int = 0, skip: int = 0) -> None:
        self.n, self.seed, self.shuffle = int(n), int(seed), bool(shuffle)
        self.epoch = int(start_epoch)
        self._resume: tuple[int, int] | None = (self.epoch, int(skip)) if skip else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, epoch: int) -> torch.Tensor:
        """Item indices of ``epoch`` in training order."""
        if not self.shuffle:
            return torch.arange(self.n)
        generator = torch.Generator().manual_seed(derived_seeds(self.seed, epoch)[0])
        return torch.randperm(self.n, generator=generator)

    def __iter__(self) -> Iterator[int]:
        skip = self._resume[1] if self._resume and self._resume[0] == self.epoch else 0
        self._resume = None  # only the first pass can be the interrupted one
        keys = self.order(self.epoch)[skip:] + self.epoch * self.n
        return iter(keys.tolist())

    def __len__(self) -> int:
        # A full epoch even while skipping: Lightning counts the resumed epoch's batches from where
        # the checkpoint stopped, against the full length.
        return self.n


class SeededItems(Dataset):
    """The wrapped dataset, read by :class:`EpochSampler` keys with per-item seeded generators."""

    def __init__(self, dataset: Any, seed: int) -> None:
        self.dataset, self.seed, self.n = dataset, int(seed), len(dataset)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: int) -> Any:
        epoch, index = divmod(int(key), self.n)
        with seeded_rng(self.seed, epoch, index):
            return self.dataset[index]

    def __getattr__(self, name: str) -> Any:
        # Attributes of the wrapped dataset (sample_rate, ...) stay reachable through the loader.
        if name == "dataset":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
