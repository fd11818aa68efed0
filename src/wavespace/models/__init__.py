"""Pure nn.Module networks: no Lightning, no Hydra."""

from wavespace.models.cnn import ConvSalienceNet

__all__ = ["ConvSalienceNet"]
