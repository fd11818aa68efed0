"""Transformer encoder over frames (EnCodec latents or CQT frames), pre-norm.

The seed's transformers were unstable early and late and did not exploit local temporal
structure. Here that is addressed by construction: pre-norm residual blocks (stable without
careful warmup, though the presets still warm up and clip gradients), a choice of positional
encoding (``sinusoidal``, ``learned``, ``rotary`` or ``none``), optional local attention windows
(each frame attends to +-``window`` frames) and an optional depthwise temporal convolution in the
input stem that hands the attention layers local context.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from wavespace.models.heads import FrameHeads, flatten_frames

POSITIONAL = ("sinusoidal", "learned", "rotary", "none")


def sinusoidal_positions(n: int, d: int, device: torch.device | None = None) -> torch.Tensor:
    """[n, d] fixed sine/cosine position table (Vaswani et al.)."""
    pos = torch.arange(n, device=device, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / d))
    table = torch.zeros(n, d, device=device)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: d // 2])
    return table


def rotate_half_pairs(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary embedding on the last dim (pairs (i, i + d/2)), as in RoFormer / GPT-NeoX."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


def rotary_tables(n: int, d_head: int, device: torch.device, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    inv = 1.0 / base ** (torch.arange(0, d_head, 2, device=device, dtype=torch.float32) / d_head)
    ang = torch.arange(n, device=device, dtype=torch.float32)[:, None] * inv[None, :]
    return ang.cos(), ang.sin()  # [n, d_head/2]


def local_mask(n: int, window: int, device: torch.device) -> torch.Tensor:
    """Boolean [n, n] mask, True where |i - j| <= window (allowed to attend)."""
    idx = torch.arange(n, device=device)
    return (idx[:, None] - idx[None, :]).abs() <= window


class EncoderBlock(nn.Module):
    """Pre-norm self-attention + feed-forward block with optional rotary positions."""

    def __init__(self, d_model: int, n_heads: int, ff_mult: int, dropout: float, rotary: bool) -> None:
        super().__init__()
        if d_model % n_heads or (d_model // n_heads) % 2:
            raise ValueError(f"d_model {d_model} must split into {n_heads} heads of even size")
        self.n_heads, self.rotary, self.dropout = n_heads, rotary, dropout
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ff = nn.Sequential(
            nn.Linear(d_model, ff_mult * d_model), nn.GELU(), nn.Dropout(dropout),
            nn.Linear(ff_mult * d_model, d_model),
        )
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, rope: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        if rope is not None:
            q, k = rotate_half_pairs(q, *rope), rotate_half_pairs(k, *rope)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0)
        x = x + self.drop(self.out(att.transpose(1, 2).reshape(b, t, d)))
        return x + self.drop(self.ff(self.norm2(x)))


class FrameTransformer(nn.Module):
    """Input [B, C, F, T] -> per-frame projection (+ optional local conv) -> encoder -> heads."""

    def __init__(
        self,
        in_channels: int,
        in_bins: int,
        n_bins: int,
        n_keys: int = 88,
        d_model: int = 128,
        n_heads: int = 4,
        n_layers: int = 4,
        ff_mult: int = 4,
        dropout: float = 0.1,
        positional: str = "sinusoidal",
        max_frames: int = 4096,
        window: int | None = None,
        stem_kernel: int = 0,
        salience: bool = True,
        offset: bool = False,
        velocity: bool = False,
    ) -> None:
        super().__init__()
        if positional not in POSITIONAL:
            raise ValueError(f"unknown positional encoding '{positional}' (choose {', '.join(POSITIONAL)})")
        d_in = in_channels * in_bins
        self.positional, self.window, self.max_frames = positional, window, int(max_frames)
        self.norm_in = nn.BatchNorm1d(d_in)
        self.proj = nn.Conv1d(d_in, d_model, 1)
        # Depthwise temporal conv: local context the seed's frame-wise transformer lacked.
        self.stem = (nn.Conv1d(d_model, d_model, stem_kernel, padding=stem_kernel // 2, groups=d_model)
                     if stem_kernel and stem_kernel > 1 else None)
        if positional == "learned":
            self.pos = nn.Parameter(torch.randn(self.max_frames, d_model) * 0.02)
        self.blocks = nn.ModuleList(
            [EncoderBlock(d_model, n_heads, ff_mult, dropout, positional == "rotary") for _ in range(n_layers)]
        )
        self.norm_out = nn.LayerNorm(d_model)
        self.d_head = d_model // n_heads
        self.heads = FrameHeads(d_model, n_bins, n_keys, salience, offset, velocity)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.proj(self.norm_in(flatten_frames(x)))  # [B, D, T]
        if self.stem is not None:
            h = h + self.stem(h)
        h = h.transpose(1, 2)  # [B, T, D]
        t = h.shape[1]
        if self.positional == "sinusoidal":
            h = h + sinusoidal_positions(t, h.shape[2], h.device)
        elif self.positional == "learned":
            if t > self.max_frames:
                raise ValueError(f"{t} frames exceed the learned position table ({self.max_frames}); "
                                 f"raise max_frames or transcribe in shorter chunks")
            h = h + self.pos[:t]
        rope = rotary_tables(t, self.d_head, h.device) if self.positional == "rotary" else None
        mask = local_mask(t, int(self.window), h.device) if self.window else None
        for block in self.blocks:
            h = block(h, mask, rope)
        return self.heads(self.norm_out(h).transpose(1, 2))
