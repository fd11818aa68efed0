"""A fake Runpod GraphQL server on 127.0.0.1 whose pods are local processes.

It answers the queries and mutations the runpod SDK 1.12 sends (GPU type lookup, create,
get, list, stop, terminate) and runs every created pod as a subprocess of the real image
ENTRYPOINT (``python -m wavespace.cloud.entrypoint``) with the pod's environment, the way
Runpod starts a container: the mutation's env, the "image" env, ``RUNPOD_POD_ID`` and a
pod-scoped ``RUNPOD_API_KEY`` that may only read and terminate its own pod.

Faults, set as attributes before or during a test:
- ``no_capacity``: GPU ids that answer the capacity error Runpod sends;
- ``http_500_creates``: the next N create mutations answer HTTP 500 without creating;
- ``create_then_500``: the next N creates create the pod, then answer HTTP 500;
- ``crash_after``: job number -> seconds after which the pod's container dies (SIGKILL of
  its whole process tree, pod left EXITED and billing, as when a container crashes);
- ``crash_when``: job number -> a glob; the pod's container dies as above once a file matches
  (e.g. the run's ``last.ckpt`` on the volume: a crash mid-run, after a checkpoint);
- ``crash_pods``: job number -> how many of its pods the two crash faults hit (default: all);
- ``stall``: job numbers whose container hangs (never runs the entrypoint).

Nothing it receives is written to disk: pod env values (keys included) stay in memory.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

CAPACITY_MESSAGE = ("There are no longer any instances available with the requested "
                    "specifications. Please refresh and try again.")


@dataclass
class FakePod:
    id: str
    name: str
    gpu: str
    image: str
    env: dict[str, str]
    key: str
    cost_per_hr: float
    created: float
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    terminated_at: float | None = None
    stopped: bool = False
    crashed: bool = False
    terminated_by: list[str] = field(default_factory=list)

    @property
    def job_num(self) -> int | None:
        m = re.search(r"-(\d+)$", self.name)
        return int(m.group(1)) if m else None

    def alive(self) -> bool:
        """Any process of this pod's container still running?"""
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        return bool(_tree(self))

    @property
    def desired_status(self) -> str:
        if self.terminated_at is not None:
            return "TERMINATED"
        if self.stopped or (self.proc is not None and self.proc.poll() is not None):
            return "EXITED"
        return "RUNNING"


_trees: dict[str, set[int]] = {}


def _tree(pod: FakePod) -> list[psutil.Process]:
    """Live processes of a pod: the entrypoint and every descendant seen so far."""
    pids = _trees.setdefault(pod.id, set())
    if pod.proc is not None:
        pids.add(pod.proc.pid)
        with contextlib.suppress(psutil.NoSuchProcess):
            pids.update(c.pid for c in psutil.Process(pod.proc.pid).children(recursive=True))
    live = []
    for pid in list(pids):
        try:
            p = psutil.Process(pid)
            if p.status() != psutil.STATUS_ZOMBIE:
                live.append(p)
        except psutil.NoSuchProcess:
            pids.discard(pid)
    return live


class FakeRunpod:
    """The fake API plus its pods; use as a context manager."""

    def __init__(self, workdir: Path, api_key: str, image_env: dict[str, str] | None = None,
                 gpus: dict[str, float] | None = None) -> None:
        self.workdir = Path(workdir)
        self.api_key = api_key
        self.image_env = dict(image_env or {})
        self.gpus = gpus or {"NVIDIA GeForce RTX 4090": 0.69, "NVIDIA L4": 0.43}
        self.pods: dict[str, FakePod] = {}
        self.lock = threading.RLock()
        self.no_capacity: set[str] = set()
        self.http_500_creates = 0
        self.create_then_500 = 0
        self.crash_after: dict[int, float] = {}
        self.crash_when: dict[int, str] = {}
        self.crash_pods: dict[int, int] = {}
        self.stall: set[int] = set()
        self.create_log: list[tuple[str, str]] = []
        self.requests = 0
        self._server: ThreadingHTTPServer | None = None
        # Track descendants continuously: a child reparented after its parent died would
        # otherwise escape the "no pod outlives its job" checks.
        self._watch_stop = threading.Event()

    # ------------------------------------------------------------ server lifecycle
    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeRunpod:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server API)
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                auth = self.headers.get("Authorization", "").removeprefix("Bearer ")
                code, reply = fake.handle(body.get("query", ""), auth)
                data = reply.encode() if isinstance(reply, str) else json.dumps(reply).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json" if not isinstance(reply, str)
                                 else "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._watch_stop.set()
        for pod in list(self.pods.values()):
            self._kill_tree(pod, grace_s=0.5)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _watch(self) -> None:
        while not self._watch_stop.wait(0.2):
            with self.lock:
                for pod in self.pods.values():
                    if pod.proc is not None and pod.proc.poll() is None:
                        _tree(pod)
                        pattern = self.crash_when.get(pod.job_num)  # type: ignore[arg-type]
                        if pattern and self._crashes(pod) and glob.glob(pattern):
                            self._crash(pod)

    def _crashes(self, pod: FakePod) -> bool:
        """Whether the crash faults hit this pod (``crash_pods`` counts a job's pods in order)."""
        limit = self.crash_pods.get(pod.job_num)  # type: ignore[arg-type]
        order = [p for p in self.pods.values() if p.job_num == pod.job_num].index(pod)
        return limit is None or order < limit

    def _crash(self, pod: FakePod) -> None:
        if pod.terminated_at is None and not pod.crashed:
            pod.crashed = True
            self._kill_tree(pod, grace_s=0.0)

    # ------------------------------------------------------------ assertions
    def live_pods(self) -> list[FakePod]:
        """Pods that still bill (not terminated) or still have a running process."""
        return [p for p in self.pods.values() if p.terminated_at is None or p.alive()]

    def wait_all_gone(self, timeout: float = 15.0) -> list[FakePod]:
        """Wait until every pod is terminated and its processes ended; returns the rest."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.live_pods():
                return []
            time.sleep(0.1)
        return self.live_pods()

    def running(self) -> list[FakePod]:
        return [p for p in self.pods.values() if p.desired_status == "RUNNING"]

    # ------------------------------------------------------------ GraphQL
    def handle(self, query: str, auth: str) -> tuple[int, Any]:
        with self.lock:
            self.requests += 1
            pod_scope = next((p for p in self.pods.values() if p.key == auth), None)
            if auth != self.api_key and pod_scope is None:
                return 401, {"errors": [{"message": "Unauthorized"}]}
            if pod_scope is not None and not re.search(r"podTerminate|pod\(input", query):
                return 200, {"errors": [{"message": "forbidden for a pod-scoped key"}]}
            if "podFindAndDeployOnDemand" in query:
                return self._create(query)
            m = re.search(r'podTerminate\(input: \{ podId: "([^"]+)" \}\)', query)
            if m:
                return self._terminate(m.group(1), pod_scope)
            m = re.search(r'podStop\(input: \{ podId: "([^"]+)" \}\)', query)
            if m:
                pod = self.pods.get(m.group(1))
                if pod is None:
                    return 200, {"errors": [{"message": "pod not found"}]}
                pod.stopped = True
                self._kill_tree(pod, background=True)
                return 200, {"data": {"podStop": {"id": pod.id, "desiredStatus": "EXITED"}}}
            m = re.search(r'pod\(input: \{podId: "([^"]+)"\}\)', query)
            if m:
                pod = self.pods.get(m.group(1))
                if pod_scope is not None and pod is not pod_scope:
                    return 200, {"errors": [{"message": "forbidden for a pod-scoped key"}]}
                if pod is None or pod.terminated_at is not None:
                    return 200, {"data": {"pod": None}}
                return 200, {"data": {"pod": self._record(pod)}}
            m = re.search(r'gpuTypes\(input: \{id: "([^"]+)"\}\)', query)
            if m:
                gpu = m.group(1)
                types = [{"id": gpu, "displayName": gpu, "memoryInGb": 24,
                          "securePrice": self.gpus[gpu]}] if gpu in self.gpus else []
                return 200, {"data": {"gpuTypes": types}}
            if "myself" in query and "pods" in query:
                pods = [self._record(p) for p in self.pods.values() if p.terminated_at is None]
                return 200, {"data": {"myself": {"pods": pods}}}
            if "myself" in query:
                return 200, {"data": {"myself": {"id": "user", "networkVolumes": []}}}
            return 200, {"errors": [{"message": "unsupported query in fake"}]}

    def _record(self, pod: FakePod) -> dict[str, Any]:
        return {"id": pod.id, "name": pod.name, "desiredStatus": pod.desired_status,
                "costPerHr": pod.cost_per_hr, "imageName": pod.image, "gpuCount": 1,
                "uptimeSeconds": int(time.time() - pod.created),
                "env": [f"{k}={v}" for k, v in pod.env.items()],
                "machine": {"gpuDisplayName": pod.gpu}}

    def _create(self, query: str) -> tuple[int, Any]:
        gpu = re.search(r'gpuTypeId: "([^"]+)"', query).group(1)  # type: ignore[union-attr]
        if self.http_500_creates > 0:
            self.http_500_creates -= 1
            self.create_log.append((gpu, "500"))
            return 500, "<html><body>500 Internal Server Error</body></html>"
        if gpu in self.no_capacity:
            self.create_log.append((gpu, "no capacity"))
            return 200, {"errors": [{"message": CAPACITY_MESSAGE}]}
        name = re.search(r'name: "([^"]*)"', query).group(1)  # type: ignore[union-attr]
        image = re.search(r'imageName: "([^"]*)"', query).group(1)  # type: ignore[union-attr]
        env = dict(re.findall(r'\{ key: "([^"]*)", value: "([^"]*)" \}', query))
        pod = FakePod(id="fake" + secrets.token_hex(6), name=name, gpu=gpu, image=image,
                      env=env, key="pod-" + secrets.token_hex(16),
                      cost_per_hr=self.gpus[gpu], created=time.time())
        self.pods[pod.id] = pod
        self._start(pod)
        if self.create_then_500 > 0:
            self.create_then_500 -= 1
            self.create_log.append((gpu, "created then 500"))
            return 500, "<html><body>502 Bad Gateway</body></html>"
        self.create_log.append((gpu, "created"))
        return 200, {"data": {"podFindAndDeployOnDemand": {
            "id": pod.id, "imageName": image, "env": [], "machineId": "m1",
            "machine": {"podHostId": pod.id + "-host"}}}}

    def _start(self, pod: FakePod) -> None:
        """Start the pod's "container": the image entrypoint with the pod's environment."""
        pod_dir = self.workdir / "pods" / pod.id
        pod_dir.mkdir(parents=True, exist_ok=True)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(pod_dir),
               "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
        env.update(self.image_env)
        env.update(pod.env)
        env.update(RUNPOD_POD_ID=pod.id, RUNPOD_API_KEY=pod.key, RUNPOD_API_BASE_URL=self.url)
        if pod.job_num in self.stall:
            cmd = [sys.executable, "-c", "import time; time.sleep(600)"]
        else:
            cmd = [sys.executable, "-m", "wavespace.cloud.entrypoint"]
        pod.log_path = self.workdir / "pods" / f"{pod.id}.log"
        with open(pod.log_path, "wb") as log_file:
            pod.proc = subprocess.Popen(cmd, env=env, cwd=pod_dir, stdout=log_file,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        if pod.job_num in self.crash_after and self._crashes(pod):
            threading.Timer(self.crash_after[pod.job_num], self._crash, args=(pod,)).start()

    def _terminate(self, pod_id: str, pod_scope: FakePod | None) -> tuple[int, Any]:
        pod = self.pods.get(pod_id)
        if pod_scope is not None and pod is not pod_scope:
            return 200, {"errors": [{"message": "forbidden for a pod-scoped key"}]}
        if pod is None:
            return 200, {"errors": [{"message": "pod not found to terminate"}]}
        pod.terminated_by.append("pod" if pod_scope is not None else "owner")
        if pod.terminated_at is None:
            pod.terminated_at = time.time()
            self._kill_tree(pod, background=True)
        return 200, {"data": {"podTerminate": None}}

    def _kill_tree(self, pod: FakePod, grace_s: float = 3.0, background: bool = False) -> None:
        """Stop the container: SIGTERM every process, SIGKILL what is left after a grace."""
        if background:
            # Let the HTTP reply reach a pod that terminates itself before it dies.
            threading.Timer(0.2, self._kill_tree, args=(pod, grace_s)).start()
            return
        procs = _tree(pod)
        sig = signal.SIGKILL if grace_s <= 0 else signal.SIGTERM
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.send_signal(sig)
        _, alive = psutil.wait_procs(procs, timeout=max(grace_s, 0.1))
        for p in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                p.kill()
        psutil.wait_procs(alive, timeout=2)
        if pod.proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                pod.proc.wait(timeout=2)
