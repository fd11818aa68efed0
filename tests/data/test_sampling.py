"""The resumable training order: what a batch holds depends on (seed, epoch, position) only."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset

from wavespace.data import AudioDataModule
from wavespace.data.sampling import EpochSampler, SeededItems
from wavespace.errors import ConfigError


class RandomCrops(Dataset):
    """Items that draw from all three global generators, as a random crop would."""

    def __len__(self) -> int:
        return 12

    def __getitem__(self, index: int) -> dict[str, np.ndarray]:
        draws = [torch.rand(()).item(), np.random.rand(), random.random()]
        return {"index": np.int64(index), "draws": np.array(draws)}


def _batches(loader) -> list[dict[str, np.ndarray]]:
    return [{k: v.numpy() for k, v in batch.items()} for batch in loader]


def test_the_order_is_a_function_of_seed_and_epoch_and_a_resume_skips_what_was_seen():
    a, b = EpochSampler(10, seed=3), EpochSampler(10, seed=3)
    assert list(a) == list(b) and sorted(list(a)) == list(range(10))
    a.set_epoch(1)
    epoch1 = list(a)
    assert sorted(epoch1) == list(range(10, 20)) and [k - 10 for k in epoch1] != list(EpochSampler(10, seed=3))
    assert list(EpochSampler(10, seed=4)) != list(EpochSampler(10, seed=3))
    resumed = EpochSampler(10, seed=3, start_epoch=1, skip=4)
    assert len(resumed) == 10 and list(resumed) == epoch1[4:]
    resumed.set_epoch(1)  # the skip applies to the first pass only
    assert list(resumed) == epoch1


def test_items_draw_the_same_numbers_in_any_worker_and_leave_the_main_generators_alone():
    dm = AudioDataModule(train=RandomCrops(), batch_size=4, num_workers=0, seed=7)
    torch.manual_seed(0)
    state = torch.get_rng_state()
    in_process = _batches(dm.train_dataloader())
    assert torch.equal(torch.get_rng_state(), state), "loading items moved the global generator (dropout)"
    workers = AudioDataModule(train=RandomCrops(), batch_size=4, num_workers=2, persistent_workers=False, seed=7)
    in_workers = _batches(workers.train_dataloader())
    assert len(in_process) == 3
    for x, y in zip(in_process, in_workers, strict=True):
        np.testing.assert_array_equal(x["index"], y["index"])
        np.testing.assert_array_equal(x["draws"], y["draws"])
    draws = np.concatenate([b["draws"] for b in in_process])
    assert len(np.unique(draws[:, 0])) == 12  # every item its own numbers


def test_a_restored_datamodule_continues_the_epoch_with_the_next_batch():
    whole = AudioDataModule(train=RandomCrops(), batch_size=4, seed=1)
    loader = whole.train_dataloader()
    loader.sampler.set_epoch(1)  # what Lightning does before each later epoch
    epoch1 = _batches(loader)
    resumed = AudioDataModule(train=RandomCrops(), batch_size=4, seed=1)
    resumed.load_state_dict({"train_epoch": 1, "train_items_done": 4})  # one batch was trained on
    rest = _batches(resumed.train_dataloader())
    assert len(rest) == 2
    for x, y in zip(rest, epoch1[1:], strict=True):
        np.testing.assert_array_equal(x["index"], y["index"])
        np.testing.assert_array_equal(x["draws"], y["draws"])
    assert AudioDataModule(train=RandomCrops()).state_dict() == {}  # outside a fit: nothing to record


def test_sampler_keys_read_by_any_sampler_lightning_substitutes():
    items = SeededItems(RandomCrops(), seed=5)
    assert items[3]["index"] == 3 and items[12 + 3]["index"] == 3  # key e * n + i is item i of epoch e
    assert items[3]["draws"][0] != items[15]["draws"][0] and items[3]["draws"][0] == items[3]["draws"][0]
    assert len(items) == 12


@pytest.mark.parametrize("key", ["batch_size", "eval_batch_size"])
def test_an_empty_batch_is_a_config_error(key):
    with pytest.raises(ConfigError, match=f"data.{key}=0: a batch must hold at least one example"):
        AudioDataModule(train=RandomCrops(), **{key: 0})
