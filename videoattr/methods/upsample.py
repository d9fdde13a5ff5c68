"""From a relevance volume on a coarse grid (a layer's, a token grid's) to a map of the clip."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_maps(relevance: torch.Tensor, size: tuple[int, int, int], mode: str = "trilinear") -> torch.Tensor:
    """N x T' x H' x W' relevance -> N x 1 x T x H x W float32 maps of the clip's ``size`` = (T, H, W),
    upsampled (``upsample``) and min-max scaled to [0, 1] per clip (``scale_per_clip``)."""
    return scale_per_clip(upsample(relevance, size, mode)).unsqueeze(1).float()


def upsample(volume: torch.Tensor, size: tuple[int, int, int], mode: str = "trilinear") -> torch.Tensor:
    """N x T' x H' x W' -> N x T x H x W: trilinear, or ``reference`` (the seed's Grad-CAM: nearest in time,
    then bilinear per frame)."""
    t, h, w = size
    if mode == "trilinear":
        return F.interpolate(volume.unsqueeze(1), size=size, mode="trilinear", align_corners=False).squeeze(1)
    volume = F.interpolate(volume.unsqueeze(1), size=(t, *volume.shape[-2:]), mode="nearest").squeeze(1)
    return F.interpolate(volume, size=(h, w), mode="bilinear", align_corners=False)


def scale_per_clip(maps: torch.Tensor) -> torch.Tensor:
    """Min-max scale each clip of ``maps`` (N x ...) to [0, 1]; a constant clip becomes zeros."""
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    return ((flat - low) / torch.where(span > 0, span, torch.ones_like(span))).view_as(maps)
