"""Build a task from a config, and rebuild a trained one from its checkpoint, without Hydra's CLI.

``build_model`` is the one place a task is assembled (front-end, then the task with its net):
``train`` uses it for a new run and ``load`` for a finished one, so both always agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from wavespace.files import resolve_checkpoint

__all__ = ["build_features", "build_model", "load", "load_transcriber", "locate", "resolve_checkpoint"]


def locate(path: str | Path) -> Path:
    """The checkpoint file behind what a user typed: a ``.ckpt`` file, a run directory (its best,
    else last checkpoint) or the name of a shipped model (``piano-cpu``: wavespace.pretrained)."""
    import wavespace.pretrained as pretrained

    if Path(path).expanduser().exists():
        return resolve_checkpoint(path)
    return pretrained.checkpoint(str(path))


def build_model(cfg: Any, restoring: bool = False) -> Any:
    """The task of a run config (``cfg.features`` and ``cfg.model``), freshly initialised.

    With ``restoring`` the front-end may first adapt its config to a build whose weights come
    from a checkpoint (:meth:`wavespace.features.base.Frontend.restore_config`: EnCodec then
    skips its download, the checkpoint holds the weights).
    """
    from hydra.utils import instantiate

    cfg = _as_config(cfg)
    return instantiate(cfg.model, features=build_features(cfg, restoring))


def _as_config(cfg: Any) -> Any:
    from omegaconf import DictConfig, OmegaConf

    return cfg if isinstance(cfg, DictConfig) else OmegaConf.create(dict(cfg))


def build_features(cfg: Any, restoring: bool = False) -> Any:
    """The front-end of a run config (``cfg.features``); see :func:`build_model`."""
    from wavespace.features.base import build_frontend

    return build_frontend(_as_config(cfg).features, restoring)


def _read(path: str | Path, map_location: str | torch.device) -> tuple[Path, Mapping[str, Any]]:
    ckpt_path = locate(path)
    ckpt = torch.load(ckpt_path, map_location=map_location, weights_only=True)
    if not isinstance(ckpt, Mapping) or "wavespace" not in ckpt:
        raise ValueError(f"{ckpt_path} was not written by wavespace.train (no 'wavespace' entry)")
    return ckpt_path, ckpt


def load(path: str | Path, map_location: str | torch.device = "cpu") -> Any:
    """Return the trained task (eval mode) stored at ``path``: a ``.ckpt``, a run directory or
    the name of a shipped model (``wavespace.load("piano-cpu")``, see wavespace.pretrained).

    The checkpoint carries the resolved run config; the task, its net and its front-end are
    rebuilt from it by :func:`build_model` and the weights loaded strictly. The config and the
    file are on the task as ``model.run_config`` and ``model.checkpoint_path``.
    """
    ckpt_path, ckpt = _read(path, map_location)
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


# Tasks whose inference is front-end -> net -> sigmoid, so the Lightning-free Transcriber
# reproduces them exactly; any other task (a subclass, a study's own) loads through load().
LEAN_TASKS = ("wavespace.tasks.SupervisedSalience", "wavespace.tasks.supervised.SupervisedSalience")


def load_transcriber(ckpt: str | None, device: str = "cpu", precision: str = "fp32") -> Any:
    """A trained transcriber ready for inference only, with errors a user can act on.

    ``ckpt``: a ``.ckpt`` file, a run directory or a shipped model's name; None or empty: the
    default shipped model (:data:`wavespace.pretrained.DEFAULT`). Checkpoints of
    ``SupervisedSalience`` become a :class:`wavespace.transcription.model.Transcriber` (same
    outputs, no Lightning import: start-up in about a second instead of several); others are
    loaded as their task by :func:`load`. BatchNorms are folded into their convolutions.
    ``precision`` (``fp32``, ``bf16``, or ``auto``: bf16 where the device runs it natively,
    :func:`wavespace.models.inference.inference_dtype`) sets the dtype the Transcriber's net runs
    in; the front-end and the returned probabilities stay float32, other models stay float32.
    An exported model (``.onnx``/``.pt`` from ``python -m wavespace.export``, with its sidecar)
    loads as an :class:`~wavespace.transcription.exported.ExportedTranscriber`, which inference
    uses the same way.
    """
    import wavespace.pretrained as pretrained
    from wavespace.models.inference import fold_batchnorm, inference_dtype
    from wavespace.transcription.exported import ExportedTranscriber, is_exported
    from wavespace.transcription.inference import TranscribeError
    from wavespace.transcription.model import Transcriber

    try:
        dtype = inference_dtype(precision, device)
    except ValueError as exc:
        raise TranscribeError(f"precision={precision}: {exc}.") from exc
    if ckpt and is_exported(ckpt):
        return ExportedTranscriber(ckpt, device)
    name = str(ckpt or pretrained.DEFAULT)
    try:
        path, state = _read(name, device)
        lean = (state["wavespace"]["config"]["model"].get("_target_") in LEAN_TASKS
                and "decoding" in (state.get("hyper_parameters") or {}))
        if lean:
            model = _lean_transcriber(path, state, device)
        else:
            model = load(path, map_location=device)
            check_model(model, name)
    except pretrained.PretrainedError as exc:
        if ckpt:
            raise
        raise TranscribeError(f"No checkpoint given (ckpt=PATH), so the default shipped model "
                              f"'{name}' is used, but: {exc}") from exc
    except (FileNotFoundError, ValueError, KeyError) as exc:
        raise TranscribeError(f"Cannot load checkpoint {name}: {exc}.") from exc
    # Transcription never trains: fold BatchNorms into their convolutions (same outputs, faster).
    model.eval()
    model.net = fold_batchnorm(model.net, inplace=True)
    if isinstance(model, Transcriber):
        model.net.to(dtype)
    return model


def _lean_transcriber(path: Path, ckpt: Mapping[str, Any], device: str | torch.device) -> Any:
    """The Transcriber of a SupervisedSalience checkpoint, built as the task builds itself."""
    from hydra.utils import instantiate

    from wavespace.models.build import build_net
    from wavespace.transcription.model import Transcriber

    config, hparams = ckpt["wavespace"]["config"], ckpt["hyper_parameters"]
    features = build_features(config, restoring=True)
    net = build_net(instantiate(config["model"]["net"]), features)
    model = Transcriber(features, net, hparams["decoding"], float(hparams.get("threshold", 0.5)))
    model.restore(ckpt["state_dict"], config, str(path))
    return model.eval().to(device)
