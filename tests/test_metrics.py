import math

import numpy as np
import pytest
import torch
from torch import nn

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
    temporal_tv,
)

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
