"""Names and writes of what the package keeps on disk: digests, atomic writes, plain configs.

Run ids, feature-cache keys, label-store keys and render directories are all content
digests: SHA-1 of canonical JSON (sorted keys, no spaces, non-JSON values as ``str``), cut to
a length. Every file a reader may open while another process writes it (cache shards and
indexes, label arrays, rendered audio, run summaries, pod status) is written under a
temporary name and renamed into place, so nobody ever reads half a file. Configs are hashed
and written as plain resolved containers. One implementation of each, here, so that a key
computed in two places cannot come out different.

Bottom layer: imports nothing from wavespace; numpy and omegaconf load only when used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any


# -- digests ---------------------------------------------------------------------------------
def digest_bytes(data: bytes, length: int = 16) -> str:
    """Hex SHA-1 of ``data``, cut to ``length`` characters."""
    return hashlib.sha1(data).hexdigest()[:length]


def digest(obj: Any, length: int = 16) -> str:
    """Digest of a JSON-able value: equal values give equal digests whatever their key order."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str).encode()
    return digest_bytes(blob, length)


def jsonable(obj: Any) -> Any:
    """A deep copy made of JSON types only (anything else becomes its ``str``)."""
    return json.loads(json.dumps(obj, default=str))


def fingerprint(path: str | Path) -> dict[str, int | str]:
    """What identifies a file's contents cheaply: name, size and modification time (ns)."""
    st = os.stat(path)
    return {"name": Path(path).name, "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


# -- atomic writes ---------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` when the block succeeds.

    The temporary name ``<name>.<pid>.tmp`` matches no pattern a reader looks for (``*.npy``,
    ``*.wav``, ``result.json``) even when a killed process leaves it behind, and the pid keeps
    concurrent writers (DataLoader workers, DDP ranks) apart. Writers must not infer a format
    from the suffix (FluidSynth is given ``-T wav``). On an error the temporary file is removed
    and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_json(path: str | Path, data: Any) -> Path:
    """Write JSON atomically (indented, sorted keys; non-JSON values as ``str``)."""
    return write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str))


def save_array(path: str | Path, array: Any) -> Path:
    """``np.save`` atomically: readers never see half an array."""
    import numpy as np

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, array)
    return Path(path)


# -- run directories -------------------------------------------------------------------------
def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or the best (else last) checkpoint of a run directory."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a checkpoint file nor a run directory")
    summary = path / "metrics.json"
    if summary.is_file():
        best = json.loads(summary.read_text()).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    last = path / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    raise FileNotFoundError(f"no checkpoint in run directory {path} (looked for metrics.json and checkpoints/last.ckpt)")


# -- configs ---------------------------------------------------------------------------------
def to_plain(value: Any) -> Any:
    """OmegaConf containers -> resolved Python dicts and lists; anything else unchanged.

    A root config composed with ``return_hydra_config`` loses its ``hydra`` node, whose sweep
    keys resolve only inside a job. Missing values (``???``) stay as they are instead of
    raising, so a partial config can still be hashed and written.
    """
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(value, DictConfig) and "hydra" in value:
        value = OmegaConf.masked_copy(value, [k for k in value if k != "hydra"])
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True, throw_on_missing=False)
    return value
