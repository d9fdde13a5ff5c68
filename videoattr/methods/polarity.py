"""From signed per-channel attributions to one non-negative map, and the reference's display scaling."""

from __future__ import annotations

import math

import torch

from videoattr.choices import POLARITIES
from videoattr.errors import VideoAttrError


def polarity_map(attribution: torch.Tensor, polarity: str = "positive") -> torch.Tensor:
    """Keep one sign of ``attribution`` and average its channels.

    attribution: N x C x T x H x W signed relevance (e.g. gradients).
    polarity: 'positive' keeps values > 0, 'negative' keeps -min(v, 0), 'both' takes |v|.
    Returns N x 1 x T x H x W float32, >= 0, at full precision (no clipping or scaling).
    """
    if polarity == "positive":
        kept = attribution.clamp(min=0)
    elif polarity == "negative":
        kept = (-attribution).clamp(min=0)
    elif polarity == "both":
        kept = attribution.abs()
    else:
        raise VideoAttrError(f"Unknown polarity '{polarity}': set polarity to one of {', '.join(POLARITIES)}.")
    return kept.detach().mean(dim=1, keepdim=True).float()


def display_normalize(maps: torch.Tensor, percentile: float = 99.9) -> torch.Tensor:
    """Clip each T x H x W volume at its ``percentile`` and scale it to [0, 1] (the reference's display).

    maps: ... x T x H x W (e.g. N x A x T x H x W); every trailing T x H x W volume is scaled on its own,
    min -> 0 and the percentile value -> 1. A constant volume becomes zeros.
    """
    volumes = maps.detach().float().reshape(-1, math.prod(maps.shape[-3:]))
    low = volumes.min(dim=1, keepdim=True).values
    high = torch.stack([torch.quantile(v, percentile / 100) for v in volumes]).unsqueeze(1)
    span = high - low
    scaled = (volumes.clamp(max=high) - low) / torch.where(span > 0, span, torch.ones_like(span))
    return scaled.reshape(maps.shape)
