"""Inference-only rewrites of a trained network: same outputs, less work per frame.

Why: in eval mode a BatchNorm right after a convolution is an affine map per channel, so it can
be folded into that convolution's weights and bias. On the CPU transcriber that removes a pass
over every feature map (BatchNorm was ~7 % of the forward time). Training keeps the unfolded
modules; ``wavespace.transcribe.load_model`` (transcribe, evaluate, the bench) folds them.
"""

from __future__ import annotations

import copy

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batchnorm(module: nn.Module, inplace: bool = False) -> nn.Module:
    """Fold every ``Conv{1,2}d`` directly followed by a ``BatchNorm{1,2}d`` inside an
    ``nn.Sequential`` into one convolution (the BatchNorm becomes ``nn.Identity``).

    The module must be in eval mode (running statistics are what gets folded). Returns the
    rewritten module (a deep copy unless ``inplace``).
    """
    if module.training:
        raise ValueError("fold_batchnorm needs a module in eval mode (call .eval() first)")
    out = module if inplace else copy.deepcopy(module)
    pairs = ((nn.Conv1d, nn.BatchNorm1d), (nn.Conv2d, nn.BatchNorm2d))
    for seq in [m for m in out.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for a, b in zip(names, names[1:]):
            conv, bn = seq._modules[a], seq._modules[b]
            if any(isinstance(conv, c) and isinstance(bn, n) for c, n in pairs) and bn.track_running_stats:
                seq._modules[a] = fuse_conv_bn_eval(conv, bn)
                seq._modules[b] = nn.Identity()
    return out
