"""Frame / onset activations -> notes (pitch, onset, offset, velocity), vectorized over keys.

The rule, as in Onsets and Frames: a note starts at an onset peak (a local maximum in time of
the onset probability above ``onset_threshold``) and lasts while the frame probability stays
above ``frame_threshold``, ending early if the same key is struck again. Notes shorter than
``min_duration`` are dropped. Without an onset head (or with ``infer_onsets``) runs of active
frames that no onset explains become notes too (basic-pitch does the same).

Frames are centered (frame ``i`` is time ``i / frame_rate``, see wavespace.labels), so a roll
built by ``labels.notes_to_roll`` decodes back to its notes, quantized to frames.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from wavespace.labels import Notes, expand_spans


@dataclass(frozen=True)
class DecodeParams:
    """Decision rule of the decoder. Thresholds are tuned on validation data by the task."""

    frame_threshold: float = 0.5
    onset_threshold: float = 0.5
    min_duration: float = 0.03       # seconds; shorter notes are dropped
    onset_mode: str = "peak"         # "peak": local maxima; "edge": first frame above threshold
    infer_onsets: bool = False       # also make notes from frame runs no onset explains
    min_midi: int = 21
    default_velocity: float = 80.0   # when neither a velocity head nor onset probs exist

    def with_thresholds(self, frame: float | None = None, onset: float | None = None) -> DecodeParams:
        return replace(
            self,
            frame_threshold=self.frame_threshold if frame is None else float(frame),
            onset_threshold=self.onset_threshold if onset is None else float(onset),
        )

    def as_dict(self) -> dict:
        return asdict(self)


def onset_peaks(onset: np.ndarray, threshold: float, mode: str = "peak") -> np.ndarray:
    """Boolean [K, T] of onset frames. ``peak`` keeps the first frame of each local maximum.

    Built in place on boolean masks (one byte a frame), not on padded float copies: decoding a
    long recording should cost little more than its activations.
    """
    if mode not in ("peak", "edge"):
        raise ValueError(f"unknown onset_mode '{mode}' (peak or edge)")
    above = onset >= threshold
    if mode == "edge":
        peaks = above.copy()
        peaks[:, 1:] &= ~above[:, :-1]
        return peaks
    above[:, 1:] &= onset[:, 1:] > onset[:, :-1]    # rises from the left (the first frame always does)
    above[:, :-1] &= onset[:, :-1] >= onset[:, 1:]  # not below its right neighbour
    return above


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(key, start, end) of every run of True along time in a [K, T] mask, in row-major order."""
    edge = mask.copy()
    edge[:, 1:] &= ~mask[:, :-1]
    k, s = np.nonzero(edge)
    edge = mask.copy()
    edge[:, :-1] &= ~mask[:, 1:]
    k1, e = np.nonzero(edge)  # last frame of each run, in the same order
    assert np.array_equal(k, k1)
    return k, s, e + 1


def _codes(keys: np.ndarray, frames: np.ndarray, t_n: int) -> np.ndarray:
    """(key, frame) pairs as one sortable integer, row-major like np.nonzero."""
    return keys.astype(np.int64) * (t_n + 1) + frames


def _note_ends(active: np.ndarray, peaks: np.ndarray, keys: np.ndarray, start: np.ndarray) -> np.ndarray:
    """End of each note: the first frame after its onset where the key goes inactive or is struck
    again (T when neither happens). Binary searches over the runs and peaks, not [K, T] tables."""
    t_n = active.shape[1]
    after = start + 1
    q = _codes(keys, after, t_n)
    run_k, run_s, run_e = _runs(active)
    i = np.searchsorted(_codes(run_k, run_s, t_n), q, side="right") - 1
    inside = (i >= 0) & (after < t_n)
    i = np.clip(i, 0, max(len(run_k) - 1, 0))
    if len(run_k):
        inside &= (run_k[i] == keys) & (run_e[i] > after)
        next_inactive = np.where(inside, run_e[i], after)
    else:
        next_inactive = after
    peak_codes = _codes(*np.nonzero(peaks), t_n)
    j = np.searchsorted(peak_codes, q, side="left")
    has = j < len(peak_codes)
    next_peak = np.full(len(keys), t_n, np.int64)
    next_peak[has] = np.where(peak_codes[j[has]] // (t_n + 1) == keys[has], peak_codes[j[has]] % (t_n + 1), t_n)
    return np.minimum(np.minimum(next_inactive, t_n), next_peak)


def decode_notes(
    frame: np.ndarray,
    onset: np.ndarray | None,
    frame_rate: float,
    params: DecodeParams | None = None,
    velocity: np.ndarray | None = None,
) -> Notes:
    """Notes from probabilities ``frame`` and ``onset`` [n_keys, T] (``velocity`` optional, 0..1)."""
    p = params or DecodeParams()
    frame = np.asarray(frame, dtype=np.float32)
    k_n, t_n = frame.shape
    active = frame >= p.frame_threshold
    min_frames = max(1, int(np.ceil(p.min_duration * frame_rate - 1e-9)))

    keys = np.zeros(0, np.int64)
    start = np.zeros(0, np.int64)
    end = np.zeros(0, np.int64)
    if onset is not None:
        onset = np.asarray(onset, dtype=np.float32)
        peaks = onset_peaks(onset, p.onset_threshold, p.onset_mode)
        keys, start = np.nonzero(peaks)
        # A note runs from its onset while the frame stays active (the onset frame itself always
        # counts), and stops at the next onset of the same key.
        end = _note_ends(active, peaks, keys, start)
    if onset is None or p.infer_onsets:
        covered = np.zeros_like(active)
        note_idx, frame_idx = expand_spans(start, end)
        covered[keys[note_idx], frame_idx] = True
        k2, s2, e2 = _runs(active & ~covered)
        keys, start, end = np.concatenate([keys, k2]), np.concatenate([start, s2]), np.concatenate([end, e2])

    keep = (end - start) >= min_frames
    keys, start, end = keys[keep], start[keep], end[keep]
    order = np.lexsort((keys, start))
    keys, start, end = keys[order], start[order], end[order]
    if velocity is not None:
        vel = np.clip(np.asarray(velocity)[keys, start] * 127.0, 1, 127)
    elif onset is not None:
        vel = np.clip(onset[keys, start] * 127.0, 1, 127)
    else:
        vel = np.full(len(keys), p.default_velocity)
    return Notes.from_arrays(start / frame_rate, end / frame_rate, keys + p.min_midi, np.round(vel))
