"""Feature cache: front-end outputs precomputed once, stored as float16 memory-mapped shards.

Layout under ``cache_dir``::

    <dataset>/<split>-<features digest>/
        index.json            key, features config, per-file shard + frame count, failures
        progress.jsonl        one line per finished file (resume journal, append-only)
        shards/<file key>.npy float16 [frames, channels, bins] (time-major: a crop is one slice)
        bad_files-<dataset>-<split>.json

Keys. A shard's name hashes the audio file's size + mtime, its length, the features config
(resolved), the front-end's source file and the cache format, so shards are content-addressed:
when one file changes only its shard is recomputed. The index key hashes every shard key: any
added, removed or modified file, or any change of the features config or code, makes the index
stale; a stale index is rebuilt (incrementally), never read.

Shards hold the front-end's ``raw()`` output (before the optional per-bin normalization, whose
statistics are fitted per run and stored in the checkpoint), so ``normalize`` is not part of the
key. Building runs the front-end batched on ``cuda`` when available. Long files are cut into blocks
of ``BLOCK_SECONDS`` with ``CONTEXT_SECONDS`` of real signal each side, so block edges see the
same context as a whole-file transform (exact for shift-invariant front-ends; nnAudio's CQT2010
octave downsampling is not, so its block edges differ slightly, as its output already does
when a signal is merely zero-padded); files shorter than a block are transformed whole (and
batched with other files of the same length), which is exactly ``frontend.raw(audio)``.
"""

from __future__ import annotations

import json
import logging
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wavespace.errors import WavespaceError
from wavespace.files import (
    digest,
    digest_bytes,
    fingerprint,
    jsonable,
    save_array,
    to_plain,
    write_json,
)
from wavespace.geometry import common_frames, n_frames

log = logging.getLogger("wavespace.data.cache")

CACHE_VERSION = 1
BLOCK_SECONDS = 30.0
CONTEXT_SECONDS = 2.0
CACHE_MODES = ("auto", "off", "require", "build")
NOT_IN_KEY = ("normalize",)  # features settings that do not change Frontend.raw()


class FeatureCacheError(WavespaceError):
    """The feature cache was required but is missing, or cannot be built."""


def plain_features_config(features: Any) -> dict[str, Any]:
    """The features config as plain, resolved containers (what the cache key hashes)."""
    from omegaconf import DictConfig

    if isinstance(features, DictConfig):
        out = to_plain(features)
    elif isinstance(features, Mapping):
        out = jsonable(dict(features))
    else:
        raise TypeError(f"features must be a config mapping with _target_, got {type(features).__name__}")
    assert isinstance(out, dict)
    if "_target_" not in out:
        raise FeatureCacheError(f"the features config {out} has no _target_; cannot build a front-end from it")
    return out


def frontend_code_digest(target: str) -> str:
    """Hash of the source file defining the front-end (and of nnAudio's version).

    The config alone does not cover a fix inside the front-end's code; hashing its module makes
    such a change rebuild the cache (at worst needlessly, e.g. after a docstring edit) instead
    of silently serving features the current code would not compute.
    """
    import inspect
    from importlib.metadata import PackageNotFoundError, version

    from hydra.utils import get_object

    try:
        source = Path(inspect.getfile(get_object(target))).read_bytes()
    except Exception:  # an unimportable target fails later, when the front-end is built
        source = target.encode()
    try:
        extra = version("nnAudio").encode()
    except PackageNotFoundError:
        extra = b""
    return digest_bytes(source + extra, 12)


@dataclass(frozen=True)
class CacheFile:
    """One audio file to cache: stable id, path, and its length at the target sample rate."""

    file_id: str
    path: Path
    n_samples: int


def resolve_device(device: str | None) -> Any:
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class FeatureCache:
    """The cache of one dataset split under one features config."""

    def __init__(self, root: str | Path, dataset: str, split: str, features: Any,
                 sample_rate: int, hop_length: int, files: list[CacheFile], source: str = "") -> None:
        self.features_cfg = plain_features_config(features)
        self.dataset, self.split = dataset, split
        self.sample_rate, self.hop_length = int(sample_rate), int(hop_length)
        # Shards hold Frontend.raw() output; normalization is fitted per run and applied by the task.
        raw_cfg = {k: v for k, v in self.features_cfg.items() if k not in NOT_IN_KEY}
        params = {"version": CACHE_VERSION, "features": raw_cfg, "sample_rate": self.sample_rate,
                  "code": frontend_code_digest(str(raw_cfg["_target_"])),
                  "block_seconds": BLOCK_SECONDS, "context_seconds": CONTEXT_SECONDS}
        self.features_digest = digest(params, 16)
        # ``source`` (the dataset root) keeps two copies or subsets of a dataset from sharing an index.
        self.directory = Path(root) / dataset / f"{split}-{digest([self.features_digest, source], 10)}"
        self.files = files
        self.file_keys = {f.file_id: digest([self.features_digest, fingerprint(f.path), f.n_samples])
                          for f in files}
        self.key = digest(sorted(self.file_keys.items()), 20)

    # -- state -------------------------------------------------------------------------------
    @property
    def index_path(self) -> Path:
        return self.directory / "index.json"

    def shard_path(self, file_id: str) -> Path:
        return self.directory / "shards" / f"{self.file_keys[file_id]}.npy"

    def read_index(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.index_path.read_text())
        except (OSError, ValueError):
            return None

    def status(self) -> str:
        """``valid`` (complete, same key, shards present), ``stale`` (built for other files or
        settings, or shards missing) or ``missing`` (never built)."""
        index = self.read_index()
        if index is None:
            return "missing"
        if index.get("key") != self.key or not index.get("complete"):
            return "stale"
        shards = self.directory / "shards"
        if any(not (shards / e["shard"]).is_file() for e in index["files"].values()):
            return "stale"
        return "valid"

    def describe_staleness(self) -> str:
        index = self.read_index() or {}
        old = {k: v.get("key") for k, v in index.get("files", {}).items()}
        old.update({k: v.get("key") for k, v in index.get("failed", {}).items()})
        changed = sum(1 for k, v in self.file_keys.items() if k in old and old[k] != v)
        added = sum(1 for k in self.file_keys if k not in old)
        removed = sum(1 for k in old if k not in self.file_keys)
        return f"{changed} changed, {added} new, {removed} removed file(s)"

    def open(self) -> CacheReader:
        index = self.read_index()
        if index is None:
            raise FeatureCacheError(f"no feature cache index at {self.index_path}")
        return CacheReader(self.directory, index)

    # -- building ----------------------------------------------------------------------------
    def build(self, load: Callable[[CacheFile], np.ndarray], device: str | None = "auto",
              batch_size: int = 8, progress: bool = True) -> dict[str, str]:
        """Compute missing shards, write the index; returns {file_id: error} for files that failed.

        Resumable: shards are written atomically and journaled one by one, so a killed build
        restarts where it stopped. ``load`` decodes a file to float32 mono at the sample rate.
        """
        from hydra.utils import instantiate
        from tqdm.auto import tqdm

        (self.directory / "shards").mkdir(parents=True, exist_ok=True)
        todo = [f for f in self.files if not self.shard_path(f.file_id).is_file()]
        failed: dict[str, str] = {}
        frames: dict[str, int] = {}
        journal = self.directory / "progress.jsonl"
        if todo:
            dev = resolve_device(device)
            frontend = instantiate(self.features_cfg).to(dev).eval()
            bar = tqdm(total=len(todo), desc=f"caching {self.dataset}/{self.split} features on {dev}",
                       unit="file", disable=not progress, mininterval=1.0)
            with open(journal, "a") as jf:
                for f, result in run_frontend(frontend, todo, load, dev, batch_size, self.hop_length):
                    if isinstance(result, str):
                        failed[f.file_id] = result
                    else:
                        save_array(self.shard_path(f.file_id), result)
                        frames[f.file_id] = int(result.shape[0])
                        jf.write(json.dumps({"id": f.file_id, "key": self.file_keys[f.file_id],
                                             "frames": frames[f.file_id]}) + "\n")
                        jf.flush()
                    bar.update(1)
            bar.close()
        self._write_index(failed, frames)
        return failed

    def _write_index(self, failed: dict[str, str], new_frames: dict[str, int]) -> None:
        entries: dict[str, Any] = {}
        for f in self.files:
            if f.file_id in failed:
                continue
            shard = self.shard_path(f.file_id)
            if not shard.is_file():
                continue
            n = new_frames.get(f.file_id)
            if n is None:
                n = int(np.load(shard, mmap_mode="r").shape[0])
            entries[f.file_id] = {"shard": shard.name, "frames": n, "key": self.file_keys[f.file_id],
                                  "audio": str(f.path)}
        previous = (self.read_index() or {}).get("files", {})
        for file_id, old in previous.items():  # prune the shards of files that changed since
            if file_id in entries and old.get("shard") != entries[file_id]["shard"]:
                (self.directory / "shards" / old["shard"]).unlink(missing_ok=True)
        write_json(self.index_path, {
            "version": CACHE_VERSION, "key": self.key, "complete": True, "dataset": self.dataset,
            "split": self.split, "features": self.features_cfg, "sample_rate": self.sample_rate,
            "hop_length": self.hop_length, "layout": "frames, channels, bins (float16)",
            "files": entries,
            "failed": {k: {"error": v, "key": self.file_keys[k]} for k, v in failed.items()},
        })
        (self.directory / "progress.jsonl").unlink(missing_ok=True)


def _prefetch(items: list[CacheFile], load: Callable[[CacheFile], np.ndarray],
              depth: int = 4) -> Iterator[tuple[CacheFile, np.ndarray | str]]:
    """Decode files in a background thread (soundfile and soxr release the GIL)."""
    from wavespace.data.audio_io import AudioFileError

    def task(f: CacheFile) -> np.ndarray | str:
        try:
            return load(f)
        except AudioFileError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: deque[tuple[CacheFile, Future]] = deque()
        it = iter(items)
        for f in it:
            pending.append((f, pool.submit(task, f)))
            if len(pending) >= depth:
                break
        while pending:
            f, fut = pending.popleft()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(task, nxt)))
            yield f, fut.result()


def run_frontend(frontend: Any, files: list[CacheFile], load: Callable[[CacheFile], np.ndarray],
                 device: Any, batch_size: int, hop_length: int) -> Iterable[tuple[CacheFile, np.ndarray | str]]:
    """Yield (file, float16 [frames, C, F]) or (file, error message), batching blocks of equal length."""
    import torch

    transform = getattr(frontend, "raw", frontend)  # before per-bin normalization, if any
    sr = int(getattr(frontend, "sample_rate", 0)) or 1
    block = max(1, int(round(BLOCK_SECONDS * sr / hop_length))) * hop_length
    context = int(math.ceil(CONTEXT_SECONDS * sr / hop_length)) * hop_length
    groups: dict[int, list[tuple[int, int, np.ndarray]]] = {}  # input length -> (job, block#, audio)
    jobs: dict[int, dict[str, Any]] = {}
    done: deque[int] = deque()

    def flush(length: int) -> None:
        batch = groups.pop(length, [])
        if not batch:
            return
        x = torch.from_numpy(np.stack([b[2] for b in batch])).to(device)
        with torch.no_grad():
            y = transform(x).float().cpu().numpy()  # [B, C, F, T']
        for (job_id, blk, _), out in zip(batch, y, strict=True):
            job = jobs[job_id]
            t = out.shape[-1]
            common_frames(t, n_frames(length, hop_length),
                          f"features of {job['file'].path} (front-end output vs. the data's hop)")
            want = job["frames_per_block"]
            lo = job["context_frames"]
            piece = out[..., lo : lo + want]
            if piece.shape[-1] < want:  # front-ends that emit one frame less (T/hop): repeat the edge
                pad = np.repeat(piece[..., -1:] if t > lo else np.zeros_like(out[..., :1]), want - piece.shape[-1], -1)
                piece = np.concatenate([piece, pad], -1)
            start = blk * want
            stop = min(start + want, job["n_frames"])
            if job["out"] is None:
                job["out"] = np.empty((job["n_frames"], *out.shape[:2]), np.float16)
            job["out"][start:stop] = np.clip(piece[..., : stop - start], -65000, 65000).transpose(2, 0, 1)
            job["left"] -= 1
            if job["left"] == 0:
                done.append(job_id)

    for job_id, (f, audio) in enumerate(_prefetch(files, load)):
        if isinstance(audio, str):
            yield f, audio
            continue
        audio = _fit(audio, f.n_samples)
        total = n_frames(f.n_samples, hop_length)
        if f.n_samples <= block:  # whole file at once: identical to frontend(audio)
            pieces, per, ctx = [audio], total, 0
        else:
            per, ctx = block // hop_length, context // hop_length
            n_blocks = int(math.ceil(total / per))
            padded = np.zeros(n_blocks * block + 2 * context, np.float32)
            padded[context : context + len(audio)] = audio
            pieces = [padded[b * block : b * block + block + 2 * context] for b in range(n_blocks)]
        jobs[job_id] = {"file": f, "n_frames": total, "frames_per_block": per, "context_frames": ctx,
                        "left": len(pieces), "out": None}
        for b, piece in enumerate(pieces):
            groups.setdefault(len(piece), []).append((job_id, b, piece))
            if len(groups[len(piece)]) >= batch_size:
                flush(len(piece))
        while done:
            job = jobs.pop(done.popleft())
            yield job["file"], job["out"]
    for length in list(groups):
        flush(length)
    while done:
        job = jobs.pop(done.popleft())
        yield job["file"], job["out"]


def _fit(audio: np.ndarray, n: int) -> np.ndarray:
    """Trim or zero-pad to exactly ``n`` samples (resamplers may differ by one sample)."""
    if len(audio) == n:
        return audio
    out = np.zeros(n, np.float32)
    out[: min(n, len(audio))] = audio[:n]
    return out


class CacheReader:
    """Reads crops from the shards of a complete cache (memory-mapped, opened lazily per process)."""

    def __init__(self, directory: Path, index: dict[str, Any], max_open: int = 64) -> None:
        self.directory, self.index = Path(directory), index
        self.files: dict[str, dict[str, Any]] = index["files"]
        self.failed: dict[str, Any] = index.get("failed", {})
        self.max_open = max_open
        self._open: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:  # workers reopen their own memmaps
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state

    def array(self, file_id: str) -> np.ndarray:
        mm = self._open.get(file_id)
        if mm is None:
            mm = np.load(self.directory / "shards" / self.files[file_id]["shard"], mmap_mode="r")
            self._open[file_id] = mm
            if len(self._open) > self.max_open:
                self._open.popitem(last=False)
        else:
            self._open.move_to_end(file_id)
        return mm

    def slice(self, file_id: str, start: int, n: int) -> np.ndarray:
        """float32 [C, F, n] features of frames ``start .. start + n`` of a file."""
        x = np.asarray(self.array(file_id)[start : start + n], dtype=np.float32)
        return np.ascontiguousarray(x.transpose(1, 2, 0))


__all__ = ["CACHE_MODES", "CacheFile", "CacheReader", "FeatureCache", "FeatureCacheError"]
