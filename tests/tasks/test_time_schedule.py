"""``model.scheduler.span=time``: the learning-rate schedule spans ``trainer.max_time``.

A run with a time budget ends its schedule on any machine (issue 14), at its floor when the
Timer stops the run, and a run killed and resumed continues from the elapsed time saved in the
checkpoint. The clock is injected only in the unit test; the runs use Lightning's own Timer.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import lightning.pytorch as pl
import pytest
import torch

from tests.conftest import REPO, child_env
from tests.kill_at_step import RecordLR
from wavespace.errors import ConfigError
from wavespace.tasks.schedules import TimeBudget, warmup_cosine
from wavespace.train import train

FLOOR = 0.05


def cosine(progress: float, floor: float = FLOOR) -> float:
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def _optimizer() -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)


def test_time_span_follows_the_cosine_over_the_share_of_max_time_spent():
    now = [0.0]
    opt = _optimizer()
    sched = warmup_cosine(opt, total_steps=None, warmup_steps=2, span="time",
                          time_budget=TimeBudget(100.0, lambda: now[0]))
    lr = lambda: opt.param_groups[0]["lr"]  # noqa: E731
    assert lr() == pytest.approx(0.5)  # warmup counts steps: (0 + 1) / 2
    for t, expected in [(1.0, cosine(0.01)), (25.0, cosine(0.25)), (50.0, cosine(0.5)),
                        (99.0, cosine(0.99)), (100.0, FLOOR), (130.0, FLOOR)]:
        now[0] = t
        opt.step()
        sched.step()
        assert lr() == pytest.approx(expected, rel=1e-12), t
    # no time passes: the rate stays put however many steps are taken
    now[0] = 50.0
    flat = warmup_cosine(_optimizer(), total_steps=None, warmup_steps=0, span="time",
                         time_budget=TimeBudget(100.0, lambda: now[0]))
    for _ in range(5):
        flat.optimizer.step()
        flat.step()
    assert flat.get_last_lr()[0] == pytest.approx(cosine(0.5))


def test_a_step_bound_that_comes_first_still_ends_the_schedule():
    """max_epochs reached before max_time (a fast machine): the rate is at its floor at the last
    step, as with span=steps; whichever bound is nearer its end sets the progress."""
    now = [10.0]  # 10 % of the budget spent
    opt = _optimizer()
    sched = warmup_cosine(opt, total_steps=20, warmup_steps=0, span="time",
                          time_budget=TimeBudget(100.0, lambda: now[0]))
    for _ in range(10):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(cosine(0.5))  # steps lead: 10 of 20
    now[0] = 80.0
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(cosine(0.8))  # time leads
    for _ in range(9):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(FLOOR)


def test_time_span_without_a_time_budget_is_a_config_error(compose_cfg):
    from wavespace.train import check_config

    with pytest.raises(ConfigError, match="trainer.max_time"):
        check_config(compose_cfg("debug=tiny", "+model.scheduler.span=time"))
    with pytest.raises(ConfigError, match="choose 'steps'"):
        check_config(compose_cfg("debug=tiny", "+model.scheduler.span=epochs"))
    # a time budget bounds a run that max_epochs=-1 leaves open
    check_config(compose_cfg("debug=tiny", "+model.scheduler.span=time", "trainer.max_epochs=-1",
                             "+trainer.max_time=00:00:10:00"))


def _timer_state(ckpt: dict) -> float:
    [state] = [v for k, v in ckpt["callbacks"].items() if k.startswith("Timer")]
    return float(state["time_elapsed"]["train"])


def _lr(ckpt: dict) -> float:
    return float(ckpt["optimizer_states"][0]["param_groups"][0]["lr"])


def test_a_run_killed_and_resumed_ends_at_max_time_with_the_rate_at_its_floor(tmp_path, compose_cfg, monkeypatch):
    """kill -9 at step 3; the rerun resumes from the step-2 checkpoint with the Timer's elapsed
    time, takes the rate saved there, then follows the cosine of the restored clock (each rate
    lies between the cosine at the Timer readings before and after the scheduler set it) until
    the Timer stops the run at max_time, where the rate is at its floor."""
    budget = 6.0
    args = ["debug=tiny", "trainer.max_epochs=-1", "+trainer.max_time=00:00:00:06",
            "+model.scheduler.span=time", "model.scheduler.warmup_steps=0", "trainer.limit_train_batches=5",
            "callbacks.periodic_checkpoint.every_n_train_steps=2", "callbacks.figures=null", "test=false"]
    path = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    killed = subprocess.run([sys.executable, "-m", "tests.kill_at_step", "3", *args], cwd=tmp_path,
                            env=child_env(tmp_path, PYTHONPATH=path), capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-3000:]
    [run] = sorted((tmp_path / "outputs" / "runs").glob("*"))
    last = run / "checkpoints" / "last.ckpt"
    saved = torch.load(last, weights_only=True)
    assert saved["global_step"] == 2 and 0 < _timer_state(saved) < budget

    log = tmp_path / "lr.jsonl"
    init = pl.Trainer.__init__

    def with_recorder(self: pl.Trainer, *a: object, callbacks: list | None = None, **kw: object) -> None:
        init(self, *a, callbacks=[*(callbacks or []), RecordLR(str(log))], **kw)

    monkeypatch.setattr(pl.Trainer, "__init__", with_recorder)  # adds a probe; changes nothing
    train(compose_cfg(*args))  # resumes: same config, same run
    assert sorted((tmp_path / "outputs" / "runs").glob("*")) == [run]
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    base = float(saved["optimizer_states"][0]["param_groups"][0]["initial_lr"])
    assert rows[0]["step"] == 2 and rows[0]["lr"] == _lr(saved)  # the checkpoint's rate, exactly
    assert rows[0]["elapsed"] >= _timer_state(saved)  # the Timer restarted from the saved time
    for a, b in zip(rows, rows[1:]):
        f = lambda e: base * cosine(e / budget)  # noqa: E731
        assert f(b["elapsed"]) * (1 - 1e-9) <= b["lr"] <= f(a["elapsed"]) * (1 + 1e-9), (a, b)
    end = torch.load(last, weights_only=True)
    assert end["global_step"] > 2 and _timer_state(end) >= budget
    assert _lr(end) == pytest.approx(base * FLOOR, rel=1e-9)
