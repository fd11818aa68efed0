"""Transcribing a long recording holds one batch of chunks, never the recording: memory grows
with the file only by the activations it produces (issue 14, "Memory and scale")."""

from __future__ import annotations

import tracemalloc

import numpy as np


def _wav(path, seconds: float, sr: int = 44100):
    """A stereo 44.1 kHz WAV (so decoding, down-mixing and resampling all run), written in blocks."""
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(str(path), "w", sr, 2, subtype="PCM_16") as f:
        for _ in range(int(seconds / 10)):
            x = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 1000) * np.arange(10 * sr) / sr)
            f.write(np.stack([x, 0.8 * x], 1))
    return path


def test_transcribe_memory_grows_with_the_file_only_by_its_activations(overfit, tmp_path):
    """``transcribe`` on a 20 s and an 80 s file: the largest tensor the net sees is the same, and
    the extra 60 s cost no more numpy memory than their activations (plus a small margin).
    Measured: reading the file whole grew it by 30 MB (stereo float32 at 44.1 kHz, its mono mix,
    its resampled copy), decoding notes on [K, T] index tables by 20 MB, against 10 MB of
    activations."""
    import torch
    from omegaconf import OmegaConf

    from wavespace.loading import load_transcriber
    from wavespace.transcribe import run

    model = load_transcriber(str(overfit.checkpoint))
    rows = sum(v.shape[1] for v in model.predict_audio(torch.zeros(1, 22050)).values())
    fr = float(model.features.frame_rate)
    peaks, inputs = {}, {}
    for seconds in (20, 80):
        wav = _wav(tmp_path / f"{seconds}.wav", seconds)
        cfg = OmegaConf.create({"ckpt": str(overfit.checkpoint), "input": str(wav), "output": str(tmp_path / "midi"),
                                "device": "cpu", "chunk_seconds": 5.0, "context_seconds": 1.0, "batch_size": 2,
                                "progress": False})
        seen: list[int] = []

        def net_input(module, args, seen=seen):
            if type(module).__name__ == "ConvTranscriber":
                seen.append(args[0].numel())

        hook = torch.nn.modules.module.register_module_forward_pre_hook(net_input)
        tracemalloc.start()
        try:
            run(cfg)
            peaks[seconds] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            hook.remove()
        inputs[seconds] = max(seen)
    assert inputs[20] == inputs[80]  # one batch of 5 s chunks (+ context) at a time, whatever the length
    activations = rows * 60 * fr * 4  # the extra 60 s: every head, [rows, frames] float32
    growth = peaks[80] - peaks[20]
    assert growth < 1.5 * activations + 2**20, (growth / 2**20, activations / 2**20)
