"""The real wandb client, offline: the run id is the config hash, and no secret from the
environment reaches any file the run writes or anything it prints."""

from __future__ import annotations

from pathlib import Path

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
