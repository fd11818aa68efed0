"""Trace a loaded transcriber into an ONNX or TorchScript graph, and check the graph against PyTorch.

Exporter: ``torch.onnx.export(..., dynamo=False)``, the TorchScript-based one. The dynamo
exporter (torch's default since 2.9) needs the ``onnxscript`` package; the TorchScript one works
with torch alone and handles nnAudio's CQT. Both ONNX and TorchScript graphs are *traces*: Python
arithmetic on shapes is frozen at the example's size. The time and batch axes are declared
dynamic, and every graph is run at two other lengths and batch sizes against the PyTorch model
(:func:`check_graph`) before the exporter keeps it, so a graph that froze a length is caught,
not shipped.

What traces with a free length: the CQT and HCQT front-ends (conv1d kernels; the FFT decimation
is swapped for nnAudio's conv1d while tracing, :func:`wavespace.features.cqt.direct_decimation`)
and the conv nets. What does not: ``torch.stft`` with complex output (mel, log-frequency STFT:
the exporter refuses it) and EnCodec (its crop to ``n // hop + 1`` frames freezes). For those
the graph starts at the raw features and the front-end stays in Python.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from wavespace.errors import WavespaceError

OPSET = 17
TRACE_SECONDS = 2.0
#: (batch, seconds) the graph is checked at: neither is the traced example's.
CHECKS = ((1, 1.3), (3, 3.1))


class ExportError(WavespaceError):
    """A model could not be exported (unsupported op, or the graph disagrees with PyTorch)."""


class AudioToProbs(nn.Module):
    """Waveform [B, T] -> probabilities per head (front-end, net, sigmoid: what
    ``SupervisedSalience.predict_audio`` computes), as a tuple in ``names`` order."""

    def __init__(self, features: nn.Module, net: nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.features, self.net, self.names = features, net, list(names)

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.net(self.features(audio))
        return tuple(torch.sigmoid(out[name]) for name in self.names)


class FeaturesToProbs(nn.Module):
    """Raw front-end output [B, C, F, frames] -> probabilities per head: the front-end's
    normalization (statistics fitted on the training split) stays in the graph."""

    def __init__(self, standardize: nn.Module | None, net: nn.Module, names: Sequence[str]) -> None:
        super().__init__()
        self.standardize, self.net, self.names = standardize, net, list(names)

    def forward(self, raw: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = raw if self.standardize is None else self.standardize(raw)
        out = self.net(x)
        return tuple(torch.sigmoid(out[name]) for name in self.names)


def probe_signal(sample_rate: int, seconds: float, batch: int, seed: int = 0) -> torch.Tensor:
    """A few piano-range partials plus noise: inputs that give the heads something to say.
    An odd sample count, so no length is a multiple of the hop by luck."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate)) | 1
    t = np.arange(n) / sample_rate
    out = []
    for _ in range(batch):
        f0 = 55.0 * 2 ** (rng.integers(0, 48) / 12)
        tone = sum(0.3 / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.28)) for h in (1, 2, 3))
        out.append(tone + 0.02 * rng.standard_normal(n))
    return torch.from_numpy(np.stack(out).astype(np.float32))


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Tracer and deprecation warnings are about the tracer, not the user's model: the check
    that follows every export is what tells whether the trace is right."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def build_graph(task: Any, frontend_included: bool, names: Sequence[str]) -> tuple[nn.Module, torch.Tensor, str]:
    """(module to trace, example input, input name) for a loaded transcription task."""
    features, net = task.features, task.net.float().eval()
    audio = probe_signal(int(features.sample_rate), TRACE_SECONDS, batch=2, seed=1)
    if frontend_included:
        return AudioToProbs(features, net, names).eval(), audio, "audio"
    with torch.no_grad():
        raw = features.raw(audio)
    return FeaturesToProbs(features.standardizer, net, names).eval(), raw, "features"


def write_graph(module: nn.Module, example: torch.Tensor, input_name: str, names: Sequence[str],
                fmt: str, path: Path) -> None:
    """Trace ``module`` on ``example`` and write it to ``path`` (ONNX or TorchScript), with the
    batch and time axes free."""
    from wavespace.features.cqt import direct_decimation

    time_axis = example.dim() - 1
    with _quiet(), torch.no_grad(), direct_decimation(module):
        if fmt == "onnx":
            axes = {input_name: {0: "batch", time_axis: "samples" if input_name == "audio" else "frames"}}
            axes.update({name: {0: "batch", 2: "frames"} for name in names})
            torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=OPSET,
                              input_names=[input_name], output_names=list(names), dynamic_axes=axes,
                              do_constant_folding=True)
        else:
            traced = torch.jit.trace(module, (example,), check_trace=False)
            torch.jit.save(traced, str(path))


def check_graph(exported: Any, task: Any, atol: float) -> dict[str, Any]:
    """Run the exported graph and the PyTorch task on the :data:`CHECKS` inputs; the largest
    difference per head, or ExportError naming the first head, length and difference past ``atol``."""
    sr = int(task.features.sample_rate)
    worst: dict[str, float] = {}
    lengths = []
    for i, (batch, seconds) in enumerate(CHECKS):
        audio = probe_signal(sr, seconds, batch, seed=10 + i)
        lengths.append([batch, int(audio.shape[-1])])
        want = {k: v.float().cpu().numpy() for k, v in task.predict_audio(audio).items()}
        with _quiet():
            got = {k: v.float().cpu().numpy() for k, v in exported.predict_audio(audio).items()}
        for name, value in got.items():
            if value.shape != want[name].shape:
                raise ExportError(f"the exported '{name}' has shape {list(value.shape)} for {batch} x "
                                  f"{audio.shape[-1]} samples where PyTorch gives {list(want[name].shape)} "
                                  f"(the trace froze a length)")
            diff = float(np.abs(value - want[name]).max())
            worst[name] = max(worst.get(name, 0.0), diff)
            if not diff <= atol:
                raise ExportError(f"the exported '{name}' differs from PyTorch by {diff:.2e} (more than "
                                  f"atol={atol:g}) for {batch} x {audio.shape[-1]} samples")
    return {"atol": atol, "inputs": lengths, "max_abs_diff": worst}
