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


def auto_sigma(height: int, width: int, step: int = 7) -> int:
    """The paper's smoothing for a frame size: 11 at 112 pixels, 23 at 224, linear in the shorter
    side S in between and beyond: round(3 S / 28) - 1, but never below the grid step (smaller
    frames would push the sigma-pixel margin off the parameter grid)."""
    return max(step, round(3 * min(height, width) / 28) - 1)


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
        pooled = SmoothMax.apply(cols, self.weight.flatten(1), self.coldness)
        pooled = pooled.view(q, t, s, s, hm, wm).permute(0, 1, 4, 2, 5, 3).reshape(q, t, hm * s, wm * s)
        return pooled[..., :ho, :wo].clamp(0, 1)

    def crop(self, padded: torch.Tensor) -> torch.Tensor:
        """Padded masks ... x padded_shape -> masks ... x H x W (the frame without its margin)."""
        m, (h, w) = self.margin, self.size
        return padded[..., m : m + h, m : m + w]


class SmoothMax(torch.autograd.Function):
    """The smooth max over neighbour cells, one frame at a time.

    cols: B x J x P, the J cell values around each of P step x step blocks; weight: J x S, the
    weight of each cell for the S = step^2 pixels of a block. Returns B x S x P:
    sum_j v_j softmax(coldness v)_j with v_j = weight_j cols_j, evaluated as
    max_j v_j - sum_j (max_j v_j - v_j) softmax_j so that rounding never lifts it above the largest
    value (the clamp to [0, 1] then passes its gradient as it should). Per frame the J x S x P
    values stay in cache and the backward recomputes them rather than storing them.
    """

    @staticmethod
    def _gaps(cols: torch.Tensor, weight: torch.Tensor, coldness: float) -> tuple[torch.Tensor, ...]:
        """One frame's max_j v_j (S x P), gaps max_j v_j - v_j and exp(-coldness gap) (J x S x P)."""
        values = weight.unsqueeze(2) * cols.unsqueeze(1)
        top = values.amax(dim=0)
        gaps = torch.sub(top, values, out=values)
        return top, gaps, torch.mul(gaps, -coldness).exp_()

    @staticmethod
    def forward(ctx, cols: torch.Tensor, weight: torch.Tensor, coldness: float) -> torch.Tensor:
        b, _, p = cols.shape
        pooled, total = cols.new_empty(b, weight.shape[1], p), cols.new_empty(b, weight.shape[1], p)
        for i in range(b):
            top, gaps, exps = SmoothMax._gaps(cols[i], weight, coldness)
            torch.sum(exps, dim=0, out=total[i])
            torch.sub(top, gaps.mul_(exps).sum(dim=0).div_(total[i]), out=pooled[i])
        ctx.save_for_backward(cols, weight, pooled, total)
        ctx.coldness = coldness
        return pooled

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        cols, weight, pooled, total = ctx.saved_tensors
        c = ctx.coldness
        # grad d pooled / d v_j = grad softmax_j (1 + c (v_j - pooled)) = e_j (offset - slope gap_j)
        slope = grad * c / total
        grad_cols = torch.empty_like(cols)
        for i in range(cols.shape[0]):
            top, gaps, exps = SmoothMax._gaps(cols[i], weight, c)
            offset = (top - pooled[i]).mul_(c).add_(1).mul_(grad[i]).div_(total[i])
            dv = gaps.mul_(slope[i]).neg_().add_(offset).mul_(exps)
            torch.bmm(weight.unsqueeze(1), dv, out=grad_cols[i].unsqueeze(1))
        return grad_cols, None, None
