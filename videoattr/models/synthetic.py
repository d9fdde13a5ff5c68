"""The small 3D CNN that solves the synthetic world (``videoattr.synthetic``)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.models.checkpoints import load_weights


def _block(cin: int, cout: int, stride: tuple[int, int, int]) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, 3, stride, padding=1, bias=False), nn.BatchNorm3d(cout), nn.ReLU())


class SyntheticNet(nn.Module):
    """Four conv3d blocks, a global max pool and a linear classifier.

    Input N x 3 x 16 x 112 x 112 (normalised); ``layer4`` holds N x 32 x 8 x 14 x 14 activations
    (the Grad-CAM layer); output N x ``num_classes`` logits.
    """

    def __init__(self, num_classes: int = 4, width: int = 8):
        super().__init__()
        self.layer1 = _block(3, width, (1, 2, 2))
        self.layer2 = _block(width, 2 * width, (1, 2, 2))
        self.layer3 = _block(2 * width, 4 * width, (2, 2, 2))
        self.layer4 = _block(4 * width, 4 * width, (1, 1, 1))
        self.pool = nn.AdaptiveMaxPool3d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.pool(x).flatten(1))


def build(checkpoint: str | None = None, num_classes: int = 4) -> SyntheticNet:
    """The network, with the weights of ``checkpoint`` (a file written by builders/train_synthetic.py)."""
    net = SyntheticNet(num_classes)
    if checkpoint is not None:
        if not Path(checkpoint).is_file():
            raise VideoAttrError(
                f"Synthetic checkpoint {checkpoint} does not exist: run builders/train_synthetic.py or fix model.checkpoint."
            )
        load_weights(net, None, checkpoint, name="synthetic")
    return net
