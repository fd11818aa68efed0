"""Payload, client, secrets, entrypoint and CLI, each against the fake API where it talks to one."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.cloud.conftest import GPU_TYPES, assert_no_secrets
from wavespace.cloud.client import CapacityError, CloudError, PodSpec, RunpodClient, validate_env
from wavespace.cloud.payload import ENV_VAR, JobPayload
from wavespace.cloud.results import WandbResults
from wavespace.cloud.secrets import MASK, is_secret_name, redact, secret_values


def test_payload_survives_quotes_and_is_graphql_safe():
    payload = JobPayload(sweep_id="s-1", job_num=3, overrides=['tags=["a b",c]', "x='y\"z'"],
                         wandb_group="s-1", tags=["it's", "plain"], results_dir="/workspace/r")
    encoded = payload.encode()
    assert re.fullmatch(r"[A-Za-z0-9_=-]+", encoded)
    assert JobPayload.decode(encoded) == payload
    args = payload.train_overrides()
    assert args[:2] == payload.overrides
    assert "logger.wandb.group=s-1" in args
    assert "tags=['it\\'s',plain]" in args
    assert args[-1] == "hydra.run.dir=/workspace/r/s-1/3"


def test_validate_env_refuses_what_the_sdk_cannot_escape():
    validate_env({"WANDB_API_KEY": "abc123", ENV_VAR: JobPayload("s", 0).encode()})
    with pytest.raises(CloudError, match="BAD") as err:
        validate_env({"BAD": 'hunter"2xyz'})
    assert "hunter" not in str(err.value)


def test_redaction(monkeypatch):
    monkeypatch.setenv("RUNPOD_API_KEY", "rpa_supersecretvalue")
    monkeypatch.setenv("MY_TOKEN", "tok-1234567890")
    monkeypatch.setenv("SHORT_KEY", "abc")
    assert is_secret_name("HF_TOKEN") and not is_secret_name("WANDB_MODE")
    assert "abc" not in secret_values()
    text = "mutation { env: [{ key: \"K\", value: \"rpa_supersecretvalue\" }] } tok-1234567890"
    assert redact(text) == f"mutation {{ env: [{{ key: \"K\", value: \"{MASK}\" }}] }} {MASK}"


def test_client_needs_the_env_key(monkeypatch):
    monkeypatch.delenv("RUNPOD_API_KEY", raising=False)
    with pytest.raises(CloudError, match="RUNPOD_API_KEY"):
        RunpodClient()


def test_client_capacity_fallback_and_retries(fake, monkeypatch, secret_values):
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    client = RunpodClient(api_key=secret_values.runpod, retries=2, backoff_s=0.01)
    fake.no_capacity = set(GPU_TYPES)
    spec = PodSpec(image="img", gpu_types=[*GPU_TYPES, "NO SUCH GPU"])
    with pytest.raises(CapacityError) as err:
        client.create_pod("ws-x-0", spec, {ENV_VAR: JobPayload("x", 0).encode()})
    assert "unknown GPU type" in str(err.value) and secret_values.runpod not in str(err.value)
    assert not fake.pods
    fake.no_capacity = set()
    fake.http_500_creates = 2
    stall = JobPayload("x", 1)
    fake.stall = {1}
    pod = client.create_pod("ws-x-1", spec, {ENV_VAR: stall.encode()})
    assert pod.gpu_type == GPU_TYPES[0] and len(fake.pods) == 1
    assert client.get_pod(pod.id)["desiredStatus"] == "RUNNING"
    assert [p["id"] for p in client.list_pods("ws-x-")] == [pod.id]
    client.terminate(pod.id)
    client.terminate(pod.id)  # idempotent
    assert client.get_pod(pod.id) is None
    assert fake.wait_all_gone() == []


def test_bad_key_is_fatal_and_not_printed(fake, monkeypatch):
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    client = RunpodClient(api_key="rpa_wrong_key_123456", retries=0)
    with pytest.raises(CloudError, match="refused") as err:
        client.list_pods()
    assert "rpa_wrong_key_123456" not in str(err.value)


def test_entrypoint_reports_failure_and_terminates_its_own_pod(fake, tmp_path, monkeypatch,
                                                               secret_values):
    """A job whose training fails (bad override, real CLI): FAILED status, pod self-terminated."""
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    client = RunpodClient(api_key=secret_values.runpod)
    results = tmp_path / "volume" / "sweeps"
    payload = JobPayload("unit", 0, overrides=["debug=tiny", "no_such_key=1"],
                         results_dir=str(results), max_runtime_s=60)
    pod = client.create_pod("ws-unit-0", PodSpec(image="img", gpu_types=GPU_TYPES),
                            {ENV_VAR: payload.encode(), "WANDB_API_KEY": secret_values.wandb})
    deadline = time.monotonic() + 60
    while fake.pods[pod.id].terminated_at is None and time.monotonic() < deadline:
        time.sleep(0.2)
    fake_pod = fake.pods[pod.id]
    assert fake_pod.terminated_by == ["pod"], fake_pod.log_path.read_text()[-2000:]
    status = json.loads((results / "unit" / "0" / "pod_status.json").read_text())
    assert status["status"] == "FAILED" and status["returncode"] == 1
    assert status["pod_id"] == pod.id
    assert fake.wait_all_gone() == []
    assert_no_secrets(tmp_path, [], secret_values.all())


def test_entrypoint_rejects_a_missing_payload(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in (ENV_VAR, "RUNPOD_POD_ID")}
    proc = subprocess.run([sys.executable, "-m", "wavespace.cloud.entrypoint"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "bad job payload" in proc.stdout


def test_cli_lists_and_cleans_up_a_sweep(fake, tmp_path, monkeypatch, secret_values):
    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    client = RunpodClient(api_key=secret_values.runpod)
    fake.stall = {0, 1, 2}
    spec = PodSpec(image="img", gpu_types=GPU_TYPES)
    for name in ("ws-a-0", "ws-a-1", "ws-b-2"):
        client.create_pod(name, spec, {ENV_VAR: JobPayload("a", 0).encode()})
    env = {**os.environ, "RUNPOD_API_KEY": secret_values.runpod, "RUNPOD_API_BASE_URL": fake.url}
    cli = [sys.executable, "-m", "wavespace.cloud"]
    listed = subprocess.run([*cli, "pods", "--sweep", "a"], env=env, capture_output=True,
                            text=True, timeout=60)
    assert listed.returncode == 0 and "ws-a-0" in listed.stdout and "ws-b-2" not in listed.stdout
    cleaned = subprocess.run([*cli, "cleanup", "--sweep", "a", "--yes"], env=env,
                             capture_output=True, text=True, timeout=60)
    assert cleaned.returncode == 0 and cleaned.stdout.count("terminated ") == 2
    assert [p.name for p in fake.pods.values() if p.terminated_at is None] == ["ws-b-2"]
    subprocess.run([*cli, "cleanup", "--all", "--yes"], env=env, capture_output=True, timeout=60)
    assert fake.wait_all_gone() == []
    assert_no_secrets(tmp_path, [listed.stdout, listed.stderr, cleaned.stdout, cleaned.stderr],
                      secret_values.all())


def test_agents_start_pods_that_end_themselves(fake, tmp_path, monkeypatch, secret_values):
    """`agents` starts N pods running `wandb agent`; offline the agent cannot reach W&B, the
    pod's max runtime stops it, and each pod terminates itself."""
    env = {**os.environ, "RUNPOD_API_KEY": secret_values.runpod, "RUNPOD_API_BASE_URL": fake.url,
           "WANDB_MODE": "offline", "WANDB_API_KEY": secret_values.wandb}
    proc = subprocess.run([sys.executable, "-m", "wavespace.cloud", "agents", "me/proj/abc123",
                           "--count", "2", "--gpu-type", GPU_TYPES[1],
                           "--max-runtime-s", "3"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "started 2 agent pod(s)" in proc.stdout
    payloads = [JobPayload.decode(p.env[ENV_VAR]) for p in fake.pods.values()]
    assert {p.kind for p in payloads} == {"agent"} and payloads[0].wandb_sweep == "me/proj/abc123"
    assert all(p.env.get("WANDB_API_KEY") == secret_values.wandb for p in fake.pods.values())
    assert fake.wait_all_gone(timeout=30) == []
    assert all(p.terminated_by == ["pod"] for p in fake.pods.values())
    assert all("max runtime 3.0s exceeded" in p.log_path.read_text() for p in fake.pods.values())
    assert_no_secrets(tmp_path, [proc.stdout, proc.stderr], secret_values.all())


def test_wandb_results_maps_a_finished_run():
    run = SimpleNamespace(state="finished", id="abc", path=["e", "p", "abc"],
                          summary={"val/loss": 0.5, "val/frame_f1": 0.7}, config={"seed": 1})
    running = SimpleNamespace(state="running", id="def", path=[], summary={}, config={})
    calls = []

    class Api:
        def runs(self, path, filters):
            calls.append((path, filters))
            return [running, run]

    channel = WandbResults("e/p", "val/frame_f1", api=Api())
    payload = JobPayload("s", 2)
    res = channel.fetch(payload)
    assert calls == [("e/p", {"tags": "wsjob-s-2"})]
    assert res.status == "COMPLETED" and res.metric == pytest.approx(0.7)


def test_plugin_is_discovered_and_cheap_to_import():
    from hydra.core.config_store import ConfigStore
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    names = [p.__name__ for p in Plugins.instance().discover(Launcher)]
    assert "RunpodLauncher" in names
    assert "runpod.yaml" in ConfigStore.instance().list("hydra/launcher")
    code = ("import sys, hydra_plugins.wavespace_runpod_launcher.launcher, "
            "hydra_plugins.wavespace_runpod_launcher.config, wavespace.cloud; "
            "assert 'runpod' not in sys.modules and 'wandb' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_sweep_dir_is_not_a_secret_leak_path(tmp_path: Path):
    """The launcher config saved in multirun.yaml holds variable names, never values."""
    from omegaconf import OmegaConf

    from hydra_plugins.wavespace_runpod_launcher.config import RunpodLauncherConf

    text = OmegaConf.to_yaml(OmegaConf.structured(RunpodLauncherConf))
    assert "WANDB_API_KEY" in text
    for value in secret_values():
        assert value not in text


def test_cleanup_terminates_pods_it_has_no_id_for(fake, monkeypatch, secret_values):
    """A create interrupted mid-request can leave a pod the launcher never heard of: cleanup
    finds it by its sweep's name prefix."""
    from wavespace.cloud.orchestrator import Limits, Orchestrator

    monkeypatch.setenv("RUNPOD_API_BASE_URL", fake.url)
    client = RunpodClient(api_key=secret_values.runpod)
    fake.stall = {7, 8}
    spec = PodSpec(image="img", gpu_types=GPU_TYPES)
    client.create_pod("ws-s1-7", spec, {ENV_VAR: JobPayload("s1", 7).encode()})
    other = client.create_pod("ws-s2-8", spec, {ENV_VAR: JobPayload("s2", 8).encode()})
    orch = Orchestrator(client, spec, {}, None, Limits(), name_prefix="ws-s1-", echo=print)
    assert orch.cleanup("interrupted") == []
    assert [p.id for p in fake.pods.values() if p.terminated_at is None] == [other.id]
    client.terminate(other.id)
    assert fake.wait_all_gone() == []


def test_search_presets_stay_on_the_launching_side(compose_cfg):
    """An Optuna search through Runpod: pods get the trial's values, not ``hparams_search=...``
    (a pod runs one job; the preset configures the sweeper, which runs here)."""
    from omegaconf import OmegaConf

    from hydra_plugins.wavespace_runpod_launcher.config import RunpodLauncherConf
    from hydra_plugins.wavespace_runpod_launcher.launcher import RunpodLauncher

    launcher = RunpodLauncher(**OmegaConf.to_container(OmegaConf.structured(RunpodLauncherConf)))
    launcher.sweep_id = "s"
    overrides = ["model.optimizer.lr=0.01", "hparams_search=optuna", "hydra/launcher=runpod", "debug=tiny"]
    payload = launcher._payload(compose_cfg("hparams_search=optuna"), overrides, 0)
    assert payload.overrides == ["model.optimizer.lr=0.01", "debug=tiny"]
