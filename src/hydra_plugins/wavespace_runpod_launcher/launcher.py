"""Hydra launcher that runs each multirun job in its own Runpod pod.

The Hydra side lives here: compose each job's config locally (so bad overrides fail before
any pod is paid for), save the usual ``.hydra/`` files in the local multirun directory,
build one payload per job and turn outcomes into ``JobReturn``s. Pods, polling, deadlines
and cleanup are ``wavespace.cloud.orchestrator``'s business.

A job's pod runs the ordinary CLI, ``python -m wavespace.train <the job's overrides>``, so a
pod runs exactly what the same command would run locally.
"""

from __future__ import annotations

import logging
import os
import re
import secrets as pysecrets
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

log = logging.getLogger(__name__)


def _save(cfg: Any, name: str, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(OmegaConf.to_yaml(cfg))


def make_sweep_id(job_name: str) -> str:
    """``<job name>-<utc time>-<4 hex>``: unique, sortable, valid in pod names and W&B groups."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = re.sub(r"[^a-z0-9-]+", "-", job_name.lower()).strip("-")[:20] or "sweep"
    return f"{base}-{stamp}-{pysecrets.token_hex(2)}"


class RunpodLauncher(Launcher):
    """``hydra/launcher=runpod``: one pod per job (see docs/cloud.md)."""

    def __init__(self, **params: Any) -> None:
        self.params = OmegaConf.create(params)
        self.config: DictConfig | None = None
        self.task_function: TaskFunction | None = None
        self.hydra_context: HydraContext | None = None
        self.sweep_id: str | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.task_function = task_function

    # ------------------------------------------------------------------ helpers
    def _env(self) -> dict[str, str]:
        """Pod env: constants, passed-through local values, Runpod secret references."""
        env = {str(k): str(v) for k, v in (self.params.env or {}).items()}
        for name in self.params.env_passthrough or []:
            if name == "RUNPOD_API_KEY":
                # Pods get their own pod-scoped key from Runpod; the account key stays here.
                log.warning("not passing RUNPOD_API_KEY to pods (they get a pod-scoped key)")
                continue
            if name in os.environ:
                env[str(name)] = os.environ[name]
        for name, secret in (self.params.runpod_secrets or {}).items():
            env[str(name)] = "{{ RUNPOD_SECRET_" + str(secret) + " }}"
        return env

    def _results(self, example_cfg: DictConfig) -> Any:
        from wavespace.cloud.results import DirResults, WandbResults

        metric = OmegaConf.select(example_cfg, "optimized_metric", default=None)
        kind = self.params.results
        if kind == "dir":
            local = self.params.local_results_dir or self.params.pod_results_dir
            return DirResults(Path(local).expanduser(), metric)
        if kind == "wandb":
            path = self.params.wandb_project
            if not path:
                project = OmegaConf.select(example_cfg, "logger.wandb.project", default=None)
                entity = (OmegaConf.select(example_cfg, "logger.wandb.entity", default=None)
                          or os.environ.get("WANDB_ENTITY"))
                if not project:
                    raise ValueError("results=wandb needs logger.wandb.project or wandb_project")
                path = f"{entity}/{project}" if entity else str(project)
            return WandbResults(str(path), metric)
        if kind in (None, "none"):
            return None
        raise ValueError(f"hydra.launcher.results must be dir, wandb or none, not {kind!r}")

    def _payload(self, sweep_config: DictConfig, overrides: Sequence[str], idx: int) -> Any:
        from wavespace.cloud.payload import JobPayload

        payload = JobPayload(
            sweep_id=str(self.sweep_id), job_num=idx, module=str(self.params.module),
            config_name=sweep_config.hydra.job.config_name,
            # hydra/... and hparams_search=... configure the launching side only (a pod runs
            # one job: given the search preset it would refuse to run without -m).
            overrides=[o for o in filter_overrides(list(overrides))
                       if not o.startswith(("hydra/", "hparams_search="))],
            results_dir=str(self.params.pod_results_dir),
            max_runtime_s=float(self.params.max_runtime_s),
        )
        wandb_node = OmegaConf.select(sweep_config, "logger.wandb", default=None,
                                      throw_on_resolution_failure=False)
        if isinstance(wandb_node, DictConfig) and "group" in wandb_node:
            group = OmegaConf.select(sweep_config, "logger.wandb.group", default=None,
                                     throw_on_resolution_failure=False)
            payload.wandb_group = None if group else self.sweep_id
        tags = OmegaConf.select(sweep_config, "tags", default=None,
                                throw_on_resolution_failure=False)
        if tags is not None:
            payload.tags = [str(t) for t in tags] + [payload.job_tag]
        elif self.params.results == "wandb":
            raise ValueError("results=wandb needs a top-level `tags` list in the config")
        return payload

    # ------------------------------------------------------------------ launch
    def launch(self, job_overrides: Sequence[Sequence[str]],
               initial_job_idx: int) -> Sequence[JobReturn]:
        from wavespace.cloud.client import PodSpec, RunpodClient
        from wavespace.cloud.defaults import Limits
        from wavespace.cloud.orchestrator import Job, Orchestrator
        from wavespace.cloud.secrets import install_redaction
        from wavespace.errors import reported_errors

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        p = self.params
        # Every Limits field is a launcher field of the same name (the config inherits them).
        limits = Limits(**{f.name: type(f.default)(p[f.name]) for f in fields(Limits)})
        with reported_errors():  # no key: one line, as `python -m wavespace.cloud pods` says it
            client = RunpodClient(retries=limits.create_retries, backoff_s=limits.retry_backoff_s)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        install_redaction(logging.getLogger(), self.params.env_passthrough or [])
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if self.sweep_id is None:
            self.sweep_id = p.sweep_id or make_sweep_id(str(self.config.hydra.job.name))

        jobs: list[Job] = []
        configs: list[DictConfig] = []
        previous_hydra_cfg = HydraConfig.instance().cfg
        for i, overrides in enumerate(job_overrides):
            idx = initial_job_idx + i
            sweep_config = self.hydra_context.config_loader.load_sweep_config(
                self.config, list(overrides))
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"{self.sweep_id}_{idx}"
                sweep_config.hydra.job.num = idx
            HydraConfig.instance().set_config(sweep_config)
            local_dir = sweep_dir / str(OmegaConf.select(sweep_config, "hydra.sweep.subdir"))
            with read_write(sweep_config.hydra.runtime), open_dict(sweep_config.hydra.runtime):
                sweep_config.hydra.runtime.output_dir = str(local_dir.absolute())
            HydraConfig.instance().set_config(sweep_config)
            if sweep_config.hydra.output_subdir is not None:
                hydra_out = local_dir / str(sweep_config.hydra.output_subdir)
                task_cfg = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config
                                                                if k != "hydra"])
                _save(task_cfg, "config.yaml", hydra_out)
                _save(HydraConfig.instance().cfg, "hydra.yaml", hydra_out)
                _save(sweep_config.hydra.overrides.task, "overrides.yaml", hydra_out)
            payload = self._payload(sweep_config, overrides, idx)
            label = " ".join(payload.overrides)
            jobs.append(Job(payload=payload, name=f"{p.name_prefix}-{payload.job_id}",
                            label=label, local_dir=local_dir,
                            log_name=f"{sweep_config.hydra.job.name}.log"))
            configs.append(sweep_config)
        HydraConfig.instance().cfg = previous_hydra_cfg

        env = self._env()
        log.info("Runpod sweep %s: %d job(s), image %s, GPUs %s, results via %s",
                 self.sweep_id, len(jobs), p.image, list(p.gpu_types), p.results)
        log.info("pod env: %s (values not shown)", sorted(env) or "none")
        for job in jobs:
            log.info("\t#%d : %s", job.payload.job_num, job.label)

        spec = PodSpec(image=str(p.image), gpu_types=[str(g) for g in p.gpu_types],
                       gpu_count=int(p.gpu_count), cloud_type=str(p.cloud_type),
                       container_disk_gb=int(p.container_disk_gb),
                       network_volume_id=p.network_volume_id,
                       volume_mount_path=str(p.volume_mount_path),
                       data_center_id=p.data_center_id)
        results = self._results(configs[0]) if configs else None
        orchestrator = Orchestrator(client, spec, env, results, limits,
                                    name_prefix=f"{p.name_prefix}-{self.sweep_id}-")
        finished = orchestrator.run(jobs, wait=bool(p.wait))
        return [self._job_return(job, cfg, bool(p.wait)) for job, cfg in zip(finished, configs,
                                                                             strict=True)]

    @staticmethod
    def _job_return(job: Any, sweep_config: DictConfig, wait: bool) -> JobReturn:
        """JobReturn as the basic launcher would build it, with the pod's outcome."""
        ret = JobReturn()
        ret.overrides = list(sweep_config.hydra.overrides.task)
        ret.cfg = OmegaConf.masked_copy(sweep_config, [k for k in sweep_config if k != "hydra"])
        ret.hydra_cfg = OmegaConf.masked_copy(sweep_config, "hydra")
        ret.working_dir = str(job.local_dir)
        ret.task_name = str(sweep_config.hydra.job.name)
        if not wait and job.state == "RUNNING":
            ret.status, ret.return_value = JobStatus.COMPLETED, job.pod_id
        elif job.state == "COMPLETED":
            ret.status = JobStatus.COMPLETED
            ret.return_value = job.result.metric if job.result else None
        else:
            # As a failed local job does (wavespace.train.main): result.json says FAILED and why,
            # the sweeper gets None (a failed trial) and goes on, and SweepReport fails the sweep.
            from wavespace.files import write_json

            reason = f"job {job.payload.job_id} on pod {job.pod_id}: {job.reason or job.state}"
            result = dict(job.result.result or {}) if job.result else {}
            if result.get("status") != "FAILED":
                result.update(status="FAILED", error=reason, overrides=list(job.payload.overrides))
            write_json(Path(job.local_dir) / "result.json", result)
            ret.status, ret.return_value = JobStatus.COMPLETED, None
        return ret
