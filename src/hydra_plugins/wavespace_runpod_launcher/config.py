"""Config of the Runpod launcher, registered as ``hydra/launcher=runpod``.

Every field is safe to print and to save in ``multirun.yaml``: secrets are never config
values. ``env_passthrough`` names variables whose values are read from the launching shell
at launch time; ``runpod_secrets`` maps a variable to a secret stored in Runpod
(``{{ RUNPOD_SECRET_<name> }}``) so that the value never leaves Runpod at all.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore


@dataclass
class RunpodLauncherConf:
    _target_: str = "hydra_plugins.wavespace_runpod_launcher.launcher.RunpodLauncher"

    # --- what runs --------------------------------------------------------------------
    #: Image built by docker/Dockerfile; its ENTRYPOINT is the pod entrypoint.
    image: str = "ghcr.io/wavespace/wavespace:latest"
    #: Module each pod runs with the job's overrides (``python -m <module>``).
    module: str = "wavespace.train"

    # --- where it runs ----------------------------------------------------------------
    #: Acceptable GPU types, best first: a capacity error moves on to the next one.
    gpu_types: list[str] = field(
        default_factory=lambda: ["NVIDIA GeForce RTX 4090", "NVIDIA RTX A5000", "NVIDIA L4"]
    )
    gpu_count: int = 1
    #: SECURE, COMMUNITY or ALL.
    cloud_type: str = "SECURE"
    #: Network volume with datasets and caches, mounted at ``volume_mount_path``.
    network_volume_id: str | None = None
    volume_mount_path: str = "/workspace"
    data_center_id: str | None = None
    container_disk_gb: int = 30

    # --- environment of the pods ------------------------------------------------------
    #: Names of variables copied from the local environment (missing ones are skipped).
    env_passthrough: list[str] = field(
        default_factory=lambda: ["WANDB_API_KEY", "WANDB_ENTITY", "WANDB_PROJECT", "WANDB_MODE",
                                 "HF_TOKEN"]
    )
    #: Plain, non-secret variables (e.g. WAVESPACE_DATA_DIR: /workspace/data).
    env: dict[str, str] = field(default_factory=dict)
    #: Variable name -> name of a Runpod secret.
    runpod_secrets: dict[str, str] = field(default_factory=dict)

    # --- limits -------------------------------------------------------------------------
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
    create_retries: int = 3
    retry_backoff_s: float = 2.0

    # --- results --------------------------------------------------------------------------
    #: true: wait for every job and return its metric; false: return once pods started.
    wait: bool = True
    #: How results come back: ``wandb`` (run found by its job tag) or ``dir`` (shared volume).
    results: str = "wandb"
    #: Results directory as seen inside the pods (on the network volume).
    pod_results_dir: str = "/workspace/outputs/sweeps"
    #: The same directory as seen by the launcher; null: same path as pod_results_dir.
    local_results_dir: str | None = None
    #: W&B ``entity/project`` for results=wandb; null: from the job's logger.wandb config.
    wandb_project: str | None = None
    #: Pod name prefix; pods are named ``<prefix>-<sweep_id>-<job_num>``.
    name_prefix: str = "ws"
    #: Sweep id (pod names, W&B group, results subdir); null: <job name>-<time>-<random>.
    sweep_id: str | None = None


ConfigStore.instance().store(
    group="hydra/launcher", name="runpod", node=RunpodLauncherConf, provider="wavespace"
)
