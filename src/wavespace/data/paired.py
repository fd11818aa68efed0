"""Audio files paired with MIDI files (MAESTRO, rendered MIDI): piano-roll and salience targets.

Targets come from ``wavespace.labels`` (``notes_to_roll`` and ``notes_to_salience``) computed
once per file over its whole length and stored by ``TargetStore``; a crop's targets are slices.
Files whose MIDI is unreadable or empty, or whose MIDI and audio lengths disagree, are skipped
and reported.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from wavespace.data.audio_io import AudioFileError, probe
from wavespace.data.base import FileDataset, FileEntry
from wavespace.data.midi import MidiFileError
from wavespace.data.targets import FileTargets, TargetSpec, TargetStore


class PairedMidiDataset(FileDataset):
    """Base of audio + MIDI datasets. Items: ``audio``/``features``, ``frame``, ``onset``,
    ``offset``, ``velocity`` [n_keys, frames] and (``salience=True``) ``salience`` [n_bins, frames]."""

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        sample_rate: int,
        hop_length: int,
        min_midi: int = 21,
        n_keys: int = 88,
        fmin: float = 27.5,
        bins_per_octave: int = 36,
        n_bins: int = 264,
        salience: bool = True,
        salience_sigma_bins: float = 1.0,
        sustain: bool = True,
        max_length_mismatch_s: float = 5.0,
        label_workers: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.spec = TargetSpec(
            sample_rate=int(sample_rate), hop_length=int(hop_length),
            min_midi=int(min_midi), n_keys=int(n_keys), fmin=float(fmin), bins_per_octave=int(bins_per_octave),
            n_bins=int(n_bins), salience_sigma_bins=float(salience_sigma_bins), sustain=bool(sustain),
            salience=bool(salience),
        )
        cache_dir = kwargs.get("cache_dir") or "cache"
        self.store = TargetStore(Path(cache_dir).expanduser() / "targets" / self.name, self.spec)
        self.max_length_mismatch_s = float(max_length_mismatch_s)
        self.label_workers = None if label_workers is None else int(label_workers)
        self._targets: OrderedDict[str, FileTargets] = OrderedDict()
        super().__init__(root, split, sample_rate=sample_rate, hop_length=hop_length, **kwargs)

    def _validate(self, records: list) -> list[FileEntry]:
        """Build the missing labels of all files in parallel first; checking then reads them."""
        stored = sum(1 for _ in self.store.directory.glob("*.json")) if self.store.directory.is_dir() else 0
        if stored >= len(records):  # labels built by an earlier run: no second pass over the headers
            return super()._validate(records)
        jobs = []
        for rec in records:
            if rec.midi is None or not rec.midi.is_file() or not rec.audio.is_file():
                continue  # the checks below report it
            try:
                jobs.append((rec.file_id, rec.midi, probe(rec.audio).frames_at(self.sample_rate)))
            except AudioFileError:
                continue
        self.store.build_missing(jobs, self.label_workers, self.progress, f"labels {self.name}/{self.split}")
        return super()._validate(records)

    def check(self, entry: FileEntry) -> bool:
        rec = entry.record
        if rec.midi is None or not rec.midi.is_file():
            self.report.skip(rec.midi or rec.audio, "missing file", "MIDI file listed but not on disk")
            return False
        try:
            meta = self.store.get(rec.file_id, rec.midi, entry.n_samples).meta
        except MidiFileError as exc:
            problem = "empty MIDI" if "no notes" in str(exc) else "unreadable MIDI"
            self.report.skip(rec.midi, problem, str(exc))
            return False
        audio_s = entry.n_samples / self.sample_rate
        if abs(meta["notes_end"] - audio_s) > self.max_length_mismatch_s:
            self.report.skip(rec.audio, "audio/MIDI length mismatch",
                             f"audio {audio_s:.2f} s, MIDI notes end at {meta['notes_end']:.2f} s "
                             f"(tolerance {self.max_length_mismatch_s} s); MIDI {rec.midi}")
            return False
        return True

    def file_targets(self, entry: FileEntry) -> FileTargets:
        key = entry.record.file_id
        t = self._targets.get(key)
        if t is None:
            assert entry.record.midi is not None
            t = self.store.get(key, entry.record.midi, entry.n_samples)
            self._targets[key] = t
            if len(self._targets) > 32:
                self._targets.popitem(last=False)
        else:
            self._targets.move_to_end(key)
        return t

    def targets(self, entry: FileEntry, start: int) -> dict[str, np.ndarray]:
        return self.file_targets(entry).slice(start, self.n_frames)
