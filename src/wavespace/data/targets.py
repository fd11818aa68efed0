"""Frame-aligned MIDI targets computed once per file and kept on disk as uint8 arrays.

A 10-minute piece has ~52,000 frames at hop 256: its rolls are built in one vectorized call of
``wavespace.labels`` and written time-major (``[frames, 4, keys]`` and ``[frames, bins]``), so a
training crop is one contiguous slice of a memory-mapped file instead of a MIDI parse. The file
name carries a hash of the MIDI file's size/mtime, the audio length and every label parameter,
so a changed file or a changed hop gives new targets, never stale ones.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import wavespace.geometry as geometry
from wavespace.data.midi import load_notes
from wavespace.files import digest, fingerprint, save_array, write_text
from wavespace.labels import notes_to_roll, notes_to_salience

FORMAT_VERSION = 1
ROLL_NAMES = ("frame", "onset", "offset", "velocity")


def safe_name(file_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", file_id)[-120:]


@dataclass(frozen=True)
class TargetSpec:
    """Every parameter that changes the targets of a file (all from ``geometry``)."""

    sample_rate: int
    hop_length: int
    min_midi: int = 21
    n_keys: int = 88
    fmin: float = 27.5
    bins_per_octave: int = 36
    n_bins: int = 264
    salience_sigma_bins: float = 1.0
    sustain: bool = True
    salience: bool = True

    @property
    def frame_rate(self) -> float:
        return geometry.frame_rate(self.sample_rate, self.hop_length)


class FileTargets:
    """Memory-mapped targets of one file; ``slice`` gives float32 [K, n] arrays per target."""

    def __init__(self, roll: np.ndarray, salience: np.ndarray | None, meta: dict) -> None:
        self.roll, self.salience, self.meta = roll, salience, meta

    @property
    def n_frames(self) -> int:
        return int(self.roll.shape[0])

    def slice(self, start: int, n: int) -> dict[str, np.ndarray]:
        roll = np.asarray(self.roll[start : start + n]).transpose(1, 2, 0).astype(np.float32)
        out = {name: roll[i] for i, name in enumerate(ROLL_NAMES)}
        out["velocity"] *= np.float32(1.0 / 127.0)
        if self.salience is not None:
            sal = np.asarray(self.salience[start : start + n]).T.astype(np.float32)
            out["salience"] = sal * np.float32(1.0 / 255.0)
        return out


class TargetStore:
    """Computes targets for (MIDI file, audio length) once and serves them memory-mapped."""

    def __init__(self, directory: str | Path, spec: TargetSpec) -> None:
        self.spec = spec
        self.directory = Path(directory) / f"v{FORMAT_VERSION}-{digest(asdict(spec), 10)}"

    def _paths(self, file_id: str, midi: Path, n_samples: int) -> tuple[Path, Path, Path]:
        key = digest([fingerprint(midi), n_samples])
        stem = self.directory / f"{safe_name(file_id)}-{key}"
        return stem.with_suffix(".roll.npy"), stem.with_suffix(".sal.npy"), stem.with_suffix(".json")

    def get(self, file_id: str, midi: str | Path, n_samples: int) -> FileTargets:
        """Targets of a file whose audio has ``n_samples`` at ``spec.sample_rate``.

        Raises ``MidiFileError`` for unreadable or empty MIDI (callers report and skip the file).
        """
        roll_p, sal_p, meta_p = self._paths(file_id, Path(midi), n_samples)
        if not meta_p.is_file():
            self._compute(Path(midi), n_samples, roll_p, sal_p, meta_p)
        meta = json.loads(meta_p.read_text())
        roll = np.load(roll_p, mmap_mode="r")
        sal = np.load(sal_p, mmap_mode="r") if self.spec.salience else None
        return FileTargets(roll, sal, meta)

    def build_missing(self, jobs: list[tuple[str, Path, int]], workers: int | None = None,
                      progress: bool = True, desc: str = "labels") -> int:
        """Compute the targets of every (file_id, MIDI, n_samples) not stored yet, in parallel.

        A whole MAESTRO is ~1,300 files of MIDI parsing and roll building: serial, minutes on the
        first use. Processes (``workers``, default: every core) share one progress bar; a file
        that fails is left for :meth:`get`, whose caller reports and skips it. Returns how many
        were built.
        """
        import os
        from concurrent.futures import ProcessPoolExecutor, as_completed

        from tqdm.auto import tqdm

        todo = [(Path(midi), int(n), *self._paths(fid, Path(midi), int(n)))
                for fid, midi, n in jobs]
        todo = [t for t in todo if not t[4].is_file()]
        n_workers = min(len(todo), int(workers or os.cpu_count() or 1))
        if n_workers <= 1 or len(todo) < 2:
            return 0  # get() builds them one by one: no pool to start for so few
        built = 0
        with ProcessPoolExecutor(n_workers) as pool, tqdm(total=len(todo), desc=desc, unit="file",
                                                          disable=not progress) as bar:
            futures = [pool.submit(self._compute, *t) for t in todo]
            for future in as_completed(futures):
                built += future.exception() is None
                bar.update()
        return built

    def _compute(self, midi: Path, n_samples: int, roll_p: Path, sal_p: Path, meta_p: Path) -> None:
        s = self.spec
        notes = load_notes(midi, sustain=s.sustain)
        n_frames = geometry.n_frames(n_samples, s.hop_length)
        rolls = notes_to_roll(notes, n_frames, s.frame_rate, s.min_midi, s.n_keys)
        roll = np.empty((n_frames, len(ROLL_NAMES), s.n_keys), np.uint8)
        for i, name in enumerate(ROLL_NAMES):
            scale = 127.0 if name == "velocity" else 1.0
            roll[:, i, :] = np.round(rolls[name] * scale).T.astype(np.uint8)
        self.directory.mkdir(parents=True, exist_ok=True)
        save_array(roll_p, roll)
        if s.salience:
            sal = notes_to_salience(notes, n_frames, s.frame_rate, s.fmin, s.bins_per_octave,
                                    s.n_bins, s.salience_sigma_bins)
            save_array(sal_p, np.round(sal.T * 255.0).astype(np.uint8))
        meta = {"midi": str(midi), "n_notes": len(notes), "n_samples": int(n_samples),
                "n_frames": int(n_frames), "notes_start": float(notes.onset.min()),
                "notes_end": float(notes.offset.max())}
        write_text(meta_p, json.dumps(meta))  # written last: its presence means the arrays are complete
