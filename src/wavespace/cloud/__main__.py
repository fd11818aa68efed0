"""``python -m wavespace.cloud``: see and clean up pods, start W&B sweep workers.

    python -m wavespace.cloud pods [--sweep ID]          # live pods (of one sweep)
    python -m wavespace.cloud cleanup --sweep ID [--yes] # terminate a sweep's pods
    python -m wavespace.cloud cleanup --all --yes        # terminate every wavespace pod
    python -m wavespace.cloud agents ENTITY/PROJECT/SWEEP --count N [--runs-per-agent K]
    python -m wavespace.cloud agents ENTITY/PROJECT/SWEEP --local

Pods are recognised by name: ``<prefix>-<sweep_id>-<job_num>`` (prefix ``ws`` by default).
The API key comes from ``RUNPOD_API_KEY`` only and is never printed.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from typing import Any

from wavespace.cloud.defaults import Limits, PodDefaults

log = logging.getLogger("wavespace.cloud")


def _client() -> Any:
    from wavespace.cloud.client import RunpodClient

    return RunpodClient()


def _prefix(args: argparse.Namespace) -> str:
    if getattr(args, "sweep", None):
        return f"{args.prefix}-{args.sweep}-"
    return f"{args.prefix}-"


def format_pods(pods: list[dict[str, Any]]) -> str:
    """Table of pods: id, name, state, GPU, price, uptime (never env: it holds keys)."""
    rows = [("pod", "name", "state", "gpu", "$/hr", "uptime")]
    for p in pods:
        machine = p.get("machine") or {}
        rows.append((str(p.get("id")), str(p.get("name")), str(p.get("desiredStatus")),
                     str(machine.get("gpuDisplayName") or "-"), str(p.get("costPerHr") or "-"),
                     f"{p.get('uptimeSeconds') or 0}s"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def cmd_pods(args: argparse.Namespace) -> int:
    pods = _client().list_pods(_prefix(args))
    print(format_pods(pods) if pods else f"no live pods named {_prefix(args)}*")
    return 0


def cmd_cleanup(args: argparse.Namespace) -> int:
    if not args.sweep and not args.all:
        print("give --sweep ID, or --all to terminate every pod named "
              f"{args.prefix}-*", file=sys.stderr)
        return 2
    client = _client()
    pods = client.list_pods(_prefix(args))
    if not pods:
        print(f"no live pods named {_prefix(args)}*")
        return 0
    print(format_pods(pods))
    if not args.yes:
        answer = input(f"terminate these {len(pods)} pod(s)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            return 1
    failed = []
    for pod in pods:
        try:
            client.terminate(str(pod["id"]))
            print(f"terminated {pod['id']} ({pod.get('name')})")
        except Exception as e:  # keep going: every other pod still bills
            failed.append(str(pod["id"]))
            print(f"could not terminate {pod['id']}: {e}", file=sys.stderr)
    return 1 if failed else 0


def cmd_agents(args: argparse.Namespace) -> int:
    from wavespace.cloud.payload import JobPayload

    if args.local:
        cmd = [sys.executable, "-m", "wandb", "agent"]
        if args.runs_per_agent:
            cmd += ["--count", str(args.runs_per_agent)]
        return subprocess.call([*cmd, args.sweep_path])

    from wavespace.cloud.client import PodSpec
    from wavespace.cloud.orchestrator import Job, Orchestrator

    pod = PodDefaults()
    sweep_id = "agent-" + args.sweep_path.rstrip("/").split("/")[-1].lower()[:12] + time.strftime(
        "-%H%M%S")
    env = {n: os.environ[n] for n in (args.env or pod.env_passthrough) if n in os.environ}
    spec = PodSpec(image=args.image or pod.image, gpu_types=args.gpu_type or pod.gpu_types,
                   cloud_type=args.cloud_type, network_volume_id=args.network_volume_id,
                   container_disk_gb=pod.container_disk_gb)
    jobs = [Job(payload=JobPayload(sweep_id=sweep_id, job_num=i, kind="agent",
                                   wandb_sweep=args.sweep_path, agent_count=args.runs_per_agent,
                                   max_runtime_s=args.max_runtime_s),
                name=f"{args.prefix}-{sweep_id}-{i}", label=f"wandb agent {args.sweep_path}")
            for i in range(args.count)]
    limits = Limits(max_concurrent=args.count, max_runtime_s=args.max_runtime_s,
                    capacity_wait_s=args.capacity_wait_s, poll_interval_s=5)
    done = Orchestrator(_client(), spec, env, None, limits, echo=print).run(jobs, wait=False)
    started = [j for j in done if j.pod_id]
    print(f"started {len(started)} agent pod(s) for {args.sweep_path}; each terminates itself "
          f"when its agent ends. Clean up with: python -m wavespace.cloud cleanup --sweep {sweep_id}")
    return 0 if len(started) == args.count else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m wavespace.cloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prefix", default=PodDefaults.name_prefix,
                        help=f"pod name prefix (default {PodDefaults.name_prefix})")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pods", help="list live pods")
    p.add_argument("--sweep", help="only pods of this sweep id")
    p.set_defaults(func=cmd_pods)
    p = sub.add_parser("cleanup", help="terminate pods of a sweep")
    p.add_argument("--sweep", help="sweep id (pods named <prefix>-<sweep>-N)")
    p.add_argument("--all", action="store_true", help="every pod named <prefix>-*")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=cmd_cleanup)
    p = sub.add_parser("agents", help="start W&B sweep agents on Runpod pods (or locally)")
    p.add_argument("sweep_path", help="ENTITY/PROJECT/SWEEP_ID as printed by `wandb sweep`")
    p.add_argument("--count", type=int, default=1, help="number of agent pods")
    p.add_argument("--runs-per-agent", type=int, default=None, help="wandb agent --count")
    p.add_argument("--local", action="store_true", help="run one agent here instead")
    p.add_argument("--image")
    p.add_argument("--gpu-type", action="append", help="acceptable GPU type (repeat; ordered)")
    p.add_argument("--cloud-type", default=PodDefaults.cloud_type)
    p.add_argument("--network-volume-id")
    p.add_argument("--env", action="append", help="variable to pass through (repeat)")
    p.add_argument("--max-runtime-s", type=float, default=8 * 3600)
    p.add_argument("--capacity-wait-s", type=float, default=Limits.capacity_wait_s)
    p.set_defaults(func=cmd_agents)
    return parser


def main(argv: list[str] | None = None) -> int:
    from wavespace.cloud.secrets import install_redaction

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    install_redaction(logging.getLogger())
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except Exception as e:
        from wavespace.cloud.client import CloudError
        from wavespace.cloud.secrets import redact

        if isinstance(e, CloudError):
            print(f"error: {redact(str(e))}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
