"""Rebuild a trained model from a checkpoint or run directory, without Hydra's CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file as given, or the best (else last) checkpoint of a run directory."""
    path = Path(path).expanduser()
    if path.is_file():
        return path
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is neither a checkpoint file nor a run directory")
    summary = path / "metrics.json"
    if summary.is_file():
        best = json.loads(summary.read_text()).get("best_checkpoint")
        if best and Path(best).is_file():
            return Path(best)
    last = path / "checkpoints" / "last.ckpt"
    if last.is_file():
        return last
    raise FileNotFoundError(f"no checkpoint in run directory {path} (looked for metrics.json and checkpoints/last.ckpt)")


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Return the trained LightningModule (eval mode) stored at ``path``.

    The checkpoint carries the resolved run config; the task, its net and its front-end are
    rebuilt from it with ``hydra.utils.instantiate`` and the weights loaded strictly. The config
    is attached as ``model.wavespace_config``.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    ckpt_path = resolve_checkpoint(path)
    ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    if "wavespace" not in ckpt:
        raise ValueError(f"{ckpt_path} was not written by wavespace.train (no 'wavespace' entry)")
    config = ckpt["wavespace"]["config"]
    cfg = OmegaConf.create(config)
    if cfg.features.get("weights") not in (None, "random"):
        # Pretrained front-end weights (EnCodec) are inside the checkpoint's state dict:
        # build with random ones and let load_state_dict fill them, with no download.
        cfg.features.weights = "random"
    features = instantiate(cfg.features)
    model = instantiate(cfg.model, features=features)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    model.eval()
    model.wavespace_config = config
    model.wavespace_checkpoint = str(ckpt_path)
    return model.to(map_location)
