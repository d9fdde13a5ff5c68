"""Deletion and insertion curves (Petsiuk et al., RISE, 2018): faithfulness without ground truth.

The map ranks the T x H x W locations of the clip (all three channels of a location move together,
ties keep raster order). Deletion starts from the clip and replaces the top-ranked locations by
the baseline in ``steps`` equal steps; insertion starts from the baseline and puts the clip's
top-ranked locations back. Each curve is the softmax probability of the target class after
0, 1, ..., ``steps`` steps; its area is the trapezoid rule over the fraction of locations changed,
in [0, 1]. A faithful map gives a low deletion area and a high insertion area.

Baselines ("removed" pixels): ``blur`` is the clip with every frame smoothed by a Gaussian of
``blur_sigma`` pixels (reflected borders), which removes detail without adding new edges;
``zero`` is 0 after normalisation, i.e. the normalisation mean colour.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from videoattr.choices import CURVE_BASELINES
from videoattr.errors import VideoAttrError

MODES = ("deletion", "insertion")
BASELINES = CURVE_BASELINES


def baseline_clip(clip: torch.Tensor, baseline: str = "blur", blur_sigma: float = 10.0) -> torch.Tensor:
    """The 'removed' version of a 3 x T x H x W normalised clip (see the module docstring)."""
    if baseline == "zero":
        return torch.zeros_like(clip)
    if baseline != "blur":
        raise VideoAttrError(f"Unknown baseline '{baseline}': choose one of {', '.join(BASELINES)}.")
    radius = min(math.ceil(3 * blur_sigma), min(clip.shape[-2:]) - 1)
    frames = gaussian_blur(clip.transpose(0, 1), [2 * radius + 1] * 2, [blur_sigma] * 2)
    return frames.transpose(0, 1)


@torch.no_grad()
def perturbation_curve(
    model: nn.Module,
    clip: torch.Tensor,
    target: int,
    saliency: torch.Tensor,
    mode: str = "deletion",
    steps: int = 16,
    baseline: str = "blur",
    blur_sigma: float = 10.0,
    batch_size: int = 8,
) -> torch.Tensor:
    """Target probability as the top-ranked locations are deleted or inserted.

    clip: 3 x T x H x W normalised; saliency: T x H x W; returns a (``steps`` + 1)-long tensor.
    """
    if mode not in MODES:
        raise VideoAttrError(f"Unknown curve '{mode}': choose one of {', '.join(MODES)}.")
    removed = baseline_clip(clip, baseline, blur_sigma)
    start, end = (clip, removed) if mode == "deletion" else (removed, clip)
    order = saliency.flatten().argsort(descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
    rank = rank.view(saliency.shape)
    counts = torch.linspace(0, order.numel(), steps + 1, device=clip.device).round()
    probs = []
    for chunk in counts.split(batch_size):
        changed = (rank[None] < chunk.view(-1, 1, 1, 1)).unsqueeze(1)
        logits = model(torch.where(changed, end[None], start[None]))
        probs.append(logits.softmax(1)[:, target])
    return torch.cat(probs).float().cpu()


def area_under_curve(curve: torch.Tensor) -> float:
    """Trapezoid area of a curve sampled at equal steps over [0, 1]."""
    return torch.trapezoid(curve, dx=1.0 / (curve.numel() - 1)).item()
