"""Time geometry: how many frames a signal has, how many per second, and when two agree.

One convention for the whole package (the ``geometry`` config node declares its numbers):
frames are *centered*, frame ``i`` describes time ``i * hop / sample_rate`` (librosa and
nnAudio with ``center=True``), so a signal of ``n`` samples has ``n // hop + 1`` frames.
Front-ends, datasets, labels, the feature cache and chunked inference all count frames
here, so they cannot drift apart.

This module sits at the bottom layer (it imports only ``errors``): front-ends must not
import the label code to count frames, and labels must not import a front-end.
"""

from __future__ import annotations

from wavespace.errors import ConfigError


def n_frames(n_samples: int, hop_length: int) -> int:
    """Number of centered frames of a signal of ``n_samples``."""
    return int(n_samples) // int(hop_length) + 1


def frame_rate(sample_rate: float, hop_length: int) -> float:
    """Frames per second."""
    return float(sample_rate) / int(hop_length)


def common_frames(n_have: int, n_want: int, what: str) -> int:
    """Frames two frame-aligned arrays share: the shorter length, if they differ by at most one.

    A one-frame difference is the rounding of front-ends that emit ``ceil(n / hop)`` instead
    of ``n // hop + 1`` frames, and is cut. Any larger difference means the two were computed
    on different geometries (a front-end and a dataset with different hops or sample rates):
    cutting it would pair labels with the wrong frames and train on garbage without a word,
    so it raises ``ConfigError`` instead.
    """
    n_have, n_want = int(n_have), int(n_want)
    if abs(n_have - n_want) > 1:
        raise ConfigError(
            f"{what}: {n_have} frames where {n_want} were expected. Frame counts that differ by "
            f"more than one frame mean the front-end and the data use different geometries "
            f"(hop length or sample rate); take both from the geometry config "
            f"(`hop_length: ${{geometry.hop_length}}`, `sample_rate: ${{geometry.sample_rate}}`) "
            f"and rebuild any feature cache made with the old settings."
        )
    return min(n_have, n_want)
