"""The harmonic task through the real Trainer: tiny run, reload, lambda across resume and ranks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import REPO, child_env, run_cli
from wavespace.tasks.constraints import dual_step

TINY = ["model=harmonic", "debug=tiny", "logger=csv", "model.net.unet.depth=2", "model.net.unet.channels=4"]


def _recorder(path: Path) -> list[str]:
    return ["+callbacks.lambda_recorder._target_=tests.harmonic.helpers.LambdaRecorder",
            f"+callbacks.lambda_recorder.directory={path}"]


def test_tiny_run_trains_checkpoints_by_feasible_loss0_and_reloads(compose_cfg, tmp_path):
    import wavespace
    from wavespace.train import train

    cfg = compose_cfg(*TINY)
    metrics, objects = train(cfg)
    assert cfg.optimized_metric == "val/loss0_feasible" and cfg.optimized_mode == "min"
    for key in ("train/loss0", "train/loss1", "train/lambda", "train/slack", "val/loss0", "val/loss1"):
        assert np.isfinite(metrics[key]), key
    feasible = metrics["val/loss1"] <= cfg.model.threshold
    assert metrics["val/loss0_feasible"] == pytest.approx(
        metrics["val/loss0"] if feasible else 1e6 + metrics["val/loss1"] - cfg.model.threshold)
    run = Path(objects["run"].run_dir)
    assert list((run / "figures").glob("*.png"))
    summary = objects["summary"]
    assert summary["best_checkpoint"] and Path(summary["best_checkpoint"]).is_file()

    model = objects["model"].cpu().eval()
    loaded = wavespace.load(run / "checkpoints" / "last.ckpt")
    assert type(loaded).__name__ == "HarmonicSalience"
    assert loaded.unit_range.is_fitted and torch.equal(loaded.unit_range.bounds, model.unit_range.bounds)
    assert torch.equal(loaded.lam, model.lam)
    audio = torch.randn(2, 22050) * 0.1
    a, b = model.predict_audio(audio), loaded.predict_audio(audio)
    assert set(a) == {"salience", "salience_sum", "recon"}
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_lambda_is_exact_in_the_checkpoint_and_after_resume(compose_cfg, tmp_path):
    """Every step writes last.ckpt; the lambda it holds is the one after that step's dual update,
    and a fresh model resumed from it starts there and continues the same ascent."""
    import lightning as L
    from hydra.utils import instantiate

    from tests.harmonic.helpers import LambdaRecorder
    from wavespace.loading import build_model
    from wavespace.train import train

    rec = tmp_path / "first"
    # threshold -0.9 is never met in a few steps: lambda rises at every step
    cfg = compose_cfg(*TINY, "model.threshold=-0.9", "model.dual_lr=0.5", "trainer.limit_train_batches=3",
                      "callbacks.periodic_checkpoint.every_n_train_steps=1", "test=false", *_recorder(rec))
    _, objects = train(cfg)
    rows = [r for r in json.loads((rec / "rank0.json").read_text()) if r["event"] == "step"]
    lams = [r["lam"] for r in rows]
    assert lams[0] > 0 and all(b > a for a, b in zip(lams, lams[1:]))  # violated: rising
    ckpt_path = Path(objects["run"].run_dir) / "checkpoints" / "last.ckpt"
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3
    assert float(ckpt["state_dict"]["lam"]) == lams[-1]  # exact, not approximately

    model = build_model(cfg)  # fresh weights, lambda_init
    assert float(model.lam) == 0.0
    again = LambdaRecorder(str(tmp_path / "resumed"))
    trainer = L.Trainer(accelerator="cpu", max_epochs=2, limit_train_batches=3, limit_val_batches=0,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        callbacks=[again], enable_model_summary=False,
                        log_every_n_steps=1)  # the recorder reads train/loss1, logged on logging steps
    trainer.fit(model, datamodule=instantiate(cfg.data), ckpt_path=str(ckpt_path))
    start, first = again.rows[0], again.rows[1]
    assert start["event"] == "start" and start["lam"] == lams[-1]
    expected = dual_step(torch.tensor(lams[-1]), first["loss1"] - cfg.model.threshold, cfg.model.dual_lr)
    assert first["lam"] == pytest.approx(float(expected), rel=1e-6)


def test_lambda_identical_on_both_ranks_of_ddp_sim(tmp_path):
    rec = tmp_path / "ranks"
    # the recorder lives in tests/; src first so this checkout's package is the one imported
    env = child_env(tmp_path, PYTHONPATH=os.pathsep.join([str(REPO / "src"), str(REPO)]))
    run_cli("wavespace.train", *TINY, "trainer=ddp_sim", "test=false", "model.dual_lr=0.5",
            *_recorder(rec), tmp_path=tmp_path, env=env, timeout=600)
    r0, r1 = ([r for r in json.loads((rec / f"rank{i}.json").read_text()) if r["event"] == "step"]
              for i in (0, 1))
    assert len(r0) == len(r1) == 2
    assert [r["lam"] for r in r0] == [r["lam"] for r in r1]  # bitwise identical
    assert r0[-1]["lam"] != 0.0
    # the ranks saw different data (their own loss1), so agreement comes from the all-reduce
    assert [r["loss1"] for r in r0] != [r["loss1"] for r in r1]
    mean = (r0[0]["loss1"] + r1[0]["loss1"]) / 2
    assert r0[0]["lam"] == pytest.approx(max(0.0, 0.5 * (mean - (-0.1))), rel=1e-5)
