"""temporal_ep: one mask value per frame (or per segment of frames), fitted as the spatial family's
Lightning fit; on a synthetic clip it keeps frames where the red disk (the evidence) moves."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import videoattr
from helpers import compose_config, run_in_process
from videoattr.data.datasets import build_dataset
from videoattr.errors import VideoAttrError
from videoattr.methods.cost import planned_passes
from videoattr.methods.perturbation.fit import select_frames
from videoattr.methods.perturbation.frame_mask import FrameMaskGenerator
from videoattr.methods.perturbation.options import resolve_options
from videoattr.models import load_model


def test_frame_masks_are_equal_within_a_segment_and_fill_their_frames():
    generator = FrameMaskGenerator((3, 5), frames=5, segment=2)
    params = torch.tensor([0.0, 1.0, 0.2, 0.4, 0.9]).view(1, 5, 1, 1).requires_grad_()
    masks = generator(params)
    assert masks.flatten().tolist() == pytest.approx([0.5, 0.5, 0.3, 0.3, 0.9])  # the last segment: 1 frame
    frames = generator.crop(masks)
    assert frames.shape == (1, 5, 3, 5) and torch.equal(frames[0, 2], torch.full((3, 5), masks[0, 2, 0, 0].item()))
    frames.sum().backward()
    assert params.grad.flatten().tolist() == pytest.approx([15.0] * 5)  # 15 pixels x 2 frames x 1/2, or x 1 x 1
    with pytest.raises(VideoAttrError, match="segment=6 does not fit the clip's 5 frames"):
        FrameMaskGenerator((3, 5), frames=5, segment=6)


def test_the_config_is_registered_with_its_segment():
    assert compose_config(["method=temporal_ep"]).method.segment is None  # the model's tubelet
    cfg = compose_config(["method=temporal_ep", "method.segment=2"])
    assert (cfg.method.name, cfg.method.segment, cfg.method.iterations) == ("temporal_ep", 2, 200)
    with pytest.raises(VideoAttrError, match="segment"):
        videoattr.schema.validate(compose_config(["method=temporal_ep", "method.segment=0"]))


@pytest.mark.slow
def test_temporal_ep_keeps_the_frames_of_the_evidence():
    """The default fit (200 iterations), areas 2 and 4 of 16 frames, on a synthetic clip whose disk moves
    in frames 1-6 only: the 2 / 4 most kept frames, and every frame kept more than half, are among them,
    and keeping them keeps the class."""
    cfg = compose_config([])
    net, spec = load_model(cfg.model)
    item = build_dataset(cfg.dataset, spec)[0]
    evidence = item["gt_mask"].flatten(1).amax(dim=1).numpy() > 0
    assert evidence.tolist() == [False] + [True] * 6 + [False] * 9
    options = OmegaConf.to_container(
        compose_config(["method=temporal_ep", "method.compile=false"]).method, resolve=True
    )
    options.pop("name")
    result = videoattr.explain(
        net,
        item["clip"][None],
        item["target"],
        method="temporal_ep",
        areas=[0.125, 0.25],
        return_details=True,
        **options,
    )
    assert result.maps.shape == (1, 2, 16, 112, 112)
    masks = result.maps[0, :, :, 0, 0].numpy()
    for mask, count in zip(masks, (2, 4)):
        assert np.all(evidence[np.argsort(-mask)[:count]])  # its 2 / 4 most kept frames
    assert np.all(evidence[(masks > 0.5).any(axis=0)])  # and every frame it keeps more than half of
    assert (result.extras["prob_preserved"][0] > 0.9).all()


class LateFrames(nn.Module):
    """Two classes scored by the red channel's mean over frames 2 and 3 only: the evidence is there."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = 4 * x[:, 0, 2:4].mean(dim=(1, 2, 3))
        return torch.stack([score, -score], dim=1)


def test_temporal_frames_fits_the_spatial_masks_on_the_frames_the_temporal_step_keeps():
    """3D-EP with temporal_frames=0.25 on 8 frames: the temporal step keeps the 2 frames the model reads, the
    spatial masks keep some of them and are 0 on the 6 others."""
    clips = torch.ones(1, 3, 8, 14, 14)
    opts = resolve_options("3d_ep", {"iterations": 20, "compile": False, "perturbation": "fade"})
    frames, ran = select_frames(LateFrames(), clips, torch.tensor([0]), 2, opts, None, None)
    assert (frames.tolist(), ran) == ([[2, 3]], 20)
    result = videoattr.explain(
        LateFrames(),
        clips,
        torch.tensor([0]),
        method="3d_ep",
        areas=[0.05, 0.1],
        return_details=True,
        iterations=20,
        compile=False,
        perturbation="fade",
        variant="preserve",
        temporal_frames=0.25,
    )
    kept = result.maps[0].flatten(2).amax(dim=2)  # A x T: each frame's largest mask value
    assert (kept[:, [0, 1, 4, 5, 6, 7]] == 0).all() and (kept[:, 2:4].amax(dim=1) > 0.5).all()
    assert result.extras["temporal_iterations"].tolist() == [[20, 20]]  # as many as the spatial fit, at most 200
    assert result.extras["iterations"].tolist() == [[20, 20]]


def test_the_plan_counts_the_temporal_steps_passes():
    """500 iterations x 2 areas, plus the temporal step's 200 (one area); 5 + 5 for a 5-iteration fit."""
    assert planned_passes("3d_ep", {"iterations": 500, "temporal_frames": 0.5}, 2, (16, 112, 112)) == (1200, 1200)
    assert planned_passes("step", {"iterations": 5, "temporal_frames": 0.5}, 1, (16, 112, 112)) == (10, 10)
    assert planned_passes("3d_ep", {"iterations": 500, "temporal_frames": None}, 2, (16, 112, 112)) == (1000, 1000)
    # a model with attention layers: temporal_ep (and the temporal step) keep and delete, two passes each
    assert planned_passes("temporal_ep", {"iterations": 200}, 1, (16, 112, 112), "attention") == (400, 400)
    options = {"iterations": 500, "temporal_frames": 0.5}
    assert planned_passes("3d_ep", options, 2, (16, 112, 112), "attention") == (1400, 1400)


def test_temporal_frames_refuses_an_area_its_frames_cannot_hold():
    with pytest.raises(VideoAttrError, match=r"area 0.3 is more than the 2 of 8 frames that temporal_frames=0.25"):
        videoattr.explain(LateFrames(), torch.ones(1, 3, 8, 14, 14), torch.tensor([0]), method="3d_ep",
                          areas=[0.3], iterations=2, compile=False, temporal_frames=0.25)  # fmt: skip


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["method=3d_ep", "method.temporal_frames=1.5"], "temporal_frames.*strictly between 0 and 1"),
        (["method=temporal_ep", "method.temporal_frames=0.5"], "temporal_frames.*use null with temporal_ep"),
        (
            ["method=3d_ep", "method.temporal_frames=0.25", "area=0.3", "debug=fast"],
            "area 0.3 is more than the 4 of 16",
        ),
    ],
)
def test_a_bad_temporal_frames_is_one_line_naming_the_key(overrides, message, tmp_path):
    error = run_in_process(overrides, tmp_path / "run")
    assert error is not None and "\n" not in error and re.search(message, error)


def test_temporal_frames_through_run_py(tmp_path):
    """STEP with temporal_frames=0.5 as run.py composes it (debug=fast: 5 iterations each): its saved masks
    are 0 on 8 of the 16 frames, and results.csv has the temporal step's iterations."""
    overrides = ["method=step", "method.temporal_frames=0.5", "method.core_shape=[3,11,11]", "debug=fast"]
    assert run_in_process(overrides, tmp_path / "run") is None
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    assert results["temporal_iterations"].tolist() == [5] and results["iterations"].tolist() == [5]
    saved = np.load(tmp_path / "run" / "clips" / f"{results['clip'][0]}.npz")
    assert ((saved["frame_kept"][0] > 0).sum(), saved["frame_kept"].shape) == (8, (1, 16))
