"""Multi-pitch estimates from salience-like maps: peak picking, harmonic summation, scoring.

Labels are used only here, never in training or checkpoint selection of the harmonic model.
Every detector (the model's summed salience, the raw spectrogram, harmonic summation on that
spectrogram) goes through the same picker with its own ``fraction``, tuned on the validation
split, so the comparison is about the map, not about the decision rule:

* a pitch is a local maximum along frequency whose value is at least ``fraction`` of its
  frame's maximum (frames whose input is silent, per the model's energy floor, give none);
* peak bins become Hz through the front-end's center frequencies;
* scores are mir_eval.multipitch counts (50-cent tolerance) summed over all frames of a split
  (``wavespace.transcription.metrics.multipitch_counts``), then precision / recall / F1 / accuracy.

All functions are vectorised over frames (and clips); nothing loops per frame in Python except
mir_eval's own scoring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from wavespace.transcription.metrics import multipitch_counts, scores_from_counts

FRACTION_GRID = (0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98)
HS_WEIGHT, HS_HARMONICS = 0.8, 8


def pick_peaks(salience: np.ndarray, fraction: float, active: np.ndarray | None = None) -> np.ndarray:
    """Boolean peaks of ``salience`` [..., F, T]: local maxima along F, >= fraction * frame max.

    A peak is strictly above its lower neighbour and not below its upper one (plateaus give one
    peak) and positive. ``active`` [..., T] (bool) masks frames that may hold pitches.
    """
    s = np.asarray(salience, dtype=np.float32)
    pad = np.full(s.shape[:-2] + (1, s.shape[-1]), -np.inf, dtype=np.float32)
    padded = np.concatenate([pad, s, pad], axis=-2)
    local = (s > padded[..., :-2, :]) & (s >= padded[..., 2:, :])
    peaks = local & (s > 0) & (s >= fraction * s.max(axis=-2, keepdims=True))
    if active is not None:
        peaks &= np.asarray(active, dtype=bool)[..., None, :]
    return peaks


def peaks_to_frequencies(peaks: np.ndarray, center_hz: np.ndarray) -> list[np.ndarray]:
    """Peaks [F, T] -> per frame (T arrays) the center frequencies (Hz) of the peak bins."""
    bins, frames = np.nonzero(np.asarray(peaks, dtype=bool))
    order = np.argsort(frames, kind="stable")
    split = np.searchsorted(frames[order], np.arange(1, peaks.shape[-1]))
    return np.split(np.asarray(center_hz, dtype=np.float64)[bins[order]], split)


def harmonic_summation(spec: np.ndarray, bins_per_octave: float, n_harmonics: int = HS_HARMONICS,
                       weight: float = HS_WEIGHT) -> np.ndarray:
    """sum_h weight**(h-1) * spec[f + round(B log2 h)] over h = 1..H (zero above the top bin).

    The classic salience of Essentia's PitchSalienceFunction / librosa.salience, on the
    log-frequency grid of ``spec`` [..., F, T]: one shifted, weighted add per harmonic.
    """
    spec = np.asarray(spec, dtype=np.float32)
    n_bins = spec.shape[-2]
    out = np.zeros_like(spec)
    for h in range(1, int(n_harmonics) + 1):
        shift = int(round(bins_per_octave * math.log2(h)))
        if shift >= n_bins:
            break
        out[..., : n_bins - shift, :] += np.float32(weight ** (h - 1)) * spec[..., shift:, :]
    return out


@dataclass
class Clip:
    """One evaluated clip: detection maps [F, T] by detector name, active frames, references."""

    maps: dict[str, np.ndarray]
    active: np.ndarray
    reference: list[np.ndarray] | None


def counts(clips: Sequence[Clip], name: str, fraction: float, center_hz: np.ndarray) -> np.ndarray:
    """[tp, n_ref, n_est] of detector ``name`` at ``fraction``, summed over clips."""
    total = np.zeros(3)
    for clip in clips:
        est = peaks_to_frequencies(pick_peaks(clip.maps[name], fraction, clip.active), center_hz)
        total += multipitch_counts(clip.reference, est)
    return total


def tune_fraction(clips: Sequence[Clip], name: str, center_hz: np.ndarray,
                  grid: Sequence[float] = FRACTION_GRID) -> tuple[float, dict[float, float]]:
    """The grid fraction with the best F1 of detector ``name`` on ``clips``; F1 per fraction."""
    f1 = {float(f): scores_from_counts(*counts(clips, name, f, center_hz))["f1"] for f in grid}
    return max(f1, key=lambda f: (f1[f], -f)), f1


def score_detectors(val: Sequence[Clip], test: Sequence[Clip], center_hz: np.ndarray,
                    grid: Sequence[float] = FRACTION_GRID) -> dict[str, dict[str, float]]:
    """Tune each detector's fraction on ``val``, score ``test``: {name: {precision, recall, f1,
    accuracy, fraction, val_f1}}. Detectors are the keys of the clips' ``maps``."""
    table = {}
    for name in test[0].maps:
        fraction, f1 = tune_fraction(val, name, center_hz, grid)
        row = scores_from_counts(*counts(test, name, fraction, center_hz))
        table[name] = {**row, "fraction": fraction, "val_f1": f1[fraction]}
    return table
