"""The STFT front-ends (logfreq, mel) give librosa's numbers, however the CPU path tiles the batch
and splits the filterbank (features/stft.py): a known answer, per clip, across tile edges."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from wavespace.features import LogFreqSTFT, MelSpectrogram
from wavespace.features.logfreq import log_frequencies, logfreq_filterbank
from wavespace.features.stft import band_blocks

SR, HOP = 22050, 256


def clips(n_clips: int, n_samples: int, seed: int = 0) -> torch.Tensor:
    """Tones plus noise, each clip different (a tile mixing clips up would show)."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n_samples) / SR
    f0 = 60.0 * 2 ** (4 * torch.rand(n_clips, 1, generator=g))
    return torch.sin(2 * torch.pi * f0 * t) + 0.1 * torch.randn(n_clips, n_samples, generator=g)


def librosa_logfreq(x: np.ndarray, n_fft: int, power: float, pad_mode: str) -> np.ndarray:
    fb = logfreq_filterbank(SR, n_fft, log_frequencies(27.5, 8000.0, 256))
    return np.stack([fb @ np.abs(librosa.stft(a, n_fft=n_fft, hop_length=HOP, pad_mode=pad_mode)) ** power
                     for a in x])


# 40 short clips: several whole clips per 256-frame tile plus a partial last tile;
# 2 long clips (259 frames): each cut into two frame ranges.
@pytest.mark.parametrize("n_clips,n_samples", [(40, SR // 2 + 7), (2, 3 * SR)])
@pytest.mark.parametrize("power,pad_mode", [(1.0, "constant"), (2.0, "reflect")])
def test_logfreq_equals_filterbank_times_librosa_stft(n_clips, n_samples, power, pad_mode):
    fe = LogFreqSTFT(SR, HOP, n_bins=256, fmin=27.5, fmax=8000.0, n_fft=4096, power=power,
                     compression="none", pad_mode=pad_mode)
    x = clips(n_clips, n_samples)
    with torch.no_grad():
        ours = fe(x)[:, 0].numpy()
    ref = librosa_logfreq(x.numpy(), 4096, power, pad_mode)
    assert ours.shape == ref.shape == (n_clips, 256, n_samples // HOP + 1)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5 * ref.max())


def test_mel_equals_librosa_melspectrogram_across_tiles():
    fe = MelSpectrogram(SR, HOP, n_bins=128, fmin=27.5, n_fft=2048, compression="none")
    x = clips(3, 3 * SR)  # 259 frames: two clips share a 512-frame tile, the third gets its own
    with torch.no_grad():
        ours = fe(x)[:, 0].numpy()
    ref = librosa.feature.melspectrogram(y=x.numpy(), sr=SR, n_fft=2048, hop_length=HOP, n_mels=128,
                                         fmin=27.5, power=1.0, pad_mode="constant")
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5 * ref.max())


def test_band_blocks_hold_every_weight_once():
    fb = logfreq_filterbank(SR, 4096, log_frequencies(27.5, 8000.0, 256))
    blocks = band_blocks(fb)
    rebuilt = np.zeros_like(fb)
    for r0, r1, c0, c1 in blocks:
        rebuilt[r0:r1, c0:c1] = fb[r0:r1, c0:c1]
    np.testing.assert_array_equal(rebuilt, fb)
    assert [b[0] for b in blocks[1:]] == [b[1] for b in blocks[:-1]]  # rows in order, no gap
    assert sum((r1 - r0) * (c1 - c0) for r0, r1, c0, c1 in blocks) < fb.size / 10


def test_accelerator_path_equals_the_cpu_path():
    """Off the CPU the batch goes through one STFT and one dense product; same numbers."""
    fe = LogFreqSTFT(SR, HOP, n_bins=64, fmin=55.0, fmax=4000.0, n_fft=2048)
    x = torch.nn.functional.pad(clips(3, SR), (1024, 1024))
    with torch.no_grad():
        torch.testing.assert_close(fe._tile(x, banded=False), fe._tile(x, banded=True))
