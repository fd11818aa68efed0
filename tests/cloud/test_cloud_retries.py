"""``hydra.launcher.retries``: a job whose pod dies without a result runs again on a new pod and
resumes from its last checkpoint; when the retries run out, the job fails saying so.

Against the fake Runpod API: every pod runs the real entrypoint and the real tiny training,
with run directories on the shared "volume", as on Runpod with a network volume.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.cloud.conftest import assert_no_secrets, run_multirun


def _record(tmp_path: Path, num: int = 0) -> dict:
    return json.loads((tmp_path / "multirun" / str(num) / "pod.json").read_text())


def test_a_pod_that_dies_mid_run_is_replaced_and_the_run_resumes(fake, tmp_path, secret_values):
    """The first pod dies (SIGKILL, pod left EXITED) once the run's last.ckpt exists; the
    second pod resumes that run from it and the job completes with its metric."""
    runs = tmp_path / "volume" / "outputs" / "runs"
    fake.crash_when = {0: str(runs / "*" / "checkpoints" / "last.ckpt")}
    fake.crash_pods = {0: 1}
    proc = run_multirun(fake, tmp_path, secret_values, "seed=1", "trainer.max_epochs=2",
                        "hydra.launcher.retries=2", timeout=240)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]

    first, second = fake.pods.values()
    assert first.crashed and not second.crashed
    assert "owner" in first.terminated_by, "the dead pod must not be left billing"
    record = _record(tmp_path)
    assert record["state"] == "COMPLETED" and record["pod_id"] == second.id
    assert record["previous_pods"] == [first.id]
    assert any("retry 1/2 on a new pod" in e for e in record["events"])
    assert "retry 1/2 on a new pod" in out

    # Same job, same run: the second pod resumed the first pod's run and finished it.
    [run_dir] = runs.iterdir()
    assert "Resuming from" in second.log_path.read_text()
    assert "Resuming from" not in first.log_path.read_text()
    result = json.loads((tmp_path / "multirun" / "0" / "result.json").read_text())
    assert result["status"] == "COMPLETED" and result["run_dir"] == str(run_dir)
    assert result["epochs_completed"] == 2 and "val/frame_f1" in result["metrics"]
    assert "1 of 1 job(s) completed" in proc.stdout
    assert fake.wait_all_gone() == []
    assert_no_secrets(tmp_path, [out], secret_values.all())


def test_when_retries_run_out_the_job_fails_with_the_reason(fake, tmp_path, secret_values):
    """Every pod of job 0 dies at once: 1 + retries pods, then FAILED with a clear message."""
    fake.crash_after = {0: 0.5}
    proc = run_multirun(fake, tmp_path, secret_values, "seed=1", "hydra.launcher.retries=1")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a failed job must fail the multirun"
    assert len(fake.pods) == 2, out[-3000:] and all(p.crashed for p in fake.pods.values())
    record = _record(tmp_path)
    reason = "without a result; 2 pods died, retries=1 exhausted"
    assert record["state"] == "FAILED" and reason in record["reason"]
    result = json.loads((tmp_path / "multirun" / "0" / "result.json").read_text())
    assert result["status"] == "FAILED" and reason in result["error"]
    assert "1 of 1 sweep job(s) failed (job 0)" in proc.stderr
    assert all("owner" in p.terminated_by for p in fake.pods.values())
    assert fake.wait_all_gone() == []
