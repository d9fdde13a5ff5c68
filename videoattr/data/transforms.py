"""Frame preprocessing as a ``ModelSpec`` asks for it: resize, centre crop, scale, normalise."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as F

from videoattr.models.spec import ModelSpec


def resize_crop(frames: torch.Tensor, resize: Sequence[int], crop: Sequence[int]) -> torch.Tensor:
    """Resize T x H x W x 3 uint8 frames to ``resize`` (H, W) (bilinear, antialiased), centre crop to ``crop``.

    Returns T x crop[0] x crop[1] x 3 uint8.
    """
    chw = frames.permute(0, 3, 1, 2)
    chw = F.resize(chw, list(resize), interpolation=InterpolationMode.BILINEAR, antialias=True)
    return F.center_crop(chw, list(crop)).permute(0, 2, 3, 1).contiguous()


def resize_crop_mask(mask: torch.Tensor, resize: Sequence[int], crop: Sequence[int]) -> torch.Tensor:
    """Resize a T x H x W mask to ``resize`` (nearest, pixel-centre aligned), centre crop to ``crop``."""
    mask = F.resize(mask, list(resize), interpolation=InterpolationMode.NEAREST_EXACT)
    return F.center_crop(mask, list(crop))


def normalize(frames: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """T x H x W x 3 uint8 frames -> 3 x T x H x W float32 clip, (x / 255 - mean) / std per channel."""
    clip = frames.permute(3, 0, 1, 2).float() / 255
    return (clip - _per_channel(mean, clip)) / _per_channel(std, clip)


def denormalize(clip: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo ``normalize``: a [N x] 3 x T x H x W clip back to [0, 1] values (not clamped)."""
    return clip * _per_channel(std, clip) + _per_channel(mean, clip)


def preprocess(frames: torch.Tensor, spec: ModelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """T x H x W x 3 uint8 frames -> (3 x T x h x w normalised clip, T x h x w x 3 uint8 frames it shows)."""
    shown = resize_crop(frames, spec.resize, spec.crop)
    return normalize(shown, spec.mean, spec.std), shown


def _per_channel(values: Sequence[float], like: torch.Tensor) -> torch.Tensor:
    """``values`` shaped 3 x 1 x 1 x 1 to broadcast over the channel axis of a [N x] 3 x T x H x W clip."""
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(3, 1, 1, 1)
