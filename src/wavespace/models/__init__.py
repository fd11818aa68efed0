"""Pure nn.Module networks: no Lightning, no Hydra."""

from wavespace.models.cnn import ConvSalienceNet
from wavespace.models.mlp import LocalMLP
from wavespace.models.tcn import TCN
from wavespace.models.transcriber import ConvTranscriber
from wavespace.models.transformer import FrameTransformer

__all__ = ["ConvSalienceNet", "ConvTranscriber", "FrameTransformer", "LocalMLP", "TCN"]
