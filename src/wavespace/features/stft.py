"""Shared STFT stage of the linear-to-log filterbank front-ends (``logfreq``, ``mel``).

``torch.stft`` runs batched on the training device; a fixed [n_bins, n_fft/2+1] filterbank is
built once on the CPU in float64, stored as a non-persistent buffer (it is derived from the
config, so it is not written into checkpoints), and applied as a matmul. Only the FFT bins the
filterbank touches are multiplied.

On the CPU two things decide the speed, not the FFT count (bench/features.py, issue 14):

* **Cache.** One STFT over a whole batch writes the windowed frames and the complex spectrum of
  every clip (~32 KB per frame at n_fft 4096) before the magnitude and the product read them
  back from memory: 32 clips of 2 s ran 3x slower batched than one clip at a time. So the batch
  is cut into tiles of about :data:`CPU_TILE_SAMPLES` frame samples (whole clips, or frame
  ranges of one long clip) that go through STFT, magnitude, product and compression while they
  are still in cache. Frames only depend on the centre-padded signal, so tiling is exact.
* **Sparsity.** The triangular filters are banded: 0.8 % of the logfreq filterbank is non-zero.
  A dense [n_bins, F] product spent as long as the STFT multiplying zeros; the rows are split
  into a few blocks (:func:`band_blocks`), each multiplied with only the FFT bins it spans.

Accelerators get one STFT and one dense product for the whole batch: there, launches cost more
than zeros. Every path sums the same non-zero products, so outputs agree to float rounding
(tests/features/test_stft_exact.py pins them to librosa).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from wavespace.features.base import Frontend, FrontendConfigError, check_compression, compress

CPU_TILE_SAMPLES = 2**20  # frames x n_fft per CPU tile: 256 frames at n_fft 4096 (4 MB floats)
BLOCK_OVERHEAD = 2048  # cost of one more block's matmul call, in multiply-adds per frame


def band_blocks(filterbank: np.ndarray, overhead: int = BLOCK_OVERHEAD,
                max_rows: int = 128) -> list[tuple[int, int, int, int]]:
    """Split a banded filterbank into row blocks ``(row0, row1, col0, col1)``.

    Block rows ``row0:row1`` have all their non-zero weights in columns ``col0:col1``; the
    blocks cover every row in order. Chosen by dynamic programming to minimise the work per
    frame, ``sum(rows * columns) + overhead * blocks``, over blocks of at most ``max_rows``.
    An all-zero block gets an empty column range (its rows read 0).
    """
    nz = filterbank != 0
    n_rows, n_cols = nz.shape
    has = nz.any(1)
    first = np.where(has, nz.argmax(1), n_cols)
    last = np.where(has, n_cols - nz[:, ::-1].argmax(1), 0)
    cost = np.full(n_rows + 1, np.inf)
    cost[0] = 0.0
    start = np.zeros(n_rows + 1, dtype=int)
    for j in range(1, n_rows + 1):
        lo, hi = n_cols, 0
        for i in range(j - 1, max(-1, j - 1 - max_rows), -1):
            lo, hi = min(lo, first[i]), max(hi, last[i])
            c = cost[i] + (j - i) * max(0, hi - lo) + overhead
            if c < cost[j]:
                cost[j], start[j] = c, i
    blocks, j = [], n_rows
    while j > 0:
        i = int(start[j])
        lo, hi = int(first[i:j].min()), int(last[i:j].max())
        blocks.append((i, j, lo, hi) if hi > lo else (i, j, 0, 0))
        j = i
    return blocks[::-1]


class FilterbankSTFT(Frontend):
    """|STFT|**power mapped through a filterbank, compressed: [B, 1, n_bins, frames].

    Frames are centered (``center=True``), so a clip of n samples gives n // hop + 1 frames, the
    same grid as the CQT front-ends and the labels.
    """

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        n_fft: int,
        filterbank: np.ndarray,
        power: float = 1.0,
        compression: str = "log",
        pad_mode: str = "constant",
        normalize: str = "none",
    ) -> None:
        super().__init__()
        self.sample_rate, self.hop_length, self.n_fft = int(sample_rate), int(hop_length), int(n_fft)
        if self.n_fft < self.hop_length:
            raise FrontendConfigError(
                f"n_fft ({self.n_fft}) is shorter than the hop ({self.hop_length}): samples between "
                f"frames would be ignored; raise features.n_fft")
        if filterbank.shape[1] != self.n_fft // 2 + 1:
            raise ValueError("filterbank must have n_fft // 2 + 1 columns")
        if pad_mode not in ("constant", "reflect"):
            raise FrontendConfigError(f"unknown pad_mode '{pad_mode}' (constant or reflect)")
        self.n_bins = int(filterbank.shape[0])
        self.power, self.pad_mode = float(power), pad_mode
        self.compression = check_compression(compression)
        used = np.flatnonzero(np.abs(filterbank).sum(0) > 0)
        self.fft_lo, self.fft_hi = int(used.min()), int(used.max()) + 1
        trimmed = filterbank[:, self.fft_lo:self.fft_hi]
        self.blocks = band_blocks(trimmed)
        self.cpu_tile_frames = max(1, CPU_TILE_SAMPLES // self.n_fft)
        self.register_buffer("filterbank", torch.tensor(trimmed, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(self.n_fft), persistent=False)
        self.set_normalization(normalize)

    def compute(self, audio: torch.Tensor) -> torch.Tensor:
        pad = self.n_fft // 2  # what torch.stft(center=True) pads on each side
        padded = F.pad(audio, (pad, pad), mode=self.pad_mode)
        if audio.device.type != "cpu":
            return self._tile(padded, banded=False).unsqueeze(1)
        n_frames = 1 + (padded.shape[-1] - self.n_fft) // self.hop_length
        out = audio.new_empty(audio.shape[0], self.n_bins, n_frames)
        for clips, frames in self._tiles(audio.shape[0], n_frames):
            samples = slice(frames.start * self.hop_length,
                            (frames.stop - 1) * self.hop_length + self.n_fft)
            out[clips, :, frames] = self._tile(padded[clips, samples], banded=True)
        return out.unsqueeze(1)

    def _tiles(self, n_clips: int, n_frames: int) -> Iterator[tuple[slice, slice]]:
        """(clips, frames) index ranges of about ``cpu_tile_frames`` frames each."""
        per_tile = self.cpu_tile_frames
        if n_frames >= per_tile:  # long clips: frame ranges of one clip
            for b in range(n_clips):
                for f0 in range(0, n_frames, per_tile):
                    yield slice(b, b + 1), slice(f0, min(n_frames, f0 + per_tile))
        else:  # short clips: several whole clips
            clips = per_tile // n_frames
            for b0 in range(0, n_clips, clips):
                yield slice(b0, min(n_clips, b0 + clips)), slice(0, n_frames)

    def _tile(self, padded: torch.Tensor, banded: bool) -> torch.Tensor:
        """Compressed filterbank magnitudes [b, n_bins, frames] of already centre-padded audio."""
        spec = torch.stft(padded, self.n_fft, self.hop_length, window=self.window, center=False,
                          return_complex=True)  # [b, n_fft/2+1, frames], frequency-contiguous
        spec = spec.mT[..., self.fft_lo:self.fft_hi]  # [b, frames, F]: contiguous rows
        # re^2 + im^2 is ~3x faster on CPU than complex abs() (which computes a careful hypot)
        mag = spec.real.square() + spec.imag.square()
        if self.power == 1.0:
            mag = mag.sqrt()
        elif self.power != 2.0:
            mag = mag.pow(self.power / 2)
        fb = self.filterbank
        if banded:
            out = torch.cat([mag[..., c0:c1] @ fb[r0:r1, c0:c1].mT
                             for r0, r1, c0, c1 in self.blocks], dim=-1).mT
        else:
            out = torch.matmul(fb, mag.mT)
        return compress(out, self.compression)  # [b, n_bins, frames]
