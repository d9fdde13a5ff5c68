"""Benchmark baselines that ignore the model: a random map and a centre prior.

A method worth using must beat both on the localisation and faithfulness metrics.
"""

from __future__ import annotations

import torch
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
