"""The on-disk label store: targets are rebuilt when the MIDI file or the hop changes, and read
back (not recomputed) when nothing did."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wavespace.data.midi import write_midi
from wavespace.data.targets import TargetSpec, TargetStore
from wavespace.geometry import n_frames
from wavespace.labels import Notes

SR, N_SAMPLES = 22050, 2 * 22050


def _write(midi: Path, pitch: int) -> None:
    write_midi(Notes.from_arrays([0.5], [1.0], [pitch], [100]), midi)


def _sounding(store: TargetStore, midi: Path) -> tuple[set[int], int, int]:
    """(keys that sound, first frame of the note, number of frames) of the stored targets."""
    targets = store.get("piece", midi, N_SAMPLES)
    frame = targets.slice(0, targets.n_frames)["frame"]
    keys, frames = np.nonzero(frame)
    return {int(k) + 21 for k in keys}, int(frames.min()), targets.n_frames


def _roll_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.roll.npy"))


def test_an_edited_midi_file_gets_new_targets(tmp_path):
    midi, root = tmp_path / "piece.midi", tmp_path / "targets"
    store = TargetStore(root, TargetSpec(SR, 256))
    _write(midi, 60)
    assert _sounding(store, midi)[0] == {60}
    [first] = _roll_files(root)
    stamp = first.stat().st_mtime_ns
    assert _sounding(store, midi)[0] == {60} and _roll_files(root) == [first]  # read back, not rebuilt
    assert first.stat().st_mtime_ns == stamp

    size = midi.stat().st_size
    _write(midi, 64)  # another pitch: a file of the same size, edited later
    assert midi.stat().st_size == size
    st = midi.stat()
    os.utime(midi, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert _sounding(store, midi)[0] == {64}
    assert len(_roll_files(root)) == 2
    # A new store on the same directory (a later run) sees the edit too.
    assert _sounding(TargetStore(root, TargetSpec(SR, 256)), midi)[0] == {64}


def test_another_hop_gets_targets_on_its_own_frame_grid(tmp_path):
    midi, root = tmp_path / "piece.midi", tmp_path / "targets"
    _write(midi, 69)
    keys, onset, n = _sounding(TargetStore(root, TargetSpec(SR, 256)), midi)
    assert (keys, onset, n) == ({69}, round(0.5 * SR / 256), n_frames(N_SAMPLES, 256))
    keys, onset, n = _sounding(TargetStore(root, TargetSpec(SR, 512)), midi)
    assert (keys, onset, n) == ({69}, round(0.5 * SR / 512), n_frames(N_SAMPLES, 512))
    assert len(_roll_files(root)) == 2 and len({p.parent for p in _roll_files(root)}) == 2
    # The hop-256 targets are still there and still right.
    assert _sounding(TargetStore(root, TargetSpec(SR, 256)), midi)[1:] == (43, n_frames(N_SAMPLES, 256))
