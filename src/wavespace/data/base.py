"""File-backed datasets: scan, validate, crop geometry, feature cache and bad-file reporting.

Subclasses (Medley-solos-DB, MAESTRO, rendered MIDI) only say where the files are
(``scan``), what a good file looks like (``expected_rates``, ``check``) and what the targets of a
crop are (``targets``). Everything else is shared:

* Crops are aligned to the hop: a crop starts at frame ``s`` (sample ``s * hop``) and has
  ``n_samples // hop + 1`` frames, so its labels and its cached features are plain slices.
* Training draws a random start per item; evaluation walks each file in consecutive,
  non-overlapping chunks (the last one aligned to the file's end so every frame is covered), or,
  for datasets of short clips (``one_crop_per_file``), takes one centred crop per clip.
* Items hold ``audio`` [n_samples] float32, or ``features`` [C, F, frames] float32 read from
  the float16 cache (see ``wavespace.data.cache``), plus the targets.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wavespace.data.audio_io import AudioFileError, AudioInfo, load_audio, load_segment, probe
from wavespace.data.cache import (
    CACHE_MODES,
    CacheFile,
    CacheReader,
    FeatureCache,
    FeatureCacheError,
    _fit,
)
from wavespace.data.report import BadFileReport
from wavespace.errors import ConfigError
from wavespace.files import to_plain
from wavespace.geometry import n_frames

log = logging.getLogger("wavespace.data")

SPLITS = {"train": "train", "training": "train", "val": "validation", "valid": "validation",
          "validation": "validation", "test": "test"}


@dataclass
class FileRecord:
    """One example file as listed by the dataset's metadata."""

    file_id: str
    audio: Path
    midi: Path | None = None
    label: int | None = None
    expected_seconds: float | None = None  # from metadata; much shorter audio is truncated
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileEntry:
    """A validated file: its header, and its length at the target sample rate."""

    record: FileRecord
    info: AudioInfo
    n_samples: int


def canonical_split(split: str) -> str:
    try:
        return SPLITS[str(split).lower()]
    except KeyError:
        raise ConfigError(f"unknown split '{split}': use train, validation or test") from None


class FileDataset(Dataset):
    """Base class of datasets read from audio files on disk (see module docstring)."""

    name = "files"
    expected_rates: tuple[int, ...] = ()      # native rates that need no report (others: fixed)
    expected_channels: tuple[int, ...] = (1, 2)
    truncation_tolerance_s = 0.01
    one_crop_per_file = False  # True: clips are the unit (Medley); False: chunks cover each file

    def __init__(
        self,
        root: str | Path,
        split: str = "train",
        *,
        sample_rate: int,
        hop_length: int,
        clip_seconds: float = 2.0,
        random_crop: bool | None = None,
        cache: str = "auto",
        cache_dir: str | Path | None = None,
        features: Mapping[str, Any] | None = None,
        report_dir: str | Path | None = None,
        cache_batch_size: int = 8,
        cache_device: str = "auto",
        limit_files: int | None = None,
        progress: bool = True,
    ) -> None:
        self.root = Path(root).expanduser()
        self.split = canonical_split(split)
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        self.n_samples = int(round(float(clip_seconds) * self.sample_rate))
        self.n_frames = n_frames(self.n_samples, self.hop_length)
        self.random_crop = (self.split == "train") if random_crop is None else bool(random_crop)
        if cache not in CACHE_MODES:
            raise ConfigError(f"data cache='{cache}' is not one of {', '.join(CACHE_MODES)}")
        self.cache_mode = cache
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else None
        self.features = to_plain(features)  # datasets are built with ``_recursive_: false``
        self.report_dir = Path(report_dir) if report_dir else None
        self.cache_batch_size, self.cache_device = int(cache_batch_size), str(cache_device)
        self.progress = bool(progress)
        self.report = BadFileReport(self.name, self.split)

        records = self.scan()
        if limit_files:
            records = records[: int(limit_files)]
        self.entries = self._validate(records)
        self.cache: FeatureCache | None = None
        self.reader: CacheReader | None = self._resolve_cache()
        self.chunks = self._chunk_table()
        self.report_path = self.report.write(self._report_location())
        if not self.entries:
            log.warning("%s/%s: no usable files in %s (see %s)", self.name, self.split, self.root,
                        self.report_path)

    # -- subclass hooks ----------------------------------------------------------------------
    def scan(self) -> list[FileRecord]:  # pragma: no cover - abstract
        """Records of this split; raise DatasetNotFoundError if the layout is wrong."""
        raise NotImplementedError

    def check(self, entry: FileEntry) -> bool:
        """Extra per-file validation (MIDI etc.); report and return False to skip the file."""
        return True

    def targets(self, entry: FileEntry, start: int) -> dict[str, np.ndarray]:
        """Targets of the crop of ``self.n_frames`` frames starting at frame ``start``."""
        return {}

    # -- scanning ----------------------------------------------------------------------------
    def _validate(self, records: list[FileRecord]) -> list[FileEntry]:
        from tqdm.auto import tqdm

        entries = []
        bar = tqdm(records, desc=f"checking {self.name}/{self.split}", unit="file", mininterval=1.0,
                   disable=not self.progress or len(records) < 200)
        for rec in bar:
            if not rec.audio.is_file():
                self.report.skip(rec.audio, "missing file", "listed in the metadata but not on disk")
                continue
            try:
                info = probe(rec.audio)
            except AudioFileError as exc:
                self.report.skip(rec.audio, "unreadable audio", str(exc))
                continue
            if rec.expected_seconds and info.duration < rec.expected_seconds - self.truncation_tolerance_s:
                self.report.skip(rec.audio, "truncated audio",
                                 f"{info.duration:.3f} s, expected {rec.expected_seconds:.3f} s")
                continue
            n = info.frames_at(self.sample_rate)
            if n < self.n_samples:
                self.report.skip(rec.audio, "too short",
                                 f"{info.duration:.3f} s is shorter than one crop ({self.n_samples / self.sample_rate:.3f} s)")
                continue
            fixes = []
            if self.expected_rates and info.sample_rate not in self.expected_rates:
                fixes.append(f"sample rate {info.sample_rate} Hz (expected {'/'.join(map(str, self.expected_rates))})")
            if info.channels not in self.expected_channels:
                fixes.append(f"{info.channels} channels (expected {'/'.join(map(str, self.expected_channels))})")
            entry = FileEntry(rec, info, n)
            if not self.check(entry):
                continue
            if fixes:
                self.report.fix(rec.audio, "odd format", "; ".join(fixes) +
                                f": mixed to mono and resampled to {self.sample_rate} Hz")
            entries.append(entry)
        return entries

    def _report_location(self) -> Path:
        if self.reader is not None and self.cache is not None:
            return self.cache.directory
        if self.report_dir is not None:
            return self.report_dir
        return (self.cache_dir or Path("cache")) / self.name

    # -- feature cache -----------------------------------------------------------------------
    def feature_cache(self) -> FeatureCache:
        if self.features is None:
            raise FeatureCacheError(
                f"{self.name}/{self.split}: a feature cache needs the features config; dataset "
                f"configs pass it as `features: ${{features}}` (see conf/data/{self.name}.yaml)")
        if self.cache_dir is None:
            raise FeatureCacheError(f"{self.name}/{self.split}: set cache_dir (paths.cache_dir) to use a feature cache")
        files = [CacheFile(e.record.file_id, e.record.audio, e.n_samples) for e in self.entries]
        return FeatureCache(self.cache_dir, self.name, self.split, self.features, self.sample_rate,
                            self.hop_length, files, source=str(self.root.resolve()))

    def load_full(self, f: CacheFile) -> np.ndarray:
        """Whole file as float32 mono at the sample rate, exactly ``f.n_samples`` long."""
        return _fit(load_audio(f.path, self.sample_rate), f.n_samples)

    def build_cache(self, device: str | None = None, batch_size: int | None = None) -> FeatureCache:
        """Build (or incrementally rebuild) this split's cache; returns it. Used by prepare."""
        cache = self.feature_cache()
        failed = cache.build(self.load_full, device or self.cache_device,
                             batch_size or self.cache_batch_size, progress=self.progress)
        for file_id, err in failed.items():
            log.debug("%s failed during caching: %s", file_id, err)
        return cache

    def _resolve_cache(self) -> CacheReader | None:
        if self.cache_mode == "off" or (self.features is None and self.cache_mode == "auto"):
            return None
        cache = self.feature_cache()
        status = cache.status()
        prepare_cmd = f"python -m wavespace.prepare data={self.name} <the same overrides as for training>"
        if status == "missing":
            if self.cache_mode == "auto":
                log.info("%s/%s: no feature cache at %s; extracting features on the fly (%s to cache them)",
                         self.name, self.split, cache.directory, prepare_cmd)
                return None
            if self.cache_mode == "require":
                raise FeatureCacheError(
                    f"{self.name}/{self.split}: data cache=require but there is no feature cache at "
                    f"{cache.directory} for these files and this features config. Build it with "
                    f"`{prepare_cmd}` (the same overrides as for training), or set cache=auto.")
        if status == "stale":
            log.warning("%s/%s: the feature cache at %s is stale (%s, or other feature settings); "
                        "rebuilding what changed", self.name, self.split, cache.directory,
                        cache.describe_staleness())
        if status != "valid":
            self.build_cache()
        reader = cache.open()
        log.info("%s/%s: reading features from the cache at %s", self.name, self.split, cache.directory)
        bad = set(reader.failed)
        for e in self.entries:
            if e.record.file_id in bad:
                self.report.skip(e.record.audio, "unreadable audio", reader.failed[e.record.file_id]["error"])
        self.entries = [e for e in self.entries if e.record.file_id in reader.files]
        self.cache = cache
        return reader

    # -- indexing ----------------------------------------------------------------------------
    def max_start(self, entry: FileEntry) -> int:
        return (entry.n_samples - self.n_samples) // self.hop_length

    def _chunk_table(self) -> np.ndarray:
        """[n, 2] (entry index, start frame): consecutive chunks covering every file's frames."""
        rows = []
        for i, e in enumerate(self.entries):
            last = self.max_start(e)
            if self.one_crop_per_file:  # one item per clip; evaluation uses the centred crop
                rows.append(np.array([[i, last // 2]]))
                continue
            starts = np.arange(0, last + 1, self.n_frames)
            total = n_frames(e.n_samples, self.hop_length)
            if starts[-1] + self.n_frames < total and starts[-1] < last:
                starts = np.append(starts, last)
            rows.append(np.stack([np.full(len(starts), i), starts], 1))
        return np.concatenate(rows).astype(np.int64) if rows else np.zeros((0, 2), np.int64)

    def __len__(self) -> int:
        return len(self.chunks)

    def locate(self, index: int) -> tuple[FileEntry, int]:
        entry_idx, start = (int(v) for v in self.chunks[index])
        entry = self.entries[entry_idx]
        if self.random_crop:
            start = int(torch.randint(0, self.max_start(entry) + 1, ()).item())
        return entry, start

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        entry, start = self.locate(index)
        item: dict[str, Any] = {}
        if self.reader is not None:
            item["features"] = self.reader.slice(entry.record.file_id, start, self.n_frames)
        else:
            item["audio"] = load_segment(entry.record.audio, start * self.hop_length, self.n_samples,
                                         self.sample_rate, entry.info)
        item.update(self.targets(entry, start))
        return item

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for key, value in state.items():  # per-process handles (memmaps) are reopened lazily
            if isinstance(value, OrderedDict):
                state[key] = OrderedDict()
        return state
