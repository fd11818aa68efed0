"""Issue 12, "nothing lost", as a user meets it: real processes, real Trainer, tiny sizes.

A sweep survives a failed job, no checkpoint ever holds a NaN, ``last.ckpt`` holds the newest
step, a run killed mid-epoch resumes to the very weights and metrics of an uninterrupted one,
and config mistakes are one paragraph before anything is written.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
import torch

from tests.conftest import REPO, child_env, run_cli

TINY = ["debug=tiny"]


def _runs(root: Path) -> list[Path]:
    return sorted((root / "outputs" / "runs").glob("*"))


def _nonfinite(path: Path) -> list[str]:
    from wavespace.callbacks import nonfinite_tensors

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    return nonfinite_tensors({k: ckpt[k] for k in ("state_dict", "optimizer_states")})


def test_a_failed_sweep_job_is_recorded_and_the_others_run(tmp_path):
    """lr=1e30 diverges at once; lr=1e-3 trains. Both jobs run, the sweep exits 1 with a table."""
    proc = run_cli("wavespace.train", "--multirun", *TINY, "model.optimizer.lr=1e30,1e-3", tmp_path=tmp_path,
                   check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    results = {p.parent.name: json.loads(p.read_text())
               for p in (tmp_path / "outputs" / "multirun").rglob("result.json")}
    assert sorted(results) == ["0", "1"]
    assert results["0"]["status"] == "FAILED" and results["0"]["error"].startswith("NonFiniteLossError: Training stopped")
    assert results["1"]["status"] == "COMPLETED" and "val/frame_f1" in results["1"]["metrics"]
    assert "wavespace: error: Training stopped: the loss became nan" in proc.stderr  # job 0's paragraph
    table = proc.stdout[proc.stdout.index("1 of 2 job(s) completed"):].splitlines()
    row = {line.split()[0]: line.split() for line in table[2:4]}
    assert row["0"][1:3] == ["FAILED", "-"] and "model.optimizer.lr=1e+30" in row["0"]
    assert "NonFiniteLossError:" in row["0"]
    assert row["1"][1] == "COMPLETED" and row["1"][2].startswith("val/frame_f1=") and row["1"][-1] == results["1"]["run_dir"]
    assert "1 of 2 sweep job(s) failed (job 0)" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("lr", "what"), [
    # A finite but huge loss (~1e33) takes a step that turns the weights into NaN at step 2:
    # caught after that step, before any checkpoint callback saves it.
    ("1e12", "the optimizer step made"),
    # Step 1 leaves the weights finite, but the next forward pass overflows: the loss is NaN and
    # the BatchNorm running statistics, updated in that pass, are inf/NaN. Not saved either.
    ("1e30", "the loss became nan"),
])
def test_no_checkpoint_of_a_diverging_run_holds_a_non_finite_tensor(lr, what, tmp_path):
    proc = run_cli("wavespace.train", *TINY, "trainer.max_epochs=10", f"model.optimizer.lr={lr}",
                   "callbacks.periodic_checkpoint.every_n_train_steps=1", tmp_path=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"wavespace: error: Training stopped: {what}" in proc.stderr
    [run] = _runs(tmp_path)
    written = sorted((run / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in written] == ["last.ckpt"]  # step 1's; no best: validation never ran
    for path in written:
        assert _nonfinite(path) == [], path
    # The message says truthfully which checkpoint is usable, and from which step.
    assert f"Usable checkpoints (every tensor finite): {written[0]} (epoch 0, global step 1)." in proc.stderr
    if lr == "1e30":
        assert "Nothing was saved at this step (non-finite: net.body.0.1.running_mean" in proc.stderr


def test_the_checkpoint_writer_refuses_non_finite_optimizer_state(tmp_path):
    """Whatever callback asks: finite weights with an inf Adam moment are not written either."""
    from wavespace.callbacks import FiniteCheckpointIO, NonFiniteCheckpointError

    io = FiniteCheckpointIO()
    good = {"epoch": 0, "global_step": 3, "state_dict": {"w": torch.ones(2)},
            "optimizer_states": [{"state": {0: {"exp_avg_sq": torch.ones(2)}}}]}
    io.save_checkpoint(good, tmp_path / "ok.ckpt")
    bad = {**good, "global_step": 4, "optimizer_states": [{"state": {0: {"exp_avg_sq": torch.tensor([1.0, float("inf")])}}}]}
    with pytest.raises(NonFiniteCheckpointError) as err:
        io.save_checkpoint(bad, tmp_path / "last.ckpt")
    assert not (tmp_path / "last.ckpt").exists()
    message = str(err.value)
    assert "optimizer_states[0].state.0.exp_avg_sq" in message and "global step 4" in message
    assert f"{tmp_path / 'ok.ckpt'} (epoch 0, global step 3)" in message


def test_last_checkpoint_holds_the_final_step_with_the_default_callbacks(tmp_path):
    """Default callbacks (a step-100 refresh that never fires here) and lr=0, so that no epoch
    after the first sets a new best (Lightning's save_last then never refreshed last.ckpt):
    last.ckpt is at the final step, and rerunning the finished command trains nothing more."""
    args = [*TINY, "trainer.max_epochs=3", "model.optimizer.lr=0", "test=false"]
    run_cli("wavespace.train", *args, tmp_path=tmp_path)
    [run] = _runs(tmp_path)
    last = run / "checkpoints" / "last.ckpt"
    state = torch.load(last, map_location="cpu", weights_only=True)
    assert state["global_step"] == 6 == json.loads((run / "metrics.json").read_text())["global_step"]
    before = last.stat().st_mtime_ns
    again = run_cli("wavespace.train", *args, tmp_path=tmp_path)
    assert "last.ckpt (epoch 2, global step 6)" in again.stdout + again.stderr
    assert json.loads((run / "metrics.json").read_text())["global_step"] == 6
    assert last.stat().st_mtime_ns == before  # nothing retrained, nothing rewritten


@pytest.mark.parametrize(("model", "task_state"), [
    ([], "decode_thresholds"),  # the default model: dropout, BatchNorm, thresholds tuned on val
    # the harmonic-salience study: its dual variable and fitted target range are buffers
    (["model=harmonic", "model.net.unet.depth=2", "model.net.unet.channels=4", "model.threshold=-0.9",
      "model.dual_lr=0.5"], "lam"),
])
def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_and_metrics(model, task_state, tmp_path):
    """kill -9 while epoch 1 is half done; the rerun resumes from the step-6 checkpoint (taking
    step 7 again) and must end exactly where an uninterrupted run ends: every weight and buffer
    (BatchNorm statistics, task state), every val/test/train metric. A worker process loads the
    data, so worker seeding is covered too."""
    args = [*TINY, *model, "trainer.max_epochs=2", "trainer.limit_train_batches=5", "trainer.deterministic=true",
            "data.num_workers=1", "callbacks.periodic_checkpoint.every_n_train_steps=2", "callbacks.figures=null"]
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    for d in (whole, parts):
        d.mkdir()
    run_cli("wavespace.train", *args, tmp_path=whole)
    env = child_env(parts, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    import subprocess

    killed = subprocess.run([sys.executable, "-m", "tests.kill_at_step", "7", *args], cwd=parts, env=env,
                            capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-3000:]
    [run] = _runs(parts)
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 6
    resumed = run_cli("wavespace.train", *args, tmp_path=parts)
    assert "last.ckpt (epoch 1, global step 6)" in resumed.stdout + resumed.stderr

    [ref] = _runs(whole)
    expected = json.loads((ref / "metrics.json").read_text())
    got = json.loads((run / "metrics.json").read_text())
    assert got["global_step"] == expected["global_step"] == 10
    assert got["metrics"] == expected["metrics"]
    a = torch.load(ref / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and task_state in a
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


@pytest.mark.parametrize(("override", "message"), [
    ("trainer.max_epochs=-1", "trainer.max_epochs=-1 (train until stopped) with no trainer.max_steps"),
    ("data.batch_size=0", "data.batch_size=0: a batch must hold at least one example"),
])
def test_config_mistakes_are_one_paragraph_before_anything_is_written(override, message, tmp_path):
    proc = run_cli("wavespace.train", override, tmp_path=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert f"wavespace: error: {message}" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert _runs(tmp_path) == []


def test_train_forever_works_when_the_steps_are_bounded_or_the_rate_constant(tmp_path):
    run_cli("wavespace.train", *TINY, "trainer.max_epochs=-1", "trainer.max_steps=3", "test=false",
            tmp_path=tmp_path)
    [run] = _runs(tmp_path)
    assert json.loads((run / "metrics.json").read_text())["global_step"] == 3
