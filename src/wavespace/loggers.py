"""Experiment loggers. W&B mode is decided per process, from the environment."""

from __future__ import annotations

import os
from typing import Any


def wandb_mode(requested: str | None = None) -> str:
    """``WANDB_MODE`` wins, then an explicit config value, then online iff WANDB_API_KEY is set.

    Deciding here (and passing ``mode=``) avoids WandbLogger(offline=True), which sets
    WANDB_MODE=dryrun for the rest of the process and leaks into later multirun jobs.
    """
    env = os.environ.get("WANDB_MODE")
    if env:
        return {"dryrun": "offline", "run": "online"}.get(env, env)
    if requested:
        return requested
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def wandb_logger(
    project: str,
    name: str,
    id: str,
    save_dir: str,
    group: str | None = None,
    entity: str | None = None,
    tags: list[str] | None = None,
    mode: str | None = None,
    log_model: bool = False,
    job_type: str = "train",
) -> Any:
    """A Lightning WandbLogger whose run id is the config hash (so a re-run resumes the W&B run).

    Returns None when W&B is disabled, so nothing starts a W&B service process in that case.
    """
    mode = wandb_mode(mode)
    if mode == "disabled":
        return None
    from lightning.pytorch.loggers import WandbLogger

    os.makedirs(save_dir, exist_ok=True)
    return WandbLogger(
        project=project, name=name, id=id, save_dir=save_dir, group=group, entity=entity,
        tags=list(tags or []), mode=mode, log_model=log_model, job_type=job_type, resume="allow",
    )


def finish_wandb(exit_code: int = 0) -> None:
    """End the process's W&B run, if any, so the next multirun job starts a fresh one."""
    import sys

    wandb = sys.modules.get("wandb")
    if wandb is not None and getattr(wandb, "run", None) is not None:
        wandb.finish(exit_code=exit_code)
