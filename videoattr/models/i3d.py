"""Inception-v1 I3D (Carreira & Zisserman, CVPR 2017) as ported from DeepMind's Kinetics RGB model.

Module names follow the port the reference loads (``conv3d_1a_7x7``, ``mixed_3b.branch_1.0``, ...); files
of the pytorch-i3d port (``Conv3d_1a_7x7``, ``Mixed_3b.b1a``, ..., ``logits``) are converted on load.
Convolutions and max pools use TensorFlow "SAME" padding (the odd extra pixel goes after).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.models.checkpoints import load_weights

# pytorch-i3d's branch names -> ours.
_PYTORCH_I3D_NAMES = {
    "b0": "branch_0",
    "b1a": "branch_1.0",
    "b1b": "branch_1.1",
    "b2a": "branch_2.0",
    "b2b": "branch_2.1",
    "b3b": "branch_3.1",
    "bn": "batch3d",
    "logits": "conv3d_0c_1x1",
}
# pytorch-i3d keeps TensorFlow's batch-norm epsilon.
_PYTORCH_I3D_BN_EPS = 1e-3


def same_padding(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """``F.pad`` amounts giving TensorFlow "SAME" output size ceil(size / stride) for T x H x W ``size``."""
    pads: list[int] = []
    for s, k, st in reversed(list(zip(size, kernel, stride))):
        total = max((math.ceil(s / st) - 1) * st + k - s, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class MaxPool3dSame(nn.MaxPool3d):
    """Max pool over zero-padded "SAME" input (inputs are non-negative ReLU outputs)."""

    def __init__(self, kernel_size: tuple[int, int, int], stride: tuple[int, int, int]):
        super().__init__(kernel_size, stride, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.pad(x, same_padding(x.shape[2:], self.kernel_size, self.stride)))


class Unit3d(nn.Module):
    """Conv3d with "SAME" padding, then BatchNorm3d and ReLU; ``classifier=True``: conv with bias only."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: tuple[int, int, int] = (1, 1, 1),
        stride: tuple[int, int, int] = (1, 1, 1),
        classifier: bool = False,
    ):
        super().__init__()
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel_size, stride, bias=classifier)
        self.batch3d = None if classifier else nn.BatchNorm3d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv3d(F.pad(x, same_padding(x.shape[2:], self.conv3d.kernel_size, self.conv3d.stride)))
        return x if self.batch3d is None else F.relu(self.batch3d(x))


class Mixed(nn.Module):
    """Inception block: 1x1 | 1x1 -> 3x3x3 | 1x1 -> 3x3x3 | 3x3x3 max pool -> 1x1, concatenated."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.branch_0 = Unit3d(in_channels, b0)
        self.branch_1 = nn.Sequential(Unit3d(in_channels, b1a), Unit3d(b1a, b1b, (3, 3, 3)))
        self.branch_2 = nn.Sequential(Unit3d(in_channels, b2a), Unit3d(b2a, b2b, (3, 3, 3)))
        self.branch_3 = nn.Sequential(MaxPool3dSame((3, 3, 3), (1, 1, 1)), Unit3d(in_channels, b3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], dim=1)


class I3D(nn.Module):
    """I3D: N x 3 x T x H x W clips (16 x 224 x 224 for Kinetics) -> N x ``num_classes`` logits.

    The head averages the final features with a (2, 7, 7) window, stride 1 (shrunk to fit smaller
    inputs), applies the 1x1x1 classifier ``conv3d_0c_1x1`` and averages the logits over what is left.
    weights: ``i3d_kinetics400`` (the reference's file), ``i3d_pytorch_i3d_kinetics400`` or ``none``;
    checkpoint: a state dict file in either layout, overriding ``weights``.
    """

    def __init__(self, num_classes: int = 400, weights: str | None = None, checkpoint: str | None = None):
        super().__init__()
        self.conv3d_1a_7x7 = Unit3d(3, 64, (7, 7, 7), (2, 2, 2))
        self.maxpool_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.conv3d_2b_1x1 = Unit3d(64, 64)
        self.conv3d_2c_3x3 = Unit3d(64, 192, (3, 3, 3))
        self.maxpool_3a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.mixed_3b = Mixed(192, (64, 96, 128, 16, 32, 32))
        self.mixed_3c = Mixed(256, (128, 128, 192, 32, 96, 64))
        self.maxpool_4a_3x3 = MaxPool3dSame((3, 3, 3), (2, 2, 2))
        self.mixed_4b = Mixed(480, (192, 96, 208, 16, 48, 64))
        self.mixed_4c = Mixed(512, (160, 112, 224, 24, 64, 64))
        self.mixed_4d = Mixed(512, (128, 128, 256, 24, 64, 64))
        self.mixed_4e = Mixed(512, (112, 144, 288, 32, 64, 64))
        self.mixed_4f = Mixed(528, (256, 160, 320, 32, 128, 128))
        self.maxpool_5a_2x2 = MaxPool3dSame((2, 2, 2), (2, 2, 2))
        self.mixed_5b = Mixed(832, (256, 160, 320, 32, 128, 128))
        self.mixed_5c = Mixed(832, (384, 192, 384, 48, 128, 128))
        self.conv3d_0c_1x1 = Unit3d(1024, num_classes, classifier=True)
        load_weights(self, weights, checkpoint, name="I3D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *features, classifier = self.children()
        for layer in features:
            x = layer(x)
        t, h, w = x.shape[2:]
        x = F.avg_pool3d(x, (min(2, t), min(7, h), min(7, w)), stride=1)
        return classifier(x).mean(dim=(2, 3, 4))

    def convert_checkpoint(self, state: Mapping[str, torch.Tensor]) -> Mapping[str, torch.Tensor]:
        """Rename a pytorch-i3d state dict to our keys and adopt that port's BN epsilon; others pass."""
        if "Conv3d_1a_7x7.conv3d.weight" not in state:
            return state
        for module in self.modules():
            if isinstance(module, nn.BatchNorm3d):
                module.eps = _PYTORCH_I3D_BN_EPS
        return {_from_pytorch_i3d(key): value for key, value in state.items()}


def _from_pytorch_i3d(key: str) -> str:
    head, *rest = key.split(".")
    return ".".join([_PYTORCH_I3D_NAMES.get(head, head.lower()), *(_PYTORCH_I3D_NAMES.get(p, p) for p in rest)])
