"""Filterbank spectrograms back to audio (NNLS + Griffin-Lim): a tone keeps its pitch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wavespace.errors import ConfigError
from wavespace.features import CQT, LogFreqSTFT, MelSpectrogram
from wavespace.features.inverse import features_to_audio

SR, HOP = 22050, 256


@pytest.mark.parametrize("frontend", [MelSpectrogram(SR, HOP, n_bins=256, fmin=27.5),
                                      LogFreqSTFT(SR, HOP, n_bins=256, fmin=27.5)],
                         ids=["mel", "logfreq"])
def test_a_440_hz_sine_keeps_its_spectral_peak_within_one_bin(frontend):
    t = np.arange(int(0.75 * SR)) / SR
    sine = (0.5 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    spec = frontend(torch.from_numpy(sine))[0]
    audio = features_to_audio(frontend, spec, n_samples=len(sine), n_iter=16)
    assert audio.shape == sine.shape and audio.dtype == np.float32
    back = frontend(torch.from_numpy(audio))[0]
    peak_in, peak_out = int(spec[0].mean(-1).argmax()), int(back[0].mean(-1).argmax())
    expected = int(np.argmin(np.abs(frontend.center_frequencies - 440.0)))
    assert abs(peak_in - expected) <= 1
    assert abs(peak_out - peak_in) <= 1, (peak_in, peak_out)
    spectrum = np.abs(np.fft.rfft(audio))
    assert abs(np.argmax(spectrum) * SR / len(audio) - 440.0) < 10.0
    # The level survives too (the compression and filterbank are undone, not just the shape).
    assert 0.5 < np.sqrt(np.mean(audio**2)) / np.sqrt(np.mean(sine**2)) < 2.0


def test_per_bin_normalized_features_are_unnormalized_first():
    fe = MelSpectrogram(SR, HOP, n_bins=128, fmin=27.5, normalize="per_bin")
    t = np.arange(SR // 2) / SR
    sine = torch.from_numpy((0.3 * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32))
    raw = fe.raw(sine)
    fe.standardizer.set_stats(raw.mean(-1)[0], raw.std(-1)[0] + 0.5, 10)
    a = features_to_audio(fe, fe(sine)[0], len(sine), n_iter=8, normalized=True)
    b = features_to_audio(fe, raw[0], len(sine), n_iter=8, normalized=False)
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_a_cqt_is_refused_with_the_front_ends_that_can_be_inverted():
    fe = CQT(SR, HOP, n_bins=84, bins_per_octave=12, fmin=32.7)
    with pytest.raises(ConfigError, match="features=mel, features=logfreq"):
        features_to_audio(fe, np.zeros((84, 10), np.float32))
