"""Hyperparameter search: the Optuna preset (direction from the task, a real 2-trial search at
debug size) and Lightning's learning-rate finder (tuner.lr_find)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import run_cli


@pytest.mark.parametrize(("overrides", "direction"), [
    ([], "maximize"),                                       # SupervisedSalience: val/frame_f1, max
    (["model=unet", "features=mel"], "minimize"),           # Autoencode: val/loss, min
    (["optimized_metric=val/loss"], "minimize"),            # another metric, its own mode
    (["model=unet", "optimized_mode=max"], "maximize"),     # an explicit mode wins
])
def test_optuna_direction_follows_the_metric_the_run_returns(compose_cfg, overrides, direction):
    import wavespace.train  # noqa: F401  (registers the ws.sweep_direction resolver)

    cfg = compose_cfg("hparams_search=optuna", *overrides)
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.direction == direction
    assert sweeper.storage is None  # in memory: optuna 2.10's database storage needs SQLAlchemy < 2
    assert set(sweeper.params) == {"model.optimizer.lr", "data.batch_size"}


def test_search_preset_without_multirun_says_to_add_m(compose_cfg):
    from wavespace.errors import ConfigError
    from wavespace.train import check_config

    with pytest.raises(ConfigError, match=r"add -m \(python -m wavespace.train -m hparams_search=optuna"):
        check_config(compose_cfg("hparams_search=optuna"))


def test_optuna_search_runs_trials_and_records_the_best(tmp_path):
    """Two trials at debug size; the batch-size range is replaced from the command line."""
    proc = run_cli("wavespace.train", "-m", "hparams_search=optuna", "debug=tiny",
                   "hydra.sweeper.n_trials=2", "data.batch_size=choice(2,4)", tmp_path=tmp_path)
    out = proc.stdout + proc.stderr
    assert "Directions: ['maximize']" in out
    [sweep_dir] = (tmp_path / "outputs" / "multirun").glob("*/*")
    results = [json.loads((sweep_dir / str(i) / "result.json").read_text()) for i in range(2)]
    assert all(r["status"] == "COMPLETED" for r in results)
    f1 = [r["metrics"]["val/frame_f1"] for r in results]
    best = yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())
    assert best["name"] == "optuna" and best["best_value"] == pytest.approx(max(f1))
    winner = results[f1.index(max(f1))]
    assert best["best_params"]["data.batch_size"] in (2, 4)
    assert f"data.batch_size={best['best_params']['data.batch_size']}" in winner["overrides"]
    assert 1e-4 <= best["best_params"]["model.optimizer.lr"] <= 3e-2
    assert re.search(r"2 of 2 job\(s\) completed", proc.stdout)


def test_lr_finder_trains_with_its_suggestion_and_keeps_the_plot(compose_cfg):
    from wavespace.train import train

    cfg = compose_cfg("debug=tiny", "logger=csv", "tuner.lr_find=true", "tuner.num_training=20",
                      "tuner.early_stop_threshold=null", "trainer.limit_train_batches=20",
                      "trainer.max_steps=2")  # 20 batches for the finder, 2 steps of training
    _, objects = train(cfg)
    run_dir = objects["run"].run_dir
    record = json.loads((run_dir / "lr_find.json").read_text())
    lr = record["suggestion"]
    assert isinstance(lr, float) and 1e-6 <= lr <= 1.0 and record["points"] == 20
    assert record["configured_lr"] == cfg.model.optimizer.lr and record["lr"] == lr
    plot = run_dir / "figures" / "lr_find.png"
    assert plot.is_file() and record["plot"] == str(plot)
    assert json.loads((run_dir / "metrics.json").read_text())["lr_find"]["lr"] == lr
    # The fit that followed trained with the suggestion (its scheduler's base learning rate).
    assert objects["trainer"].optimizers[0].param_groups[0]["initial_lr"] == pytest.approx(lr)
    assert not list(run_dir.glob(".lr_find_*.ckpt")), "the finder's temporary checkpoint is removed"

    # Rerunning resumes the run: the recorded learning rate is reused, the test is not redone.
    stamp = plot.stat().st_mtime_ns
    _, again = train(cfg)
    assert again["summary"]["lr_find"] == {**record, "resumed": True}
    assert plot.stat().st_mtime_ns == stamp
