"""videoattr.explain for every registered method, the method configs, and the benchmark baselines."""

import inspect
import math
from collections import OrderedDict

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

import videoattr
from helpers import compose_config
from videoattr import VideoAttrError, explain
from videoattr.methods import PERTURBATION_METHODS, TRANSFORMER_METHODS, Explanation, get_method, method_names

# Perturbation methods on 8 x 8 frames need a finer mask grid and a smaller STEP core than the paper's.
TINY_FIT = {"areas": [0.05, 0.1], "iterations": 2, "grid_step": 2, "sigma": 2.0}
# Removal methods with budgets and windows for 4 x 8 x 8 clips (SLIC needs compactness 100 to cut random clips).
REMOVAL = {
    "occlusion": {"window": [2, 4, 4], "stride": [2, 4, 4]},
    "rise": {"masks": 8, "grid": [2, 2, 2]},
    "kernel_shap": {"supervoxels": 4, "compactness": 100.0, "samples": 8},
}
OPTIONS = {
    "grad_cam": {"layer": "layer"},
    **REMOVAL,
    "2d_ep": TINY_FIT,
    "3d_ep": TINY_FIT,
    "step": {**TINY_FIT, "core_shape": [3, 3, 3], "core_stride": [1, 3, 3]},
    "temporal_ep": TINY_FIT,
}
OPTIONS.update({f"{name}_fast": OPTIONS[name] for name in ("2d_ep", "3d_ep", "step")})


def tiny_net() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        OrderedDict(
            layer=nn.Conv3d(3, 4, 3, padding=1),
            relu=nn.ReLU(),
            pool=nn.AdaptiveAvgPool3d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(4, 5),
        )
    )
    return net.eval().requires_grad_(False)


@pytest.fixture
def clips():
    return torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))


# The rollouts refuse this CNN; their maps and refusals: tests/test_rollout.py.
@pytest.mark.parametrize("method", [m for m in method_names() if m not in TRANSFORMER_METHODS])
def test_explain_every_method(clips, method):
    net = tiny_net().train()
    result = explain(net, clips, [1, 3], method=method, return_details=True, **OPTIONS.get(method, {}))
    assert isinstance(result, Explanation)
    areas = 2 if method in PERTURBATION_METHODS else 1
    assert result.maps.shape == (2, areas, 4, 8, 8) and result.maps.dtype == torch.float32
    assert torch.isfinite(result.maps).all() and (result.maps >= 0).all() and result.maps.sum() > 0
    assert result.areas == ([0.05, 0.1] if method in PERTURBATION_METHODS else None)
    assert net.training, "explain must restore the model's mode"


@pytest.mark.parametrize("method", ["grad", "grad_cam"])
def test_explain_broadcasts_one_target_and_works_under_no_grad(clips, method):
    net, options = tiny_net(), OPTIONS.get(method, {})
    expected = explain(net, clips, torch.tensor([4, 4]), method=method, **options)
    with torch.no_grad():
        maps = explain(net, clips, 4, method=method, **options)
    torch.testing.assert_close(maps, expected)


def test_explain_rejects_bad_input(clips):
    net = tiny_net()
    for bad in (clips[0], clips[:, :1]):
        with pytest.raises(VideoAttrError, match="N x 3 x T x H x W"):
            explain(net, bad, 0)
    with pytest.raises(VideoAttrError, match="Unknown method 'lime': choose one of grad, "):
        explain(net, clips, 0, method="lime")
    with pytest.raises(VideoAttrError, match="Got 3 targets for 2 clips"):
        explain(net, clips, [0, 1, 2])


@pytest.mark.parametrize(
    "name",
    ["grad", "grad_x_input", "integrated_grad", "smooth_grad", "grad_cam", "random", "centre", "edges", *REMOVAL],
)
def test_method_config_runs_with_its_function(clips, name):
    cfg = compose_config([f"method={name}", "seed=5"])
    options = OmegaConf.to_container(cfg.method, resolve=True)
    assert options.pop("name") == name
    assert set(options) <= set(inspect.signature(get_method(name)).parameters), "every config key must be an option"
    if name == "grad_cam":
        options["layer"] = "layer"
    options.update(REMOVAL.get(name, {}))
    maps = explain(tiny_net(), clips, 1, method=name, **options)
    assert maps.shape == (2, 1, 4, 8, 8) and (maps >= 0).all()


def test_random_map_is_seeded_uniform_noise(clips):
    a, b, c = (explain(tiny_net(), clips, 0, method="random", seed=s) for s in (3, 3, 4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == (2, 1, 4, 8, 8) and a.min() >= 0 and a.max() < 1
    assert torch.equal(a, torch.rand(2, 1, 4, 8, 8, generator=torch.Generator().manual_seed(3)))


def test_centre_prior_is_a_centred_gaussian():
    clips = torch.zeros(1, 3, 2, 6, 10)
    maps = explain(tiny_net(), clips, 0, method="centre", sigma_frac=0.5)
    assert maps.shape == (1, 1, 2, 6, 10)
    for i, j in [(0, 0), (2, 4), (3, 7), (5, 9)]:
        expected = math.exp(-0.5 * (((i - 2.5) / 3) ** 2 + ((j - 4.5) / 5) ** 2))
        assert maps[0, 0, 1, i, j].item() == pytest.approx(expected, rel=1e-6)
    np.testing.assert_array_equal(maps[0, 0, 0].numpy(), maps[0, 0, 1].numpy())
    with pytest.raises(VideoAttrError, match="sigma_frac"):
        explain(tiny_net(), clips, 0, method="centre", sigma_frac=0)


def test_package_exports_explain():
    assert videoattr.explain is explain


def test_explain_names_an_option_the_method_does_not_take(clips):
    with pytest.raises(VideoAttrError, match="Method 'grad' has no option stpes: its options are polarity"):
        explain(tiny_net(), clips, 0, method="grad", stpes=3)


def test_edge_map_is_the_sobel_magnitude_of_the_input(clips):
    step = torch.zeros(1, 3, 2, 8, 8)
    step[..., 4:] = 1.0  # a vertical edge between columns 3 and 4, in every frame and channel
    maps = explain(tiny_net(), step, 0, method="edges")
    assert maps.shape == (1, 1, 2, 8, 8)
    # Sobel d/dx of a unit step is 4 on both sides of the edge, 0 elsewhere; the map is scaled to peak 1
    expected = torch.zeros(8)
    expected[3:5] = 1.0
    assert torch.equal(maps[0, 0, 0, 4], expected) and torch.equal(maps[0, 0, 1], maps[0, 0, 0])
    assert torch.equal(explain(tiny_net(), torch.zeros(1, 3, 2, 8, 8), 0, method="edges"), torch.zeros(1, 1, 2, 8, 8))
    # the model and the target play no part
    other = nn.Sequential(nn.AdaptiveAvgPool3d(1), nn.Flatten())  # another model: 3 classes, the channel means
    assert torch.equal(explain(tiny_net(), clips, 0, method="edges"), explain(other, clips, 2, method="edges"))
