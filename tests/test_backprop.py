"""Gradient-type methods against direct torch.autograd computations on a tiny 3D CNN."""

import numpy as np
import pytest
import torch
from torch import nn

from helpers import tiny_mvit, tiny_net
from videoattr.choices import IG_BASELINES
from videoattr.errors import VideoAttrError
from videoattr.methods.backprop import (
    KINETICS_MEAN,
    KINETICS_STD,
    gradients,
    gradients_x_input,
    integrated_gradients,
    smooth_gradients,
)
from videoattr.methods.polarity import display_normalize, polarity_map

TARGET = torch.tensor([1, 3])


@pytest.fixture
def net():
    return tiny_net()


@pytest.fixture
def clips():
    return torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))


def input_gradient(net, x, target):
    """d(sum over clips of the target logit)/dx, by plain autograd."""
    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x)[torch.arange(len(target)), target].sum(), x)
    return grad


def reduce(v, polarity):
    kept = {"positive": np.maximum(v, 0), "negative": -np.minimum(v, 0), "both": np.abs(v)}[polarity]
    return kept.mean(axis=1, keepdims=True)


@pytest.mark.parametrize("polarity", ["positive", "negative", "both"])
def test_gradients_match_autograd(net, clips, polarity):
    expected = reduce(input_gradient(net, clips, TARGET).numpy(), polarity)
    maps = gradients(net, clips, TARGET, polarity=polarity).maps
    assert maps.shape == (2, 1, 4, 8, 8) and maps.dtype == torch.float32
    assert (maps >= 0).all() and maps.sum() > 0
    np.testing.assert_allclose(maps.numpy(), expected, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("polarity", ["positive", "negative", "both"])
def test_gradients_x_input_match_autograd(net, clips, polarity):
    expected = reduce((input_gradient(net, clips, TARGET) * clips).numpy(), polarity)
    maps = gradients_x_input(net, clips, TARGET, polarity=polarity).maps
    assert maps.shape == (2, 1, 4, 8, 8) and (maps >= 0).all()
    np.testing.assert_allclose(maps.numpy(), expected, rtol=1e-5, atol=1e-8)


def left_riemann_ig(net, x, target, mean, std, steps, black=True):
    baseline = (-torch.tensor(mean) / torch.tensor(std)).view(1, 3, 1, 1, 1).expand_as(x) * black
    total = torch.zeros_like(x)
    for k in range(steps):
        total += input_gradient(net, baseline + (k / steps) * (x - baseline), target)
    return (total / steps * (x - baseline)).numpy()


@pytest.mark.parametrize("polarity", ["positive", "negative", "both"])
def test_integrated_gradients_default_is_the_reference(net, clips, polarity):
    expected = reduce(left_riemann_ig(net, clips, TARGET, KINETICS_MEAN, KINETICS_STD, 25), polarity)
    maps = integrated_gradients(net, clips, TARGET, polarity=polarity).maps
    assert maps.shape == (2, 1, 4, 8, 8) and (maps >= 0).all()
    np.testing.assert_allclose(maps.numpy(), expected, rtol=1e-4, atol=1e-7)


def test_integrated_gradients_options(net, clips):
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    expected = reduce(left_riemann_ig(net, clips, TARGET, mean, std, 4), "both")
    maps = integrated_gradients(
        net, clips, TARGET, polarity="both", steps=4, mean=mean, std=std, internal_batch_size=3
    ).maps
    np.testing.assert_allclose(maps.numpy(), expected, rtol=1e-4, atol=1e-7)
    with pytest.raises(VideoAttrError, match="steps"):
        integrated_gradients(net, clips, TARGET, steps=1)
    with pytest.raises(VideoAttrError, match="mean and std"):
        integrated_gradients(net, clips, TARGET, mean=(0.5,), std=(0.2,))


def test_integrated_gradients_baseline_is_black_for_a_cnn_and_zero_for_a_transformer(net, clips):
    """'auto' keeps the reference's black clip on the CNN (above) and starts a video transformer at 0, the
    normalisation's mean colour."""
    zero = integrated_gradients(net, clips, TARGET, polarity="both", steps=4, baseline="zero").maps
    expected = reduce(left_riemann_ig(net, clips, TARGET, KINETICS_MEAN, KINETICS_STD, 4, black=False), "both")
    np.testing.assert_allclose(zero.numpy(), expected, rtol=1e-4, atol=1e-7)
    mvit = tiny_mvit(num_classes=4).eval().requires_grad_(False)
    x = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(2))
    auto, black, zero = (integrated_gradients(mvit, x, TARGET[1:], steps=4, baseline=b).maps for b in IG_BASELINES)
    assert torch.equal(auto, zero) and not torch.allclose(auto, black)
    with pytest.raises(VideoAttrError, match="Unknown baseline 'grey': set baseline to one of auto, black, zero"):
        integrated_gradients(net, clips, TARGET, baseline="grey")


def test_smooth_gradients_without_noise_are_gradients(net, clips):
    expected = gradients(net, clips, TARGET, polarity="both").maps
    maps = smooth_gradients(net, clips, TARGET, polarity="both", samples=3, stdev=0.0).maps
    torch.testing.assert_close(maps, expected)


def test_smooth_gradients_average_noisy_gradients(clips):
    """On a linear model the gradient is the same everywhere, so averaging over noise must not change it."""
    torch.manual_seed(0)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 8 * 8, 5)).eval().requires_grad_(False)
    maps = smooth_gradients(linear, clips, TARGET, polarity="negative", samples=4, stdev=1.0).maps
    torch.testing.assert_close(maps, gradients(linear, clips, TARGET, polarity="negative").maps)


def test_smooth_gradients_are_seeded(net, clips):
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = smooth_gradients(net, clips, TARGET, samples=4, stdev=0.5, seed=7).maps
    assert torch.equal(torch.get_rng_state(), state)
    b = smooth_gradients(net, clips, TARGET, samples=4, stdev=0.5, seed=7).maps
    c = smooth_gradients(net, clips, TARGET, samples=4, stdev=0.5, seed=8).maps
    plain = gradients(net, clips, TARGET).maps
    assert torch.equal(a, b)
    assert not torch.allclose(a, c) and not torch.allclose(a, plain)
    assert a.shape == (2, 1, 4, 8, 8) and (a >= 0).all()
    with pytest.raises(VideoAttrError, match="samples"):
        smooth_gradients(net, clips, TARGET, samples=0)


@pytest.mark.parametrize("method", [gradients, gradients_x_input, integrated_gradients, smooth_gradients])
def test_methods_leave_model_and_inputs_alone(net, clips, method):
    before = clips.clone()
    method(net, clips, TARGET, polarity="both")
    assert torch.equal(clips, before) and not clips.requires_grad
    assert not any(p.requires_grad for p in net.parameters())


def test_polarity_map_by_hand():
    attribution = torch.tensor([[1.0, -2.0], [-3.0, 5.0], [0.5, 0.0]]).view(1, 3, 1, 1, 2)
    by_hand = {"positive": [0.5, 5 / 3], "negative": [1.0, 2 / 3], "both": [4.5 / 3, 7 / 3]}
    for polarity, values in by_hand.items():
        maps = polarity_map(attribution, polarity)
        assert maps.shape == (1, 1, 1, 1, 2)
        np.testing.assert_allclose(maps.flatten().numpy(), values, rtol=1e-6)
    with pytest.raises(VideoAttrError, match="polarity"):
        polarity_map(attribution, "absolute")


def test_display_normalize_clips_each_volume_at_its_percentile():
    maps = torch.rand(2, 3, 4, 10, 10, generator=torch.Generator().manual_seed(3)) ** 4
    maps[1, 2] = 7.0
    shown = display_normalize(maps)
    assert shown.shape == maps.shape
    for volume, result in zip(maps.reshape(-1, 400).numpy(), shown.reshape(-1, 400).numpy()):
        low, high = volume.min(), np.percentile(volume, 99.9)
        expected = (np.minimum(volume, high) - low) / (high - low) if high > low else np.zeros_like(volume)
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    assert shown[0].max() == 1 and shown[0, 0].min() == 0
    assert (shown[1, 2] == 0).all()
