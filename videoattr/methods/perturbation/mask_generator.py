"""The smooth mask generator of Fong et al. (ICCV 2019), applied frame by frame.

A parameter grid of ceil(H / step) x ceil(W / step) cells becomes a smooth mask: every output pixel
looks at the (2R + 1)^2 nearest cells (R = 1 + ceil(sigma / step)), weights each cell's value by
k(d / sigma), k(z) = exp(-2 max(z - 1/2, 0)^2), d the pixel's distance to the cell centre, and pools
the weighted values with a smooth max of coldness c: sum_j v_j softmax(c v)_j. The grid is padded
by 1 + ceil(2 sigma / step) cells; the mask is computed on a margin of sigma pixels around the frame
(the "padded mask" the area regulariser sorts), clamped to [0, 1], then cropped to H x W.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.errors import VideoAttrError


def auto_sigma(height: int, width: int) -> int:
    """The paper's smoothing for a frame size: 11 at 112 pixels, 23 at 224, linear in the shorter
    side S in between and beyond: round(3 S / 28) - 1."""
    return max(1, round(3 * min(height, width) / 28) - 1)


def cell_kernel(z: torch.Tensor) -> torch.Tensor:
    """k(z) = exp(-2 max(z - 1/2, 0)^2): 1 within half a sigma of a cell centre, then a Gaussian fall-off."""
    return torch.exp(-2 * (z - 0.5).clamp(min=0) ** 2)


class SmoothMaskGenerator(nn.Module):
    """Parameters Q x T x grid_shape -> padded masks Q x T x padded_shape, per frame."""

    weight: torch.Tensor

    def __init__(self, size: tuple[int, int], step: int = 7, sigma: float = 11.0, coldness: float = 20.0):
        super().__init__()
        self.size, self.step, self.sigma, self.coldness = tuple(size), int(step), float(sigma), coldness
        self.margin = round(sigma)
        self.padding = 1 + math.ceil(2 * sigma / step)
        self.radius = 1 + math.ceil(sigma / step)
        self.grid_shape = tuple(math.ceil(z / step) for z in self.size)
        self.mid_shape = tuple(g + 2 * (self.padding - self.radius) for g in self.grid_shape)
        self.padded_shape = tuple(step * m - step + 1 for m in self.mid_shape)
        if any(p < self.margin + z for p, z in zip(self.padded_shape, self.size)):
            raise VideoAttrError(
                f"Mask sigma {sigma} is too small for grid step {step} (the margin leaves the grid): "
                "raise sigma or lower step."
            )
        self.register_buffer("weight", self._weights(), persistent=False)

    def _weights(self) -> torch.Tensor:
        """(2R + 1)^2 x step x step: the weight of cell offset (ky, kx) for the pixel at offset
        (sy, sx) inside its step x step block (the same for every block)."""
        s, width = self.step, 2 * self.radius + 1
        sub = torch.arange(s, dtype=torch.float64)
        cell = torch.arange(width, dtype=torch.float64) - self.padding
        # distance along one axis from pixel (block * s + sub) to the centre of cell (block + cell)
        delta = sub.view(1, s) - self.sigma - s * cell.view(width, 1)
        dist = torch.sqrt(delta.view(width, 1, s, 1) ** 2 + delta.view(1, width, 1, s) ** 2)
        return cell_kernel(dist / self.sigma).reshape(width * width, s, s).float()

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """params Q x T x grid_shape -> padded masks Q x T x padded_shape in [0, 1]."""
        q, t = params.shape[:2]
        s, (hm, wm), (ho, wo) = self.step, self.mid_shape, self.padded_shape
        cols = F.unfold(params.reshape(q * t, 1, *self.grid_shape), 2 * self.radius + 1, padding=self.padding)
        values = cols.view(q * t, -1, hm, 1, wm, 1) * self.weight.view(-1, 1, s, 1, s)
        pooled = (values * torch.softmax(self.coldness * values, dim=1)).sum(dim=1)
        pooled = pooled.reshape(q, t, hm * s, wm * s)[..., :ho, :wo]
        return pooled.clamp(0, 1)

    def crop(self, padded: torch.Tensor) -> torch.Tensor:
        """Padded masks ... x padded_shape -> masks ... x H x W (the frame without its margin)."""
        m, (h, w) = self.margin, self.size
        return padded[..., m : m + h, m : m + w]
