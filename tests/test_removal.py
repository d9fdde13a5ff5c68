"""Occlusion, RISE and KernelSHAP on supervoxels against what they are defined to compute: brute-force
occlusion, RISE of models whose dependence on the clip is known, exact Shapley values of a linear score;
their costs counted with a forward hook; seeds, batching, progress bars and errors."""

import math

import pytest
import torch
from torch import nn

from helpers import tiny_net
from videoattr import explain
from videoattr.errors import VideoAttrError
from videoattr.methods import get_method
from videoattr.methods.removal import _upsample_masks, kernel_shap, occlusion, rise, supervoxel_labels

BOX = (slice(2, 6), slice(8, 16), slice(16, 24))  # frames, rows, columns of an 8 x 32 x 32 clip


class BoxScore(nn.Module):
    """Logit k = (k + 1) x the mean of channel 0 over BOX: the score reads that box and nothing else."""

    def forward(self, x):
        box = x[:, 0, BOX[0], BOX[1], BOX[2]].flatten(1).mean(dim=1, keepdim=True)
        return box * torch.arange(1, 4, dtype=x.dtype)


class Constant(nn.Module):
    def forward(self, x):
        return torch.tensor([[0.3, 1.2, -0.5]]).expand(len(x), -1)


def counted(net):
    """``net`` with a forward pre-hook that adds up how many clips went through it (``net.clips[0]``)."""
    net.clips = [0]
    net.register_forward_pre_hook(lambda _m, args: net.clips.__setitem__(0, net.clips[0] + len(args[0])))
    return net


def test_occlusion_is_the_mean_score_drop_of_the_windows_covering_a_pixel():
    net = tiny_net()
    clip = torch.randn(1, 3, 4, 6, 6, generator=torch.Generator().manual_seed(0))
    window, stride = (2, 3, 3), (1, 2, 2)  # 3 x 3 x 3 positions; the last ones run past H and W
    mean = clip.mean(dim=(2, 3, 4), keepdim=True)
    with torch.no_grad():
        clean = net(clip)[0, 3]
        total, count = torch.zeros(4, 6, 6), torch.zeros(4, 6, 6)
        for t in range(3):
            for i in (0, 2, 4):
                for j in (0, 2, 4):
                    box = torch.zeros(4, 6, 6, dtype=torch.bool)
                    box[t : t + 2, i : i + 3, j : j + 3] = True
                    drop = clean - net(torch.where(box, mean, clip))[0, 3]
                    total += drop * box
                    count += box
    expected = (total / count).clamp(min=0)
    assert (expected > 0).any() and (expected == 0).any()
    result = occlusion(counted(net), clip, torch.tensor([3]), window, stride, "mean", score="logit")
    torch.testing.assert_close(result.maps[0, 0], expected, rtol=1e-5, atol=1e-6)
    assert result.extras["forward_passes"].tolist() == [[28]] == [[net.clips[0]]]


@pytest.mark.parametrize(
    "method, options, passes",
    [
        ("occlusion", {"window": [2, 4, 4], "stride": [2, 4, 4]}, 2 * 2 * 2 + 1),
        ("rise", {"masks": 10, "grid": [2, 2, 2], "batch_size": 3}, 10),
        ("kernel_shap", {"supervoxels": 4, "compactness": 100.0, "samples": 9, "batch_size": 4}, 9),
        ("grad_cam", {"layer": "0"}, 1),
        ("grad", {}, 1),
        ("integrated_grad", {"steps": 3}, 3),
        ("smooth_grad", {"samples": 4}, 4),
        ("random", {}, 0),
    ],
)
def test_the_stated_cost_is_the_number_of_clips_the_model_saw(method, options, passes):
    net = counted(tiny_net())
    clips = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    result = get_method(method)(net, clips, torch.tensor([1, 4]), **options)
    assert result.extras["forward_passes"].tolist() == [[passes], [passes]]
    assert net.clips[0] == 2 * passes


def test_rise_of_a_model_that_ignores_the_clip_is_zero():
    """The score-weighted mean of the masks would be the constant score everywhere; the mean is removed."""
    clips = torch.randn(2, 3, 8, 32, 32)
    maps = rise(Constant(), clips, torch.tensor([0, 1]), masks=50, polarity="both").maps
    assert maps.shape == (2, 1, 8, 32, 32) and maps.abs().max() < 1e-9


def test_rise_finds_the_box_the_score_reads():
    clips = torch.ones(1, 3, 8, 32, 32)
    maps = rise(BoxScore(), clips, torch.tensor([2]), masks=400, grid=[4, 4, 4], score="logit").maps[0, 0]
    inside = torch.zeros(8, 32, 32, dtype=torch.bool)
    inside[BOX] = True
    far = torch.ones(8, 32, 32, dtype=torch.bool)  # more than one mask cell (2 frames, 8 pixels) from the box
    far[0:8, 0:24, 8:32] = False
    assert maps[inside].mean() > 10 * maps[far].mean()
    assert inside.flatten()[maps.argmax()]


def test_rise_masks_are_smooth_shifted_and_keep_about_keep():
    generator = torch.Generator().manual_seed(0)
    bits = (torch.rand(200, 1, 2, 3, 3, generator=generator) < 0.3).float()
    shifts = torch.stack([torch.randint(c, (200,), generator=generator) for c in (4, 6, 6)], dim=1)
    masks = _upsample_masks(bits, shifts, (4, 6, 6), (8, 16, 16))
    assert masks.shape == (200, 8, 16, 16) and masks.min() >= 0 and masks.max() <= 1
    assert 0.25 < masks.mean() < 0.35
    assert ((masks > 0) & (masks < 1)).any(), "trilinear upsampling gives soft edges"


def test_rise_and_kernel_shap_are_seeded_and_a_clip_does_not_depend_on_its_batch():
    net = tiny_net()
    clips = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    for method, options in [
        ("rise", {"masks": 20, "grid": [2, 2, 2]}),
        ("kernel_shap", {"supervoxels": 6, "compactness": 100.0, "samples": 12}),
    ]:
        fn = get_method(method)
        torch.manual_seed(123)  # the global random state must not matter
        first = fn(net, clips, torch.tensor([1, 4]), seed=3, **options).maps
        torch.manual_seed(321)
        again = fn(net, clips, torch.tensor([1, 4]), seed=3, batch_size=5, **options).maps
        other = fn(net, clips, torch.tensor([1, 4]), seed=4, **options).maps
        alone = fn(net, clips[1:], torch.tensor([4]), seed=3, **options).maps
        torch.testing.assert_close(again, first, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(alone, first[1:], rtol=1e-5, atol=1e-7)
        assert not torch.allclose(other, first)


def box_clip() -> torch.Tensor:
    """An 8 x 32 x 32 clip, normalised with mean 0.5 and std 0.25: grey with weak noise, a red BOX."""
    generator = torch.Generator().manual_seed(3)
    rgb = 0.5 + 0.02 * torch.randn(1, 3, 8, 32, 32, generator=generator)
    rgb[:, :, BOX[0], BOX[1], BOX[2]] = torch.tensor([0.9, 0.1, 0.1]).view(1, 3, 1, 1, 1)
    return (rgb - 0.5) / 0.25


def test_kernel_shap_of_a_linear_score_is_exact():
    """A score linear in the supervoxels kept: each supervoxel's Shapley value is its share of the box mean
    (red channel, faded to 0 when removed), which the regression recovers exactly."""
    clip = box_clip()
    result = kernel_shap(
        BoxScore(), clip, torch.tensor([0]), supervoxels=12, samples=60, perturbation="fade", score="logit",
        polarity="both", mean=[0.5] * 3, std=[0.25] * 3,
    )  # fmt: skip
    labels = result.extras["supervoxels"][0].long()
    inside = torch.zeros(8, 32, 32, dtype=torch.bool)
    inside[BOX] = True
    share = torch.zeros(int(labels.max()) + 1).index_add_(0, labels[inside], clip[0, 0][inside]) / inside.sum()
    torch.testing.assert_close(result.maps[0, 0], share[labels].abs(), rtol=1e-3, atol=1e-4)
    assert result.maps[0, 0][inside].min() > 1.0  # the red channel's 1.6 in normalised units, shared by few supervoxels
    assert (result.maps[0, 0][~inside] > 1e-4).float().mean() < 0.05  # box supervoxels reach a little into the grey
    assert result.extras["forward_passes"].tolist() == [[60]]


def test_supervoxels_follow_the_colours():
    labels = supervoxel_labels(torch.cat([box_clip(), box_clip().flip(-1)]), [0.5] * 3, [0.25] * 3, 12, 10.0)
    assert labels.shape == (2, 8, 32, 32) and labels.dtype == torch.int64
    for clip_labels in labels:
        ids = clip_labels.unique()
        assert ids.tolist() == list(range(len(ids))) and 4 <= len(ids) <= 24
    inside = torch.zeros(8, 32, 32, dtype=torch.bool)
    inside[BOX] = True
    box_ids = labels[0][inside].unique()
    assert all((labels[0][labels[0] == i] == labels[0][labels[0] == i]).all() for i in box_ids)
    # the red box is whole supervoxels: none of its supervoxels reaches far into the grey
    assert inside[torch.isin(labels[0], box_ids)].float().mean() > 0.9


def test_a_clip_slic_leaves_whole_gets_the_whole_change_of_score(caplog):
    """SLIC merges a noise clip into one supervoxel at compactness 10: its Shapley value is score(clip) -
    score(removed), for 2 forward passes, and the log says to raise compactness."""
    net, clip = counted(tiny_net()), torch.randn(1, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    result = kernel_shap(
        net, clip, torch.tensor([2]), supervoxels=6, perturbation="fade", score="logit", polarity="both"
    )
    assert result.extras["supervoxels"].max() == 0 and result.extras["forward_passes"].tolist() == [[2]] == [net.clips]
    with torch.no_grad():
        change = net(clip)[0, 2] - net(torch.zeros_like(clip))[0, 2]
    torch.testing.assert_close(result.maps, change.abs().expand(1, 1, 4, 8, 8))
    assert "raise compactness" in caplog.text


def test_removal_errors_are_one_sentence():
    net, clips, target = tiny_net(), torch.randn(1, 3, 4, 8, 8), torch.tensor([0])
    cases = [
        (
            occlusion,
            {"window": [8, 4, 4]},
            r"Occlusion window \[8, 4, 4\] is larger than the clip \(4 frames of 8 x 8\)",
        ),
        (occlusion, {"stride": [1, 0, 1]}, r"Invalid stride=\[1, 0, 1\]: use three integers"),
        (occlusion, {"window": [2, 4, 4], "stride": [3, 4, 4]}, r"stride \[3, 4, 4\] is longer than the window"),
        (rise, {"grid": [2, 9, 2]}, r"RISE grid \[2, 9, 2\] is finer than the clip"),
        (rise, {"keep": 1.0}, r"keep probability must be in \(0, 1\)"),
        (rise, {"perturbation": "noise"}, "Unknown perturbation 'noise': set perturbation to one of blur, fade, mean"),
        (kernel_shap, {"score": "softmax"}, "Unknown score 'softmax': set score to one of probability, logit"),
        (kernel_shap, {"samples": 1}, "KernelSHAP needs samples >= 2"),
    ]
    for fn, options, match in cases:
        with pytest.raises(VideoAttrError, match=match) as err:
            fn(net, clips, target, **options)
        assert "\n" not in str(err.value) and str(err.value).endswith(".")


@pytest.mark.parametrize(
    "method, options, label",
    [
        ("occlusion", {"window": [2, 4, 4], "stride": [2, 4, 4]}, "Occlusion"),
        ("rise", {"masks": 8, "grid": [2, 2, 2]}, "RISE masks"),
        ("kernel_shap", {"supervoxels": 4, "compactness": 100.0, "samples": 6}, "Kernel"),
    ],
)
def test_progress_bar_only_when_asked_or_on_a_terminal(capsys, method, options, label):
    clips = torch.randn(1, 3, 4, 8, 8)
    explain(tiny_net(), clips, 0, method=method, **options)  # stderr is not a terminal here: no bar
    assert label not in capsys.readouterr().err
    explain(tiny_net(), clips, 0, method=method, progress=True, **options)
    assert label in capsys.readouterr().err


def test_default_costs_stated_in_the_docstrings():
    """Occlusion's default windows at 16 x 112 x 112: 3 x 13 x 13 positions plus the clean clip."""
    positions = math.prod(math.ceil((s - k) / d) + 1 for s, k, d in zip((16, 112, 112), (8, 16, 16), (4, 8, 8)))
    assert positions + 1 == 508
