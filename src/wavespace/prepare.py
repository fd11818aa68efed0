"""Dataset preparation: ``python -m wavespace.prepare data=<dataset> features=<front-end> [...]``.

Composes the same config groups as training (so the same overrides select the same dataset,
geometry and front-end), then for each split: scans and validates the files (reporting bad ones),
renders MIDI (``data=rendered``), builds the per-file targets, and runs the front-end once over
every file, batched on the accelerator when present, into the float16 feature cache that
training then reads automatically. Safe to interrupt: rerunning resumes.
"""

from __future__ import annotations

import logging
from typing import Any

import hydra
from omegaconf import DictConfig

from wavespace.config import config_dir
from wavespace.errors import reported_errors

log = logging.getLogger("wavespace.prepare")


def prepare(cfg: DictConfig) -> list[dict[str, Any]]:
    """Prepare the configured splits; return one summary row per split."""
    from hydra.utils import instantiate

    from wavespace.data.base import FileDataset

    opts = cfg.get("prepare") or {}
    rows = []
    for split in opts.get("splits", ["train", "val", "test"]):
        node = cfg.data.get(split)
        if node is None or "_target_" not in node:
            continue
        if "cache" not in node:
            log.info("%s: %s is generated on the fly; nothing to prepare", split, node._target_)
            continue
        ds = instantiate(
            node, cache="build" if opts.get("features", True) else "off",
            cache_device=str(opts.get("device", "auto")), cache_batch_size=int(opts.get("batch_size", 8)),
            progress=True,
        )
        assert isinstance(ds, FileDataset)
        rows.append({
            "split": ds.split, "files": len(ds.entries), "items": len(ds),
            "skipped": ds.report.n_skipped, "fixed": ds.report.n_fixed,
            "cache": str(ds.cache.directory) if ds.cache else "(features not cached)",
            "report": str(ds.report_path),
        })
    return rows


def format_rows(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "\nNothing to prepare for this data config.\n"
    lines = ["", f"{'split':<11}{'files':>7}{'items':>8}{'skipped':>9}{'fixed':>7}  cache / report"]
    for r in rows:
        lines.append(f"{r['split']:<11}{r['files']:>7}{r['items']:>8}{r['skipped']:>9}{r['fixed']:>7}  {r['cache']}")
        lines.append(f"{'':<42}  {r['report']}")
    return "\n".join(lines) + "\n"


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="prepare")
def main(cfg: DictConfig) -> None:
    with reported_errors():
        rows = prepare(cfg)
    print(format_rows(rows))


if __name__ == "__main__":
    main()
