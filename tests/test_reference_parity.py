"""2D-EP, 3D-EP and STEP against the literal reference (reference.py), term by term.

From the all-ones start the masks hold long runs of equal values whose order decides the area
regulariser, so two faithful implementations can drift apart (docs/REFERENCE.md). The test of
fidelity is therefore the energy and its gradient from random, tie-free mask parameters, at
iterations before and after STEP's core loss starts.
"""

from __future__ import annotations

import math

import pytest
import torch

from benchmarks.reference import ellipsoid, reference_energy
from helpers import tiny_net
from videoattr.methods.perturbation.losses import core_count, ellipsoid_kernel
from videoattr.methods.perturbation.mask_generator import auto_sigma
from videoattr.methods.perturbation.module import PerturbationFit
from videoattr.methods.perturbation.options import resolve_options
from videoattr.methods.perturbation.pyramid import blur_pyramid

# 8 frames of 64 x 64 with the paper's settings: grid step 7, sigma auto, a 7 x 11 x 11 core.
SHAPE = (1, 3, 8, 64, 64)
TARGET, AREA = 2, 0.05


@pytest.mark.parametrize("shape", [(7, 11, 11), (3, 3, 3), (1, 5, 4), (6, 6, 9)])
def test_ellipsoid_kernel_samples_each_axis_at_linspace(shape):
    ours = ellipsoid_kernel(shape)
    assert torch.equal(ours, ellipsoid(shape))
    if shape == (7, 11, 11):
        # The reference's kernel; sampling voxel centres within half the box would keep 463.
        assert ours.sum() == 311
        assert ours[3, 5].sum() == 11 and ours[0].sum() == 1 and ours[3, 1, 2] == 1


def test_core_count_divides_by_the_core_volume_rounded_down():
    # 7 x 11 x 11 x 0.5236 = 443.47 -> 443 voxels per core.
    for area in (0.01, 0.02, 0.05, 0.1, 0.15, 0.2):
        assert core_count(area, (16, 134, 134), (7, 11, 11), 0.5236) == math.ceil(area * 16 * 134 * 134 / 443)
    # 0.054 x 287296 = 15514.0: 35.02 cores of 443 -> 36, where 443.47 would give 34.98 -> 35.
    assert core_count(0.054, (16, 134, 134), (7, 11, 11), 0.5236) == 36


def ours(method: str, params: torch.Tensor, clip: torch.Tensor, step: int):
    """Our weighted energy of one (clip, area) pair at ``step`` and its gradient, outside a Trainer."""
    module = PerturbationFit(tiny_net(), clip, torch.tensor([TARGET]), [AREA], resolve_options(method, {}))
    opts = module.opts
    module.pyramid = blur_pyramid(clip, opts.levels, opts.max_blur)
    module.shuffle = torch.Generator()
    with torch.no_grad():
        module.masks.copy_(params[None])
    terms = module.energy_terms(torch.tensor([0]), step)
    energy = (terms["reward"] + terms["regulariser"] + terms["core"]).sum()
    (grad,) = torch.autograd.grad(energy, module.masks)
    return energy.detach(), grad[0], terms["core"].detach()


@pytest.mark.parametrize("method", ["2d_ep", "3d_ep", "step"])
@pytest.mark.parametrize("step", [50, 100, 101, 400])
def test_energy_and_gradient_equal_the_reference_from_random_parameters(method, step):
    clip = torch.randn(*SHAPE, generator=torch.Generator().manual_seed(11))
    grid = (SHAPE[2], math.ceil(SHAPE[3] / 7), math.ceil(SHAPE[4] / 7))
    params = torch.rand(*grid, generator=torch.Generator().manual_seed(12 + step))
    energy, grad, core = ours(method, params, clip, step)

    o = resolve_options(method, {})
    reference_params = params.clone().requires_grad_(True)
    # The reference switches the core loss on at the end of zero-based iteration 100.
    core_on = method == "step" and step > 100
    expected, _ = reference_energy(
        reference_params,
        tiny_net(),
        clip[0],
        TARGET,
        AREA,
        step,
        core_on,
        o,
        sigma=auto_sigma(SHAPE[3], SHAPE[4], o.grid_step),
    )
    (expected_grad,) = torch.autograd.grad(expected, reference_params)

    assert (core.item() > 0) == core_on
    assert energy.item() == pytest.approx(expected.item(), rel=1e-5)
    assert ((grad - expected_grad).norm() / expected_grad.norm()).item() <= 5e-4
    assert expected_grad.norm() > 0
