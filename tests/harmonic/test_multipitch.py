"""Peak picking, harmonic summation and the tuned multi-pitch scoring, on known answers."""

from __future__ import annotations

import numpy as np
import pytest

from wavespace.transcription.multipitch import (
    Clip,
    harmonic_summation,
    peaks_to_frequencies,
    pick_peaks,
    score_detectors,
    tune_fraction,
)

CENTERS = 55.0 * 2.0 ** (np.arange(48) / 12)  # 12 bins per octave from A1


def test_pick_peaks_local_maxima_above_a_fraction_of_the_frame_max():
    s = np.zeros((2, 48, 3), np.float32)
    s[0, 10, 0], s[0, 20, 0], s[0, 30, 0] = 1.0, 0.5, 0.2
    s[0, 9, 0], s[0, 11, 0] = 0.8, 0.8  # shoulders of the first peak: not peaks
    s[0, 5:8, 1] = 0.7  # a plateau: one peak, at its first bin
    s[1, 47, 2] = 1.0  # the top bin can be a peak
    peaks = pick_peaks(s, fraction=0.4)
    assert np.argwhere(peaks[0, :, 0]).ravel().tolist() == [10, 20]  # 0.2 < 0.4 * 1.0
    assert np.argwhere(peaks[0, :, 1]).ravel().tolist() == [5]
    assert np.argwhere(peaks[1, :, 2]).ravel().tolist() == [47]
    assert not peaks[0, :, 2].any()  # an empty frame has no peak
    active = np.array([[False, True, True], [True, True, True]])
    assert not pick_peaks(s, 0.4, active)[0, :, 0].any()


def test_peaks_to_frequencies_per_frame():
    peaks = np.zeros((48, 4), bool)
    peaks[[0, 12], 1] = True
    peaks[24, 3] = True
    freqs = peaks_to_frequencies(peaks, CENTERS)
    assert [f.tolist() for f in freqs] == [[], [55.0, 110.0], [], [220.0]]


def test_harmonic_summation_weights_harmonics_down_from_each_bin():
    spec = np.zeros((48, 1), np.float32)
    for h in range(1, 5):  # a harmonic series on bin 0 with unit partials
        spec[round(12 * np.log2(h)), 0] = 1.0
    hs = harmonic_summation(spec, 12, n_harmonics=4, weight=0.5)
    assert hs[0, 0] == pytest.approx(1 + 0.5 + 0.25 + 0.125)
    assert hs.argmax() == 0  # the fundamental collects its harmonics
    assert hs[12, 0] == pytest.approx(1 + 0.5)  # bin 12: itself and its octave (bin 24)


def test_tuned_fraction_and_scores_of_a_perfect_and_a_cluttered_map():
    rng = np.random.default_rng(0)
    clips = []
    for _ in range(3):
        f0 = rng.integers(0, 20, size=10)
        truth = np.zeros((48, 10), np.float32)
        truth[f0, np.arange(10)] = 1.0
        clutter = truth.copy()
        clutter[f0 + 12, np.arange(10)] = 0.3  # a weaker octave peak in every frame
        refs = [np.array([CENTERS[b]]) for b in f0]
        clips.append(Clip({"perfect": truth, "clutter": clutter}, np.ones(10, bool), refs))
    fraction, f1 = tune_fraction(clips, "clutter", CENTERS)
    assert fraction > 0.3 and f1[fraction] == 1.0 and f1[0.2] == pytest.approx(2 / 3)
    table = score_detectors(clips, clips, CENTERS)
    assert table["perfect"]["f1"] == 1.0 and table["perfect"]["accuracy"] == 1.0
    assert table["clutter"]["f1"] == 1.0 and table["clutter"]["fraction"] == fraction
