"""Sweep post-processing: fits on known curves, a synthetic multirun dir, a real tiny multirun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from wavespace.analyze import collect, fit_curve, lookup
from wavespace.analyze.collect import records_from_wandb

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_quadratic_log_fit_finds_the_known_minimum():
    rng = np.random.default_rng(0)
    lr = np.repeat(np.logspace(-5, -1, 9), 2)
    loss = 0.4 + 0.3 * (np.log10(lr) + 2.7) ** 2 + rng.normal(0, 0.02, lr.size)
    fit = fit_curve(lr, loss)
    opt = fit.optimum("min")
    assert opt.interior
    assert abs(np.log10(opt.x) + 2.7) < 0.05
    assert opt.x_low < 10**-2.7 < opt.x_high
    assert opt.y == pytest.approx(0.4, abs=0.03)
    assert fit.r2 > 0.95


def test_confidence_band_is_calibrated():
    """Over many noisy sweeps, the 95% band covers the true curve about 95% of the time."""
    rng = np.random.default_rng(1)
    lr = np.logspace(-5, -1, 9)
    truth = 0.4 + 0.3 * (np.log10(lr) + 2.7) ** 2
    probe = np.array([1e-4, 10**-2.7, 3e-2])
    probe_truth = 0.4 + 0.3 * (np.log10(probe) + 2.7) ** 2
    covered = []
    for _ in range(400):
        _, low, high = fit_curve(lr, truth + rng.normal(0, 0.05, lr.size)).predict(probe)
        covered.append((low <= probe_truth) & (probe_truth <= high))
    rate = np.mean(covered, axis=0)
    assert np.all((rate > 0.91) & (rate < 0.985)), rate


def test_other_families_and_edge_optima():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    line = fit_curve(x, 2 * x + 1, family="linear")
    assert line.coef == pytest.approx([1.0, 2.0])
    assert line.optimum("max").x == pytest.approx(5.0)
    concave = fit_curve(x, -((x - 3) ** 2), family="quadratic")
    assert not concave.optimum("min").interior
    assert concave.optimum("max").x == pytest.approx(3.0)
    with pytest.raises(ValueError, match="distinct"):
        fit_curve(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="unknown fit family"):
        fit_curve(x, x, family="spline")


def _write_job(root: Path, num: int, overrides: list[str], metrics: dict, status="COMPLETED"):
    job = root / str(num)
    job.mkdir(parents=True)
    (job / "result.json").write_text(json.dumps({
        "run_id": f"r{num}", "status": status, "overrides": overrides, "metrics": metrics,
        "optimized_metric": "val/loss"}))


def test_cli_on_a_multirun_dir_with_a_known_quadratic(tmp_path):
    """Two hyperparameters on a grid; the loss is a known quadratic in both log-values."""
    root = tmp_path / "multirun"
    num = 0
    for lr in ["1e-4", "3e-4", "1e-3", "3e-3", "1e-2", "3e-2"]:
        for wd in ["1e-5", "1e-4", "1e-3", "1e-2", "1e-1"]:
            loss = 1.0 + (np.log10(float(lr)) + 2.5) ** 2 + 0.5 * (np.log10(float(wd)) + 3.2) ** 2
            _write_job(root, num, [f"model.optimizer.lr={lr}", f"model.optimizer.weight_decay={wd}"],
                       {"val/loss": loss})
            num += 1
    _write_job(root, num, ["model.optimizer.lr=1e-1", "model.optimizer.weight_decay=1e-3"],
               {"val/loss": 99.0}, status="FAILED")
    out = tmp_path / "fig5.png"
    proc = subprocess.run(
        [sys.executable, "-m", "wavespace.analyze", "sweep", str(root),
         "x=model.optimizer.lr,model.optimizer.weight_decay", "y=val/loss", f"out={out}"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    assert "31 run(s) found" in proc.stdout and "fitted optimum" in proc.stdout
    assert out.read_bytes()[:8] == PNG_MAGIC
    summary = json.loads(out.with_suffix(".json").read_text())
    lr_panel, wd_panel = summary["panels"]
    assert lr_panel["n"] == 30, "the failed run is left out"
    assert abs(np.log10(lr_panel["optimum"]["x"]) + 2.5) < 0.01
    assert abs(np.log10(wd_panel["optimum"]["x"]) + 3.2) < 0.01


def test_wandb_runs_become_records():
    run = SimpleNamespace(id="a1", name="cnn-1", state="finished", path=["e", "p", "a1"],
                          config={"model.optimizer.lr": 0.003, "model": {"optimizer": {"lr": 1}}},
                          summary={"val/loss": 0.5, "_step": 10, "note": "x"})
    crashed = SimpleNamespace(id="b2", name="cnn-2", state="crashed", path=["e", "p", "b2"],
                              config={"seed": 2}, summary={})
    rec, bad = records_from_wandb([run, crashed])
    assert lookup(rec, "model.optimizer.lr") == 0.003, "flat sweep keys win"
    assert rec.metrics == {"val/loss": 0.5, "_step": 10.0} and rec.status == "COMPLETED"
    assert bad.status == "CRASHED" and lookup(bad, "seed") == 2


def test_real_tiny_multirun(tmp_path):
    """A real local multirun of the tiny model over 3 learning rates, then the analysis."""
    env = {**os.environ, "WANDB_MODE": "disabled", "WAVESPACE_ROOT": str(tmp_path),
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    sweep_dir = tmp_path / "multirun"
    train = subprocess.run(
        [sys.executable, "-m", "wavespace.train", "-m", "debug=tiny",
         "model.optimizer.lr=1e-4,1e-3,1e-2", f"hydra.sweep.dir={sweep_dir}"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert train.returncode == 0, train.stderr[-3000:]
    records = collect(str(sweep_dir))
    assert len(records) == 3
    assert sorted(lookup(r, "model.optimizer.lr") for r in records) == [1e-4, 1e-3, 1e-2]
    proc = subprocess.run(
        [sys.executable, "-m", "wavespace.analyze", "sweep", str(sweep_dir),
         "x=model.optimizer.lr", "y=val/loss"], capture_output=True, text=True, timeout=120,
        env=env)
    assert proc.returncode == 0, proc.stderr
    figure = sweep_dir / "analysis" / "val_loss.png"
    assert figure.read_bytes()[:8] == PNG_MAGIC
    panel = json.loads(figure.with_suffix(".json").read_text())["panels"][0]
    assert panel["n"] == 3 and "fit" in panel
    assert 1e-4 <= panel["optimum"]["x"] <= 1e-2


@pytest.mark.parametrize(("argv", "code", "message"), [
    (["--help"], 0, "{sweep,latents,salience}"),
    (["fit", "runs"], 2, "invalid choice: 'fit'"),
    ([], 2, "required"),
    (["sweep", "runs", "y=val/loss"], 1, "wavespace: error: analyze sweep: give at least one hyperparameter"),
    (["sweep", "runs", "x=lr", "colour=red"], 1, "analyze sweep: bad argument 'colour=red'"),
    (["sweep", "runs", "x=lr", "level=high"], 1, "level=high is not a number"),
])
def test_cli_help_and_bad_arguments(argv, code, message, capsys):
    """argparse structure: help exits 0, an unknown or missing sub-command 2 (with the usage);
    a bad key=value option is one paragraph and exit 1."""
    from wavespace.analyze.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    captured = capsys.readouterr()
    assert info.value.code == code and message in captured.out + captured.err
    assert "Traceback" not in captured.err
