"""EnCodec pre-quantization latents as a frozen front-end (``features=encodec``).

Uses the transformers port (``transformers.EncodecModel``; the ``encodec`` package imports
torchaudio, which does not load next to our torch): ``model.encoder(wav[B, 1, T])`` gives
[B, 128, T/320] at 75 Hz for the 24 kHz model. Only the encoder is kept.

Geometry: the encoder's frame grid is fixed by its weights (24 kHz, hop 320), so this front-end
*requires* ``geometry.sample_rate`` 24000 and ``geometry.hop_length`` 320 (``geometry=encodec24k``,
which ``features=encodec`` selects) instead of resampling on the fly: with a 22.05 kHz / hop 256
geometry the labels would sit on an 86.13 Hz grid the latents do not have, and stretching latents
in time to match would invent frames. Data are then decoded/synthesised at 24 kHz once.

Frames: with ``center: true`` (default) the input is padded by hop/2 on the left and the output
cropped to ``n // hop + 1`` frames, so frame i covers about [i*hop - hop/2, i*hop + hop/2), the
centered convention of the labels and of every other front-end. ``center: false`` gives the raw
encoder output, ``ceil(n / hop)`` frames.

Weights: ``random`` (tests; seeded, never downloads), ``pretrained`` (hub name ``model_name``,
default ``facebook/encodec_24khz``; read from the Hugging Face cache when there, else downloaded:
without network that fails at once, not after the hub client's ~30 s of retries), or a path to a
local directory written by ``save_pretrained`` / ``hf download``. The encoder is
frozen (no gradients) and stays in eval mode even when Lightning calls ``model.train()``. Its
weights are part of the state dict, so checkpoints are self-contained (about 30 MB).

Speed on the CPU: the convolutions before the LSTM keep 32-512 channels at up to the audio rate
(6 MB per layer for one 2 s clip), so a batch of 32 clips streams ~200 MB per layer through
memory and ran at 0.4-0.5x the speed of one clip at a time (bench/features.py, issue 14). On
the CPU they therefore run on groups of clips of at most :data:`CPU_TILE_SAMPLES` samples (one
2 s clip: groups of two were already slower), and the LSTM and the last convolution, which gain
from batching (3x), run on the whole batch. Each clip is independent through the convolutions,
so the output is the same (tests/features/test_encodec.py pins it to transformers' forward).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.nn.utils import parametrize

from wavespace.features.base import Frontend, FrontendConfigError

DEFAULT_MODEL = "facebook/encodec_24khz"
CPU_TILE_SAMPLES = 2**15  # audio samples per group of clips in the CPU convolutions (~1.4 s)


def _hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the Hugging Face hub cannot be reached now, or None if a connection opens.

    Without network the hub client retries each request five times with back-off (about 30 s)
    before it gives up; offline mode, or one short TCP connection to ``HF_ENDPOINT``, says so at
    once. Behind a proxy the direct connection proves nothing: the hub client is left to try.
    """
    import socket
    import urllib.request
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    offline = getattr(constants, "is_offline_mode", lambda: constants.HF_HUB_OFFLINE)()
    if offline:
        return "offline mode is on (HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE)"
    url = urlsplit(constants.ENDPOINT)
    host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
    if url.scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return None
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"the hub at {constants.ENDPOINT} cannot be reached ({exc})"
    return None


def _load_encodec(weights: str, model_name: str, seed: int, random_num_filters: int = 32):  # -> transformers.EncodecModel
    from transformers import EncodecConfig, EncodecModel  # heavy import (~seconds), kept local

    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            # Same architecture and frame grid as encodec_24khz; fewer filters make smoke tests
            # of everything downstream ~40x cheaper (the latents are meaningless either way).
            return EncodecModel(EncodecConfig(num_filters=int(random_num_filters)))
    if weights == "pretrained":
        try:  # the Hugging Face cache first: no network, no waiting
            return EncodecModel.from_pretrained(model_name, local_files_only=True)
        except OSError:
            pass
        why = _hub_unreachable()
        if why:
            raise FrontendConfigError(
                f"EnCodec weights '{model_name}' are not in the Hugging Face cache, and {why}. "
                f"Download them on a connected machine (`hf download {DEFAULT_MODEL} --local-dir "
                f"DIR`) and set features.weights=DIR, or use features.weights=random for tests.")
        source, local = model_name, False
    else:
        path = Path(weights).expanduser()
        if not path.is_dir():
            raise FrontendConfigError(
                f"EnCodec weights directory {path} does not exist. features.weights takes "
                f"'random', 'pretrained' (hub name {model_name}) or a local directory made with "
                f"EncodecModel.save_pretrained or `hf download {DEFAULT_MODEL} "
                f"--local-dir DIR`.")
        source, local = str(path), True
    try:
        return EncodecModel.from_pretrained(source, local_files_only=local)
    except OSError as exc:
        raise FrontendConfigError(
            f"could not load EnCodec weights from '{source}' ({exc}). Without internet, download "
            f"them on a connected machine (`hf download {DEFAULT_MODEL} --local-dir "
            f"DIR`) and set features.weights=DIR, or use features.weights=random for tests."
        ) from exc


class EncodecLatents(Frontend):
    """Frozen EnCodec encoder: [B, T] at 24 kHz -> [B, 1, 128, frames] at 75 Hz."""

    def __init__(
        self,
        sample_rate: int,
        hop_length: int,
        weights: str = "random",
        model_name: str = DEFAULT_MODEL,
        center: bool = True,
        seed: int = 0,
        normalize: str = "none",
        random_num_filters: int = 32,
    ) -> None:
        super().__init__()
        model = _load_encodec(str(weights), model_name, int(seed), int(random_num_filters))
        cfg = model.config
        model_hop = int(math.prod(cfg.upsampling_ratios))
        if int(sample_rate) != cfg.sampling_rate or int(hop_length) != model_hop:
            raise FrontendConfigError(
                f"EnCodec ({weights}) encodes {cfg.sampling_rate} Hz audio with hop {model_hop} "
                f"({cfg.sampling_rate / model_hop:g} frames/s), but the geometry says "
                f"{sample_rate} Hz, hop {hop_length}. Use geometry=encodec24k (features=encodec "
                f"selects it unless geometry is overridden on the command line), so data and "
                f"labels share the latents' frame grid.")
        if cfg.audio_channels != 1 or cfg.normalize:
            raise FrontendConfigError(
                f"only mono EnCodec models without input normalization (the 24 kHz model) are "
                f"supported; {weights} has audio_channels={cfg.audio_channels}, "
                f"normalize={cfg.normalize}")
        self.encoder = model.encoder
        del model  # drop decoder and quantizer
        self._split = _first_recurrent_layer(self.encoder.layers)
        self.encoder.requires_grad_(False)
        self.encoder.eval()
        self.sample_rate, self.hop_length = int(sample_rate), model_hop
        self.n_bins, self.n_channels = int(cfg.hidden_size), 1
        self.weights, self.center = str(weights), bool(center)
        self.set_normalization(normalize)

    @classmethod
    def restore_config(cls, cfg: Any) -> Any:
        """Pretrained weights are inside the checkpoint's state dict: build the same (24 kHz)
        architecture with random weights and let ``load_state_dict`` fill them, no download."""
        if cfg.get("weights") not in (None, "random"):
            cfg.weights = "random"
            cfg.random_num_filters = 32  # the pretrained model's width
        return cfg

    def train(self, mode: bool = True) -> EncodecLatents:
        """Keep the encoder in eval mode whatever Lightning asks (it is frozen)."""
        super().train(mode)
        self.encoder.eval()
        return self

    def n_frames(self, n_samples: int) -> int:
        if self.center:
            return super().n_frames(n_samples)
        return math.ceil(n_samples / self.hop_length)

    @torch.no_grad()
    def compute(self, audio: torch.Tensor) -> torch.Tensor:
        n = self.n_frames(audio.shape[-1])
        if self.center:
            audio = F.pad(audio, (self.hop_length // 2, 0))
        hidden = audio.unsqueeze(1)
        if audio.device.type == "cpu":
            layers = list(self.encoder.layers)
            per_group = max(1, CPU_TILE_SAMPLES // max(1, audio.shape[-1]))
            with parametrize.cached():  # weight-normed kernels computed once, not once per group
                hidden = torch.cat([_run(layers[:self._split], group)
                                    for group in hidden.split(per_group)])
                latents = _run(layers[self._split:], hidden)
        else:
            latents = self.encoder(hidden)  # [B, 128, frames]
        return latents[..., :n].unsqueeze(1)


def _first_recurrent_layer(layers: torch.nn.ModuleList) -> int:
    """Index of the encoder's LSTM block (everything before it is per-clip convolution), or
    ``len(layers)`` if a future transformers version has none."""
    for i, layer in enumerate(layers):
        if any(isinstance(m, torch.nn.RNNBase) for m in layer.modules()):
            return i
    return len(layers)


def _run(layers: list[torch.nn.Module], hidden: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        hidden = layer(hidden)
    return hidden
