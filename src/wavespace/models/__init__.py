"""Pure nn.Module networks: no Lightning, no Hydra."""

from wavespace.models.cnn import ConvSalienceNet
from wavespace.models.convnets import ConvNet1d, ConvNet2d
from wavespace.models.harmonic import HarmonicKernelDecoder, HarmonicSalienceNet
from wavespace.models.mlp import LocalMLP
from wavespace.models.tcn import TCN
from wavespace.models.transcriber import ConvTranscriber
from wavespace.models.transformer import FrameTransformer
from wavespace.models.unet import UNet

__all__ = ["TCN", "ConvNet1d", "ConvNet2d", "ConvSalienceNet", "ConvTranscriber", "FrameTransformer",
           "HarmonicKernelDecoder", "HarmonicSalienceNet", "LocalMLP", "UNet"]
