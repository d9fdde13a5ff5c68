"""The pieces of 2D-EP / 3D-EP / STEP against values computed here independently (items 1-5 of docs/REFERENCE.md)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from helpers import compose_config
from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation.losses import (
    area_loss,
    area_zeros,
    core_count,
    core_loss,
    delete_reward,
    ellipsoid_kernel,
    preserve_reward,
)
from videoattr.methods.perturbation.mask_generator import SmoothMaskGenerator, auto_sigma
from videoattr.methods.perturbation.options import DEFAULTS, check_areas, resolve_options
from videoattr.methods.perturbation.pyramid import blur_pyramid, fade_pyramid, perturb


def gaussian_matrix(n: int, sigma: float) -> np.ndarray:
    """n x n matrix of a zero-padded, sum-1 Gaussian of half-width ceil(4 sigma) (identity for sigma 0)."""
    if sigma == 0:
        return np.eye(n)
    radius = math.ceil(4 * sigma)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    taps /= taps.sum()
    offsets = np.arange(n)[:, None] - np.arange(n)[None, :]
    return np.where(np.abs(offsets) <= radius, taps[np.clip(offsets + radius, 0, 2 * radius)], 0.0)


@pytest.fixture
def clip() -> torch.Tensor:
    return torch.rand(1, 3, 2, 12, 10, generator=torch.Generator().manual_seed(0))


def test_pyramid_levels_are_gaussian_blurs_from_sigma_20_to_the_clip(clip):
    pyramid = blur_pyramid(clip)
    assert pyramid.shape == (1, 8, 3, 2, 12, 10)
    frame = clip[0, 1, 1].double().numpy()
    for k in (0, 3, 7):
        sigma = (1 - k / 7) * 20
        expected = gaussian_matrix(12, sigma) @ frame @ gaussian_matrix(10, sigma).T
        np.testing.assert_allclose(pyramid[0, k, 1, 1].numpy(), expected, atol=1e-6)


def test_perturb_interpolates_the_two_levels_around_seven_m(clip):
    pyramid = blur_pyramid(clip)
    levels = pyramid[0].numpy()
    mask = torch.full((1, 2, 12, 10), 0.5)
    mask[0, 1] = 1.0
    mask[0, 0, 0, 0] = 0.0
    out = perturb(pyramid, torch.tensor([0]), mask)[0].numpy()
    # 7 x 0.5 = 3.5: halfway between levels 3 and 4; m = 1: the clip; m = 0: level 0.
    np.testing.assert_allclose(out[:, 0, 5, 5], 0.5 * (levels[3, :, 0, 5, 5] + levels[4, :, 0, 5, 5]), atol=1e-6)
    np.testing.assert_allclose(out[:, 1], clip[0, :, 1].numpy(), atol=1e-6)
    np.testing.assert_allclose(out[:, 0, 0, 0], levels[0, :, 0, 0, 0], atol=1e-6)


def test_perturb_reads_the_clip_of_each_pair_and_fade_scales_towards_zero():
    clips = torch.rand(2, 3, 2, 4, 4, generator=torch.Generator().manual_seed(1))
    mask = torch.rand(3, 2, 4, 4, generator=torch.Generator().manual_seed(2))
    out = perturb(fade_pyramid(clips), torch.tensor([1, 0, 1]), mask)
    expected = torch.stack([clips[1], clips[0], clips[1]]) * mask[:, None]
    torch.testing.assert_close(out, expected)


def test_mask_geometry_of_the_paper_sizes():
    small, large = SmoothMaskGenerator((112, 112), 7, 11), SmoothMaskGenerator((224, 224), 7, 23)
    # 112 / 7 = 16 cells; padding 1 + ceil(22 / 7) = 5, radius 1 + ceil(11 / 7) = 3: 7 (16 + 4) - 6 = 134.
    assert (small.grid_shape, small.padded_shape, small.weight.shape[0]) == ((16, 16), (134, 134), 49)
    # 224 / 7 = 32 cells; padding 1 + ceil(46 / 7) = 8, radius 1 + ceil(23 / 7) = 5: 7 (32 + 6) - 6 = 260.
    assert (large.grid_shape, large.padded_shape, large.weight.shape[0]) == ((32, 32), (260, 260), 121)
    assert (auto_sigma(112, 112), auto_sigma(224, 224), auto_sigma(224, 168)) == (11, 23, 17)
    # small frames: never below the grid step, so the generator's margin stays on the grid
    assert (auto_sigma(32, 32), auto_sigma(32, 32, step=4)) == (7, 4)
    assert SmoothMaskGenerator((32, 32), 7, auto_sigma(32, 32)).padded_shape >= (32 + 7, 32 + 7)


@pytest.mark.slow
def test_mask_of_one_cell_is_its_kernel_pooled_by_the_smooth_max():
    gen = SmoothMaskGenerator((112, 112), 7, 11)
    params = torch.zeros(1, 1, 16, 16)
    params[0, 0, 5, 6] = 1.0
    padded = gen(params)[0, 0]

    # Cell (5, 6) is centred on frame pixel (35, 42), i.e. padded pixel (46, 53) (margin 11). A pixel
    # sees 49 cells, 48 of them zero here: smooth max = w e^(20 w) / (e^(20 w) + 48), w = k(d / 11).
    def expected(d: float) -> float:
        w = math.exp(-2 * max(d / 11 - 0.5, 0) ** 2)
        return w * math.exp(20 * w) / (math.exp(20 * w) + 48)

    for dy, dx in [(0, 0), (0, 11), (7, 7), (-3, 5), (14, 0)]:
        assert padded[46 + dy, 53 + dx].item() == pytest.approx(expected(math.hypot(dy, dx)), rel=1e-5)
    assert padded[46, 53 + 40].item() == 0.0  # 40 pixels > 3 cells away: outside every neighbourhood
    torch.testing.assert_close(gen.crop(gen(params))[0, 0], padded[11:123, 11:123])


def test_mask_is_clamped_and_sigma_too_small_for_the_step_is_refused():
    gen = SmoothMaskGenerator((16, 16), 4, 3)
    mask = gen(torch.full((2, 3, *gen.grid_shape), 5.0))
    assert mask.shape == (2, 3, *gen.padded_shape) and mask.max() == 1.0
    with pytest.raises(VideoAttrError, match="sigma"):
        SmoothMaskGenerator((112, 112), 7, 1)


def test_rewards_are_minus_log_p_and_minus_log_one_minus_p():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]])
    target = torch.tensor([0, 2])
    p = np.exp(logits.numpy()) / np.exp(logits.numpy()).sum(1, keepdims=True)
    p_target = p[[0, 1], [0, 2]]
    np.testing.assert_allclose(preserve_reward(logits, target).numpy(), -np.log(p_target), rtol=1e-6)
    np.testing.assert_allclose(delete_reward(logits, target).numpy(), -np.log(1 - p_target), rtol=1e-6)


def test_a_delete_floor_stops_the_reward_and_its_gradient_at_the_floors_probability():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0]], requires_grad=True)
    target = torch.tensor([0, 2])
    p_target = logits.softmax(dim=1).detach()[[0, 1], [0, 2]]  # 0.79, 0.11
    floor = torch.tensor([0.25, 0.25])
    reward = delete_reward(logits, target, floor)
    assert reward[0].item() == pytest.approx(
        -math.log(1 - p_target[0].item()), rel=1e-6
    )  # above the floor: the paper's
    assert reward[1].item() == pytest.approx(-math.log(0.75), rel=1e-6)  # below: the floor's value
    reward.sum().backward()
    assert logits.grad[0].abs().sum() > 0 and logits.grad[1].abs().sum() == 0


def test_area_regulariser_compares_sorted_values_per_frame_or_per_volume():
    values = torch.rand(1, 2, 2, 5, generator=torch.Generator().manual_seed(3))
    v = values.numpy().reshape(2, 10)
    # area 0.3: each 10-value frame keeps 3 ones (7 zeros); the 20-value volume keeps 6 (14 zeros).
    assert (area_zeros(0.3, 10), area_zeros(0.3, 20)) == (7, 14)
    frame_ref = np.r_[np.zeros(7), np.ones(3)]
    volume_ref = np.r_[np.zeros(14), np.ones(6)]
    per_frame = np.mean((np.sort(v, axis=1) - frame_ref) ** 2)
    per_volume = np.mean((np.sort(v.ravel()) - volume_ref) ** 2)
    assert area_loss(values, torch.tensor([7]), per_frame=True).item() == pytest.approx(per_frame, rel=1e-6)
    assert area_loss(values, torch.tensor([14]), per_frame=False).item() == pytest.approx(per_volume, rel=1e-6)


def test_core_count_and_ellipsoid_kernel():
    # 0.1 x 16 x 134 x 134 = 28729.6 voxels; a 7 x 11 x 11 ellipsoid fills 847 x 0.5236 = 443.49 of them.
    assert core_count(0.1, (16, 134, 134), (7, 11, 11), 0.5236) == 65
    assert core_count(0.2, (16, 134, 134), (7, 11, 11), 0.5236) == 130
    # 3 x 3 x 3 sampled at -1, 0, 1: the centre and its 6 face neighbours.
    assert ellipsoid_kernel((3, 3, 3)).sum() == 7
    # 7 x 11 x 11: coordinates linspace(-1, 1, n) per axis, squared sum at most 1 (exactly).
    axes = [[2 * i / (n - 1) - 1 for i in range(n)] for n in (7, 11, 11)]
    inside = {
        (t, y, x)
        for t in range(7)
        for y in range(11)
        for x in range(11)
        if axes[0][t] ** 2 + axes[1][y] ** 2 + axes[2][x] ** 2 <= 1 + 1e-12
    }
    kernel = ellipsoid_kernel((7, 11, 11))
    assert {tuple(i) for i in kernel.nonzero().tolist()} == inside and kernel.max() == 1 and len(inside) == 311


def test_core_loss_pushes_the_top_k_to_one_and_breaks_ties_by_the_shuffle():
    one_voxel = torch.ones(1, 1, 1)
    mask = torch.tensor([0.9, 0.2, 0.5, 0.1]).view(1, 1, 1, 4)
    loss = core_loss(mask, one_voxel, (1, 1, 1), torch.tensor([2]), torch.arange(4))
    # top two 0.9, 0.5 -> mean((0.1^2, 0.5^2)) = 0.13; rest 0.2, 0.1 -> mean(0.04, 0.01) = 0.025.
    assert loss.item() == pytest.approx(0.155)
    ties = torch.full((1, 1, 1, 3), 0.5, requires_grad=True)
    core_loss(ties, one_voxel, (1, 1, 1), torch.tensor([1]), torch.tensor([2, 0, 1])).sum().backward()
    # the first tie in shuffled order (index 2) is the top one: d/dm (m - 1)^2 = -1; the others 2 m / 2 = 0.5.
    torch.testing.assert_close(ties.grad.flatten(), torch.tensor([0.5, 0.5, -1.0]))


def test_core_loss_averages_the_mask_over_each_strided_ellipsoid():
    mask = torch.zeros(1, 3, 6, 3)
    mask[0, :, :3] = 1.0  # the first 3-row block is full, the second empty
    loss = core_loss(mask, ellipsoid_kernel((3, 3, 3)), (1, 3, 3), torch.tensor([1]), torch.arange(2))
    assert loss.item() == pytest.approx(0.0)  # responses exactly 1 and 0
    loss = core_loss(mask, ellipsoid_kernel((3, 3, 3)), (1, 3, 3), torch.tensor([2]), torch.arange(2))
    assert loss.item() == pytest.approx(0.5)  # responses 1, 0 both pushed to 1: mean((0, 1))


@pytest.mark.parametrize("method", list(DEFAULTS))
def test_method_config_holds_every_option_with_its_default(method):
    options = OmegaConf.to_container(compose_config([f"method={method}", "seed=0"]).method, resolve=True)
    assert options.pop("name") == method
    assert options.pop("segment", None) is None  # temporal_ep's own key: frames per mask value, the model's
    expected = dataclasses.asdict(DEFAULTS[method])
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()} == expected


def test_fast_presets_are_the_paper_fits_in_500_iterations_with_a_rising_learning_rate():
    for name, milestones, gamma in (("2d_ep", (300, 400), 4.0), ("3d_ep", (300, 400), 4.0), ("step", (400,), 2.0)):
        full, fast = DEFAULTS[name], DEFAULTS[f"{name}_fast"]
        assert (fast.iterations, fast.lr, fast.lr_milestones, fast.lr_gamma) == (500, 0.05, milestones, gamma)
        assert dataclasses.replace(fast, iterations=2000, lr_milestones=(), lr_gamma=1.0) == full


def test_paper_hyper_parameters_per_method():
    ep2, ep3, step = DEFAULTS["2d_ep"], DEFAULTS["3d_ep"], DEFAULTS["step"]
    assert (ep2.reward_weight, ep3.reward_weight, step.reward_weight) == (100, 100, 1)
    assert (ep2.per_frame, ep3.per_frame, step.per_frame) == (True, False, False)
    assert step.area_growth**800 == pytest.approx(2.0, rel=1e-3) and ep3.area_growth == 1.0
    assert (step.core_weight, ep3.core_weight, step.iterations) == (300, 0, 2000)
    assert step.core_start == 101  # the reference switches the core on after zero-based iteration 100
    assert (step.lr, step.momentum, step.dampening, step.area_weight) == (0.05, 0.9, 0.9, 300)


def test_bad_options_and_areas_raise_one_sentence_errors():
    with pytest.raises(VideoAttrError, match="Unknown option.*colness"):
        resolve_options("step", {"colness": 3})
    with pytest.raises(VideoAttrError, match="variant"):
        resolve_options("step", {"variant": "keep"})
    with pytest.raises(VideoAttrError, match="delete_floor.*zero, baseline"):
        resolve_options("2d_ep", {"delete_floor": 0.25})
    with pytest.raises(VideoAttrError, match="between 0 and 1"):
        check_areas([0.1, 1.5])
    assert check_areas(0.05) == [0.05]
    assert resolve_options("3d_ep", {"name": "3d_ep", "core_shape": [3, 5, 5]}).core_shape == (3, 5, 5)
