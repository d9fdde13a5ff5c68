"""Perturbation pyramids: every clip at ``levels`` degrees of perturbation, and their interpolation.

Level 0 is fully perturbed, level ``levels - 1`` is the clip itself. A mask value m in [0, 1] reads
levels floor((levels - 1) m) and the next one and interpolates linearly between them.
"""

from __future__ import annotations

import math

import torch

from videoattr.methods.perturbation.fused import Fused


def gaussian_kernel(sigma: float) -> torch.Tensor:
    """1D Gaussian of half-width ceil(4 sigma), normalised to sum 1 (a single 1 for sigma 0)."""
    radius = math.ceil(4 * sigma)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(x**2) / (2 * sigma**2)) if sigma > 0 else (x == 0).double()
    return (kernel / kernel.sum()).float()


def blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with zero padding of B x H x W images (any leading dims).

    Each direction is one product with a banded matrix (``blur_matrix``): the same sums as a
    convolution with ``gaussian_kernel(sigma)``, about 20 x faster than ``conv2d`` for sigma 20."""
    height, width = frames.shape[-2:]
    return blur_matrix(height, sigma, frames) @ frames @ blur_matrix(width, sigma, frames).T


def blur_matrix(size: int, sigma: float, like: torch.Tensor) -> torch.Tensor:
    """``size`` x ``size``: row i holds ``gaussian_kernel(sigma)`` centred on i, cut at the borders (zero
    padding), in the dtype and on the device of ``like``."""
    kernel = gaussian_kernel(sigma).to(like)
    radius = kernel.numel() // 2
    index = torch.arange(size, device=like.device)
    offset = index[None, :] - index[:, None]
    inside = offset.abs() <= radius
    return torch.where(inside, kernel[(offset + radius).clamp(0, 2 * radius)], 0.0)


def blur_pyramid(clips: torch.Tensor, levels: int = 8, max_sigma: float = 20.0) -> torch.Tensor:
    """N x C x T x H x W clips -> N x L x C x T x H x W; level k is blurred per frame with
    sigma (1 - k / (L - 1)) * max_sigma."""
    return torch.stack([blur(clips, (1 - k / (levels - 1)) * max_sigma) for k in range(levels)], dim=1)


def fade_pyramid(clips: torch.Tensor, levels: int = 8) -> torch.Tensor:
    """N x C x T x H x W clips -> N x L x C x T x H x W; level k is the clip times k / (L - 1), so
    interpolating with mask m gives m x clip (a fade towards 0, the normalised mean colour)."""
    weights = torch.linspace(0, 1, levels, device=clips.device, dtype=clips.dtype)
    return weights.view(1, -1, 1, 1, 1, 1) * clips.unsqueeze(1)


def perturb(pyramid: torch.Tensor, clip_index: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Read the pyramid through a mask.

    pyramid: N x L x C x T x H x W; clip_index: Q indices into N; mask: Q x T x H x W in [0, 1].
    Returns Q x C x T x H x W: level (L - 1) mask of clip ``clip_index[q]``, interpolated.
    """
    n, levels, c = pyramid.shape[:3]
    scaled = mask.unsqueeze(1) * (levels - 1)
    # A non-finite mask value (after a NaN or infinite step) must never index memory: it reads level 0
    # (NaN, -inf) or the last level (+inf), and its output stays non-finite through ``frac``, so the
    # fit's finiteness check stops it. (clamp keeps NaN, and NaN cast to an integer is out of range.)
    lower = torch.nan_to_num(scaled.detach(), nan=0.0).floor().clamp(0, levels - 1)
    frac = scaled - lower
    flat = pyramid.reshape(n * levels, *pyramid.shape[2:])
    base = (clip_index * levels).view(-1, 1, 1, 1, 1)

    def level(k: torch.Tensor) -> torch.Tensor:
        return flat.gather(0, (base + k).expand(-1, c, -1, -1, -1))

    below = level(lower.long())
    above = level((lower.long() + 1).clamp(max=levels - 1))
    return below + frac * (above - below)


# perturb and its gradient as fused kernels: fused_perturb(pyramid, clip_index, mask, compile=True).
fused_perturb = Fused(perturb)
