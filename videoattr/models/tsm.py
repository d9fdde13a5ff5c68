"""Temporal Shift Module (Lin et al., ICCV 2019) on a torchvision ResNet-50, residual ("blockres") shift.

Module names follow the public checkpoints: ``base_model`` is the ResNet whose bottleneck ``conv1`` is
wrapped as ``conv1.net``; the classifier is ``new_fc`` (mit-han-lab Kinetics) or ``fc_verb`` and
``fc_noun`` (EPIC-Kitchens-55 action-models). Grad-CAM on ``base_model.layer4`` sees N*T x C x h x w.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn
from torchvision.models import resnet50

from videoattr.errors import VideoAttrError
from videoattr.models.checkpoints import load_weights


def temporal_shift(x: torch.Tensor, num_segments: int, fold_div: int = 8) -> torch.Tensor:
    """Shift 1/``fold_div`` of the channels one segment back in time and another 1/``fold_div`` forward.

    x: N*T x C x H x W with T = ``num_segments``; frames shifted past either end are zeros.
    """
    nt, c, h, w = x.shape
    x = x.view(nt // num_segments, num_segments, c, h, w)
    fold = c // fold_div
    zeros = x.new_zeros(x.shape[0], 1, fold, h, w)
    from_next = torch.cat([x[:, 1:, :fold], zeros], dim=1)
    from_previous = torch.cat([zeros, x[:, :-1, fold : 2 * fold]], dim=1)
    return torch.cat([from_next, from_previous, x[:, :, 2 * fold :]], dim=2).view(nt, c, h, w)


class TemporalShift(nn.Module):
    """Apply ``temporal_shift`` to the input of ``net``."""

    def __init__(self, net: nn.Module, num_segments: int, fold_div: int = 8):
        super().__init__()
        self.net = net
        self.num_segments = num_segments
        self.fold_div = fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(temporal_shift(x, self.num_segments, self.fold_div))


class TSM(nn.Module):
    """TSM ResNet-50: N x 3 x T x H x W clips, T = ``num_segments`` -> N x classes logits of ``output``.

    Every frame goes through the shifted ResNet-50 (as N*T images); the per-frame logits of the
    ``output`` head are averaged over the T segments.
    heads: classifier name -> number of classes, e.g. ``{new_fc: 400}`` or ``{fc_verb: 125, fc_noun: 352}``.
    weights: ``tsm_kinetics400``, ``tsm_epic55`` or ``none``; checkpoint: a state dict file, overriding it.
    """

    def __init__(
        self,
        heads: Mapping[str, int],
        output: str,
        num_segments: int = 8,
        shift_div: int = 8,
        weights: str | None = None,
        checkpoint: str | None = None,
    ):
        super().__init__()
        if output not in heads:
            raise VideoAttrError(
                f"TSM output head '{output}' is not among its heads {list(heads)}: set model.net.output to one of them."
            )
        base = resnet50()
        for stage in (base.layer1, base.layer2, base.layer3, base.layer4):
            for block in stage:
                block.conv1 = TemporalShift(block.conv1, num_segments, shift_div)
        base.fc = nn.Identity()
        self.base_model = base
        for name, num_classes in heads.items():
            self.add_module(name, nn.Linear(2048, num_classes))
        self.output = output
        self.num_segments = num_segments
        load_weights(self, weights, checkpoint, name="TSM")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, t, h, w = x.shape
        if t != self.num_segments:
            raise VideoAttrError(
                f"TSM was built for {self.num_segments} segments but the clip has {t} frames: "
                f"sample {self.num_segments} frames per clip (model.num_frames={self.num_segments})."
            )
        frames = x.transpose(1, 2).reshape(n * t, c, h, w)
        logits = getattr(self, self.output)(self.base_model(frames))
        return logits.view(n, t, -1).mean(dim=1)
