"""Feature cache: same tensors as on-the-fly extraction, rebuilt when files change, resumable."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate

import wavespace.data.cache as cache_mod
from tests.data.conftest import GEOMETRY, tone, write_wav
from wavespace.data import FeatureCacheError, MaestroDataset, MedleySolosDataset
from wavespace.data.cache import CacheFile, FeatureCache, run_frontend
from wavespace.labels import Notes

F16 = {"rtol": 2e-3, "atol": 2e-3}


def medley(root, split, tmp_path, features, cache, **kw):
    return MedleySolosDataset(root, split, cache=cache, cache_dir=tmp_path / "cache", features=features,
                              progress=False, **{**GEOMETRY, **kw})


def maestro(root, split, tmp_path, features, cache, **kw):
    return MaestroDataset(root, split, cache=cache, cache_dir=tmp_path / "cache", features=features,
                          clip_seconds=2.0, progress=False, **{**GEOMETRY, **kw})


@pytest.mark.parametrize("which", ["medley", "maestro"])
def test_cached_features_equal_the_front_end_on_the_decoded_file(which, medley_src, maestro_src, tmp_path, cqt_cfg):
    make, root = (medley, medley_src.root) if which == "medley" else (maestro, maestro_src.root)
    split = "train"
    cached = make(root, split, tmp_path, cqt_cfg, "build")
    plain = make(root, split, tmp_path, cqt_cfg, "off", random_crop=False)
    cached.random_crop = False
    assert cached.reader is not None and plain.reader is None
    frontend = instantiate(cqt_cfg)
    assert len(cached) == len(plain) and len(cached.entries) >= 4
    for entry in cached.entries:
        f = CacheFile(entry.record.file_id, entry.record.audio, entry.n_samples)
        want = frontend(torch.from_numpy(cached.load_full(f))[None])[0].numpy()  # [C, F, T]
        got = np.asarray(cached.reader.array(f.file_id), np.float32).transpose(1, 2, 0)
        np.testing.assert_allclose(got, want, **F16)
    for i in range(len(cached)):
        a, b = cached[i], plain[i]
        entry, start = cached.locate(i)
        full = np.asarray(cached.reader.array(entry.record.file_id), np.float32).transpose(1, 2, 0)
        assert a["features"].dtype == np.float32 and "audio" not in a and "features" not in b
        np.testing.assert_array_equal(a["features"], full[..., start : start + cached.n_frames])
        assert a["features"].shape == (1, 264, 173)
        for key in b:
            if key != "audio":
                np.testing.assert_array_equal(a[key], b[key])


def test_blocked_extraction_of_long_files_matches_the_whole_file(monkeypatch):
    """Long files go through the front-end in blocks with real context at the edges."""
    from wavespace.features import CQT

    frontend = CQT(22050, 256, 110.0, 36, 144, algorithm="1992")  # shift-invariant direct CQT
    x = (np.random.default_rng(0).standard_normal(22050 * 3) * 0.1).astype(np.float32)
    whole = frontend(torch.from_numpy(x)[None])[0].numpy()
    monkeypatch.setattr(cache_mod, "BLOCK_SECONDS", 0.5)
    monkeypatch.setattr(cache_mod, "CONTEXT_SECONDS", 0.5)  # > half the longest kernel (0.24 s)
    [(_, out)] = list(run_frontend(frontend, [CacheFile("x", None, len(x))], lambda f: x, "cpu", 3, 256))
    assert out.dtype == np.float16 and out.shape == (whole.shape[-1], 1, 144)
    np.testing.assert_allclose(out.astype(np.float32).transpose(1, 2, 0), whole, rtol=2e-3, atol=5e-3)


def test_touching_a_file_makes_the_cache_stale_and_rebuilds_only_that_file(maestro_copy, tmp_path, cqt_cfg, caplog):
    root = maestro_copy.root
    first = maestro(root, "train", tmp_path, cqt_cfg, "build")
    old_key, directory = first.cache.key, first.cache.directory
    shards = {p.name: p.stat().st_mtime_ns for p in (directory / "shards").glob("*.npy")}
    assert len(shards) == len(first.entries) == 6
    assert maestro(root, "train", tmp_path, cqt_cfg, "auto").cache.key == old_key  # unchanged: reused

    entry = first.entries[0]
    new_audio = tone(Notes.from_arrays([0.3], [3.0], [76]), 44100, 4.5)
    write_wav(entry.record.audio, new_audio, 44100, channels=2)
    st = entry.record.audio.stat()
    os.utime(entry.record.audio, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with caplog.at_level(logging.WARNING, logger="wavespace.data"):
        again = maestro(root, "train", tmp_path, cqt_cfg, "auto")
    assert again.cache.key != old_key and again.cache.directory == directory
    assert any("stale" in r.getMessage() and "1 changed" in r.getMessage() for r in caplog.records)
    now = {p.name: p.stat().st_mtime_ns for p in (directory / "shards").glob("*.npy")}
    assert len(set(now) - set(shards)) == 1 and len(now) == len(shards)  # one new shard, old one pruned
    assert all(now[k] == v for k, v in shards.items() if k in now)        # the others untouched
    index = json.loads((directory / "index.json").read_text())
    assert index["key"] == again.cache.key and index["complete"]
    f = CacheFile(entry.record.file_id, entry.record.audio, again.entries[0].n_samples)
    want = instantiate(cqt_cfg)(torch.from_numpy(again.load_full(f))[None])[0].numpy()
    got = np.asarray(again.reader.array(f.file_id), np.float32).transpose(1, 2, 0)
    np.testing.assert_allclose(got, want, **F16)


def test_changing_the_features_config_uses_another_cache(medley_src, tmp_path, cqt_cfg):
    a = medley(medley_src.root, "validation", tmp_path, cqt_cfg, "build")
    other = dict(cqt_cfg, compression="db")
    b = medley(medley_src.root, "validation", tmp_path, other, "auto")
    assert b.reader is None and a.cache.directory != b.feature_cache().directory


def test_require_without_a_cache_is_a_clear_error(medley_src, tmp_path, cqt_cfg):
    with pytest.raises(FeatureCacheError, match="python -m wavespace.prepare data=medley"):
        medley(medley_src.root, "test", tmp_path, cqt_cfg, "require")


def test_an_interrupted_build_resumes_where_it_stopped(medley_src, tmp_path, cqt_cfg):
    ds = medley(medley_src.root, "train", tmp_path, cqt_cfg, "off")
    files = [CacheFile(e.record.file_id, e.record.audio, e.n_samples) for e in ds.entries]
    cache = FeatureCache(tmp_path / "cache", "medley", "train", cqt_cfg, 22050, 256, files)
    calls: list[str] = []

    def dies_on_fourth(f: CacheFile) -> np.ndarray:
        if len(calls) == 3:
            raise KeyboardInterrupt  # the user pressed Ctrl-C (or the pod was killed)
        calls.append(f.file_id)
        return ds.load_full(f)

    with pytest.raises(KeyboardInterrupt):
        cache.build(dies_on_fourth, "cpu", batch_size=1, progress=False)
    assert cache.status() == "missing"
    done = len(list((cache.directory / "shards").glob("*.npy")))
    journal = (cache.directory / "progress.jsonl").read_text().splitlines()
    # Loads run one file ahead in a thread, but shards are written in file order as each result
    # is taken: the three files loaded before Ctrl-C are on disk and journaled, no more.
    assert done == len(journal) == 3
    assert [json.loads(line)["id"] for line in journal] == calls
    calls.clear()
    cache.build(lambda f: calls.append(f.file_id) or ds.load_full(f), "cpu", batch_size=2, progress=False)
    assert len(calls) == len(files) - done and cache.status() == "valid"
    assert not (cache.directory / "progress.jsonl").exists()


def test_a_build_killed_while_writing_a_shard_resumes_without_a_corrupt_one(medley_src, tmp_path, cqt_cfg,
                                                                             monkeypatch):
    """The process dies with half of a shard's bytes on disk: the resumed build must not take the
    half file for a finished shard (shards are written under a temporary name, then renamed)."""
    ds = medley(medley_src.root, "train", tmp_path, cqt_cfg, "off")
    files = [CacheFile(e.record.file_id, e.record.audio, e.n_samples) for e in ds.entries]
    cache = FeatureCache(tmp_path / "cache", "medley", "train", cqt_cfg, 22050, 256, files)
    real_save, writes = np.save, []

    def dies_mid_write(f, array, *args, **kwargs):
        writes.append(array.shape)
        if len(writes) == 2:
            f.write(b"\x93NUMPY\x01\x00")  # the start of the file reaches the disk, then the kill
            raise KeyboardInterrupt
        real_save(f, array, *args, **kwargs)

    monkeypatch.setattr(np, "save", dies_mid_write)
    with pytest.raises(KeyboardInterrupt):
        cache.build(ds.load_full, "cpu", batch_size=1, progress=False)
    monkeypatch.undo()
    shards = sorted((cache.directory / "shards").glob("*.npy"))
    assert len(shards) == 1 and cache.status() == "missing"
    cache.build(ds.load_full, "cpu", batch_size=1, progress=False)
    assert cache.status() == "valid"
    clean = FeatureCache(tmp_path / "clean", "medley", "train", cqt_cfg, 22050, 256, files)
    clean.build(ds.load_full, "cpu", batch_size=1, progress=False)
    resumed, reference = cache.open(), clean.open()
    assert sorted(resumed.files) == sorted(reference.files) == sorted(f.file_id for f in files)
    for f in files:  # every shard whole: same frames and values as a build that never stopped
        np.testing.assert_array_equal(resumed.array(f.file_id), reference.array(f.file_id))


FRONTENDS = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "conf" / "features").glob("*.yaml"))


@pytest.mark.parametrize("features", FRONTENDS)
def test_every_features_option_caches_its_raw_output(features, medley_src, compose_cfg, tmp_path):
    """Compose data=medley with each conf/features option, as the CLIs do, and cache it."""
    extra = ["features.weights=random"] if features == "encodec" else []
    cfg = compose_cfg("data=medley", f"features={features}", *extra)
    ds = instantiate(cfg.data.val, root=str(medley_src.root), cache="build", progress=False)
    assert ds.sample_rate == cfg.geometry.sample_rate and ds.cache.directory.is_relative_to(tmp_path / "cache")
    assert ds.reader is not None and len(ds) == 2
    frontend = instantiate(cfg.features).eval()
    for entry in ds.entries:
        f = CacheFile(entry.record.file_id, entry.record.audio, entry.n_samples)
        with torch.no_grad():
            want = frontend.raw(torch.from_numpy(ds.load_full(f))[None])[0].numpy()
        got = np.asarray(ds.reader.array(f.file_id), np.float32).transpose(1, 2, 0)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=2e-3, atol=2e-3 * max(1.0, float(np.abs(want).max())))
    item = ds[0]
    assert item["features"].shape == (frontend.n_channels, frontend.n_bins, ds.n_frames)


def test_a_subset_and_the_full_split_share_shards_without_recomputing(medley_src, tmp_path, cqt_cfg):
    sub = medley(medley_src.root, "validation", tmp_path, cqt_cfg, "build", limit_files=1)
    shards = sub.cache.directory / "shards"
    [first] = [(p.name, p.stat().st_mtime_ns) for p in shards.glob("*.npy")]
    full = medley(medley_src.root, "validation", tmp_path, cqt_cfg, "build")
    assert full.cache.directory == sub.cache.directory and len(list(shards.glob("*.npy"))) == 2
    again = medley(medley_src.root, "validation", tmp_path, cqt_cfg, "auto", limit_files=1)
    assert again.reader is not None and len(list(shards.glob("*.npy"))) == 2  # nothing pruned
    assert (shards / first[0]).stat().st_mtime_ns == first[1]                  # nor recomputed
