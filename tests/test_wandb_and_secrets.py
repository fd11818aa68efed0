"""The real wandb client, offline: the run id is the config hash, and no secret from the
environment reaches any file the run writes or anything it prints."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import child_env, run_cli

SECRET = "wsk-test-7f3a9c1e5b2d4f60a8e1"
#: A fake 40-character W&B key, as `wandb login` stores it in ~/.netrc (never sent anywhere).
NETRC_KEY = "5e1f" * 10


def write_netrc(home: Path, key: str = NETRC_KEY, machine: str = "api.wandb.ai") -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / ".netrc"
    path.write_text(f"machine {machine}\n  login user\n  password {key}\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def wandb_home(monkeypatch, tmp_path) -> Path:
    """An empty HOME and no W&B variables; wandb's settings singleton rebuilt around the test."""
    import wandb

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("NETRC", "WANDB_API_KEY", "WANDB_MODE", "WANDB_IDENTITY_TOKEN_FILE", "WANDB_BASE_URL",
                 "WANDB_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    wandb.teardown()
    yield home
    wandb.teardown()


def test_offline_wandb_run_uses_the_run_hash_and_leaks_no_secret(tmp_path):
    netrc = write_netrc(tmp_path / "home")  # a `wandb login` too: its key must not leak either
    env = child_env(tmp_path, WANDB_MODE="offline", WANDB_API_KEY=SECRET, RUNPOD_API_KEY=SECRET + "rp",
                    HOME=str(tmp_path / "home"))
    proc = run_cli("wavespace.train", "debug=tiny", tmp_path=tmp_path, env=env, timeout=300)
    [run] = list((tmp_path / "outputs" / "runs").glob("*"))
    run_id = run.name.rsplit("-", 1)[1]
    offline = list((run / "wandb").glob(f"offline-run-*-{run_id}"))
    assert offline, list((run / "wandb").glob("*"))
    assert list(offline[0].glob("*.wandb"))
    for secret in (SECRET, NETRC_KEY):
        assert secret not in proc.stdout and secret not in proc.stderr
        for path in Path(tmp_path).rglob("*"):
            if path.is_file() and path != netrc:
                assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"


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
def test_wandb_mode_precedence(monkeypatch, wandb_home, env_mode, api_key, requested, expected):
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


def test_wandb_login_credentials_count_as_online(wandb_home, caplog):
    """`wandb login` (a key in ~/.netrc, no WANDB_API_KEY) means online, found by wandb's own
    reader; nothing W&B is contacted and the key is never logged."""
    from wavespace.loggers import wandb_logged_in, wandb_mode

    assert not wandb_logged_in() and wandb_mode() == "offline"
    write_netrc(wandb_home)
    with caplog.at_level("DEBUG"):
        assert wandb_logged_in() and wandb_mode() == "online"
        assert wandb_mode("offline") == "offline"  # an explicit mode still wins
    assert NETRC_KEY not in caplog.text


def test_netrc_for_another_host_or_unreadable_means_offline(wandb_home, caplog):
    from wavespace.loggers import wandb_mode

    write_netrc(wandb_home, machine="example.org")  # credentials, but not for W&B
    assert wandb_mode() == "offline"
    write_netrc(wandb_home, key="not-a-key")  # wandb refuses the key: offline, the run goes on
    assert wandb_mode() == "offline"
    assert "could not read W&B credentials" in caplog.text and "not-a-key" not in caplog.text
