"""Run a transcriber exported by ``python -m wavespace.export`` (ONNX or TorchScript) like a checkpoint.

An exported model is two files (three when its front-end stays in Python): the graph
(``model.onnx`` or ``model.pt``) and a JSON sidecar beside it named like the graph plus
``.json`` (``model.onnx.json``) that says how to use it: sample rate and hop, the output heads
in graph order and what their rows mean, the decision thresholds tuned at training time, whether
the front-end is inside the graph, and where it all came from. When it is not (the exporter
could not trace the front-end: the STFT and EnCodec ones), the graph takes raw features and the
front-end is rebuilt here from its config and its saved state dict (``model.onnx.frontend.pt``).

:class:`ExportedTranscriber` offers what chunked inference and decoding use from a trained task
(``features`` for the frame grid, ``predict_audio``, ``decode_params``), so ``transcribe`` and
``evaluate`` run the same chunking, decoding and MIDI writing for both
(:class:`wavespace.transcription.inference.Transcriber`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wavespace.geometry import frame_rate, n_frames
from wavespace.transcription.decoding import DecodeParams
from wavespace.transcription.inference import TranscribeError

#: format name -> default file suffix of the graph
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
SIDECAR_VERSION = 1


def sidecar_path(model_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json`` (the ONNX and TorchScript exports of one
    checkpoint can share a folder)."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".json")


def frontend_state_path(model_path: str | Path) -> Path:
    """Where the front-end's state dict goes when the front-end stays in Python."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.name + ".frontend.pt")


def is_exported(path: str | Path) -> bool:
    """True for a file that ``wavespace.export`` wrote (``.onnx``/``.pt`` or one with a sidecar)."""
    path = Path(path).expanduser()
    return path.suffix in FORMATS.values() or (path.is_file() and sidecar_path(path).is_file())


def read_sidecar(model_path: str | Path) -> dict[str, Any]:
    """The sidecar of an exported model, or a TranscribeError saying what is missing."""
    model_path = Path(model_path).expanduser()
    side = sidecar_path(model_path)
    if not model_path.is_file():
        raise TranscribeError(f"Exported model {model_path} does not exist.")
    if not side.is_file():
        raise TranscribeError(
            f"{model_path} has no sidecar {side.name} beside it. `python -m wavespace.export` writes "
            f"the two together; copy or move them together (the sidecar holds the sample rate, "
            f"the output heads and the decision thresholds).")
    try:
        meta = json.loads(side.read_text())
        if meta.get("format") not in FORMATS or not isinstance(meta.get("outputs"), list):
            raise ValueError("no 'format' or 'outputs' entry")
    except ValueError as exc:
        raise TranscribeError(f"{side} is not a wavespace export sidecar ({exc}).") from exc
    return meta


@dataclass(frozen=True)
class FrameGrid:
    """The frame grid of a front-end that lives inside an exported graph (centered frames)."""

    sample_rate: int
    hop_length: int

    @property
    def frame_rate(self) -> float:
        return frame_rate(self.sample_rate, self.hop_length)

    def n_frames(self, n_samples: int) -> int:
        return n_frames(n_samples, self.hop_length)


def _onnx_runner(path: Path, device: str) -> Callable[[np.ndarray], list[np.ndarray]]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise TranscribeError(f"{path} is an ONNX model and onnxruntime is not installed "
                              f"(pip install 'wavespace[export]').") from exc
    providers = ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise TranscribeError(f"device={device}, but this onnxruntime has no CUDA provider "
                                  f"(install onnxruntime-gpu) — use device=cpu.")
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()  # as many as torch would use
    session = ort.InferenceSession(str(path), options, providers=providers)
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def _torchscript_runner(path: Path, device: str) -> Callable[[np.ndarray], list[np.ndarray]]:
    module = torch.jit.load(str(path), map_location=device).eval()

    def run(x: np.ndarray) -> list[np.ndarray]:
        with torch.inference_mode():
            return [y.float().cpu().numpy() for y in module(torch.from_numpy(x).to(device))]

    return run


class ExportedTranscriber:
    """An exported graph with its sidecar, usable wherever a loaded transcription task is."""

    def __init__(self, path: str | Path, device: str = "cpu", meta: Mapping[str, Any] | None = None,
                 frontend: torch.nn.Module | None = None) -> None:
        """``meta`` and ``frontend`` default to the sidecar and the saved front-end; the exporter
        passes its own to check a graph before anything is renamed into place."""
        self.path = Path(path).expanduser()
        self.meta = dict(meta) if meta is not None else read_sidecar(self.path)
        self.device = device
        self.output_names: list[str] = [o["name"] for o in self.meta["outputs"]]
        self.frontend_included = bool(self.meta["frontend"]["included"])
        if self.frontend_included:
            self.features: Any = FrameGrid(int(self.meta["sample_rate"]), int(self.meta["hop_length"]))
        else:
            self.features = frontend if frontend is not None else self._rebuild_frontend()
        runner = _onnx_runner if self.meta["format"] == "onnx" else _torchscript_runner
        try:
            self._run = runner(self.path, device)
        except TranscribeError:
            raise
        except Exception as exc:  # a corrupt or foreign file: onnxruntime/torch raise many kinds
            raise TranscribeError(f"Cannot load exported model {self.path}: {exc}") from exc
        # What loaded tasks carry (evaluate reads the trained geometry/features/data from it).
        self.run_config: dict[str, Any] | None = self.meta.get("run_config")
        self.checkpoint_path = str(self.path)

    def _rebuild_frontend(self) -> torch.nn.Module:
        from wavespace.features.base import build_frontend

        state = frontend_state_path(self.path)
        if not state.is_file():
            raise TranscribeError(f"{self.path} takes features, not audio, and its front-end state "
                                  f"{state.name} is missing: copy it together with the model.")
        frontend = build_frontend(self.meta["frontend"]["config"], restoring=True)
        frontend.load_state_dict(torch.load(state, map_location="cpu", weights_only=True), strict=True)
        return frontend.eval().to(self.device)

    def decode_params(self, **overrides: Any) -> DecodeParams:
        """The decision rule stored at export (thresholds tuned at training time), as on the task."""
        params = {**self.meta["decoding"], **{k: v for k, v in overrides.items() if v is not None}}
        return DecodeParams(**params)

    @torch.no_grad()
    def predict_audio(self, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Probabilities per head for a waveform batch [B, T] at ``features.sample_rate``."""
        x = audio.float()
        if x.dim() == 1:
            x = x.unsqueeze(0)
        if not self.frontend_included:
            x = self.features.raw(x.to(self.device))
        outputs: Sequence[np.ndarray] = self._run(np.ascontiguousarray(x.cpu().numpy()))
        return {name: torch.from_numpy(np.asarray(y)) for name, y in zip(self.output_names, outputs, strict=True)}
