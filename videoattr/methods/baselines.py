"""Benchmark baselines that ignore the model: a random map, a centre prior and an edge map of the input.

A method worth using must beat them on the localisation and faithfulness metrics, and, unlike them,
change when the model's weights are randomised (``videoattr.sanity``): the edge map is the input
structure that Adebayo et al. (NeurIPS 2018) found some saliency methods to return whatever the model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation
from videoattr.methods.cost import cost


def random_map(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, seed: int = 0) -> Explanation:
    """Uniform noise in [0, 1), N x 1 x T x H x W, drawn from a generator seeded with ``seed``."""
    n, _, t, h, w = inputs.shape
    generator = torch.Generator().manual_seed(int(seed))
    maps = torch.rand(n, 1, t, h, w, generator=generator)
    return Explanation(maps.to(inputs.device), extras=cost(n, 0))


def centre_prior(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, sigma_frac: float = 0.25) -> Explanation:
    """A Gaussian centred on the frame, the same for every frame and clip, peak 1.

    Its standard deviations are ``sigma_frac`` x H vertically and ``sigma_frac`` x W horizontally.
    Returns ``maps`` N x 1 x T x H x W.
    """
    if not sigma_frac > 0:
        raise VideoAttrError(f"sigma_frac must be positive, got {sigma_frac}: set sigma_frac=0.25.")
    n, _, t, h, w = inputs.shape
    y, x = (
        (torch.arange(size, dtype=torch.float32, device=inputs.device) - (size - 1) / 2) / (sigma_frac * size)
        for size in (h, w)
    )
    frame = torch.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    return Explanation(frame.expand(n, 1, t, h, w).contiguous(), extras=cost(n, 0))


def edge_map(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor) -> Explanation:
    """The input's edges: the Sobel gradient magnitude of each frame (replicated borders), averaged over the
    three channels and divided by the clip's maximum (peak 1; an all-flat clip gives zeros). Ignores
    ``model`` and ``target``. Returns ``maps`` N x 1 x T x H x W.
    """
    n, c, t, h, w = inputs.shape
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=inputs.device)
    kernels = torch.stack([sobel, sobel.T]).unsqueeze(1).to(inputs.dtype)  # 2 x 1 x 3 x 3: d/dx, d/dy
    frames = F.pad(inputs.detach().transpose(1, 2).reshape(n * t * c, 1, h, w), (1, 1, 1, 1), mode="replicate")
    gradient = F.conv2d(frames, kernels)  # N T C x 2 x H x W
    magnitude = gradient.pow(2).sum(dim=1).sqrt().view(n, t, c, h, w).mean(dim=2)
    peak = magnitude.flatten(1).amax(dim=1).view(n, 1, 1, 1)
    maps = magnitude / torch.where(peak > 0, peak, torch.ones_like(peak))
    return Explanation(maps.unsqueeze(1).float(), extras=cost(n, 0))
