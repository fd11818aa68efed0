"""Feature front-ends: nn.Modules that turn waveform batches into time-frequency tensors."""

from wavespace.features.base import Frontend
from wavespace.features.cqt import CQT

__all__ = ["CQT", "Frontend"]
