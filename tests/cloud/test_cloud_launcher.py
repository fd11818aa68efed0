"""End to end: ``python -m wavespace.train -m hydra/launcher=runpod debug=tiny`` against the fake.

Every pod runs the real entrypoint, which runs the real tiny training. Each test ends by
checking that no pod outlived its job: every pod is terminated and none of its processes runs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.cloud.conftest import (
    GPU_TYPES,
    assert_no_secrets,
    launcher_env,
    multirun_cmd,
    run_multirun,
)


def _pod_record(tmp_path: Path, num: int) -> dict:
    return json.loads((tmp_path / "multirun" / str(num) / "pod.json").read_text())


def test_three_jobs_complete_through_faults(fake, tmp_path, secret_values):
    """3 jobs; the first create answers 500, the first GPU type has no capacity and one
    create succeeds server-side but answers 502: every job still runs exactly once."""
    fake.http_500_creates = 1
    fake.no_capacity = {GPU_TYPES[0]}
    fake.create_then_500 = 1
    proc = run_multirun(fake, tmp_path, secret_values, "model.optimizer.lr=1e-3,3e-3,1e-2")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]

    assert len(fake.pods) == 3, "a create that errored after creating must be adopted, not repeated"
    assert [o for _, o in fake.create_log].count("500") == 1
    assert all(p.gpu == GPU_TYPES[1] for p in fake.pods.values())
    for num, lr in enumerate(["0.001", "0.003", "0.01"]):  # as the basic sweeper writes them
        result = json.loads((tmp_path / "multirun" / str(num) / "result.json").read_text())
        assert result["status"] == "COMPLETED"
        assert f"model.optimizer.lr={lr}" in result["overrides"]
        assert "logger.wandb.group=test-sweep" in result["overrides"]
        assert "val/frame_f1" in result["metrics"]
        pod_status = json.loads(
            (tmp_path / "volume" / "sweeps" / "test-sweep" / str(num) / "pod_status.json").read_text())
        assert pod_status["status"] == "COMPLETED"
        record = _pod_record(tmp_path, num)
        assert record["state"] == "COMPLETED" and record["pod_terminated"]
        assert record["cost_per_hr"] == fake.gpus[GPU_TYPES[1]]
    assert "total cost so far" in out and "COMPLETED" in out
    assert fake.wait_all_gone() == []
    assert_no_secrets(tmp_path, [proc.stdout, proc.stderr], secret_values.all())


def test_crashed_pod_fails_its_job_only(fake, tmp_path, secret_values):
    """A container that dies (SIGKILL, pod left EXITED and billing) fails its job; the other
    job finishes; the launcher terminates the dead pod."""
    fake.crash_after = {1: 1.0}
    proc = run_multirun(fake, tmp_path, secret_values, "seed=1,2")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a failed job must fail the multirun"
    assert _pod_record(tmp_path, 0)["state"] == "COMPLETED"
    failed = _pod_record(tmp_path, 1)
    assert failed["state"] == "FAILED" and "without a result" in failed["reason"]
    # As with the basic launcher: result.json says why, and the sweep ends with a table.
    result = json.loads((tmp_path / "multirun" / "1" / "result.json").read_text())
    assert result["status"] == "FAILED" and "without a result" in result["error"]
    assert "1 of 2 job(s) completed" in proc.stdout and "1 of 2 sweep job(s) failed (job 1)" in proc.stderr
    crashed = next(p for p in fake.pods.values() if p.job_num == 1)
    assert crashed.crashed and "owner" in crashed.terminated_by
    assert fake.wait_all_gone() == []
    assert_no_secrets(tmp_path, [out], secret_values.all())


def test_max_runtime_and_launcher_deadline(fake, tmp_path, secret_values):
    """Job 0 runs past max_runtime_s: its entrypoint kills it and the pod goes. Job 1's
    container hangs: the launcher terminates it at startup_grace_s + max_runtime_s."""
    fake.stall = {1}
    proc = run_multirun(fake, tmp_path, secret_values, "seed=1,2",
                        "hydra.launcher.max_runtime_s=3", "hydra.launcher.startup_grace_s=2")
    assert proc.returncode != 0
    assert "max runtime 3.0s exceeded" in _pod_record(tmp_path, 0)["reason"]
    assert "past deadline" in _pod_record(tmp_path, 1)["reason"]
    pods = {p.job_num: p for p in fake.pods.values()}
    assert pods[0].terminated_at is not None and pods[0].terminated_by
    # The hung container sleeps for 600 s: only the launcher's deadline can have ended it.
    assert pods[1].terminated_by == ["owner"]
    assert fake.wait_all_gone() == []


def test_ctrl_c_terminates_every_pod(fake, tmp_path, secret_values):
    """SIGINT to the launcher mid-sweep: every pod it started is terminated before it exits."""
    cmd = multirun_cmd(tmp_path, "seed=1,2,3")
    # The launcher must get SIGINT as a terminal's Ctrl-C delivers it. A suite started in the
    # background (`make test &`) runs with SIGINT ignored, which children inherit, and Python
    # then installs no KeyboardInterrupt handler: so start the launcher with the default.
    previous = signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        proc = subprocess.Popen(cmd, env=launcher_env(fake, tmp_path, secret_values), cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        deadline = time.monotonic() + 60
        while len(fake.running()) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(fake.running()) == 3, "pods did not start"
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError("launcher still running 120 s after SIGINT:\n" + proc.communicate()[0][-3000:]) from None
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out[-3000:]
    # SIGINT may land while the third create-pod response is still being read: that pod has no
    # id yet in the launcher and is caught by the sweep-name stray cleanup instead. Either way
    # the launcher (owner) terminates all three.
    assert re.search(r"interrupted: terminating [1-3] pod\(s\)", out), out[-2000:]
    assert len(fake.pods) == 3
    assert all("owner" in p.terminated_by for p in fake.pods.values())
    assert fake.wait_all_gone() == []
    assert_no_secrets(tmp_path, [out], secret_values.all())


def test_fire_and_forget_returns_at_once_and_pods_end_themselves(fake, tmp_path, secret_values):
    """wait=false: the launcher returns while the job runs; the pod terminates itself."""
    proc = run_multirun(fake, tmp_path, secret_values, "seed=1", "hydra.launcher.wait=false")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    (pod,) = fake.pods.values()
    assert pod.terminated_at is None, "fire-and-forget must not wait for the job"
    assert pod.id in proc.stdout
    assert fake.wait_all_gone(timeout=90) == []
    assert pod.terminated_by == ["pod"]
    status = json.loads(
        (tmp_path / "volume" / "sweeps" / "test-sweep" / "0" / "pod_status.json").read_text())
    assert status["status"] == "COMPLETED"
    assert_no_secrets(tmp_path, [proc.stdout, proc.stderr], secret_values.all())


def test_without_a_key_the_launcher_says_so_in_one_line(tmp_path):
    """No RUNPOD_API_KEY: the line `python -m wavespace.cloud pods` prints, no traceback (even
    with HYDRA_FULL_ERROR=1, as the other tests launch)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RUNPOD_", "WANDB_"))}
    env.update(WANDB_MODE="disabled", WAVESPACE_ROOT=str(tmp_path / "local"), HYDRA_FULL_ERROR="1")
    proc = subprocess.run(multirun_cmd(tmp_path, "model.optimizer.lr=1e-3,3e-3"), env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == "wavespace: error: RUNPOD_API_KEY is not set: export it in the launching shell"
    assert "Traceback" not in proc.stdout
