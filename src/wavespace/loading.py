"""Build a task from a config, and rebuild a trained one from its checkpoint, without Hydra's CLI.

``build_model`` is the one place a task is assembled (front-end, then the task with its net):
``train`` uses it for a new run and ``load`` for a finished one, so both always agree.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
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


def build_model(cfg: Any, restoring: bool = False) -> Any:
    """The task of a run config (``cfg.features`` and ``cfg.model``), freshly initialised.

    With ``restoring`` the front-end may first adapt its config to a build whose weights come
    from a checkpoint (:meth:`wavespace.features.base.Frontend.restore_config`: EnCodec then
    skips its download, the checkpoint holds the weights).
    """
    from hydra.utils import instantiate
    from omegaconf import DictConfig, OmegaConf

    from wavespace.features.base import build_frontend

    cfg = cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))
    return instantiate(cfg.model, features=build_frontend(cfg.features, restoring))


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Return the trained task (eval mode) stored at ``path`` (a ``.ckpt`` or a run directory).

    The checkpoint carries the resolved run config; the task, its net and its front-end are
    rebuilt from it by :func:`build_model` and the weights loaded strictly. The config and the
    file are on the task as ``model.run_config`` and ``model.checkpoint_path``.
    """
    ckpt_path = resolve_checkpoint(path)
    ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, Mapping) or "wavespace" not in ckpt:
        raise ValueError(f"{ckpt_path} was not written by wavespace.train (no 'wavespace' entry)")
    model = build_model(ckpt["wavespace"]["config"], restoring=True)
    model.restore(ckpt, str(ckpt_path))
    model.eval()
    return model.to(map_location)


def check_model(model: Any, ckpt: str) -> None:
    """A transcription model has a decision rule (``decode_params``); other tasks do not."""
    from wavespace.transcription.inference import TranscribeError

    if not hasattr(model, "decode_params") or not hasattr(model, "predict_audio"):
        raise TranscribeError(f"{ckpt} holds a model of class {type(model).__name__}, not a transcription model "
                              f"(wavespace.tasks.SupervisedSalience with a 'frame' head).")


def load_transcriber(ckpt: str | None, device: str = "cpu") -> Any:
    """``wavespace.load`` with errors a user can act on, ready for inference only.

    An exported model (``.onnx``/``.pt`` from ``python -m wavespace.export``, with its sidecar)
    loads as an :class:`~wavespace.transcription.exported.ExportedTranscriber`, which inference
    uses the same way.
    """
    from wavespace.models.inference import fold_batchnorm
    from wavespace.transcription.exported import ExportedTranscriber, is_exported
    from wavespace.transcription.inference import TranscribeError

    if not ckpt:
        raise TranscribeError("No checkpoint given. Pass ckpt=PATH, a .ckpt file or a run directory "
                              "written by `python -m wavespace.train`, or a model written by "
                              "`python -m wavespace.export`.")
    if is_exported(ckpt):
        return ExportedTranscriber(ckpt, device)
    try:
        model = load(ckpt, map_location=device)
    except (FileNotFoundError, ValueError) as exc:
        raise TranscribeError(f"Cannot load checkpoint {ckpt}: {exc}.") from exc
    check_model(model, ckpt)
    # Transcription never trains: fold BatchNorms into their convolutions (same outputs, faster).
    model.eval()
    model.net = fold_batchnorm(model.net, inplace=True)
    return model
