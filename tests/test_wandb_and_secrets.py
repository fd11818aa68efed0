"""The real wandb client, offline: the run id is the config hash, and no secret from the
environment reaches any file the run writes or anything it prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import child_env, run_cli

SECRET = "wsk-test-7f3a9c1e5b2d4f60a8e1"


def test_offline_wandb_run_uses_the_run_hash_and_leaks_no_secret(tmp_path):
    env = child_env(tmp_path, WANDB_MODE="offline", WANDB_API_KEY=SECRET, RUNPOD_API_KEY=SECRET + "rp")
    proc = run_cli("wavespace.train", "debug=tiny", tmp_path=tmp_path, env=env, timeout=300)
    [run] = list((tmp_path / "outputs" / "runs").glob("*"))
    run_id = run.name.rsplit("-", 1)[1]
    offline = list((run / "wandb").glob(f"offline-run-*-{run_id}"))
    assert offline, list((run / "wandb").glob("*"))
    assert list(offline[0].glob("*.wandb"))
    assert SECRET not in proc.stdout and SECRET not in proc.stderr
    for path in Path(tmp_path).rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"secret leaked into {path}"


@pytest.mark.parametrize("env_mode,api_key,requested,expected", [
    (None, None, None, "offline"),            # no key: offline, never a login prompt
    (None, SECRET, None, "online"),           # a key: online
    ("offline", SECRET, None, "offline"),     # WANDB_MODE wins over the key
    ("online", None, None, "online"),         # ... and over its absence
    ("disabled", SECRET, "online", "disabled"),  # ... and over the config's mode
    ("dryrun", SECRET, None, "offline"),      # wandb's legacy names, normalised
    ("run", None, None, "online"),
    (None, SECRET, "offline", "offline"),     # without WANDB_MODE the config's mode beats the key
])
def test_wandb_mode_precedence(monkeypatch, env_mode, api_key, requested, expected):
    from wavespace.loggers import wandb_mode

    for name, value in (("WANDB_MODE", env_mode), ("WANDB_API_KEY", api_key)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert wandb_mode(requested) == expected


def test_the_logger_is_built_in_the_mode_the_environment_names(monkeypatch, tmp_path):
    from wavespace.loggers import wandb_logger

    monkeypatch.setenv("WANDB_API_KEY", SECRET)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert wandb_logger("p", "n", "abc123", str(tmp_path)) is None  # nothing W&B is started
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = wandb_logger("p", "n", "abc123", str(tmp_path / "w"), mode="online")
    assert logger._wandb_init["mode"] == "offline" and logger._wandb_init["id"] == "abc123"
    assert os.environ["WANDB_MODE"] == "offline"  # not rewritten to dryrun for later jobs
