"""Medley-solos-DB (Lostanlen et al., 2019): 3-second solo clips of 8 instruments.

As distributed on Zenodo: ``Medley-solos-DB_metadata.csv`` (columns ``subset, instrument,
instrument_id, song_id, uuid4``) and mono 22,050 Hz WAV files of 65,536 samples named
``Medley-solos-DB_{subset}-{instrument_id}_{uuid4}.wav``. Splits come from ``subset``.

Items carry ``instrument`` (class id, int64) and no pitch targets, which suits classification
and autoencoding (a task that reads only ``audio``/``features``). Class names are in
``INSTRUMENTS`` / ``dataset.classes``; ``with_names=True`` also puts the name string in each
item (kept off by default because tasks move every batch entry to the device as a tensor).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from wavespace.data.base import FileDataset, FileEntry, FileRecord
from wavespace.errors import DatasetNotFoundError

INSTRUMENTS = ("clarinet", "distorted electric guitar", "female singer", "flute", "piano",
               "tenor saxophone", "trumpet", "violin")
CSV_NAME = "Medley-solos-DB_metadata.csv"
COLUMNS = ("subset", "instrument", "instrument_id", "song_id", "uuid4")
SUBSETS = {"train": "training", "validation": "validation", "test": "test"}
CLIP_SAMPLES, CLIP_RATE = 65536, 22050
URL = "Zenodo record 3464194, https://zenodo.org/record/3464194"
LAYOUT = f"""  <root>/                       (e.g. ${{paths.data_dir}}/medley-solos-db)
    {CSV_NAME}   columns: {', '.join(COLUMNS)}
    Medley-solos-DB_training-0_<uuid4>.wav   (or in <root>/audio/; the metadata may also
    Medley-solos-DB_validation-...wav         sit in <root>/annotation/)
    Medley-solos-DB_test-...wav               mono, 22,050 Hz, 65,536 samples each"""


def audio_name(subset: str, instrument_id: int | str, uuid4: str) -> str:
    return f"Medley-solos-DB_{subset}-{instrument_id}_{uuid4}.wav"


class MedleySolosDataset(FileDataset):
    """Medley-solos-DB clips, cropped to ``clip_seconds`` (2.0 s -> 173 frames at hop 256)."""

    name = "medley"
    expected_rates = (CLIP_RATE,)
    expected_channels = (1,)
    classes = INSTRUMENTS
    one_crop_per_file = True  # a clip is the unit of the classification metrics

    def __init__(self, root: str | Path, split: str = "train", with_names: bool = False, **kwargs: Any) -> None:
        self.with_names = bool(with_names)
        super().__init__(root, split, **kwargs)

    def _not_found(self, problem: str) -> DatasetNotFoundError:
        return DatasetNotFoundError("Medley-solos-DB", str(self.root), LAYOUT, URL, problem)

    def scan(self) -> list[FileRecord]:
        if not self.root.is_dir():
            raise self._not_found("the directory does not exist")
        csv_path = next((p for p in (self.root / CSV_NAME, self.root / "annotation" / CSV_NAME) if p.is_file()), None)
        if csv_path is None:
            raise self._not_found(f"{CSV_NAME} is missing")
        with open(csv_path, newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise self._not_found(f"{csv_path.name} lacks the column(s) {', '.join(missing)}")
            rows = [r for r in reader if r["subset"] == SUBSETS[self.split]]
        audio_dirs = [d for d in (self.root, self.root / "audio") if d.is_dir()]
        records = []
        for r in rows:
            name = audio_name(r["subset"], r["instrument_id"], r["uuid4"])
            path = next((d / name for d in audio_dirs if (d / name).is_file()), audio_dirs[0] / name)
            records.append(FileRecord(
                file_id=Path(name).stem, audio=path, label=int(r["instrument_id"]),
                expected_seconds=CLIP_SAMPLES / CLIP_RATE,
                meta={"instrument": r["instrument"], "song_id": r["song_id"]},
            ))
        if rows and not any(r.audio.is_file() for r in records):
            raise self._not_found(f"none of the {len(rows)} '{SUBSETS[self.split]}' WAV files listed in "
                                  f"{csv_path.name} is in {self.root} or {self.root / 'audio'}")
        return records

    def targets(self, entry: FileEntry, start: int) -> dict[str, Any]:
        out: dict[str, Any] = {"instrument": np.int64(entry.record.label)}
        if self.with_names:
            out["instrument_name"] = INSTRUMENTS[int(entry.record.label)] if 0 <= int(entry.record.label) < 8 \
                else entry.record.meta.get("instrument", "")
        return out
