"""Graded maps from the masks of several areas, as the authors' follow-up work evaluates them.

A perturbation mask answers "which region of area a is enough?": a yes/no map at each area. Summing
the masks of several areas (e.g. 0.05, 0.1, 0.15, 0.5), smoothing the sum and dividing it by its
maximum gives one graded saliency map: pixels kept at every area score highest.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation.pyramid import gaussian_kernel


def combine_masks(masks: torch.Tensor, sigma: float = 10.0) -> torch.Tensor:
    """N x A x T x H x W masks -> N x 1 x T x H x W graded map in [0, 1].

    The A masks of each clip are summed, every frame of the sum is smoothed spatially by a Gaussian
    of standard deviation ``sigma`` pixels (``pyramid.gaussian_kernel``: separable, half-width
    ceil(4 sigma); the frame's edge pixels are repeated outwards, as ``skimage.filters.gaussian``'s
    default mode 'nearest' that the authors' code uses; nothing is mixed across frames), and the
    result is divided by its maximum over the clip's T x H x W volume. A clip whose masks are all
    zero keeps a zero map.
    """
    if masks.dim() != 5:
        raise VideoAttrError(f"Masks of shape {tuple(masks.shape)} cannot be combined: pass N x A x T x H x W masks.")
    total = smooth_frames(masks.float().sum(dim=1, keepdim=True), float(sigma))
    peak = total.flatten(1).amax(dim=1).view(-1, 1, 1, 1, 1)
    return torch.where(peak > 0, total / peak.clamp(min=torch.finfo(total.dtype).tiny), torch.zeros_like(total))


def smooth_frames(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ... x H x W images whose edge pixels extend outwards (no darkening
    at the borders, unlike the zero-padded ``pyramid.blur``)."""
    kernel = gaussian_kernel(sigma).to(frames)
    radius = kernel.numel() // 2
    x = F.pad(frames.reshape(-1, 1, *frames.shape[-2:]), (radius,) * 4, mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return x.reshape(frames.shape)
