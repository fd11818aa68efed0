"""The task base: the metric a task declares drives checkpoints and sweeps; provenance; figures."""

from __future__ import annotations

import json
import subprocess

import torch

from tests.conftest import REPO, run_cli


def test_checkpoint_metric_is_the_tasks_unless_the_user_names_one(compose_cfg):
    from wavespace.train import resolve_metric

    assert resolve_metric(compose_cfg()) == ("val/frame_f1", "max")  # SupervisedSalience declares it
    # A task that declares val/loss (the base's default, e.g. an autoencoder) is judged by it.
    assert resolve_metric(compose_cfg("model._target_=wavespace.tasks.Task")) == ("val/loss", "min")
    assert resolve_metric(compose_cfg("optimized_metric=val/note_f1")) == ("val/note_f1", "max")
    assert resolve_metric(compose_cfg("optimized_metric=val/loss")) == ("val/loss", "min")
    assert resolve_metric(compose_cfg("optimized_metric=val/loss", "optimized_mode=max")) == ("val/loss", "max")


def test_summary_table_lists_what_the_task_logged():
    from wavespace.train import format_summary

    summary = {"metrics": {"val/loss": 0.5, "val/recon_l1": 0.25, "test/loss": 0.625, "train/loss_step": 9.0},
               "run_dir": "/r", "best_checkpoint": "", "last_checkpoint": ""}
    table = format_summary(summary, "val/loss")
    assert "val/recon_l1   0.2500" in table and "test/loss      0.6250" in table
    assert "val/loss       0.5000  <- sweep metric" in table and "train/loss_step" not in table


def test_code_version_names_this_checkout():
    from wavespace.provenance import code_version, version_change

    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    if not head:  # a source tree without git (an sdist): the package version stands in
        assert code_version().startswith("wavespace==")
        return
    assert code_version().split("+")[0] == f"git:{head}"
    assert version_change({"code_version": code_version()}) is None
    assert "git:0000" in version_change({"code_version": "git:0000"})


def test_run_records_provenance_writes_figures_and_warns_on_resume_with_other_code(tmp_path):
    import yaml

    from wavespace.provenance import code_version

    run_cli("wavespace.train", "debug=tiny", "test=false", tmp_path=tmp_path)
    [run] = sorted((tmp_path / "outputs" / "runs").glob("*"))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["provenance"]["code_version"] == code_version()
    assert set(saved["provenance"]["libraries"]) == {"torch", "lightning", "hydra-core", "nnAudio"}
    assert saved["provenance"]["libraries"]["torch"].startswith(torch.__version__.split("+")[0])
    last = run / "checkpoints" / "last.ckpt"
    ckpt = torch.load(last, map_location="cpu", weights_only=True)
    assert ckpt["wavespace"]["provenance"]["code_version"] == code_version()
    # The task drew its own panel and the callback wrote the input audio beside it.
    assert sorted(p.name for p in (run / "figures").iterdir()) == [
        "epoch000_example0.png", "epoch000_example0_input.wav", "epoch000_example1.png", "epoch000_example1_input.wav"]

    ckpt["wavespace"]["provenance"]["code_version"] = "git:0123456789abcdef"
    torch.save(ckpt, last)
    proc = run_cli("wavespace.train", "debug=tiny", "test=false", tmp_path=tmp_path)  # same run: resumes
    assert f"code version git:0123456789abcdef with code version {code_version()}" in proc.stdout + proc.stderr
    assert json.loads((run / "metrics.json").read_text())["global_step"] == 2
