"""What ``transcribe`` reads and writes: finding audio files, reading them, piano-roll PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from wavespace.data.audio_io import (
    AudioFileError,
    audio_extensions,
    load_audio,
    load_segment,
    probe,
)
from wavespace.errors import WavespaceError
from wavespace.transcription.inference import TranscribeError


class AudioReadError(WavespaceError):
    """One input file could not be decoded as audio."""


def read_audio(path: str | Path, sample_rate: int) -> np.ndarray:
    """Mono float32 at ``sample_rate`` (the datasets' reader), or AudioReadError naming the file."""
    try:
        return load_audio(path, sample_rate)
    except AudioFileError as exc:
        raise AudioReadError(f"{path}: {exc}") from exc


class AudioFile:
    """An audio file as a :class:`~wavespace.transcription.inference.AudioSource`: mono float32 at
    ``sample_rate``, decoded and resampled one chunk at a time (each read lines up with the
    whole-file conversion, ``load_segment``), so a long recording is never in memory whole."""

    def __init__(self, path: str | Path, sample_rate: int) -> None:
        self.path, self.sample_rate = Path(path), int(sample_rate)
        try:
            self.info = probe(self.path)
        except AudioFileError as exc:
            raise AudioReadError(f"{path}: {exc}") from exc

    def __len__(self) -> int:
        return self.info.frames_at(self.sample_rate)

    @property
    def seconds(self) -> float:
        return len(self) / self.sample_rate

    def read(self, start: int, stop: int) -> np.ndarray:
        try:
            return load_segment(self.path, start, stop - start, self.sample_rate, self.info)
        except AudioFileError as exc:
            raise AudioReadError(f"{self.path}: {exc}") from exc


def find_audio(input_path: Path) -> tuple[list[Path], list[Path]]:
    """(audio files, ignored non-audio files) under a file or directory, sorted."""
    if input_path.is_file():
        return [input_path], []
    if not input_path.is_dir():
        raise TranscribeError(f"Input {input_path} does not exist. Give an audio file or a folder of them.")
    exts = audio_extensions()
    files = sorted(p for p in input_path.rglob("*") if p.is_file() and not p.name.startswith("."))
    audio = [p for p in files if p.suffix.lower() in exts]
    if not audio:
        raise TranscribeError(f"No audio files in {input_path} (looked for {', '.join(sorted(exts))}).")
    return audio, [p for p in files if p.suffix.lower() not in exts]


def find_inputs(inputs: list[Path]) -> tuple[list[Path], list[Path], list[Path]]:
    """(audio files, the folder each is named relative to, ignored files) for several inputs.

    A file given by name is written flat into the output folder (its own folder is its root, as
    basic-pitch does); the files of a folder keep their sub-folders under it.
    """
    files, roots, ignored = [], [], []
    for path in inputs:
        found, skipped = find_audio(path)
        files += found
        roots += [path if path.is_dir() else path.parent] * len(found)
        ignored += skipped
    return files, roots, ignored


def save_note_events(notes: Any, path: Path) -> Path:
    """The notes as CSV, one row each (``start_time_s,end_time_s,pitch_midi,velocity``: the
    columns of basic-pitch's ``--save-note-events``, without its pitch bends)."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["start_time_s", "end_time_s", "pitch_midi", "velocity"])
        for on, off, pitch, vel in zip(notes.onset, notes.offset, notes.pitch, notes.velocity):
            writer.writerow([f"{on:.4f}", f"{off:.4f}", int(round(pitch)), int(round(vel))])
    return path


def output_paths(files: list[Path], root: Path | list[Path], output: Path, suffixes: list[str]) -> list[dict[str, Path]]:
    """Where each input's outputs go: ``output/<path under root>`` with the audio extension
    replaced by each suffix (``.mid``, ``.salience.npy``, ``.png``), the rest of the name kept
    (``bwv93.7.wav`` -> ``bwv93.7.mid``, not ``bwv93.mid``). ``root`` is one folder for all
    files, or one per file (several inputs, ``find_inputs``).

    Raises TranscribeError, before anything is written, if two inputs would write one file
    (``b.wav`` and ``b.flac`` both make ``b.mid``): one would silently replace the other.
    """
    plans, owner, clashes = [], {}, []
    roots = root if isinstance(root, list) else [root] * len(files)
    for path, base in zip(files, roots, strict=True):
        rel = path.relative_to(base)
        stem = output / rel.parent / rel.name[: len(rel.name) - len(rel.suffix)]
        plan = {suffix: stem.parent / (stem.name + suffix) for suffix in suffixes}
        for target in plan.values():
            if target in owner:
                clashes.append(f"{owner[target]} and {path} would both write {target}")
            owner.setdefault(target, path)
        plans.append(plan)
    if clashes:
        raise TranscribeError(
            f"Nothing was written: {len(clashes)} output file(s) would be written by two inputs, and "
            f"one would silently replace the other: {'; '.join(clashes)}. Rename one file of each "
            f"pair (or move it to another folder, or transcribe it into another output folder).")
    return plans


def save_piano_roll_png(probs: dict[str, np.ndarray], notes: Any, frame_rate: float, path: Path, min_midi: int = 21) -> None:
    """Frame probabilities with the decoded notes outlined (what a user checks by eye)."""
    from matplotlib.patches import Rectangle

    from wavespace.figures import plt, save_figure

    frame = probs["frame"]
    width = min(40.0, max(6.0, frame.shape[1] / frame_rate / 2))
    fig, ax = plt.subplots(figsize=(width, 5))
    ax.imshow(frame, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1, interpolation="nearest",
              extent=(0, frame.shape[1] / frame_rate, min_midi - 0.5, min_midi + frame.shape[0] - 0.5))
    for on, off, p in zip(notes.onset, notes.offset, notes.pitch):
        ax.add_patch(Rectangle((on, p - 0.5), off - on, 1.0, fill=False, edgecolor="tab:red", linewidth=0.6))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("MIDI pitch")
    ax.set_title(f"{path.stem}: {len(notes)} notes (red) over frame probabilities")
    save_figure(fig, path)
