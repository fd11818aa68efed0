"""Turn a finished training run into a shipped model: a slim checkpoint plus its metadata.

``python -m wavespace.pretrained publish RUN --name piano-cpu --bench outputs/bench/transcription_quality/results.json``

The slim checkpoint keeps what inference and :func:`wavespace.load` need (the state dict: net
weights, the front-end's buffers such as CQT kernels and fitted normalisation statistics, and
the tuned decision thresholds; the hyper-parameters; the run config and provenance) and drops
what only resuming training needs (optimizer and scheduler state, loop and callback state), so
the file is a fraction of the size and holds nothing a user cannot use. The metadata JSON says
where the model came from (preset, training command, code version of the training run and of
this step, source checkpoint and its sha256) and how good it is (the run's validation and test
metrics; the bench's pooled rows and command speed when ``--bench`` is given, refused if that
bench measured other weights).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from wavespace.config import config_dir
from wavespace.files import atomic_path, resolve_checkpoint, write_json
from wavespace.pretrained import PretrainedError, folder, is_name

KEEP = ("state_dict", "hyper_parameters", "wavespace")   # everything else is training state
METRIC_WORDS = ("f1", "precision", "recall", "accuracy", "threshold")
BENCH_KEYS = ("soundfonts", "seconds", "precision", "systems", "command")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def slim(ckpt: dict[str, Any]) -> dict[str, Any]:
    """The parts of a training checkpoint that inference and ``wavespace.load`` read."""
    if "wavespace" not in ckpt or "state_dict" not in ckpt:
        raise PretrainedError("This checkpoint was not written by wavespace.train (it has no 'wavespace' "
                              "entry), so it cannot be rebuilt by name; publish a run of wavespace.train.")
    if "decode_thresholds" not in ckpt["state_dict"]:
        target = ckpt["wavespace"]["config"].get("model", {}).get("_target_")
        raise PretrainedError(f"This checkpoint holds a {target}, not a transcription model (no tuned "
                              f"decision thresholds): only transcribers can be shipped.")
    return {k: ckpt[k] for k in KEEP if k in ckpt}


def _scores(metrics: dict[str, Any], prefix: str) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(metrics.items())
            if k.startswith(prefix) and any(w in k for w in METRIC_WORDS)}


def _csv_row(run_dir: Path, epoch: int) -> dict[str, float]:
    """The validation values the CSV logger wrote for ``epoch`` (runs from before checkpoints
    carried their scores)."""
    import csv

    row: dict[str, float] = {}
    for path in sorted(run_dir.glob("csv/version_*/metrics.csv")):
        with path.open() as f:
            for rec in csv.DictReader(f):
                if rec.get("epoch") == str(epoch):
                    row.update({k: float(v) for k, v in rec.items() if k.startswith("val/") and v not in ("", None)})
    return row


def run_metrics(ckpt_path: Path, ckpt: dict[str, Any]) -> tuple[dict[str, float], str]:
    """The checkpoint's own validation scores and the run's test scores, and where they came from.

    Validation: stored in the checkpoint when it was written (``val_metrics``), else the CSV
    logger's row of its epoch, and only when neither exists the run's metrics.json, whose val/*
    are the last epoch's and may differ from the best checkpoint's (``metrics_source`` says
    which). Test: the run's metrics.json (train.py tests the best checkpoint).
    """
    run_dir = ckpt_path.parent.parent
    summary = run_dir / "metrics.json"
    final = json.loads(summary.read_text()).get("metrics", {}) if summary.is_file() else {}
    stored = (ckpt.get("wavespace") or {}).get("val_metrics")
    epoch = ckpt.get("epoch")
    if stored:
        val, source = _scores(stored, "val/"), "validation when the checkpoint was written"
    elif epoch is not None and (row := _csv_row(run_dir, int(epoch))):
        val, source = _scores(row, "val/"), f"validation of epoch {epoch} (the run's CSV log)"
    else:
        val, source = _scores(final, "val/"), "validation of the run's last epoch (metrics.json)"
    return {**val, **_scores(final, "test/")}, source + "; test: the run's metrics.json"


def same_weights(a: Path, b: Path) -> bool:
    """One file, or two checkpoints with equal state dicts (a run's checkpoint and the slim copy
    already shipped from it, e.g. when a model is benched again by name)."""
    if a.resolve() == b.resolve():
        return True
    import torch

    sa, sb = (torch.load(p, map_location="cpu", weights_only=True).get("state_dict", {}) for p in (a, b))
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def bench_summary(bench: Path, ckpt_path: Path) -> dict[str, Any]:
    """The bench's results for this very checkpoint (per-piece lists left out)."""
    if not bench.is_file():
        raise PretrainedError(f"No bench results at {bench}: run `python bench/transcription_quality.py "
                              f"--ckpt {ckpt_path} --command-rtf` first, or leave --bench out.")
    result = json.loads(bench.read_text())
    from wavespace.pretrained import checkpoint

    measured = result.get("checkpoint")
    try:  # a file, a run directory or a shipped model's name
        path = (None if measured is None else resolve_checkpoint(measured) if Path(measured).expanduser().exists()
                else checkpoint(str(measured)))
        same = path is not None and same_weights(path, ckpt_path)
    except (FileNotFoundError, PretrainedError):
        same = False
    if not same:
        raise PretrainedError(f"The bench results in {bench} are of {measured}, not of the checkpoint being "
                              f"published ({ckpt_path}); bench this one (--ckpt {ckpt_path}) or leave --bench out.")
    return {"results": str(bench), **{k: result[k] for k in BENCH_KEYS if k in result}}


def publish(run: str | Path, name: str, to: Path | None = None, bench: str | Path | None = None,
            preset: str | None = None, command: str | None = None) -> tuple[Path, Path]:
    """Write ``<to>/<name>.ckpt`` (slim) and ``<to>/<name>.json``; returns both paths."""
    import torch

    from wavespace.provenance import code_version, provenance

    if not is_name(name):
        raise PretrainedError(f"'{name}' cannot name a shipped model: use letters, digits and dashes "
                              f"(no folder, no extension), e.g. piano-cpu.")
    src = resolve_checkpoint(run)
    ckpt = torch.load(src, map_location="cpu", weights_only=True)
    small = slim(ckpt)
    to = Path(to) if to is not None else folder()
    dst = to / f"{name}.ckpt"
    with atomic_path(dst) as tmp:
        torch.save(small, tmp)
    info = small["wavespace"]
    preset = preset or info["config"].get("name")
    if command is None and (Path(config_dir()) / "experiment" / f"{preset}.yaml").is_file():
        command = f"python -m wavespace.train experiment={preset}"
    thresholds = small["state_dict"]["decode_thresholds"].tolist()
    meta = {
        "name": name, "file": dst.name, "bytes": dst.stat().st_size, "sha256": sha256(dst),
        "preset": preset,
        "training_command": command,
        "code_version": (info.get("provenance") or {}).get("code_version"),
        "libraries": (info.get("provenance") or {}).get("libraries"),
        "published_with": code_version(), "publish_libraries": provenance()["libraries"],
        "run_id": info.get("run_id"), "source_checkpoint": str(src), "source_bytes": src.stat().st_size,
        "epoch": ckpt.get("epoch"), "global_step": ckpt.get("global_step"),
        "thresholds": dict(zip(("frame", "onset", "offset"), thresholds)),
        "decoding": (small.get("hyper_parameters") or {}).get("decoding"),
    }
    meta["metrics"], meta["metrics_source"] = run_metrics(src, ckpt)
    if bench is not None:
        meta["bench"] = bench_summary(Path(bench), src)
    return dst, write_json(to / f"{name}.json", meta)
