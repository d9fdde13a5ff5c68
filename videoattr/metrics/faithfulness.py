"""Deletion and insertion curves (Petsiuk et al., RISE, 2018): faithfulness without ground truth.

The map ranks the T x H x W locations of the clip (all three channels of a location move together,
ties keep raster order). Deletion starts from the clip and replaces the top-ranked locations by
the baseline in ``steps`` equal steps; insertion starts from the baseline and puts the clip's
top-ranked locations back. Each curve is the softmax probability of the target class after
0, 1, ..., ``steps`` steps; its area is the trapezoid rule over the fraction of locations changed,
in [0, 1]. A faithful map gives a low deletion area and a high insertion area.

Baselines ("removed" pixels): ``blur`` is the clip with every frame smoothed by a Gaussian of
``blur_sigma`` pixels (reflected borders), which removes detail without adding new edges;
``zero`` is 0 after normalisation, i.e. the normalisation mean colour (a fade).

Steps (``steps_by``): ``pixels`` ranks the locations one by one; ``supervoxels`` segments the clip into
about ``supervoxels`` SLIC supervoxels over the T x H x W volume (scikit-image's ``slic`` on the clip,
each channel scaled to [0, 1], in Lab space, with ``compactness``), ranks them by their mean relevance
(ties keep label order) and changes whole supervoxels: step i changes the top round(i S / steps) of the
S supervoxels, and the curve's x axis is the fraction of supervoxels changed. Supervoxels follow the
image's regions, so a map is not rewarded or punished for the pixel-level texture of its ranking.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from videoattr.choices import CURVE_BASELINES, STEPS_BY
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


# Supervoxel labels of the last few clips (a clip's maps are scored one after another).
_SEGMENTS: dict[tuple, torch.Tensor] = {}
_SEGMENTS_KEPT = 4


def supervoxel_labels(clip: torch.Tensor, supervoxels: int = 256, compactness: float = 10.0) -> torch.Tensor:
    """SLIC supervoxels of a 3 x T x H x W clip: T x H x W int64 labels 0 .. S - 1 (see the module docstring)."""
    from skimage.segmentation import slic

    volume = clip.detach().float().cpu().numpy().transpose(1, 2, 3, 0)  # T x H x W x 3
    key = (hashlib.sha1(volume.tobytes()).hexdigest(), volume.shape, int(supervoxels), float(compactness))
    if key not in _SEGMENTS:
        low = volume.min(axis=(0, 1, 2), keepdims=True)
        span = volume.max(axis=(0, 1, 2), keepdims=True) - low
        scaled = (volume - low) / np.where(span > 0, span, 1.0)
        labels = slic(
            scaled, n_segments=int(supervoxels), compactness=float(compactness), channel_axis=-1, start_label=0
        )
        _, dense = np.unique(labels, return_inverse=True)  # labels 0 .. S - 1 without gaps
        while len(_SEGMENTS) >= _SEGMENTS_KEPT:
            _SEGMENTS.pop(next(iter(_SEGMENTS)))
        _SEGMENTS[key] = torch.from_numpy(dense.reshape(labels.shape).astype(np.int64))
    return _SEGMENTS[key].to(clip.device)


def removal_rank(
    clip: torch.Tensor,
    saliency: torch.Tensor,
    steps_by: str = "pixels",
    supervoxels: int = 256,
    compactness: float = 10.0,
) -> tuple[torch.Tensor, int]:
    """Each location's place in the order of change (T x H x W, 0 first) and the number of units ranked
    (locations, or supervoxels: every location of a supervoxel gets the supervoxel's place)."""
    if steps_by not in STEPS_BY:
        raise VideoAttrError(f"Unknown steps_by '{steps_by}': choose one of {', '.join(STEPS_BY)}.")
    if steps_by == "pixels":
        values, units = saliency.flatten(), None
    else:
        units = supervoxel_labels(clip, supervoxels, compactness).to(saliency.device).flatten()
        count = int(units.max()) + 1
        sums = torch.zeros(count, dtype=torch.float64, device=saliency.device).index_add_(
            0, units, saliency.flatten().double()
        )
        sizes = torch.bincount(units, minlength=count).double()
        values = sums / sizes
    order = values.argsort(descending=True, stable=True)
    rank = torch.empty_like(order).scatter_(0, order, torch.arange(order.numel(), device=order.device))
    if units is not None:
        rank = rank[units]
    return rank.view(saliency.shape), order.numel()


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
    steps_by: str = "pixels",
    supervoxels: int = 256,
    compactness: float = 10.0,
) -> torch.Tensor:
    """Target probability as the top-ranked locations (or supervoxels, ``steps_by``) are deleted or inserted.

    clip: 3 x T x H x W normalised; saliency: T x H x W; returns a (``steps`` + 1)-long tensor.
    """
    if mode not in MODES:
        raise VideoAttrError(f"Unknown curve '{mode}': choose one of {', '.join(MODES)}.")
    removed = baseline_clip(clip, baseline, blur_sigma)
    start, end = (clip, removed) if mode == "deletion" else (removed, clip)
    rank, units = removal_rank(clip, saliency, steps_by, supervoxels, compactness)
    rank = rank.to(clip.device)
    counts = torch.linspace(0, units, steps + 1, device=clip.device).round()
    probs = []
    for chunk in counts.split(batch_size):
        changed = (rank[None] < chunk.view(-1, 1, 1, 1)).unsqueeze(1)
        logits = model(torch.where(changed, end[None], start[None]))
        probs.append(logits.softmax(1)[:, target])
    return torch.cat(probs).float().cpu()


def area_under_curve(curve: torch.Tensor) -> float:
    """Trapezoid area of a curve sampled at equal steps over [0, 1]."""
    return torch.trapezoid(curve, dx=1.0 / (curve.numel() - 1)).item()
