"""Spatio-temporal smoothness of a map: anisotropic total variation.

The map (T x H x W, >= 0) is first divided by its maximum, so the numbers compare maps of any
scale: each is the mean absolute change between neighbours as a fraction of the peak.
"""

from __future__ import annotations

import torch


def _scaled(saliency: torch.Tensor) -> torch.Tensor:
    peak = saliency.max()
    return saliency / peak if peak > 0 else saliency


def spatial_tv(saliency: torch.Tensor) -> float:
    """Mean |vertical step| + mean |horizontal step| within frames of the peak-scaled map."""
    s = _scaled(saliency)
    return (s.diff(dim=1).abs().mean() + s.diff(dim=2).abs().mean()).item()


def temporal_tv(saliency: torch.Tensor) -> float:
    """Mean |change from one frame to the next| of the peak-scaled map (0 for a single frame)."""
    s = _scaled(saliency)
    return s.diff(dim=0).abs().mean().item() if s.shape[0] > 1 else 0.0
