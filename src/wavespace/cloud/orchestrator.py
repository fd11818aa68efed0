"""Run jobs as pods: bounded concurrency, polling, deadlines, a cost table, cleanup on any exit.

This module knows nothing of Hydra: it turns a list of :class:`Job` (a payload each) into
pods and outcomes. The Hydra launcher plugin builds the jobs and converts outcomes into
``JobReturn``; ``python -m wavespace.cloud agents`` reuses it for W&B sweep workers.

Cost safety, in the order things can go wrong:
- a pod's own entrypoint terminates the pod when its job ends and kills the job at its
  maximum runtime (see ``entrypoint``);
- the orchestrator terminates a pod as soon as its job's result is in, when the pod exited
  without a result (then starts a new pod for the job while ``retries`` last: the job resumes
  from its last checkpoint), and when it is past ``startup_grace_s + max_runtime_s``;
- on Ctrl-C, SIGTERM or any error, ``run`` terminates every pod it started before returning
  (Ctrl-C is ignored while it does so) and says which pods it could not terminate;
- fire-and-forget mode leaves pods running by design; they still terminate themselves.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wavespace.cloud.client import CapacityError, CloudError, PodSpec, RunpodClient, TransientError
from wavespace.cloud.defaults import Limits
from wavespace.cloud.payload import ENV_VAR, JobPayload
from wavespace.cloud.results import JobResult, ResultChannel
from wavespace.files import write_json

log = logging.getLogger(__name__)

#: Runpod desired states after which a pod no longer runs the job.
_ENDED_STATES = {"EXITED", "TERMINATED", "DEAD"}


@dataclass
class Job:
    """One job and what is known about its pod."""

    payload: JobPayload
    name: str
    label: str = ""
    local_dir: Path | None = None
    #: File in ``local_dir`` that receives the launcher's log of this job (Hydra's job log).
    log_name: str | None = None
    state: str = "QUEUED"  # QUEUED, WAIT_GPU, RUNNING, LAUNCHED, COMPLETED, FAILED
    pod_id: str | None = None
    gpu_type: str | None = None
    pod_state: str | None = None
    cost_per_hr: float | None = None
    created_at: float | None = None
    ended_at: float | None = None
    first_try_at: float | None = None
    gone_at: float | None = None
    pod_terminated: bool = False
    result: JobResult | None = None
    reason: str | None = None
    events: list[str] = field(default_factory=list)
    #: Pods of earlier attempts (each died without a result; see ``Limits.retries``), their cost.
    previous_pods: list[str] = field(default_factory=list)
    earlier_cost: float = 0.0

    @property
    def done(self) -> bool:
        return self.state in ("COMPLETED", "FAILED")

    def elapsed(self, now: float) -> float:
        if self.created_at is None:
            return 0.0
        return (self.ended_at or now) - self.created_at

    def cost(self, now: float) -> float | None:
        """Cost so far of all the job's pods: hourly price x wall time since creation (an upper estimate)."""
        if self.cost_per_hr is None:
            return self.earlier_cost or None
        return self.earlier_cost + self.cost_per_hr * self.elapsed(now) / 3600.0


class LauncherInterrupted(KeyboardInterrupt):
    """SIGTERM received while pods were running (handled like Ctrl-C)."""


def _fmt_money(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def format_table(jobs: list[Job], now: float) -> str:
    """Plain-text table of jobs, pods, states and cost so far (no secrets: none are stored)."""
    header = ("job", "pod", "gpu", "state", "pod state", "elapsed", "cost", "metric", "overrides")
    rows = [header]
    for job in jobs:
        metric = job.result.metric if job.result else None
        rows.append((
            str(job.payload.job_num),
            job.pod_id or "-",
            job.gpu_type or "-",
            job.state,
            "TERMINATED" if job.pod_terminated else (job.pod_state or "-"),
            f"{job.elapsed(now):.0f}s",
            _fmt_money(job.cost(now)),
            "-" if metric is None else f"{metric:.4g}",
            job.label[:60],
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    costs = [c for c in (j.cost(now) for j in jobs) if c is not None]
    lines.append(f"total cost so far: {_fmt_money(sum(costs)) if costs else '-'}")
    return "\n".join(lines)


class Orchestrator:
    """Starts one pod per job and follows it to the end."""

    def __init__(
        self,
        client: RunpodClient,
        spec: PodSpec,
        env: dict[str, str],
        results: ResultChannel | None,
        limits: Limits,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        echo: Callable[[str], None] | None = None,
        name_prefix: str | None = None,
    ) -> None:
        self.client = client
        self.spec = spec
        self.env = dict(env)
        self.results = results
        self.limits = limits
        self.clock = clock
        self.sleep = sleep
        self.echo = echo or log.info
        #: Pods whose names start with this belong to this run: cleanup also terminates those
        #: it has no id for (a create interrupted mid-request may still have made one).
        self.name_prefix = name_prefix
        self.jobs: list[Job] = []
        self._pending: deque[Job] = deque()
        self._last_table_key: Any = None

    # ----------------------------------------------------------------- main loop
    def run(self, jobs: list[Job], wait: bool = True) -> list[Job]:
        """Run ``jobs``; with ``wait`` follow them to the end, else return once all started."""
        if wait and self.results is None:
            raise CloudError("blocking mode needs a results channel (dir or wandb)")
        if not wait and len(jobs) > self.limits.max_concurrent:
            raise CloudError(
                f"fire-and-forget starts all {len(jobs)} jobs at once, more than "
                f"max_concurrent={self.limits.max_concurrent}: raise it or use wait=true"
            )
        self.jobs = jobs
        pending = self._pending = deque(jobs)
        clean_exit = False
        with self._sigterm_as_interrupt():
            try:
                while pending or any(j.state == "RUNNING" for j in self.jobs):
                    self._start_pending(pending)
                    if not wait and not pending:
                        break
                    self._show()
                    if not pending and not any(j.state == "RUNNING" for j in self.jobs):
                        break
                    self.sleep(self.limits.poll_interval_s)
                    for job in self.jobs:
                        if job.state == "RUNNING":
                            self._poll(job)
                clean_exit = True
            finally:
                if wait or not clean_exit:
                    self.cleanup("interrupted" if not clean_exit else "sweep ended")
                self._show(force=True)
        return self.jobs

    def _start_pending(self, pending: deque[Job]) -> None:
        """Create pods for queued jobs while below ``max_concurrent``."""
        while pending and sum(j.state == "RUNNING" for j in self.jobs) < self.limits.max_concurrent:
            job = pending[0]
            outcome = self._start(job)
            if outcome == "later":
                return
            pending.popleft()

    def _start(self, job: Job) -> str:
        """Try to create the job's pod: 'started', 'failed' or 'later' (no capacity yet)."""
        now = self.clock()
        job.first_try_at = job.first_try_at or now
        env = dict(self.env)
        env[ENV_VAR] = job.payload.encode()
        try:
            pod = self.client.create_pod(job.name, self.spec, env)
        except CapacityError as e:
            if now - job.first_try_at >= self.limits.capacity_wait_s:
                self._finish(job, "FAILED", f"no GPU capacity: {e}")
                return "failed"
            if job.state != "WAIT_GPU":
                self.echo(f"job {job.payload.job_num}: no GPU capacity yet ({e}); will retry")
            job.state = "WAIT_GPU"
            return "later"
        except CloudError as e:
            self._finish(job, "FAILED", f"pod creation failed: {e}")
            return "failed"
        job.pod_id, job.gpu_type = pod.id, pod.gpu_type
        job.created_at = self.clock()
        job.state = "RUNNING"
        job.pod_state = "CREATED"
        self._event(job, f"pod {pod.id} {'adopted after a create error' if pod.adopted else 'created'}"
                         f" on {pod.gpu_type}")
        self._write_pod_record(job)
        return "started"

    def _poll(self, job: Job) -> None:
        """Update one running job from its results channel and its pod's state."""
        assert job.pod_id is not None and job.created_at is not None
        now = self.clock()
        result = self.results.fetch(job.payload) if self.results is not None else None
        if result is not None:
            job.result = result
            self._finish(job, result.status, result.reason)
            return
        try:
            pod = self.client.get_pod(job.pod_id)
        except TransientError as e:
            log.warning("could not poll pod %s: %s", job.pod_id, e)
            pod = {"desiredStatus": job.pod_state}
        except CloudError as e:
            log.warning("could not poll pod %s: %s", job.pod_id, e)
            pod = {"desiredStatus": job.pod_state}
        if pod is None:
            job.pod_state, job.pod_terminated = "GONE", True
        else:
            job.pod_state = str(pod.get("desiredStatus") or job.pod_state)
            if pod.get("costPerHr") is not None:
                job.cost_per_hr = float(pod["costPerHr"])
        if pod is None or job.pod_state in _ENDED_STATES:
            job.gone_at = job.gone_at or now
            if now - job.gone_at >= self.limits.result_grace_s:
                self._pod_died(job, f"pod ended ({job.pod_state}) without a result")
            return
        deadline = job.created_at + self.limits.startup_grace_s + self.limits.max_runtime_s
        if now > deadline:
            self._finish(job, "FAILED", f"past deadline ({now - job.created_at:.0f}s): terminated")

    def _pod_died(self, job: Job, why: str) -> None:
        """Run the job again on a new pod while ``retries`` last (same payload, hence the same
        run directory on the volume: training resumes from its last.ckpt), else fail it."""
        retries, attempt = int(self.limits.retries), len(job.previous_pods) + 1
        if attempt > retries:
            self._finish(job, "FAILED", why + (f"; {attempt} pods died, retries={retries} exhausted"
                                               if retries else ""))
            return
        self._terminate(job)  # a crashed container may leave its pod billing
        self.echo(f"job {job.payload.job_num}: {why}; retry {attempt}/{retries} on a new pod")
        self._event(job, f"{why}: retry {attempt}/{retries} on a new pod")
        job.earlier_cost += job.cost(self.clock()) or 0.0
        job.previous_pods.append(str(job.pod_id))
        job.state, job.pod_id, job.pod_state, job.pod_terminated = "QUEUED", None, None, False
        job.created_at = job.gone_at = job.first_try_at = job.cost_per_hr = None
        self._pending.appendleft(job)

    def _finish(self, job: Job, status: str, reason: str | None) -> None:
        """Record a job's end and make sure its pod is gone."""
        job.state, job.reason = status, reason
        job.ended_at = self.clock()
        self._event(job, f"{status}" + (f": {reason}" if reason else ""))
        if reason:
            self.echo(f"job {job.payload.job_num} {status}: {reason}")
        self._terminate(job)
        self._write_pod_record(job)

    def _terminate(self, job: Job) -> bool:
        """Terminate the job's pod unless already done; False if Runpod would not."""
        if job.pod_id is None or job.pod_terminated:
            return True
        try:
            self.client.terminate(job.pod_id)
        except CloudError as e:
            log.error("could not terminate pod %s: %s", job.pod_id, e)
            self._event(job, f"could not terminate pod {job.pod_id}: {e}")
            return False
        job.pod_terminated = True
        self._event(job, f"pod {job.pod_id} terminated")
        return True

    def cleanup(self, why: str) -> list[str]:
        """Terminate every pod this run started; returns the ids that could not be."""
        live = [j for j in self.jobs if j.pod_id and not j.pod_terminated]
        if live:
            self.echo(f"{why}: terminating {len(live)} pod(s) (Ctrl-C is ignored until done)")
        failed: list[str] = []
        with _ignore_sigint():
            for job in live:
                if not job.done:
                    job.state, job.reason = "FAILED", why
                    job.ended_at = self.clock()
                if not self._terminate(job) and not self._terminate(job):
                    failed.append(str(job.pod_id))
                self._write_pod_record(job)
            failed += self._terminate_strays()
        if failed:
            log.error("pods NOT terminated, check with `python -m wavespace.cloud pods`: %s",
                      ", ".join(failed))
        return failed

    def _terminate_strays(self) -> list[str]:
        """Terminate live pods named like this run's but unknown to it; ids that failed."""
        if not self.name_prefix:
            return []
        known = {j.pod_id for j in self.jobs}
        try:
            strays = [p for p in self.client.list_pods(self.name_prefix) if p.get("id") not in known]
        except CloudError as e:
            log.error("could not list pods named %s*: %s", self.name_prefix, e)
            return []
        failed = []
        for pod in strays:
            self.echo(f"terminating stray pod {pod.get('id')} ({pod.get('name')})")
            try:
                self.client.terminate(str(pod["id"]))
            except CloudError as e:
                log.error("could not terminate pod %s: %s", pod.get("id"), e)
                failed.append(str(pod.get("id")))
        return failed

    # ----------------------------------------------------------------- output
    def _event(self, job: Job, text: str) -> None:
        """Record a job event in memory and in the job's local log file."""
        line = f"[{time.strftime('%Y-%m-%d %H:%M:%S')}][runpod] job {job.payload.job_id}: {text}"
        job.events.append(line)
        if job.local_dir is not None and job.log_name:
            job.local_dir.mkdir(parents=True, exist_ok=True)
            with open(job.local_dir / job.log_name, "a") as f:
                f.write(line + "\n")

    def _show(self, force: bool = False) -> None:
        """Print the table when a state changed (or when forced)."""
        key = tuple((j.state, j.pod_state, j.pod_id, j.pod_terminated) for j in self.jobs)
        if force or key != self._last_table_key:
            self._last_table_key = key
            self.echo("\n" + format_table(self.jobs, self.clock()))

    def _write_pod_record(self, job: Job) -> None:
        """Keep ``pod.json`` (and the result) in the job's local directory up to date."""
        if job.local_dir is None:
            return
        job.local_dir.mkdir(parents=True, exist_ok=True)
        record = {
            "job_id": job.payload.job_id, "pod_id": job.pod_id, "pod_name": job.name,
            "gpu_type": job.gpu_type, "state": job.state, "pod_state": job.pod_state,
            "pod_terminated": job.pod_terminated, "reason": job.reason,
            "elapsed_s": round(job.elapsed(self.clock()), 1),
            "cost_per_hr": job.cost_per_hr, "cost_estimate": job.cost(self.clock()),
            "pod_job_dir": job.payload.job_dir(), "events": job.events,
            "previous_pods": job.previous_pods,
        }
        write_json(job.local_dir / "pod.json", record)
        if job.result is not None and job.result.result is not None:
            write_json(job.local_dir / "result.json", job.result.result)

    # ----------------------------------------------------------------- signals
    @contextlib.contextmanager
    def _sigterm_as_interrupt(self) -> Iterator[None]:
        """Turn SIGTERM into an interrupt so the cleanup in ``run`` still happens."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handler(signum: int, frame: Any) -> None:
            raise LauncherInterrupted(f"signal {signum}")

        previous = signal.signal(signal.SIGTERM, handler)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _ignore_sigint() -> Iterator[None]:
    """Ignore Ctrl-C while terminating pods: a second Ctrl-C must not leak the rest."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
