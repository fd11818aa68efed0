"""Feature front-ends: nn.Modules that turn waveform batches into time-frequency tensors.

Every front-end maps audio [B, T] to float32 [B, C, F, n // hop + 1] (centered frames, see
``wavespace.geometry``); configs pick one with
``features=<name>`` (conf/features). Heavy libraries (nnAudio, transformers) load lazily when a
front-end is built.
"""

from wavespace.features.base import Frontend, FrontendConfigError
from wavespace.features.cqt import CQT
from wavespace.features.encodec import EncodecLatents
from wavespace.features.hcqt import HCQT
from wavespace.features.logfreq import LogFreqSTFT
from wavespace.features.mel import MelSpectrogram
from wavespace.features.normalize import (
    NormalizationNotFittedError,
    Standardize,
    fit_normalization,
)

__all__ = [
    "CQT",
    "HCQT",
    "EncodecLatents",
    "Frontend",
    "FrontendConfigError",
    "LogFreqSTFT",
    "MelSpectrogram",
    "NormalizationNotFittedError",
    "Standardize",
    "fit_normalization",
]
