"""temporal_ep: one mask value per frame (or per segment of frames), fitted as the spatial family's
Lightning fit; on a synthetic clip it keeps frames where the red disk (the evidence) moves."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import videoattr
from helpers import compose_config
from videoattr.data.datasets import build_dataset
from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation.frame_mask import FrameMaskGenerator
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
