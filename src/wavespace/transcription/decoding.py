"""Frame / onset activations -> notes (pitch, onset, offset, velocity), vectorized over keys.

The rule, as in Onsets and Frames: a note starts at an onset peak (a local maximum in time of
the onset probability above ``onset_threshold``) and lasts while the frame probability stays
above ``frame_threshold``, ending early if the same key is struck again. With an offset head the
note also ends at the first offset peak after its onset (a local maximum of the offset
probability above ``offset_threshold``), whichever comes first: a sustained frame activation
(pedal, ringing strings, a confident net) no longer runs on past the release the offset head
heard. Without an offset head notes end as before. Notes shorter than ``min_duration`` are
dropped. Without an onset head (or with ``infer_onsets``) runs of active frames that no onset
explains become notes too (basic-pitch does the same).

Frames are centered (frame ``i`` is time ``i / frame_rate``, see wavespace.labels), so a roll
built by ``labels.notes_to_roll`` decodes back to its notes, quantized to frames.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from wavespace.labels import Notes, expand_spans


@dataclass(frozen=True)
class DecodeParams:
    """Decision rule of the decoder. Thresholds are tuned on validation data by the task."""

    frame_threshold: float = 0.5
    onset_threshold: float = 0.5
    offset_threshold: float = 0.5    # above 1 (e.g. 1.01): the offset head is ignored
    min_duration: float = 0.03       # seconds; shorter notes are dropped
    onset_mode: str = "peak"         # "peak": local maxima; "edge": first frame above threshold
    infer_onsets: bool = False       # also make notes from frame runs no onset explains
    min_midi: int = 21
    default_velocity: float = 80.0   # when neither a velocity head nor onset probs exist

    def with_thresholds(self, frame: float | None = None, onset: float | None = None,
                        offset: float | None = None) -> DecodeParams:
        return replace(
            self,
            frame_threshold=self.frame_threshold if frame is None else float(frame),
            onset_threshold=self.onset_threshold if onset is None else float(onset),
            offset_threshold=self.offset_threshold if offset is None else float(offset),
        )

    @classmethod
    def from_config(cls, decoding: Mapping[str, Any], thresholds: Sequence[float],
                    **overrides: Any) -> DecodeParams:
        """The rule a model stores: its ``decoding`` config, its tuned [frame, onset, offset]
        thresholds (a checkpoint from before offsets holds two), then any override not None."""
        names = ("frame_threshold", "onset_threshold", "offset_threshold")
        params = {**dict(decoding), **{k: float(v) for k, v in zip(names, thresholds)}}
        params.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**params)

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
    return np.minimum(np.minimum(next_inactive, t_n), _next_true_after(peaks, keys, after))


def _next_true_after(mask: np.ndarray, keys: np.ndarray, after: np.ndarray) -> np.ndarray:
    """For each (key, frame): the first frame >= it where ``mask[key]`` is True, T if none.
    A binary search over the True positions (few: peaks), not a [K, T] table of indices."""
    t_n = mask.shape[1]
    codes = _codes(*np.nonzero(mask), t_n)
    j = np.searchsorted(codes, _codes(keys, after, t_n), side="left")
    has = j < len(codes)
    found = np.full(len(keys), t_n, np.int64)
    found[has] = np.where(codes[j[has]] // (t_n + 1) == keys[has], codes[j[has]] % (t_n + 1), t_n)
    return found


def decode_notes(
    frame: np.ndarray,
    onset: np.ndarray | None,
    frame_rate: float,
    params: DecodeParams | None = None,
    velocity: np.ndarray | None = None,
    offset: np.ndarray | None = None,
) -> Notes:
    """Notes from probabilities ``frame`` and ``onset`` [n_keys, T] (``velocity`` and ``offset``
    optional, 0..1)."""
    p = params or DecodeParams()
    frame = np.asarray(frame, dtype=np.float32)
    k_n, t_n = frame.shape
    active = frame >= p.frame_threshold
    min_frames = max(1, int(np.ceil(p.min_duration * frame_rate - 1e-9)))

    keys = np.zeros(0, np.int64)
    start = np.zeros(0, np.int64)
    end = frame_end = np.zeros(0, np.int64)  # frame_end: where the frame rule alone ends a note
    if onset is not None:
        onset = np.asarray(onset, dtype=np.float32)
        peaks = onset_peaks(onset, p.onset_threshold, p.onset_mode)
        keys, start = np.nonzero(peaks)
        # A note runs from its onset while the frame stays active (the onset frame itself always
        # counts), and stops at the next onset of the same key...
        frame_end = end = _note_ends(active, peaks, keys, start)
        if offset is not None:  # ... or at its first offset peak (the frame at the note's end)
            ends = onset_peaks(np.asarray(offset, dtype=np.float32), p.offset_threshold, "peak")
            end = np.minimum(frame_end, _next_true_after(ends, keys, start + 1))
    if onset is None or p.infer_onsets:
        # Frames an onset's note holds under the frame rule are explained even where an offset
        # peak ended the note earlier: its sustained tail must not become a note of its own.
        covered = np.zeros_like(active)
        note_idx, frame_idx = expand_spans(start, frame_end)
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
