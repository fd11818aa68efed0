"""Building blocks shared by several nets."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class HarmonicStack(nn.Module):
    """Stack copies of a log-frequency map shifted so harmonic h of each bin lines up with it.

    As in basic-pitch: shift = round(bins_per_octave * log2(h)). Cheap (no parameters) and gives
    small convolutions access to harmonics an octave or more away.
    """

    def __init__(self, bins_per_octave: int, harmonics: list[float]) -> None:
        super().__init__()
        self.shifts = [int(round(bins_per_octave * math.log2(h))) for h in harmonics]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [B, C, F, T]
        b, c, n_bins, t = x.shape
        # One zeroed output and a slice copy per harmonic: half the memory traffic of
        # pad-then-concatenate, which showed up in the CPU transcription profile.
        out = x.new_zeros(b, len(self.shifts), c, n_bins, t)
        for i, s in enumerate(self.shifts):
            if abs(s) >= n_bins:
                continue  # that harmonic lies entirely off the grid: zeros
            if s >= 0:
                out[:, i, :, : n_bins - s] = x[:, :, s:]
            else:
                out[:, i, :, -s:] = x[:, :, : n_bins + s]
        return out.flatten(1, 2)


class GELU(nn.GELU):
    """``nn.GELU`` applied in the tensor's memory order.

    Why: on a channels-last 4-D tensor (the CPU transcriber keeps its maps so) PyTorch's GELU
    takes a strided path, 2.1x slower in bfloat16 and 1.4x in float32 than on the same memory
    seen as a contiguous [B, H, W, C] view. Elementwise, so the view changes nothing but speed
    (the values equal GELU of the NCHW-contiguous tensor exactly).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return super().forward(x)


class ConvBlock2d(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: tuple[int, int], dropout: float = 0.0) -> None:
        pad = (kernel[0] // 2, kernel[1] // 2)
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=pad, bias=False),
            nn.BatchNorm2d(c_out),
            GELU(),
            nn.Dropout2d(dropout) if dropout > 0 else nn.Identity(),
        )


class BinsToKeys(nn.Module):
    """Map a [B, C, n_bins, T] map on a bins_per_semitone grid to [B, n_keys, T] logits.

    A strided convolution over frequency: key k reads the bins centered on semitone k.
    """

    def __init__(self, c_in: int, bins_per_semitone: int, n_keys: int, key_offset_bins: int = 0) -> None:
        super().__init__()
        self.bps, self.n_keys, self.offset = bins_per_semitone, n_keys, key_offset_bins
        self.conv = nn.Conv2d(c_in, 1, (bins_per_semitone, 3), stride=(bins_per_semitone, 1), padding=(0, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        half = self.bps // 2
        need = self.n_keys * self.bps
        start = self.offset - half
        lo, hi = max(start, 0), min(start + need, x.shape[2])
        x = F.pad(x[:, :, lo:hi], (0, 0, lo - start, start + need - hi))
        return self.conv(x).squeeze(1)
