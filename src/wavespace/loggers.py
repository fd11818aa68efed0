"""Experiment loggers. W&B mode is decided per process, from the environment."""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)


def wandb_logged_in() -> bool:
    """Whether W&B credentials exist, without contacting W&B: ``WANDB_API_KEY``, an identity token
    file, the ``.netrc`` entry ``wandb login`` writes, or an ``api_key`` in W&B's settings files.

    The stored key is read by wandb's own reader (for the host ``wandb login --host`` chose) and
    only its presence leaves this function: it is never returned, stored or logged. A netrc W&B
    cannot read counts as no login (offline, and the run goes on).
    """
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    try:
        import wandb
        from wandb.sdk import wandb_setup
    except ImportError:
        return False
    try:
        try:
            from wandb.sdk.lib import wbauth  # wandb >= 0.23
        except ImportError:  # older clients: their (since deprecated) lookup of the same sources
            return bool(wandb.api.api_key)
        settings = wandb_setup.singleton().settings
        return bool(wbauth.read_netrc_auth(host=settings.base_url) or settings.api_key)
    except Exception as exc:  # a malformed netrc or settings file: offline, never a failed run
        log.warning("could not read W&B credentials (%s); W&B runs offline", type(exc).__name__)
        return False


def wandb_mode(requested: str | None = None) -> str:
    """``WANDB_MODE`` wins, then an explicit config value, then online iff W&B credentials exist
    (``WANDB_API_KEY`` or a ``wandb login``: :func:`wandb_logged_in`).

    Deciding here (and passing ``mode=``) avoids WandbLogger(offline=True), which sets
    WANDB_MODE=dryrun for the rest of the process and leaks into later multirun jobs.
    """
    env = os.environ.get("WANDB_MODE")
    if env:
        return {"dryrun": "offline", "run": "online"}.get(env, env)
    if requested:
        return requested
    return "online" if wandb_logged_in() else "offline"


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
