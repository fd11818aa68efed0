"""Whole recordings -> activations -> notes: chunked inference of a trained transcriber.

Long signals go through chunks with ``context_seconds`` of audio on each side that is computed
and thrown away, so chunk borders leave no seams: the result equals whole-file processing
wherever the model's receptive field (CQT kernels included) fits in the context. ``transcribe``,
``evaluate`` and the benchmarks all go through :func:`transcribe_audio`, so they score exactly
what a user gets.

The model is anything shaped like :class:`Transcriber`: a trained task loaded from its
checkpoint, or an exported graph run by ONNX Runtime or TorchScript
(:class:`wavespace.transcription.exported.ExportedTranscriber`). Only the net call differs;
chunking, decoding and MIDI writing are these, for both.

The signal is an array or an :class:`AudioSource` read one batch of chunks at a time
(``transcribe`` reads files so, :class:`wavespace.transcription.outputs.AudioFile`): memory then
grows with a recording's length only by the activations returned, never by its audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from wavespace.errors import WavespaceError
from wavespace.geometry import common_frames, n_frames


class TranscribeError(WavespaceError):
    """Bad transcription request (missing checkpoint/input, no audio, unusable model)."""


class Transcriber(Protocol):
    """What chunked inference and decoding need from a model (a task or an exported graph).

    ``features`` gives the frame grid (``sample_rate``, ``hop_length``, ``frame_rate``,
    ``n_frames(n_samples)``); ``predict_audio`` maps a waveform batch [B, T] to probabilities per
    head ({name: [B, rows, frames]}); ``decode_params`` is the decision rule it was tuned with.
    """

    features: Any

    def predict_audio(self, audio: Any) -> dict[str, Any]: ...

    def decode_params(self, **overrides: Any) -> Any: ...


@dataclass(frozen=True)
class Chunk:
    first_frame: int     # global index of the chunk's first frame
    keep_from: int       # first frame (global) this chunk is trusted for
    keep_to: int         # end (exclusive)
    start: int           # sample range fed to the model
    stop: int


class AudioSource(Protocol):
    """A mono signal at the model's rate that can be read in pieces (a file, an array)."""

    def __len__(self) -> int: ...

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples [start, stop) as float32."""
        ...


class ArraySource:
    """An in-memory signal as an :class:`AudioSource`."""

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio

    def __len__(self) -> int:
        return len(self.audio)

    def read(self, start: int, stop: int) -> np.ndarray:
        return self.audio[start:stop]


def plan_chunks(n_samples: int, hop: int, chunk_frames: int, context_frames: int) -> list[Chunk]:
    """Chunks whose kept frames tile [0, n_frames) exactly, each with context on both sides.

    A chunk starts on a frame boundary (a multiple of the hop), so its frame j is global frame
    ``first_frame + j``; at the ends of the file it takes the file's own edge, as whole-file
    processing does.
    """
    total = n_frames(n_samples, hop)
    out = []
    for keep_from in range(0, total, chunk_frames):
        keep_to = min(keep_from + chunk_frames, total)
        first = max(keep_from - context_frames, 0)
        last = min(keep_to + context_frames, total)  # exclusive
        stop = n_samples if last == total else (last - 1) * hop + 1
        out.append(Chunk(first, keep_from, keep_to, first * hop, stop))
    return out


def predict_activations(
    model: Transcriber,
    audio: np.ndarray | AudioSource,
    chunk_seconds: float = 60.0,
    context_seconds: float = 2.0,
    batch_size: int = 4,
    progress: Any = None,
) -> dict[str, np.ndarray]:
    """Probabilities of every head over a whole signal: {name: [rows, n_frames]} (float32).

    Only ``batch_size`` chunks of audio (and their activations) are in memory at a time; the
    arrays returned are the one thing that grows with the signal.
    """
    import torch

    source = ArraySource(audio) if isinstance(audio, np.ndarray) else audio
    feats = model.features
    hop, fr = int(feats.hop_length), float(feats.frame_rate)
    chunk_frames = max(1, int(round(chunk_seconds * fr)))
    context_frames = int(np.ceil(context_seconds * fr))
    chunks = plan_chunks(len(source), hop, chunk_frames, context_frames)
    total = n_frames(len(source), hop)
    out: dict[str, np.ndarray] = {}
    groups: dict[int, list[Chunk]] = {}
    for c in chunks:  # equal lengths batch together (all but the first and last chunk)
        groups.setdefault(c.stop - c.start, []).append(c)
    for length, group in groups.items():
        for i in range(0, len(group), max(1, int(batch_size))):
            part = group[i : i + max(1, int(batch_size))]
            x = torch.from_numpy(np.stack([source.read(c.start, c.stop) for c in part]))
            probs = model.predict_audio(x)
            for name, value in probs.items():
                value = value.float().cpu().numpy()
                common_frames(value.shape[-1], feats.n_frames(length),
                              f"model output '{name}' for a chunk of {length} samples")
                if name not in out:
                    out[name] = np.zeros((value.shape[1], total), np.float32)
                for j, c in enumerate(part):
                    a, b = c.keep_from - c.first_frame, c.keep_to - c.first_frame
                    got = value[j, :, a:b]
                    out[name][:, c.keep_from : c.keep_from + got.shape[1]] = got
            if progress is not None:
                progress.update(len(part))
    return out


def transcribe_audio(model: Transcriber, audio: np.ndarray | AudioSource, params: Any = None,
                     **chunking: Any) -> tuple[Any, dict[str, np.ndarray]]:
    """(Notes, activations) of a mono signal at the model's sample rate (an array or a source)."""
    from wavespace.transcription.decoding import decode_notes

    probs = predict_activations(model, audio, **chunking)
    params = params or model.decode_params()
    notes = decode_notes(probs["frame"], probs.get("onset"), float(model.features.frame_rate), params,
                         probs.get("velocity"), probs.get("offset"))
    return notes, probs
