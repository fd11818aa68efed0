"""MAESTRO v3.0.0 (Hawthorne et al., 2019): ~200 h of aligned piano audio and MIDI.

As distributed: ``maestro-v3.0.0.csv`` (columns ``canonical_composer, canonical_title, split,
year, midi_filename, audio_filename, duration``), year folders holding ``.midi`` and ``.wav``
files (stereo, 44.1 kHz, some 48 kHz); a ``.flac`` next to a listed ``.wav`` is used in its place.
Audio is mixed to mono and resampled (soxr) to ``geometry.sample_rate``; training takes random
``clip_seconds`` crops, evaluation consecutive chunks that cover each piece.
"""

from __future__ import annotations

import csv
from pathlib import Path

from wavespace.data.base import FileRecord
from wavespace.data.paired import PairedMidiDataset
from wavespace.errors import DatasetNotFoundError

CSV_NAME = "maestro-v3.0.0.csv"
COLUMNS = ("canonical_composer", "canonical_title", "split", "year", "midi_filename",
           "audio_filename", "duration")
URL = "https://magenta.tensorflow.org/datasets/maestro"
LAYOUT = f"""  <root>/                                   (e.g. ${{paths.data_dir}}/maestro-v3.0.0)
    {CSV_NAME}                     columns: {', '.join(COLUMNS)}
    2004/ 2006/ ... 2018/                    year folders named in the CSV, each with
      MIDI-Unprocessed_..._wav--1.midi       the performance MIDI and
      MIDI-Unprocessed_..._wav--1.wav        its audio (.wav or .flac, 44.1/48 kHz stereo)"""


class MaestroDataset(PairedMidiDataset):
    """MAESTRO performances with piano-roll and salience targets (see PairedMidiDataset)."""

    name = "maestro"
    expected_rates = (44100, 48000)
    expected_channels = (1, 2)
    truncation_tolerance_s = 0.5  # the CSV's durations are rounded; real truncation is larger

    def _not_found(self, problem: str) -> DatasetNotFoundError:
        return DatasetNotFoundError("MAESTRO v3.0.0", str(self.root), LAYOUT, URL, problem)

    def scan(self) -> list[FileRecord]:
        if not self.root.is_dir():
            raise self._not_found("the directory does not exist")
        csv_path = self.root / CSV_NAME
        if not csv_path.is_file():
            raise self._not_found(f"{CSV_NAME} is missing")
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise self._not_found(f"{CSV_NAME} lacks the column(s) {', '.join(missing)}")
            rows = [r for r in reader if r["split"] == self.split]
        records = []
        for r in rows:
            audio = self.root / r["audio_filename"]
            if not audio.is_file() and audio.with_suffix(".flac").is_file():
                audio = audio.with_suffix(".flac")
            try:
                duration = float(r["duration"])
            except ValueError:
                duration = None
            records.append(FileRecord(
                file_id=str(Path(r["audio_filename"]).with_suffix("")), audio=audio,
                midi=self.root / r["midi_filename"], expected_seconds=duration,
                meta={"composer": r["canonical_composer"], "title": r["canonical_title"], "year": r["year"]},
            ))
        if rows and not any(r.audio.is_file() for r in records):
            raise self._not_found(f"none of the {len(rows)} '{self.split}' audio files listed in "
                                  f"{CSV_NAME} is under {self.root}")
        return records
