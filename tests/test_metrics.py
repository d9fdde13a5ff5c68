import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import compose_config
from videoattr.errors import VideoAttrError
from videoattr.metrics import (
    area_under_curve,
    baseline_clip,
    clip_metrics,
    energy_in_mask,
    mass_in_evidence_frames,
    perturbation_curve,
    pointing_game,
    spatial_tv,
    summarize,
    supervoxel_labels,
    temporal_tv,
)
from videoattr.metrics.faithfulness import removal_rank
from videoattr.schema import validate

T, H, W = 8, 32, 32


def disk_mask(cy, cx, r, frames=range(2, 6)):
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    mask = torch.zeros(T, H, W)
    mask[list(frames)] = ((yy - cy) ** 2 + (xx - cx) ** 2 <= r**2).float()
    return mask


def test_map_equal_to_ground_truth_scores_one():
    gt = disk_mask(10, 20, 4)
    assert pointing_game(gt, gt) == 1.0
    assert energy_in_mask(gt, gt) == 1.0
    assert mass_in_evidence_frames(gt, gt) == 1.0


def test_map_away_from_ground_truth_scores_zero():
    gt = disk_mask(6, 6, 3)
    away = disk_mask(25, 25, 3, frames=range(T))
    assert pointing_game(away, gt, tolerance=7) == 0.0
    assert energy_in_mask(away, gt) == 0.0
    # `away` spreads evenly over all 8 frames, 4 of which hold evidence
    assert mass_in_evidence_frames(away, gt) == pytest.approx(0.5)


def test_pointing_game_tolerance_and_evidence_frames_only():
    gt = disk_mask(10, 10, 2, frames=[1, 2])
    saliency = torch.zeros(T, H, W)
    saliency[1, 10, 16] = 1.0  # 4 px right of the disk's edge
    saliency[2, 10, 25] = 1.0  # 13 px right of the edge
    saliency[5, 10, 10] = 9.0  # no evidence in frame 5: ignored
    assert pointing_game(saliency, gt, tolerance=5) == 0.5
    assert pointing_game(saliency, gt, tolerance=3) == 0.0
    assert pointing_game(saliency, gt, tolerance=15) == 1.0
    assert math.isnan(pointing_game(saliency, torch.zeros(T, H, W)))


def test_pointing_game_of_flat_map_is_chance():
    gt = disk_mask(16, 16, 3, frames=[4])
    tolerance = 2
    yy, xx = np.mgrid[0:H, 0:W]
    inside = np.argwhere(gt[4].numpy() > 0)
    dist = np.sqrt((yy[..., None] - inside[:, 0]) ** 2 + (xx[..., None] - inside[:, 1]) ** 2).min(-1)
    expected = (dist <= tolerance).mean()
    assert pointing_game(torch.ones(T, H, W), gt, tolerance) == pytest.approx(expected)


def test_pointing_game_counts_values_within_ties_of_the_maximum_as_sharing_it():
    gt = disk_mask(6, 6, 2, frames=[3])
    saliency = torch.zeros(T, H, W)
    saliency[3, 25, 25] = 1.0  # the maximum, far from the disk
    saliency[3, 6, 6] = 1.0 - 1e-6  # on the disk, within float noise of it
    assert pointing_game(saliency, gt, tolerance=2) == 0.0
    assert pointing_game(saliency, gt, tolerance=2, ties=1e-5) == 0.5
    saliency[3, 7, 7] = 1.0 - 2e-5  # on the disk too, outside ties=1e-5
    assert pointing_game(saliency, gt, tolerance=2, ties=1e-5) == 0.5
    assert pointing_game(saliency, gt, tolerance=2, ties=1e-4) == pytest.approx(2 / 3)


def test_energy_splits_by_mass():
    gt = disk_mask(8, 8, 3)
    saliency = gt + 3 * disk_mask(24, 24, 3)
    assert energy_in_mask(saliency, gt) == pytest.approx(0.25)
    assert energy_in_mask(torch.zeros(T, H, W), gt) == 0.0


def test_total_variation():
    assert spatial_tv(torch.full((T, H, W), 0.3)) == 0.0
    assert temporal_tv(torch.full((T, H, W), 0.3)) == 0.0
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    checker = ((yy + xx) % 2).float().expand(T, H, W)
    assert spatial_tv(5 * checker) == pytest.approx(2.0)
    assert temporal_tv(checker) == 0.0
    blinking = (torch.arange(T) % 2).float().view(T, 1, 1).expand(T, H, W)
    assert temporal_tv(blinking) == pytest.approx(1.0)
    assert spatial_tv(blinking) == 0.0
    ramp = torch.arange(W).float().expand(T, H, W)  # rises by 1/(W-1) of its peak per column
    assert spatial_tv(ramp) == pytest.approx(1 / (W - 1))


class RegionModel(nn.Module):
    """Two logits: gain x mean of channel 0 over `region`, and 0."""

    def __init__(self, region: torch.Tensor, gain: float):
        super().__init__()
        self.region, self.gain = region, gain

    def forward(self, x):
        score = self.gain * (x[:, 0] * self.region).sum((1, 2, 3)) / self.region.sum()
        return torch.stack([score, torch.zeros_like(score)], 1)


def expected_curve(region_ranks_first: bool, deletion: bool, steps: int, gain: float):
    """p(class 0) when a quarter of the P locations is the region and k P / steps are changed."""
    p = T * H * W
    probs = []
    for k in range(steps + 1):
        changed = k * p / steps
        in_region = min(changed, p / 4) if region_ranks_first else max(0.0, changed - 3 * p / 4)
        kept = 1 - in_region / (p / 4) if deletion else in_region / (p / 4)
        probs.append(1 / (1 + math.exp(-gain * kept)))
    return probs


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_perturbation_curves_of_toy_model(mode):
    region = torch.zeros(T, H, W)
    region[:, : H // 4] = 1  # a quarter of the locations
    model, clip, steps, gain = RegionModel(region, 4.0), torch.ones(3, T, H, W), 8, 4.0
    ramp = torch.linspace(0, 0.5, T * H * W).view(T, H, W)  # distinct ranks outside the region
    good, bad = region + ramp, 1 - region + ramp
    for saliency, first in ((good, True), (bad, False)):
        curve = perturbation_curve(model, clip, 0, saliency, mode, steps, baseline="zero", batch_size=4)
        expected = expected_curve(first, mode == "deletion", steps, gain)
        assert curve.tolist() == pytest.approx(expected, abs=1e-5)
        assert area_under_curve(curve) == pytest.approx(np.trapezoid(expected, dx=1 / steps), abs=1e-5)
    row = clip_metrics(model, clip, 0, good, groups=["faithfulness"], steps=steps, baseline="zero")
    assert row["deletion_auc"] < 0.6 < row["insertion_auc"]
    same, curves = clip_metrics(
        model, clip, 0, good, groups=["faithfulness"], steps=steps, baseline="zero", return_curves=True
    )
    assert same == row and set(curves) == {"deletion", "insertion"}
    assert curves[mode].dtype == np.float32 and curves[mode].shape == (steps + 1,)
    assert curves[mode].tolist() == pytest.approx(expected_curve(True, mode == "deletion", steps, gain), abs=1e-5)
    assert np.trapezoid(curves[mode], dx=1 / steps) == pytest.approx(row[f"{mode}_auc"], abs=1e-6)
    assert clip_metrics(model, clip, 0, good, groups=["smoothness"], return_curves=True)[1] == {}


def test_baselines():
    clip = torch.randn(3, T, H, W)
    assert torch.equal(baseline_clip(clip, "zero"), torch.zeros_like(clip))
    flat = torch.full((3, T, H, W), 0.7)
    assert torch.allclose(baseline_clip(flat, "blur", 4.0), flat)
    blurred = baseline_clip(clip, "blur", 4.0)
    assert blurred.shape == clip.shape
    assert blurred.std() < 0.5 * clip.std()
    # blurring never mixes frames or channels
    assert torch.allclose(baseline_clip(clip[:, :1], "blur", 4.0), blurred[:, :1], atol=1e-6)
    with pytest.raises(VideoAttrError, match="baseline"):
        baseline_clip(clip, "noise")


def test_clip_metrics_keys_and_errors():
    region = torch.zeros(T, H, W)
    region[:, :8] = 1
    model, clip, gt = RegionModel(region, 2.0), torch.randn(3, T, H, W), disk_mask(8, 8, 3)
    row = clip_metrics(model, clip, 1, gt, gt, steps=4)
    assert set(row) == {
        "pointing_game",
        "energy_in_mask",
        "mass_in_evidence_frames",
        "temporal_pointing",
        "temporal_iou",
        "deletion_auc",
        "insertion_auc",
        "tv_space",
        "tv_time",
    }
    assert all(isinstance(v, float) for v in row.values())
    assert row["pointing_game"] == row["energy_in_mask"] == 1.0
    assert set(clip_metrics(model, clip, 1, gt, None, groups=["localisation", "smoothness"])) == {
        "tv_space",
        "tv_time",
    }
    with pytest.raises(VideoAttrError, match="Saliency"):
        clip_metrics(model, clip, 1, gt[:4])
    with pytest.raises(VideoAttrError, match="mask"):
        clip_metrics(model, clip, 1, gt, gt[:, :8], groups=["localisation"])
    with pytest.raises(VideoAttrError, match="group"):
        clip_metrics(model, clip, 1, gt, groups=["speed"])


def test_summarize_means_floats_and_skips_nan():
    rows = [
        {"clip": "a", "target": 3, "pointing_game": 1.0, "deletion_auc": 0.2},
        {"clip": "b", "target": 1, "pointing_game": float("nan"), "deletion_auc": 0.4},
        {"clip": "c", "target": 2, "pointing_game": 0.0},
    ]
    assert summarize(rows) == pytest.approx({"pointing_game": 0.5, "deletion_auc": 0.3})
    assert math.isnan(summarize([{"pointing_game": float("nan")}])["pointing_game"])


def block_clip() -> torch.Tensor:
    """3 x T x H x W: four colour blocks (quadrants), constant in time, plus a little noise."""
    colours = torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]])
    clip = torch.empty(3, T, H, W)
    for q, (ys, xs) in enumerate(((slice(0, 16), slice(0, 16)), (slice(0, 16), slice(16, 32)),
                                  (slice(16, 32), slice(0, 16)), (slice(16, 32), slice(16, 32)))):  # fmt: skip
        clip[:, :, ys, xs] = colours[q].view(3, 1, 1, 1)
    return clip + 0.01 * torch.randn(clip.shape, generator=torch.Generator().manual_seed(0))


def test_supervoxels_follow_the_clip_and_carry_one_rank_each():
    clip = block_clip()
    labels = supervoxel_labels(clip, supervoxels=16)
    count = int(labels.max()) + 1
    assert labels.shape == (T, H, W) and torch.equal(labels.unique(), torch.arange(count)) and count >= 4
    quadrant = (torch.arange(H) >= 16).view(1, H, 1) * 2 + (torch.arange(W) >= 16).view(1, 1, W)
    quadrant = quadrant.expand(T, H, W)
    for k in range(count):  # no supervoxel crosses a colour boundary
        assert quadrant[labels == k].unique().numel() == 1
    assert torch.equal(supervoxel_labels(clip, supervoxels=16), labels)
    saliency = torch.rand(T, H, W, generator=torch.Generator().manual_seed(1))
    rank, units = removal_rank(clip, saliency, "supervoxels", supervoxels=16)
    assert units == count
    means = torch.stack([saliency[labels == k].mean() for k in range(count)])
    for k in range(count):  # every location of a supervoxel has its rank; higher mean relevance comes first
        assert rank[labels == k].unique().tolist() == [int((means > means[k]).sum())]
    pixel_rank, pixels = removal_rank(clip, saliency, "pixels")
    assert pixels == T * H * W and torch.equal(pixel_rank.flatten().sort().values, torch.arange(T * H * W))
    with pytest.raises(VideoAttrError, match="steps_by"):
        removal_rank(clip, saliency, "voxels")


@pytest.mark.parametrize("mode", ["deletion", "insertion"])
def test_supervoxel_curves_change_one_whole_supervoxel_per_step(mode):
    clip = block_clip()
    region = torch.zeros(T, H, W)
    region[:, :16, :16] = 1  # the red quadrant
    model, gain = RegionModel(region, 3.0), 3.0
    labels = supervoxel_labels(clip, supervoxels=16)
    count = int(labels.max()) + 1
    saliency = region + 0.5 * torch.rand(T, H, W, generator=torch.Generator().manual_seed(2))
    curve = perturbation_curve(model, clip, 0, saliency, mode, count, "zero", steps_by="supervoxels", supervoxels=16)
    rank, _ = removal_rank(clip, saliency, "supervoxels", supervoxels=16)
    for k in range(count + 1):  # step k: the top k supervoxels changed to 0 (deletion) or restored (insertion)
        changed = rank < k
        x = torch.where(changed, torch.zeros_like(clip), clip) if mode == "deletion" else clip * changed
        assert curve[k].item() == pytest.approx(model(x[None]).softmax(1)[0, 0].item(), abs=1e-6)
    row = clip_metrics(model, clip, 0, saliency, groups=["faithfulness"], steps=count, baseline="zero",
                       steps_by="supervoxels", supervoxels=16)  # fmt: skip
    assert row[f"{mode}_auc"] == pytest.approx(area_under_curve(curve), abs=1e-6)
    assert 1 / (1 + math.exp(-gain)) == pytest.approx(curve[0 if mode == "deletion" else -1].item(), abs=1e-2)


def test_curve_settings_are_metric_config_keys():
    cfg = compose_config(["metrics.steps_by=supervoxels", "metrics.supervoxels=64", "metrics.baseline=zero"])
    validate(cfg)
    assert (cfg.metrics.steps_by, cfg.metrics.supervoxels, cfg.metrics.compactness) == ("supervoxels", 64, 10.0)
    with pytest.raises(VideoAttrError, match="Invalid metrics.steps_by=voxels: use one of pixels, supervoxels"):
        validate(compose_config(["metrics.steps_by=voxels"]))
    with pytest.raises(VideoAttrError, match="Invalid metrics.supervoxels=1"):
        validate(compose_config(["metrics.supervoxels=1"]))
