"""Medley-solos-DB: layout, splits, crops, bad files, and batches through the datamodule + cache.

The only task today (SupervisedSalience) needs pitch targets, which Medley does not have, so
Medley is exercised through AudioDataModule batches (what a classifier or autoencoder consumes)
rather than a training run.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.data.conftest import GEOMETRY
from wavespace.data import AudioDataModule, MedleySolosDataset
from wavespace.data.cache import CacheFile
from wavespace.errors import DatasetNotFoundError


def medley(root, split, tmp_path, **kw) -> MedleySolosDataset:
    kw.setdefault("cache", "off")
    return MedleySolosDataset(root, split, cache_dir=tmp_path / "cache", progress=False, **{**GEOMETRY, **kw})


def test_splits_labels_crops_and_bad_files(medley_src, tmp_path):
    ds = medley(medley_src.root, "train", tmp_path, report_dir=tmp_path / "run")
    assert len(ds) == 5  # 4 good + the 48 kHz stereo file (fixed); 3 broken ones skipped
    skipped = {(p.problem, Path(p.path).name) for p in ds.report.problems if p.action == "skipped"}
    assert skipped == set(medley_src.broken.items())
    assert [Path(p.path).name for p in ds.report.problems if p.action == "fixed"] == medley_src.fixed
    report = json.loads((tmp_path / "run" / "bad_files-medley-train.json").read_text())
    assert report["skipped"] == 3 and report["fixed"] == 1
    ids = sorted(int(e.record.label) for e in ds.entries)
    expected = sorted(int(r["instrument_id"]) for r in medley_src.rows
                      if r["subset"] == "training" and Path(medley_src.path(r)).name not in medley_src.broken.values())
    assert ids == expected
    item = ds[0]
    assert item["audio"].shape == (44100,) and item["audio"].dtype == np.float32
    assert item["instrument"] == ds.entries[0].record.label
    assert ds.n_frames == 173  # 2.0 s at hop 256
    assert {len(medley(medley_src.root, s, tmp_path)) for s in ("validation", "test")} == {2}


def test_the_48k_stereo_file_is_mixed_and_resampled_to_the_geometry(medley_src, tmp_path):
    ds = medley(medley_src.root, "train", tmp_path)
    [entry] = [e for e in ds.entries if e.record.audio.name in medley_src.fixed]
    assert entry.info.sample_rate == 48000 and entry.info.channels == 2
    assert entry.n_samples == 65536  # same length as the 22,050 Hz clips
    audio = ds.load_full(CacheFile(entry.record.file_id, entry.record.audio, entry.n_samples))
    assert audio.shape == (65536,) and 0.05 < np.abs(audio).max() < 1.0


def test_eval_crops_are_deterministic_train_crops_random(medley_src, tmp_path):
    val = medley(medley_src.root, "validation", tmp_path)
    entry, start = val.locate(0)
    assert start == ((65536 - 44100) // 256) // 2  # evaluation takes the centred 2 s crop
    torch.manual_seed(0)
    first = val[0]["audio"]
    torch.manual_seed(1)  # another RNG state and another dataset object: the same crop
    np.testing.assert_array_equal(medley(medley_src.root, "validation", tmp_path)[0]["audio"], first)
    whole = val.load_full(CacheFile(entry.record.file_id, entry.record.audio, entry.n_samples))
    np.testing.assert_array_equal(first, whole[start * 256 : start * 256 + 44100])
    train = medley(medley_src.root, "train", tmp_path)
    torch.manual_seed(1)
    assert len({train.locate(0)[1] for _ in range(20)}) > 3
    assert max(train.locate(0)[1] for _ in range(50)) <= (65536 - 44100) // 256


def test_names_on_request(medley_src, tmp_path):
    ds = medley(medley_src.root, "validation", tmp_path, with_names=True)
    item = ds[0]
    assert item["instrument_name"] == ds.classes[int(item["instrument"])]


def test_datamodule_serves_cached_feature_batches(medley_src, tmp_path, cqt_cfg):
    kw = dict(cache="build", features=cqt_cfg)
    dm = AudioDataModule(train=medley(medley_src.root, "train", tmp_path, **kw),
                         val=medley(medley_src.root, "validation", tmp_path, **kw), batch_size=2)
    batch = next(iter(dm.train_dataloader()))
    assert batch["features"].shape == (2, 1, 264, 173) and batch["features"].dtype == torch.float32
    assert batch["instrument"].shape == (2,) and batch["instrument"].dtype == torch.int64
    assert torch.isfinite(batch["features"]).all() and "audio" not in batch
    val = next(iter(dm.val_dataloader()))
    assert val["features"].shape == (2, 1, 264, 173)


@pytest.mark.parametrize("problem", ["no dir", "no csv", "bad columns", "no audio"])
def test_wrong_layout_raises_dataset_not_found_with_layout_and_url(tmp_path, problem):
    from tests.data.conftest import make_medley

    root = tmp_path / "medley-solos-db"
    if problem != "no dir":
        make_medley(root, {"training": 1}, broken=False)
    csv = root / "Medley-solos-DB_metadata.csv"
    if problem == "no csv":
        csv.unlink()
    if problem == "bad columns":
        csv.write_text(csv.read_text().replace("uuid4", "id"))
    if problem == "no audio":
        for wav in root.glob("*.wav"):
            wav.unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        medley(root, "train", tmp_path)
    msg = str(err.value)
    assert "https://zenodo.org/record/3464194" in msg and "Medley-solos-DB_metadata.csv" in msg
    assert "Medley-solos-DB_training-0_<uuid4>.wav" in msg and str(root) in msg
