"""Small convolutional salience / frame / onset network over log-frequency frames."""

from __future__ import annotations

import torch
from torch import nn

from wavespace.labels import hz_to_midi
from wavespace.models.layers import BinsToKeys, ConvBlock2d, HarmonicStack


class ConvSalienceNet(nn.Module):
    """Harmonic stacking, a few 2-D conv blocks, and three heads.

    Outputs logits: ``salience`` [B, n_bins, T] on the input's own log-frequency grid (or on out_bins, below), and
    ``frame`` / ``onset`` [B, n_keys, T] on the piano keys. The onset head also sees the frame
    salience map (as Onsets and Frames conditions one head on another).

    With ``out_bins`` set (the geometry's n_bins) and different from ``in_bins`` (mel, logfreq,
    EnCodec latents), a learned per-frame linear map first projects the input's bins onto the
    geometry's log-frequency grid, where harmonic stacking and the key heads make sense.
    """

    def __init__(
        self,
        in_channels: int,
        in_bins: int,
        bins_per_octave: int = 36,
        n_keys: int = 88,
        fmin: float = 27.5,
        min_midi: int = 21,
        channels: int = 16,
        n_layers: int = 3,
        kernel: tuple[int, int] = (3, 3),
        harmonics: tuple[float, ...] = (0.5, 1, 2, 3, 4, 5),
        dropout: float = 0.1,
        out_bins: int | None = None,
    ) -> None:
        super().__init__()
        if bins_per_octave % 12:
            raise ValueError("ConvSalienceNet needs a whole number of bins per semitone")
        self.in_bins = in_bins
        self.project = (FrequencyProjection(in_channels, in_bins, out_bins)
                        if out_bins is not None and out_bins != in_bins else None)
        self.stack = HarmonicStack(bins_per_octave, list(harmonics))
        c = in_channels * len(harmonics)
        self.norm = nn.BatchNorm2d(c)
        layers = []
        for _ in range(n_layers):
            layers.append(ConvBlock2d(c, channels, tuple(kernel), dropout))
            c = channels
        self.body = nn.Sequential(*layers)
        self.salience = nn.Conv2d(channels, 1, 1)
        bps = bins_per_octave // 12
        key_offset_bins = int(round((min_midi - float(hz_to_midi(fmin))) * bps))
        self.frame = BinsToKeys(channels, bps, n_keys, key_offset_bins)
        self.onset = BinsToKeys(channels + 1, bps, n_keys, key_offset_bins)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.project is not None:
            x = self.project(x)
        h = self.body(self.norm(self.stack(x)))
        sal = self.salience(h)  # [B, 1, F, T]
        frame = self.frame(h)
        onset = self.onset(torch.cat([h, sal], dim=1))
        return {"salience": sal.squeeze(1), "frame": frame, "onset": onset}


class FrequencyProjection(nn.Module):
    """[B, C, in_bins, T] -> [B, C, out_bins, T]: a learned linear map of each frame's bins.

    Lets nets built for the geometry's log-frequency grid read front-ends on other grids
    (mel, log-STFT, codec latents); a 1x1 convolution over time with bins as channels.
    """

    def __init__(self, channels: int, in_bins: int, out_bins: int) -> None:
        super().__init__()
        self.channels, self.out_bins = channels, out_bins
        self.proj = nn.Conv1d(channels * in_bins, channels * out_bins, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, f, t = x.shape
        return self.proj(x.reshape(b, c * f, t)).reshape(b, c, self.out_bins, t)
