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
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation.fused import Fused


def auto_sigma(height: int, width: int, step: int = 7) -> int:
    """The paper's smoothing for a frame size: 11 at 112 pixels, 23 at 224, linear in the shorter
    side S in between and beyond: round(3 S / 28) - 1, but never below the grid step (smaller
    frames would push the sigma-pixel margin off the parameter grid)."""
    return max(step, round(3 * min(height, width) / 28) - 1)


def cell_kernel(z: torch.Tensor) -> torch.Tensor:
    """k(z) = exp(-2 max(z - 1/2, 0)^2): 1 within half a sigma of a cell centre, then a Gaussian fall-off."""
    return torch.exp(-2 * (z - 0.5).clamp(min=0) ** 2)


class SmoothMaskGenerator(nn.Module):
    """Parameters Q x T x grid_shape -> padded masks Q x T x padded_shape, per frame.

    compile: run the smooth max as fused torch.compile kernels (the first call compiles them, a few
    seconds, cached on disk for later processes); False: plain PyTorch, the same values, slower.
    """

    weight: torch.Tensor

    def __init__(
        self,
        size: tuple[int, int],
        step: int = 7,
        sigma: float = 11.0,
        coldness: float = 20.0,
        compile: bool = True,
    ):
        super().__init__()
        self.size, self.step, self.sigma, self.coldness = tuple(size), int(step), float(sigma), coldness
        self.compile = compile
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
        pooled = SmoothMax.apply(cols, self.weight.flatten(1), self.coldness, self.compile)
        pooled = pooled.view(q, t, s, s, hm, wm).permute(0, 1, 4, 2, 5, 3).reshape(q, t, hm * s, wm * s)
        return pooled[..., :ho, :wo].clamp(0, 1)

    def crop(self, padded: torch.Tensor) -> torch.Tensor:
        """Padded masks ... x padded_shape -> masks ... x H x W (the frame without its margin)."""
        m, (h, w) = self.margin, self.size
        return padded[..., m : m + h, m : m + w]


def smooth_max(cols: torch.Tensor, weight: torch.Tensor, coldness: float) -> tuple[torch.Tensor, ...]:
    """The smooth max over neighbour cells: B x J x P cell values around each of P step x step
    blocks, J x S weights of each cell for the S = step^2 pixels of a block -> pooled, top and
    total, each B x S x P.

    With v_j = weight_j cols_j: top = max_j v_j, total = sum_j exp(-coldness (top - v_j)) and
    pooled = sum_j v_j softmax(coldness v)_j, evaluated as top - sum_j (top - v_j) softmax_j so that
    rounding never lifts it above the largest value (the clamp to [0, 1] then passes its gradient).
    """
    values = weight.t()[None, :, None, :] * cols.transpose(1, 2)[:, None, :, :]
    top = values.amax(dim=-1, keepdim=True)
    if torch.compiler.is_compiling():
        # The gaps spelled twice: the compiler then fuses both sums into one loop over the J cells
        # instead of storing the B x S x P x J exponentials between them.
        gaps = top - values
        again = top - cols.transpose(1, 2)[:, None, :, :] * weight.t()[None, :, None, :]
        total = torch.exp(gaps * -coldness).sum(dim=-1)
        spread = (again * torch.exp(again * -coldness)).sum(dim=-1)
    else:
        gaps = values.neg_().add_(top)
        exps = gaps.mul(-coldness).exp_()
        total = exps.sum(dim=-1)
        spread = gaps.mul_(exps).sum(dim=-1)
    top = top.squeeze(-1)
    return top - spread / total, top, total


def smooth_max_grad(
    cols: torch.Tensor,
    weight: torch.Tensor,
    coldness: float,
    grad: torch.Tensor,
    pooled: torch.Tensor,
    top: torch.Tensor,
    total: torch.Tensor,
) -> torch.Tensor:
    """The gradient of ``smooth_max``'s pooled output with respect to cols (B x J x P), given the
    gradient of the pooled values and the forward's outputs (B x S x P each).

    d pooled / d v_j = softmax_j (1 + coldness (v_j - pooled)); the exponentials are recomputed
    rather than stored.
    """
    gaps = (weight[None, :, :, None] * cols[:, :, None, :]).neg_().add_(top.unsqueeze(1))
    exps = gaps.mul(-coldness).exp_()
    slope = gaps.mul_(-coldness).add_((1 + coldness * (top - pooled)).unsqueeze(1))
    grad_values = exps.mul_(slope).mul_((grad / total).unsqueeze(1))
    return grad_values.mul_(weight[None, :, :, None]).sum(dim=2)


def in_chunks(kernel: Callable, budget: int = 1 << 20) -> Callable:
    """``smooth_max`` or ``smooth_max_grad`` over chunks of the B frames, each holding at most
    ``budget`` of the B x S x P x J values at once (plain PyTorch stores them; 4 MB, about one
    112 x 112 frame, by default, to stay in cache)."""

    def run(cols: torch.Tensor, weight: torch.Tensor, coldness: float, *tensors: torch.Tensor):
        rows = max(1, budget // (weight.numel() * cols.shape[2]))
        chunks = zip(cols.split(rows), *(t.split(rows) for t in tensors))
        parts = [kernel(chunk, weight, coldness, *rest) for chunk, *rest in chunks]
        return tuple(map(torch.cat, zip(*parts))) if isinstance(parts[0], tuple) else torch.cat(parts)

    return run


SMOOTH_MAX = Fused(smooth_max, in_chunks(smooth_max))
SMOOTH_MAX_GRAD = Fused(smooth_max_grad, in_chunks(smooth_max_grad))


class SmoothMax(torch.autograd.Function):
    """``smooth_max``'s pooled values with ``smooth_max_grad`` as their gradient, fused unless
    ``compile`` is False: cols B x J x P, weight J x S -> B x S x P. Only cols and three B x S x P
    tensors are kept for the backward."""

    @staticmethod
    def forward(ctx, cols: torch.Tensor, weight: torch.Tensor, coldness: float, compile: bool) -> torch.Tensor:
        pooled, top, total = SMOOTH_MAX(cols, weight, coldness, compile=compile)
        ctx.save_for_backward(cols, weight, pooled, top, total)
        ctx.coldness, ctx.compile = coldness, compile
        return pooled

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        cols, weight, pooled, top, total = ctx.saved_tensors
        tensors = (grad.contiguous(), pooled, top, total)
        return SMOOTH_MAX_GRAD(cols, weight, ctx.coldness, *tensors, compile=ctx.compile), None, None, None
