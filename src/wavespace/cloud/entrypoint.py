"""What a pod runs: decode the job, run it as a child process, report, terminate this pod.

``python -m wavespace.cloud.entrypoint`` is the image's ENTRYPOINT. Steps:

1. decode ``WAVESPACE_JOB`` (see ``payload``);
2. run the job as a child: ``python -m wavespace.train [--config-name=N] <overrides>
   logger.wandb.group=G tags=[..] hydra.run.dir=<results>/<sweep>/<num>`` (or
   ``wandb agent`` for W&B sweep workers), without the pod's Runpod key in its env;
3. kill the child at ``max_runtime_s`` (SIGTERM, then SIGKILL after a grace period);
4. write ``pod_status.json`` next to the job's ``result.json`` (the launcher's signal that
   the job is over);
5. terminate its own pod through the runpod SDK (``RUNPOD_POD_ID`` and the pod-scoped
   ``RUNPOD_API_KEY`` that Runpod sets in every pod): a pod whose main process just exits
   would be restarted and keep billing.

Exit status: 0 when the job completed, 1 when it failed, 2 for a bad payload.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from wavespace.cloud.payload import ENV_VAR, JobPayload
from wavespace.cloud.secrets import install_redaction
from wavespace.files import write_json

log = logging.getLogger("wavespace.cloud.entrypoint")

#: Seconds between SIGTERM and SIGKILL when stopping the child.
KILL_GRACE_S = 10.0
#: Variables the child must not inherit (the pod-scoped key can terminate this pod).
_CHILD_DROP = ("RUNPOD_API_KEY", ENV_VAR)


def build_command(payload: JobPayload) -> list[str]:
    """The child's argv for a payload."""
    if payload.kind == "train":
        cmd = [sys.executable, "-m", payload.module]
        if payload.config_name:
            cmd.append(f"--config-name={payload.config_name}")
        return cmd + payload.train_overrides()
    if payload.kind == "agent":
        if not payload.wandb_sweep:
            raise ValueError("agent payload without wandb_sweep")
        cmd = [sys.executable, "-m", "wandb", "agent"]
        if payload.agent_count:
            cmd += ["--count", str(payload.agent_count)]
        return [*cmd, payload.wandb_sweep]
    raise ValueError(f"unknown payload kind {payload.kind!r}")


def _stop(proc: subprocess.Popen[bytes], grace_s: float = KILL_GRACE_S) -> None:
    """SIGTERM the child (and its process group), then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue


class _Terminated(Exception):
    """This process got SIGTERM (the pod is being stopped or terminated)."""


def run_job(payload: JobPayload, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the child to completion or to its deadline; returns the pod status record."""
    cmd = build_command(payload)
    child_env = dict(os.environ if env is None else env)
    for name in _CHILD_DROP:
        child_env.pop(name, None)
    started = time.time()
    status: dict[str, Any] = {"job_id": payload.job_id, "pod_id": os.environ.get("RUNPOD_POD_ID"),
                              "started_at": started}
    log.info("job %s: running %s", payload.job_id, " ".join(cmd[1:]))
    # Own process group: the deadline kills DataLoader workers and agents' children too.
    proc = subprocess.Popen(cmd, env=child_env, start_new_session=True)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        proc.wait(timeout=payload.max_runtime_s)
        code = proc.returncode
        status.update(status="COMPLETED" if code == 0 else "FAILED", returncode=code,
                      reason=None if code == 0 else f"exit code {code}")
    except subprocess.TimeoutExpired:
        log.error("job %s: past max_runtime_s=%s, stopping it", payload.job_id,
                  payload.max_runtime_s)
        _stop(proc)
        status.update(status="FAILED", returncode=proc.returncode,
                      reason=f"max runtime {payload.max_runtime_s}s exceeded")
    except (_Terminated, KeyboardInterrupt):
        _stop(proc, grace_s=5.0)
        status.update(status="FAILED", returncode=proc.returncode, reason="pod stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
    status["ended_at"] = time.time()
    status["elapsed_s"] = round(status["ended_at"] - started, 2)
    return status


def write_status(payload: JobPayload, status: dict[str, Any]) -> None:
    """Write ``pod_status.json`` atomically into the job dir (the launcher polls for it)."""
    job_dir = payload.job_dir()
    if job_dir is None:
        return
    write_json(Path(job_dir) / "pod_status.json", status)


def terminate_self(attempts: int = 3) -> bool:
    """Terminate this pod through the API (no-op outside Runpod); True when done."""
    pod_id, key = os.environ.get("RUNPOD_POD_ID"), os.environ.get("RUNPOD_API_KEY")
    if not pod_id or not key:
        log.warning("RUNPOD_POD_ID/RUNPOD_API_KEY not set: not on a pod, nothing to terminate")
        return False
    from wavespace.cloud.client import CloudError, RunpodClient

    client = RunpodClient(api_key=key, retries=attempts, backoff_s=2.0)
    # SIGTERM will come from the platform as a consequence: exit quietly then.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    log.info("terminating pod %s", pod_id)
    try:
        client.terminate(pod_id)
    except CloudError as e:
        log.error("could not terminate pod %s: %s (the launcher will)", pod_id, e)
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="[%(asctime)s][entrypoint][%(levelname)s] %(message)s")
    install_redaction(log)
    encoded = os.environ.get(ENV_VAR)
    payload: JobPayload | None = None
    try:
        if not encoded:
            raise ValueError(f"{ENV_VAR} is not set")
        payload = JobPayload.decode(encoded)
        build_command(payload)
    except Exception as e:
        log.error("bad job payload: %s", e)
        terminate_self()
        return 2
    code = 1
    try:
        status = run_job(payload)
        write_status(payload, status)
        log.info("job %s %s (%s)", payload.job_id, status["status"], status.get("reason") or "ok")
        code = 0 if status["status"] == "COMPLETED" else 1
    except Exception as e:  # report, then still terminate the pod below
        log.exception("entrypoint error")
        write_status(payload, {"job_id": payload.job_id, "status": "FAILED",
                               "reason": f"entrypoint error: {type(e).__name__}: {e}"})
    finally:
        sys.stdout.flush()
        terminate_self()
    return code


if __name__ == "__main__":
    sys.exit(main())
