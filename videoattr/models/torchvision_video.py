"""torchvision's Kinetics-400 video classifiers: R(2+1)D-18, R3D-18, MC3-18, S3D, MViT, Swin3D."""

from __future__ import annotations

from torch import nn
from torchvision.models import video

from videoattr.errors import VideoAttrError
from videoattr.models.checkpoints import load_weights

ARCHS = (
    "r2plus1d_18",
    "r3d_18",
    "mc3_18",
    "s3d",
    "mvit_v1_b",
    "mvit_v2_s",
    "swin3d_t",
    "swin3d_s",
    "swin3d_b",
)


def build(
    arch: str,
    weights: str | None = None,
    checkpoint: str | None = None,
    num_classes: int = 400,
) -> nn.Module:
    """Build ``torchvision.models.video.<arch>`` and fill it.

    weights: torchvision weights as ``<WeightsEnum>.<MEMBER>`` (e.g. ``R2Plus1D_18_Weights.KINETICS400_V1``),
        read from torch hub's cache or downloaded; ``none`` keeps the random init.
    checkpoint: a state dict file of the same architecture (e.g. fine-tuned with ``num_classes``
        outputs); it overrides ``weights``.
    The network maps N x 3 x T x H x W clips to N x ``num_classes`` logits.
    """
    if arch not in ARCHS:
        raise VideoAttrError(f"Unknown torchvision video architecture '{arch}': use one of {', '.join(ARCHS)}.")
    net = getattr(video, arch)(weights=None, num_classes=num_classes)
    return load_weights(net, weights, checkpoint, name=arch)
