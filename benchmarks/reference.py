"""BASELINE ONLY: a plain, literal transcription of the reference's perturbation pipeline (docs/REFERENCE.md).

Used by ``benchmarks/bench_speed.py`` (the speed-up is measured against it) and by the equality test;
``videoattr`` itself never calls it. One clip, one area, a Python loop of SGD steps: every iteration
blurs each pyramid level anew, builds the mask frame by frame from its pixel-to-cell distances, and
sorts the full mask for the area regulariser.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.methods.perturbation.mask_generator import auto_sigma
from videoattr.methods.perturbation.options import PerturbationOptions, resolve_options


def gaussian_blur(frame: torch.Tensor, sigma: float) -> torch.Tensor:
    """C x H x W frame -> the frame blurred by a zero-padded separable Gaussian of half-width ceil(4 sigma)."""
    if sigma == 0:
        return frame
    radius = math.ceil(4 * sigma)
    taps = torch.exp(-(torch.arange(-radius, radius + 1, dtype=torch.float64) ** 2) / (2 * sigma**2))
    taps = (taps / taps.sum()).float().to(frame.device)
    x = frame.unsqueeze(1)
    x = F.conv2d(x, taps.view(1, 1, -1, 1), padding=(radius, 0))
    return F.conv2d(x, taps.view(1, 1, 1, -1), padding=(0, radius)).squeeze(1)


def perturbed_clip(clip: torch.Tensor, mask: torch.Tensor, levels: int, max_blur: float) -> torch.Tensor:
    """C x T x H x W clip and T x H x W mask -> the clip read from its blur pyramid through the mask."""
    frames = []
    for t in range(clip.shape[1]):
        frame = clip[:, t]
        pyramid = torch.stack([gaussian_blur(frame, (1 - k / (levels - 1)) * max_blur) for k in range(levels)])
        scaled = mask[t] * (levels - 1)
        lower = scaled.detach().floor().long().clamp(0, levels - 1)
        upper = (lower + 1).clamp(max=levels - 1)
        below = pyramid.gather(0, lower.expand(1, *frame.shape))[0]
        above = pyramid.gather(0, upper.expand(1, *frame.shape))[0]
        frames.append(below + (scaled - lower) * (above - below))
    return torch.stack(frames, dim=1)


def smooth_mask(params: torch.Tensor, size: tuple[int, int], step: int, sigma: float, coldness: float) -> torch.Tensor:
    """T x gh x gw parameters -> T x H' x W' padded masks, frame by frame.

    Padded pixel P sits at frame coordinate P - sigma; grid cell i is centred on frame pixel step i;
    the pixel looks at the (2R + 1)^2 cells around its block P // step (cells outside the grid are 0).
    """
    padding = 1 + math.ceil(2 * sigma / step)
    radius = 1 + math.ceil(sigma / step)
    grid = params.shape[1:]
    out_shape = [step * (g + 2 * (padding - radius)) - step + 1 for g in grid]
    offsets = torch.arange(2 * radius + 1) - padding
    axes = []
    for n in out_shape:
        pixel = torch.arange(n)
        cell = (pixel // step).view(-1, 1) + offsets.view(1, -1)
        axes.append((cell, (pixel.view(-1, 1) - sigma - step * cell).double()))
    (cy, dy), (cx, dx) = axes
    weight = torch.exp(
        -2
        * ((dy.view(-1, 1, dy.shape[1], 1) ** 2 + dx.view(1, -1, 1, dx.shape[1]) ** 2).sqrt() / sigma - 0.5).clamp(
            min=0
        )
        ** 2
    ).float()
    inside = ((cy >= 0) & (cy < grid[0])).view(-1, 1, cy.shape[1], 1) & ((cx >= 0) & (cx < grid[1])).view(
        1, -1, 1, cx.shape[1]
    )
    masks = []
    for frame in params:
        cells = frame[
            cy.clamp(0, grid[0] - 1).view(-1, 1, cy.shape[1], 1).to(frame.device),
            cx.clamp(0, grid[1] - 1).view(1, -1, 1, cx.shape[1]).to(frame.device),
        ]
        values = (cells * inside.to(frame.device) * weight.to(frame.device)).flatten(2)
        # sum_j v_j softmax_j = max v - sum_j (max v - v_j) softmax_j: never above max v after rounding
        top = values.amax(dim=2, keepdim=True)
        masks.append(top[..., 0] - ((top - values) * torch.softmax(coldness * values, dim=2)).sum(dim=2))
    return torch.stack(masks).clamp(0, 1)


@functools.cache
def ellipsoid(shape: tuple[int, int, int]) -> torch.Tensor:
    """Solid ellipsoid of 0/1 voxels in a D x h x w box, each axis sampled at linspace(-1, 1, n), exactly."""
    axes = [[Fraction(-1)] if n == 1 else [Fraction(2 * i, n - 1) - 1 for i in range(n)] for n in shape]
    return torch.tensor([[[float(z * z + y * y + x * x <= 1) for x in axes[2]] for y in axes[1]] for z in axes[0]])


def reference_energy(
    params: torch.Tensor,
    model: nn.Module,
    clip: torch.Tensor,
    target: int,
    area: float,
    step: int,
    core_on: bool,
    o: PerturbationOptions,
    sigma: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The energy at zero-based iteration ``step`` of T x gh x gw ``params`` -> (energy, T x H x W mask).

    ``core_on``: whether the core loss is switched on yet; ``o``: the method's options.
    """
    _, t, h, w = clip.shape
    margin = round(sigma)
    padded = smooth_mask(params, (h, w), o.grid_step, sigma, o.coldness)
    mask = padded[:, margin : margin + h, margin : margin + w]
    logits = model(perturbed_clip(clip, mask, o.levels, o.max_blur).unsqueeze(0))
    reward = -torch.log_softmax(logits, dim=1)[0, target]

    rows = padded.flatten(1) if o.per_frame else padded.flatten().unsqueeze(0)
    ranked = rows.sort(dim=1, stable=True).values
    size = rows.shape[1]
    reference = torch.cat([torch.zeros(int(size * (1 - area))), torch.ones(size - int(size * (1 - area)))]).to(
        clip.device
    )
    regulariser = ((ranked - reference) ** 2).mean()
    energy = o.reward_weight * reward + o.area_weight * o.area_growth**step * regulariser

    if core_on:
        kernel = ellipsoid(o.core_shape).to(clip.device)
        responses = F.conv3d(padded[None, None], (kernel / kernel.sum())[None, None], stride=o.core_stride).flatten()
        order = torch.randperm(
            responses.numel(),
            generator=torch.Generator(device=clip.device).manual_seed(o.seed * 1_000_003 + step),
            device=clip.device,
        )
        ranked = responses[order].sort(descending=True, stable=True).values
        count = math.ceil(area * padded.numel() / int(kernel.numel() * o.core_fill))
        energy = energy + o.core_weight * (((ranked[:count] - 1) ** 2).mean() + (ranked[count:] ** 2).mean())
    return energy, mask


def reference_fit(
    method: str, model: nn.Module, clip: torch.Tensor, target: int, area: float, **options
) -> torch.Tensor:
    """The reference's 2D-EP / 3D-EP / STEP for one 3 x T x H x W clip and one area -> the T x H x W mask.

    ``options`` are the keys of ``PerturbationOptions`` (variant 'preserve', perturbation 'blur').
    As the reference, it returns the mask generated at the start of the last iteration (from the
    parameters after iterations - 1 updates), and switches the core loss on at the end of iteration
    core_start - 1.
    """
    o = resolve_options(method, options)
    _, t, h, w = clip.shape
    sigma = o.sigma or auto_sigma(h, w, o.grid_step)
    params = torch.ones(
        t, math.ceil(h / o.grid_step), math.ceil(w / o.grid_step), device=clip.device, requires_grad=True
    )
    optimizer = torch.optim.SGD([params], lr=o.lr, momentum=o.momentum, dampening=o.dampening)
    core_on = o.core_weight > 0 and o.core_start <= 0
    for step in range(o.iterations):
        energy, mask = reference_energy(params, model, clip, target, area, step, core_on, o, sigma)
        optimizer.zero_grad()
        energy.backward()
        optimizer.step()
        with torch.no_grad():
            params.clamp_(0, 1)
        if o.core_weight > 0 and step == o.core_start - 1:
            core_on = True
    return mask.detach()
