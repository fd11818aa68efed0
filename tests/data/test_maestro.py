"""MAESTRO: layout, bad files, label/audio alignment on several hops, crop and chunk geometry."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.data.conftest import GEOMETRY, make_maestro
from wavespace.data import MaestroDataset
from wavespace.errors import DatasetNotFoundError
from wavespace.features import CQT
from wavespace.geometry import n_frames
from wavespace.labels import Notes, notes_to_roll


def maestro(root: Path, split: str, tmp_path: Path, **kw) -> MaestroDataset:
    kw.setdefault("clip_seconds", 2.0)
    return MaestroDataset(root, split, cache="off", cache_dir=tmp_path / "cache", progress=False, **{**GEOMETRY, **kw})


def test_bad_files_are_skipped_reported_and_logged_once(maestro_src, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="wavespace.data"):
        ds = maestro(maestro_src.root, "train", tmp_path, report_dir=tmp_path / "run")
    problems = {(p.problem, Path(p.path).name) for p in ds.report.problems if p.action == "skipped"}
    assert problems == {(k, v) for k, v in maestro_src.broken.items()}
    fixed = [Path(p.path).name for p in ds.report.problems if p.action == "fixed"]
    assert fixed == [n for n in maestro_src.fixed if not n.startswith("flac:")]
    # 3 good train files + 48 kHz + flac + 32 kHz/3 ch = 6 usable, the rest skipped
    assert len(ds.entries) == 6
    assert any(e.record.audio.suffix == ".flac" for e in ds.entries)
    report = json.loads((tmp_path / "run" / "bad_files-maestro-train.json").read_text())
    assert report["skipped"] == len(maestro_src.broken) and report["fixed"] == 1
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 1 and f"{len(maestro_src.broken)} file(s) skipped" in lines[0]
    assert str(tmp_path / "run" / "bad_files-maestro-train.json") in lines[0]
    item = ds[0]  # the run continues: items are served
    assert item["audio"].shape == (44100,) and item["frame"].shape == (88, 173)


def test_splits_come_from_the_csv(maestro_src, tmp_path):
    sizes = {s: len(maestro(maestro_src.root, s, tmp_path).entries) for s in ("train", "validation", "test")}
    assert sizes == {"train": 6, "validation": 1, "test": 1}


@pytest.mark.parametrize("problem", ["no dir", "no csv", "bad columns", "no audio"])
def test_wrong_layout_raises_dataset_not_found_with_layout_and_url(tmp_path, problem):
    root = tmp_path / "maestro-v3.0.0"
    if problem != "no dir":
        make_maestro(root, broken=False, layout={"train": 1})
    if problem == "no csv":
        (root / "maestro-v3.0.0.csv").unlink()
    if problem == "bad columns":
        csv = root / "maestro-v3.0.0.csv"
        csv.write_text(csv.read_text().replace("audio_filename", "wav"))
    if problem == "no audio":
        for wav in root.rglob("*.wav"):
            wav.unlink()
    with pytest.raises(DatasetNotFoundError) as err:
        maestro(root, "train", tmp_path)
    msg = str(err.value)
    assert "magenta.tensorflow.org/datasets/maestro" in msg and "maestro-v3.0.0.csv" in msg
    assert "year folders" in msg and str(root) in msg


def _one_piece(root: Path, notes: Notes, seconds: float = 4.0) -> None:
    make_maestro(root, seconds=seconds, broken=False, layout={})
    from tests.data.conftest import tone, write_wav
    from wavespace.data.midi import write_midi

    stem = "2017/piece"
    write_midi(notes, root / f"{stem}.midi")
    write_wav(root / f"{stem}.wav", tone(notes, 44100, seconds), 44100, channels=2)
    (root / "maestro-v3.0.0.csv").write_text(
        "canonical_composer,canonical_title,split,year,midi_filename,audio_filename,duration\n"
        f"A,B,test,2017,{stem}.midi,{stem}.wav,{seconds}\n")


@pytest.mark.parametrize("sample_rate,hop", [(22050, 256), (22050, 512), (24000, 320)])
def test_a_note_appears_at_its_frame_and_key_in_labels_and_audio(tmp_path, sample_rate, hop):
    notes = Notes.from_arrays([1.0, 2.2], [1.6, 2.9], [60, 69], [100, 100])
    root = tmp_path / "maestro-v3.0.0"
    _one_piece(root, notes)
    ds = maestro(root, "test", tmp_path, sample_rate=sample_rate, hop_length=hop, clip_seconds=4.0)
    item = ds[0]
    fr = sample_rate / hop
    for onset, offset, pitch in ((1.0, 1.6, 60), (2.2, 2.9, 69)):
        key, on, off = pitch - 21, round(onset * fr), round(offset * fr)
        assert item["onset"][key, on] == 1 and item["onset"][key].sum() == 1
        assert item["frame"][key, on:off].all() and not item["frame"][key, on - 1]
        assert item["offset"][key, off] == 1
        assert item["velocity"][key, on] == pytest.approx(100 / 127, abs=1e-2)
        # Salience grid: 3 bins/semitone from A0, so the key's centre bin is (pitch - 21) * 3 exactly
        # (measured: peak at 117 and 144 with value 1.0 on all three geometries).
        column = item["salience"][:, on + 1]
        assert int(np.argmax(column)) == (pitch - 21) * 3 and column.max() == pytest.approx(1.0, abs=1e-2)
    # The audio agrees: the CQT bin of the note's fundamental jumps at the labelled onset frame.
    cqt = CQT(sample_rate, hop, 27.5, 36, 264, algorithm="1992")
    spec = cqt(torch.from_numpy(item["audio"])[None])[0, 0].numpy()
    bin60 = (60 - 21) * 3
    on = round(1.0 * fr)
    mag = np.exp(spec[bin60])
    w = int(0.15 * fr)  # beyond the half-length of the C4 kernel (~0.1 s)
    assert mag[on + w] > 10 * mag[on - w]  # silence before, the note after
    half = np.flatnonzero(mag[on - w : on + w] >= 0.5 * mag[on : on + w].max())[0] + on - w
    assert abs(half - on) <= 1  # the symmetric kernel is half inside the note at the onset frame
    assert abs(int(np.argmax(spec[:, on + w])) - bin60) <= 1
    assert spec.shape[-1] == item["frame"].shape[-1] == n_frames(ds.n_samples, hop)


def test_eval_chunks_cover_every_frame_and_match_whole_file_labels(maestro_src, tmp_path):
    ds = maestro(maestro_src.root, "validation", tmp_path)
    [entry] = ds.entries
    total = n_frames(entry.n_samples, ds.hop_length)
    notes = maestro_src.notes[str(entry.record.audio.relative_to(maestro_src.root))]
    from wavespace.data.midi import load_notes

    whole = notes_to_roll(load_notes(entry.record.midi), total, ds.sample_rate / ds.hop_length)
    covered = np.zeros(total, bool)
    for i, (_, start) in enumerate(ds.chunks):
        item = ds[i]
        n = item["frame"].shape[-1]
        np.testing.assert_array_equal(item["frame"], whole["frame"][:, start : start + n])
        np.testing.assert_array_equal(item["onset"], whole["onset"][:, start : start + n])
        covered[start : start + n] = True
    assert covered.all() and len(notes) > 0


def test_training_crops_are_random_and_labels_follow_them(maestro_src, tmp_path):
    ds = maestro(maestro_src.root, "train", tmp_path)
    torch.manual_seed(0)
    starts = {ds.locate(0)[1] for _ in range(20)}
    assert len(starts) > 3
    entry, start = ds.locate(0)
    full = ds.file_targets(entry)
    item = ds.targets(entry, start)
    np.testing.assert_array_equal(item["frame"], full.slice(start, ds.n_frames)["frame"])
    assert item["frame"].shape == (88, ds.n_frames)


def test_labels_built_in_parallel_processes_equal_serial_ones_and_bad_files_still_reported(maestro_src, tmp_path):
    """First use builds every file's labels in a process pool (one bar); the labels are the
    ones a serial build writes, and unreadable MIDI is still skipped and reported by the checks."""
    parallel = maestro(maestro_src.root, "train", tmp_path / "p", label_workers=2)
    built = sorted((tmp_path / "p" / "cache" / "targets").rglob("*.roll.npy"))
    assert len(built) >= len(parallel.entries) == 6
    serial = maestro(maestro_src.root, "train", tmp_path / "s", label_workers=1)
    assert [e.record.file_id for e in serial.entries] == [e.record.file_id for e in parallel.entries]
    for i in range(len(serial.entries)):
        a, b = serial.file_targets(serial.entries[i]), parallel.file_targets(parallel.entries[i])
        np.testing.assert_array_equal(np.asarray(a.roll), np.asarray(b.roll))
        np.testing.assert_array_equal(np.asarray(a.salience), np.asarray(b.salience))
    assert ({p.problem for p in parallel.report.problems if p.action == "skipped"}
            == {p.problem for p in serial.report.problems if p.action == "skipped"})
