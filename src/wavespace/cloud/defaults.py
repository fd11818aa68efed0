"""Defaults of pods and of the run loop: one place for the launcher plugin and the CLI.

The Hydra launcher config (``hydra_plugins.wavespace_runpod_launcher.config``) is built from
these dataclasses, and ``python -m wavespace.cloud agents`` reads the same ones, so the two
ways of starting pods cannot drift apart. The dependency runs one way: the plugin imports
``wavespace.cloud``, never the reverse. This module imports nothing heavy (the launcher
plugin is imported whenever Hydra scans for plugins).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PodDefaults:
    """What a pod looks like unless told otherwise."""

    #: Image built by docker/Dockerfile; its ENTRYPOINT is the pod entrypoint.
    image: str = "ghcr.io/wavespace/wavespace:latest"
    #: Acceptable GPU types, best first: a capacity error moves on to the next one.
    gpu_types: list[str] = field(
        default_factory=lambda: ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A5000", "NVIDIA L4"]
    )
    gpu_count: int = 1
    #: SECURE, COMMUNITY or ALL.
    cloud_type: str = "SECURE"
    volume_mount_path: str = "/workspace"
    container_disk_gb: int = 30
    #: Names of variables copied from the local environment (missing ones are skipped); the
    #: values are read at launch time and never stored in a config.
    env_passthrough: list[str] = field(
        default_factory=lambda: ["WANDB_API_KEY", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE",
                                 "HF_TOKEN"]
    )
    #: Pod name prefix; pods are named ``<prefix>-<sweep_id>-<job_num>`` and found by it.
    name_prefix: str = "ws"


@dataclass
class Limits:
    """Knobs of the run loop (seconds unless named otherwise) and of the client's retries."""

    #: Pods at once; the rest queue.
    max_concurrent: int = 4
    #: Enforced by the pod (kills the job) and by the launcher (terminates the pod after
    #: startup_grace_s + max_runtime_s from creation).
    max_runtime_s: float = 4 * 3600
    #: Image pull and boot time allowed on top of max_runtime_s.
    startup_grace_s: float = 900
    poll_interval_s: float = 30
    #: How long a job keeps waiting for any listed GPU type to have capacity.
    capacity_wait_s: float = 600
    #: How long to wait for a result after the pod is gone before calling the job failed.
    result_grace_s: float = 60
    #: New pods for a job whose pod died without a result (crash, host failure, eviction). The
    #: new pod runs the same job with the same overrides, hence the same run directory on the
    #: volume, and training resumes from its checkpoints/last.ckpt. 0: the job fails at once.
    retries: int = 0
    #: Retries of a transient create error (HTTP 5xx, network), with exponential backoff.
    create_retries: int = 3
    retry_backoff_s: float = 2.0
