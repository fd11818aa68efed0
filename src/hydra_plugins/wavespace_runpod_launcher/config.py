"""Config of the Runpod launcher, registered as ``hydra/launcher=runpod``.

The pod and limit fields (image, GPU types, disk, env pass-through, concurrency, deadlines,
retries) and their defaults come from ``wavespace.cloud.defaults``, which
``python -m wavespace.cloud agents`` reads too; this class adds what only the launcher needs.

Every field is safe to print and to save in ``multirun.yaml``: secrets are never config
values. ``env_passthrough`` names variables whose values are read from the launching shell
at launch time; ``runpod_secrets`` maps a variable to a secret stored in Runpod
(``{{ RUNPOD_SECRET_<name> }}``) so that the value never leaves Runpod at all.
"""

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore

from wavespace.cloud.defaults import Limits, PodDefaults


@dataclass
class RunpodLauncherConf(PodDefaults, Limits):
    _target_: str = "hydra_plugins.wavespace_runpod_launcher.launcher.RunpodLauncher"

    # --- what runs --------------------------------------------------------------------
    #: Module each pod runs with the job's overrides (``python -m <module>``).
    module: str = "wavespace.train"

    # --- where it runs ----------------------------------------------------------------
    #: Network volume with datasets and caches, mounted at ``volume_mount_path``.
    network_volume_id: str | None = None
    data_center_id: str | None = None

    # --- environment of the pods ------------------------------------------------------
    #: Plain, non-secret variables (e.g. WAVESPACE_DATA_DIR: /workspace/data).
    env: dict[str, str] = field(default_factory=dict)
    #: Variable name -> name of a Runpod secret.
    runpod_secrets: dict[str, str] = field(default_factory=dict)

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
    #: Sweep id (pod names, W&B group, results subdir); null: <job name>-<time>-<random>.
    sweep_id: str | None = None


ConfigStore.instance().store(
    group="hydra/launcher", name="runpod", node=RunpodLauncherConf, provider="wavespace"
)
