"""Model-parameter randomisation (videoattr.sanity): the cascade, the re-initialisation, the similarities,
the verdict, and a sweep's gathering."""

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import videoattr
from helpers import compose_config, tiny_net
from videoattr import VideoAttrError
from videoattr.sanity import (
    cascade_layers,
    evaluation_points,
    gather,
    reinitialise,
    spearman,
    ssim,
    top_iou,
    verdicts,
)
from videoattr.schema import validate


class Branchy(nn.Module):
    """Registers ``late`` before ``early`` but calls ``early`` first; ``unused`` never runs; ``scale`` is a
    parameter of the module itself (no reset_parameters: the fallback)."""

    def __init__(self):
        super().__init__()
        self.late = nn.Linear(4, 3)
        self.early = nn.Conv3d(3, 4, 3, padding=1)
        self.unused = nn.Linear(2, 2)
        self.scale = nn.Parameter(torch.arange(1.0, 5.0))

    def forward(self, x):
        return self.late(self.early(x).mean(dim=(2, 3, 4)) * self.scale)


def clips(n: int = 2, t: int = 8) -> torch.Tensor:
    return torch.randn(n, 3, t, 12, 12, generator=torch.Generator().manual_seed(3))


def test_the_cascade_is_the_reverse_forward_order_of_the_modules_with_parameters():
    assert cascade_layers(Branchy(), clips(1)) == ["late", "early", ""]
    assert cascade_layers(tiny_net(), clips(1)) == ["4", "0"]
    with pytest.raises(VideoAttrError, match="nothing to randomise"):
        cascade_layers(nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten()), clips(1))


def test_reinitialise_uses_the_modules_own_reset_under_the_seed_and_a_fallback_otherwise():
    a, b = Branchy(), Branchy()
    trained = a.early.weight.clone()
    assert reinitialise(a.early, 7) == reinitialise(b.early, 7) == "reset_parameters"
    assert torch.equal(a.early.weight, b.early.weight) and not torch.equal(a.early.weight, trained)
    reinitialise(b.early, 8)
    assert not torch.equal(a.early.weight, b.early.weight)
    state, child = torch.random.get_rng_state(), a.late.weight.clone()
    assert reinitialise(a, 7) == "fallback"  # Branchy itself has no reset_parameters: its own `scale` is permuted
    assert torch.equal(torch.random.get_rng_state(), state), "the caller's random state is left alone"
    assert sorted(a.scale.tolist()) == [1.0, 2.0, 3.0, 4.0] and a.scale.tolist() != [1.0, 2.0, 3.0, 4.0]
    assert torch.equal(a.late.weight, child), "the fallback redraws the module's own parameters only"
    matrix = nn.Module()
    matrix.w = nn.Parameter(torch.zeros(6, 5))
    reinitialise(matrix, 0)
    bound = 1 / math.sqrt(5)  # kaiming_uniform_(a=sqrt(5)) on fan_in 5: U(-1/sqrt(5), 1/sqrt(5))
    assert matrix.w.abs().max() <= bound and matrix.w.std() > 0.2 * bound


def test_evaluation_points():
    assert evaluation_points(9, None) == list(range(10))
    assert evaluation_points(9, 3) == [0, 3, 6, 9]
    assert evaluation_points(2, 5) == [0, 1, 2]


def test_similarities_of_known_maps():
    rng = np.random.default_rng(0)
    a = rng.random((8, 9, 9))
    assert spearman(a, a) == pytest.approx(1.0) and spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, np.zeros_like(a)) == 0.0 and spearman(np.ones_like(a), np.zeros_like(a)) == 1.0
    assert ssim(a, 3 * a + 1) == pytest.approx(1.0)  # min-max scaled first
    assert ssim(a, rng.random(a.shape)) < 0.2
    assert ssim(a[:4], a[:4]) == pytest.approx(1.0)  # fewer than 7 frames: frame by frame
    ramp = np.arange(100.0).reshape(1, 10, 10)
    # top 10 %: voxels 90..99 of the ramp; rolled by 5, the other map's top 10 are voxels 95..99 and 0..4
    assert top_iou(ramp, ramp, 0.1) == 1.0
    shifted = np.roll(ramp.ravel(), 5).reshape(ramp.shape)
    assert top_iou(ramp, shifted, 0.1) == pytest.approx(5 / 15)


def test_sanity_check_flags_a_map_that_ignores_the_model_and_leaves_the_model_alone():
    net = tiny_net(4)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x = clips()
    centre = videoattr.sanity_check(net, x, [0, 1], method="centre")
    assert centre.layers == ["4", "0"] and centre.points == [0, 1, 2]
    assert len(centre.table) == 3 * 2 and (centre.table[["spearman", "ssim", "iou"]] == 1.0).all().all()
    assert centre.verdicts["passed"].tolist() == [False, False]
    assert centre.maps.shape == (3, 2, 1, 8, 12, 12)
    grad = videoattr.sanity_check(net, x, [0, 1], method="grad", seed=3)
    last = grad.table[grad.table["randomised"] == 2]
    assert (last["spearman"] < 0.5).all() and grad.verdicts["passed"].all()
    assert not torch.equal(grad.maps[0], grad.maps[-1])
    again = videoattr.sanity_check(net, x, [0, 1], method="grad", seed=3)
    pd.testing.assert_frame_equal(grad.table, again.table)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items()), "the user's model is untouched"
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    edges = videoattr.sanity_check(net, x, [0, 1], method="edges", steps=1, keep_maps=False)
    assert edges.points == [0, 2] and edges.maps is None and not edges.verdicts["passed"].any()
    with pytest.raises(VideoAttrError, match="threshold"):
        videoattr.sanity_check(net, x, 0, threshold=0)


def test_perturbation_masks_are_compared_per_area():
    net = tiny_net(4)
    fit = {"areas": [0.1, 0.3], "iterations": 2, "grid_step": 2, "sigma": 2.0, "compile": False}
    result = videoattr.sanity_check(net, clips(1), 2, method="3d_ep", steps=1, **fit)
    assert result.table["area"].tolist() == [0.1, 0.3, 0.1, 0.3]
    assert result.verdicts["area"].tolist() == [0.1, 0.3] and result.maps.shape[:3] == (2, 1, 2)


def test_verdict_rule_is_spearman_or_iou_at_full_randomisation_below_the_threshold():
    table = pd.DataFrame(
        {
            "clip": ["a", "a", "b", "b"],
            "area": [math.nan] * 4,
            "step": [0, 1, 0, 1],
            "spearman": [1.0, 0.49, 1.0, 0.51],
            "ssim": [1.0, 0.9, 1.0, 0.2],
            "iou": [1.0, 0.9, 1.0, 0.6],
        }
    )
    # clip a: Spearman 0.49 (IoU 0.9); clip b: Spearman 0.51 and IoU 0.6
    assert verdicts(table, 0.5)["passed"].tolist() == [True, False]
    assert verdicts(table, 0.55)["passed"].tolist() == [True, True]
    assert verdicts(table, 0.4)["passed"].tolist() == [False, False]


def test_check_config_is_a_group_with_checked_ranges():
    cfg = compose_config(["check=randomisation", "check.steps=3", "method=grad"])
    validate(cfg)
    assert (cfg.check.name, cfg.check.steps, cfg.check.threshold) == ("randomisation", 3, 0.7)
    assert compose_config([]).check is None
    for override, key in (("check.steps=0", "check.steps"), ("check.threshold=1.5", "check.threshold")):
        with pytest.raises(VideoAttrError, match=f"Invalid {key}="):
            validate(compose_config(["check=randomisation", override]))


def test_gather_summarises_the_sanity_checks_of_a_sweep(tmp_path):
    for method, value in (("grad", 0.2), ("centre", 1.0)):
        job = tmp_path / "synthetic" / method
        job.mkdir(parents=True)
        rows = [
            {"clip": c, "area": math.nan, "method": method, "step": s, "randomised": s, "layer": "x", "spearman": v,
             "ssim": v, "iou": v}
            for c in ("a", "b") for s, v in ((0, 1.0), (1, value))
        ]  # fmt: skip
        pd.DataFrame(rows).to_csv(job / "sanity.csv", index=False)
    path = gather(tmp_path)
    summary = pd.read_csv(path).set_index("method")
    assert summary.loc["grad", "passed"] == 2 and summary.loc["centre", "passed"] == 0
    assert summary.loc["grad", "spearman"] == pytest.approx(0.2) and (summary["clips"] == 2).all()
    assert (tmp_path / "plot_sanity.png").stat().st_size > 5_000 and len(pd.read_csv(tmp_path / "sanity_all.csv")) == 8
    assert gather(tmp_path / "synthetic" / "grad" / "nothing") is None
