"""Which checkpoint a run directory resolves to: the best one named in metrics.json, else last."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wavespace.loading import resolve_checkpoint


def _run(tmp_path: Path, best: bool = True, last: bool = True) -> Path:
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    if best:
        (run / "checkpoints" / "best-epoch003-step000120.ckpt").write_bytes(b"best")
    if last:
        (run / "checkpoints" / "last.ckpt").write_bytes(b"last")
    return run


def _summary(run: Path, best: str | None) -> None:
    (run / "metrics.json").write_text(json.dumps({"best_checkpoint": best, "metrics": {}}))


def test_a_checkpoint_file_is_taken_as_given(tmp_path):
    run = _run(tmp_path)
    ckpt = run / "checkpoints" / "best-epoch003-step000120.ckpt"
    assert resolve_checkpoint(ckpt) == ckpt


def test_run_directory_gives_the_best_checkpoint_metrics_json_names(tmp_path):
    run = _run(tmp_path)
    best = run / "checkpoints" / "best-epoch003-step000120.ckpt"
    _summary(run, str(best))
    assert resolve_checkpoint(run) == best


@pytest.mark.parametrize("summary", ["missing", "deleted best", "no best"])
def test_run_directory_falls_back_to_last(tmp_path, summary):
    run = _run(tmp_path, best=summary != "deleted best")
    if summary == "deleted best":  # e.g. pruned by hand, or the run dir copied without it
        _summary(run, str(run / "checkpoints" / "best-epoch003-step000120.ckpt"))
    elif summary == "no best":  # a run killed before its first validation
        _summary(run, None)
    assert resolve_checkpoint(run) == run / "checkpoints" / "last.ckpt"


def test_nothing_to_load_is_a_clear_error(tmp_path):
    run = _run(tmp_path, best=False, last=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint in run directory"):
        resolve_checkpoint(run)
    with pytest.raises(FileNotFoundError, match="neither a checkpoint file nor a run directory"):
        resolve_checkpoint(tmp_path / "nowhere")
