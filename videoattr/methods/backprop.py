"""Backpropagation methods: gradients, gradients x input, integrated gradients, SmoothGrad (Captum).

Each takes ``inputs`` N x 3 x T x H x W (normalised clips) and ``target`` an N-long LongTensor and
returns an ``Explanation`` whose ``maps`` are N x 1 x T x H x W: the signed attribution of the
target's logit, reduced by ``polarity`` (see ``videoattr.methods.polarity``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from captum.attr import InputXGradient, IntegratedGradients, NoiseTunnel, Saliency
from torch import nn

from videoattr.choices import IG_BASELINES
from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation
from videoattr.methods.attention import video_transformer
from videoattr.methods.cost import cost
from videoattr.methods.polarity import polarity_map

KINETICS_MEAN = (0.43216, 0.39467, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.21699)


def gradients(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, polarity: str = "positive") -> Explanation:
    """d(logit of ``target``)/d(input), reduced by ``polarity``. One forward and one backward pass per clip."""
    attribution = Saliency(model).attribute(_leaf(inputs), target=target, abs=False)
    return Explanation(polarity_map(attribution, polarity), extras=cost(len(inputs), 1, 1))


def gradients_x_input(
    model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, polarity: str = "positive"
) -> Explanation:
    """d(logit of ``target``)/d(input) times the input, reduced by ``polarity``. One forward and one
    backward pass per clip."""
    attribution = InputXGradient(model).attribute(_leaf(inputs), target=target)
    return Explanation(polarity_map(attribution, polarity), extras=cost(len(inputs), 1, 1))


def integrated_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    polarity: str = "positive",
    steps: int = 25,
    internal_batch_size: int | None = None,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
    baseline: str = "auto",
) -> Explanation:
    """Integrated gradients from a baseline clip, by default black, as the reference computes them.

    baseline: 'black' (-mean / std per channel after normalisation, the reference's); 'zero' (0 after
    normalisation: the normalisation's mean colour, which is also what the zero padding of a convolutional
    patch embedding shows the model); 'auto': 'zero' for a video transformer (a torchvision MViT or Swin3D,
    or a Hugging Face model, inside ``model``), else 'black'. From black, an MViT's
    gradients along the path sit on the tokens whose window reaches the patch embedding's padding (the
    first frame, row and column of tokens), and so do the maxima of the map (docs/benchmark.md).
    The path integral is the left Riemann sum over alpha = 0, 1/steps, ..., (steps - 1)/steps (Captum's
    ``riemann_left``), times (input - baseline). ``internal_batch_size`` bounds how many path points go
    through the model at once. Cost per clip: ``steps`` forward and backward passes.
    """
    if int(steps) != steps or steps < 2:
        raise VideoAttrError(
            f"Integrated gradients needs an integer steps >= 2, got {steps}: set steps=25 (the reference)."
        )
    if len(mean) != inputs.shape[1] or len(std) != inputs.shape[1]:
        raise VideoAttrError(
            f"mean and std need one value per channel, got {list(mean)} and {list(std)}: give 3 values each."
        )
    if baseline not in IG_BASELINES:
        raise VideoAttrError(f"Unknown baseline '{baseline}': set baseline to one of {', '.join(IG_BASELINES)}.")
    if baseline == "auto":
        baseline = "zero" if video_transformer(model) else "black"
    mean_t = torch.as_tensor(mean, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1, 1)
    std_t = torch.as_tensor(std, dtype=inputs.dtype, device=inputs.device).view(1, -1, 1, 1, 1)
    start = (-mean_t / std_t if baseline == "black" else torch.zeros_like(mean_t)).expand_as(inputs)
    attribution = IntegratedGradients(model).attribute(
        _leaf(inputs),
        baselines=start,
        target=target,
        n_steps=int(steps),
        method="riemann_left",
        internal_batch_size=internal_batch_size,
    )
    return Explanation(polarity_map(attribution, polarity), extras=cost(len(inputs), int(steps), int(steps)))


def smooth_gradients(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    polarity: str = "positive",
    samples: int = 16,
    stdev: float = 0.15,
    seed: int = 0,
    internal_batch_size: int | None = None,
) -> Explanation:
    """SmoothGrad: gradients averaged over ``samples`` noisy copies of the clip.

    The noise is Gaussian with standard deviation ``stdev`` in normalised input units, drawn after
    seeding with ``seed`` inside ``torch.random.fork_rng`` (the caller's random state is restored), so
    equal seeds give equal maps. ``internal_batch_size`` bounds how many noisy copies go through the model at once.
    Cost per clip: ``samples`` forward and backward passes.
    """
    if samples < 1 or stdev < 0:
        raise VideoAttrError(
            f"SmoothGrad needs samples >= 1 and stdev >= 0, got {samples} and {stdev}: set samples=16 stdev=0.15."
        )
    devices = [inputs.device] if inputs.device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        attribution = NoiseTunnel(Saliency(model)).attribute(
            _leaf(inputs),
            nt_type="smoothgrad",
            nt_samples=int(samples),
            nt_samples_batch_size=internal_batch_size,
            stdevs=float(stdev),
            target=target,
            abs=False,
        )
    return Explanation(polarity_map(attribution, polarity), extras=cost(len(inputs), int(samples), int(samples)))


def _leaf(inputs: torch.Tensor) -> torch.Tensor:
    """A copy of ``inputs`` that Captum can differentiate with respect to, leaving the caller's tensor alone."""
    return inputs.detach().requires_grad_(True)
