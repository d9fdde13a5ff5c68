"""2D-EP / 3D-EP / STEP as one Lightning fit: shapes, energy terms, independence of pairs, logging."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch
from pytorch_lightning import Callback
from pytorch_lightning.loggers import CSVLogger
from torch import nn

import videoattr
from helpers import tiny_net
from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation import extremal_2d, extremal_3d, step
from videoattr.methods.perturbation.mask_generator import SmoothMaskGenerator

# Tiny clips (4 frames of 16 x 16): a 4-pixel grid, sigma 3 and a 3 x 5 x 5 core.
SMALL = {"grid_step": 4, "sigma": 3, "core_shape": [3, 5, 5], "core_stride": [1, 5, 5]}
# A learning rate > 0 (the config requires one) too small to move a float32 mask away from its start of 1.
STILL = 1e-30
METHODS = {"2d_ep": extremal_2d, "3d_ep": extremal_3d, "step": step}


@pytest.fixture
def clips() -> torch.Tensor:
    return torch.randn(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))


def initial_mask() -> torch.Tensor:
    """The smooth mask of the all-ones start, padded (T x H' x W')."""
    gen = SmoothMaskGenerator((16, 16), 4, 3)
    return gen(torch.ones(1, 4, *gen.grid_shape))[0]


def test_explain_returns_one_mask_per_clip_and_area_without_side_effects(clips, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    net = tiny_net()
    before = [p.clone() for p in net.parameters()]
    result = videoattr.explain(
        net,
        clips,
        [1, 2],
        method="step",
        areas=[0.05, 0.1],
        iterations=5,
        seed=0,
        return_details=True,
        **SMALL,
    )
    assert result.maps.shape == (2, 2, 4, 16, 16) and result.maps.dtype == torch.float32
    assert 0 <= result.maps.min() and result.maps.max() <= 1 and result.areas == [0.05, 0.1]
    assert result.extras["prob_preserved"].shape == result.extras["prob_deleted"].shape == (2, 2)
    assert sorted(result.extras["history"]) == ["core", "prob", "regulariser", "reward"]
    assert all(v.shape == (2, 2, 5) for v in result.extras["history"].values())
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert list(tmp_path.iterdir()) == []  # no checkpoints, no lightning_logs


@pytest.mark.parametrize("variant", ["preserve", "delete", "dual"])
def test_first_iteration_rewards_and_final_probabilities_of_each_variant(clips, variant):
    net = tiny_net()
    # fade: the perturbed clip is m x clip; lr STILL keeps the initial mask to the end.
    result = extremal_3d(
        net,
        clips,
        torch.tensor([1, 2]),
        areas=0.1,
        iterations=1,
        variant=variant,
        perturbation="fade",
        lr=STILL,
        **SMALL,
    )
    mask = initial_mask()[:, 3:19, 3:19]
    with torch.no_grad():
        p_kept = net(clips * mask).softmax(1)[[0, 1], [1, 2]].double().numpy()
        p_deleted = net(clips * (1 - mask)).softmax(1)[[0, 1], [1, 2]].double().numpy()
    preserve, delete = -np.log(p_kept), -np.log(1 - p_deleted)
    expected = {"preserve": preserve, "delete": delete, "dual": preserve + delete}[variant]
    history = result.extras["history"]
    np.testing.assert_allclose(history["reward"][:, 0, 0], 100 * expected, rtol=1e-5)
    np.testing.assert_allclose(history["prob"][:, 0, 0], p_deleted if variant == "delete" else p_kept, rtol=1e-5)
    np.testing.assert_allclose(result.extras["prob_preserved"][:, 0], p_kept, rtol=1e-5)
    np.testing.assert_allclose(result.extras["prob_deleted"][:, 0], p_deleted, rtol=1e-5)


@pytest.mark.parametrize("method", ["2d_ep", "3d_ep", "step"])
def test_area_regulariser_weight_growth_and_core_start_per_method(clips, method):
    result = METHODS[method](
        tiny_net(), clips[:1], torch.tensor([1]), areas=[0.2], iterations=5, lr=STILL, core_start=3, **SMALL
    )
    padded = initial_mask().numpy()
    if method == "2d_ep":  # 21 x 21 = 441 values per frame, int(441 x 0.8) = 352 zeros
        reference = np.r_[np.zeros(352), np.ones(89)]
        mse = np.mean((np.sort(padded.reshape(4, -1), axis=1) - reference) ** 2)
    else:  # 4 x 441 = 1764 values per volume, int(1764 x 0.8) = 1411 zeros
        reference = np.r_[np.zeros(1411), np.ones(353)]
        mse = np.mean((np.sort(padded.ravel()) - reference) ** 2)
    growth = 1.0008668 if method == "step" else 1.0
    regulariser = result.extras["history"]["regulariser"][0, 0]
    np.testing.assert_allclose(regulariser, 300 * mse * growth ** np.arange(5), rtol=1e-5)
    core = result.extras["history"]["core"][0, 0]
    if method == "step":
        assert np.all(core[:3] == 0) and np.all(core[3:] > 0)
    else:
        assert np.all(core == 0)


@pytest.mark.parametrize("variant", ["preserve", "delete"])
def test_mask_settles_on_the_evidence(variant):
    class PatchDetector(nn.Module):
        """Class 0 iff the top-left 8 x 8 patch is bright."""

        def forward(self, x):
            score = 20 * x[:, :, :, :8, :8].mean(dim=(1, 2, 3, 4)) - 10
            return torch.stack([score, torch.zeros_like(score)], dim=1)

    clips = torch.ones(1, 3, 2, 16, 16)
    result = extremal_3d(
        PatchDetector(),
        clips,
        torch.tensor([0]),
        areas=[0.25],
        iterations=80,
        variant=variant,
        perturbation="fade",
        **SMALL,
    )
    mask = result.maps[0, 0]
    inside, outside = mask[:, :8, :8].mean().item(), mask.sum().sub(mask[:, :8, :8].sum()).item() / (3 * 128)
    assert inside > 0.8 and outside < 0.2


def test_a_pair_follows_the_same_trajectory_alone_or_in_a_batch(clips):
    options = dict(iterations=12, core_start=4, seed=5, **SMALL)
    batch = step(tiny_net(), clips, torch.tensor([1, 2]), areas=[0.05, 0.3], **options)
    alone = step(tiny_net(), clips[1:], torch.tensor([2]), areas=[0.3], **options)
    torch.testing.assert_close(alone.maps[0, 0], batch.maps[1, 1], atol=1e-5, rtol=0)
    for key, values in alone.extras["history"].items():
        np.testing.assert_allclose(values[0, 0], batch.extras["history"][key][1, 1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(batch.maps[1, 0], batch.maps[1, 1])


def test_fit_is_deterministic_for_a_seed(clips):
    options = dict(areas=[0.1], iterations=8, core_start=2, seed=7, **SMALL)
    first = step(tiny_net(), clips, torch.tensor([1, 2]), **options)
    second = step(tiny_net(), clips, torch.tensor([1, 2]), **options)
    assert torch.equal(first.maps, second.maps)


def test_the_learning_rate_is_multiplied_from_each_milestone_on(clips):
    options = dict(areas=[0.1], seed=0, **SMALL)
    target = torch.tensor([1, 2])
    plain = extremal_3d(tiny_net(), clips, target, iterations=4, **options).maps
    assert (plain - 1).abs().max() > 0.1  # the masks moved
    unused = extremal_3d(tiny_net(), clips, target, iterations=4, lr_milestones=[4], lr_gamma=4.0, **options).maps
    assert torch.equal(unused, plain)  # a milestone after the last iteration changes nothing
    stopped = extremal_3d(tiny_net(), clips, target, iterations=8, lr_milestones=[4], lr_gamma=STILL, **options).maps
    torch.testing.assert_close(stopped, plain, atol=1e-6, rtol=0)  # no step moves the masks from iteration 4 on
    # Small steps (no parameter reaches 0 or 1): the step of iteration 4 is 4x the plain fit's.
    small = dict(options, lr=1e-3)
    start = extremal_3d(tiny_net(), clips, target, iterations=4, **small).maps
    one = extremal_3d(tiny_net(), clips, target, iterations=5, **small).maps
    four = extremal_3d(tiny_net(), clips, target, iterations=5, lr_milestones=[4], lr_gamma=4.0, **small).maps
    assert ((four - start).abs().sum() / (one - start).abs().sum()).item() == pytest.approx(4, rel=0.02)


def test_lightning_trainer_logger_and_callbacks_see_every_step(clips, tmp_path):
    class CountSteps(Callback):
        calls = 0

        def on_train_batch_end(self, *args):
            CountSteps.calls += 1

    trainer = {
        "accelerator": "cpu",
        "devices": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "log_every_n_steps": 1,
    }
    logger = CSVLogger(tmp_path, name="fit", version=0)
    result = step(
        tiny_net(),
        clips,
        torch.tensor([1, 2]),
        areas=[0.05, 0.1],
        iterations=6,
        core_start=2,
        trainer=trainer,
        logger=logger,
        callbacks=[CountSteps()],
        **SMALL,
    )
    assert CountSteps.calls == 6
    with open(tmp_path / "fit" / "version_0" / "metrics.csv") as f:
        rows = [row for row in csv.DictReader(f) if row.get("reward")]
    assert [int(row["step"]) for row in rows] == list(range(6))
    for key in ("reward", "regulariser", "core", "prob"):
        logged = [float(row[key]) for row in rows]
        np.testing.assert_allclose(logged, result.extras["history"][key].mean(axis=(0, 1)), rtol=1e-5)


def test_a_core_longer_than_the_clip_is_refused(clips):
    with pytest.raises(VideoAttrError, match="core_shape"):
        step(tiny_net(), clips, torch.tensor([1, 2]), iterations=1, grid_step=4, sigma=3)
