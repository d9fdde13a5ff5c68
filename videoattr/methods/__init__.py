"""Attribution methods, all with one call shape.

``method(model, inputs, target, **options) -> Explanation`` where ``inputs`` is an N x 3 x T x H x W
normalised clip batch, ``target`` an N-long LongTensor of class indices and ``options`` the method's
config keys (``conf/method/<name>.yaml``). ``Explanation.maps`` is N x A x T x H x W, float32,
non-negative (A = number of areas for perturbation methods, 1 otherwise).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from videoattr.errors import VideoAttrError

if TYPE_CHECKING:
    import torch

_REGISTRY: dict[str, str] = {
    "grad": "videoattr.methods.backprop:gradients",
    "grad_x_input": "videoattr.methods.backprop:gradients_x_input",
    "integrated_grad": "videoattr.methods.backprop:integrated_gradients",
    "smooth_grad": "videoattr.methods.backprop:smooth_gradients",
    "grad_cam": "videoattr.methods.gradcam:grad_cam",
    "attention_rollout": "videoattr.methods.rollout:attention_rollout",
    "grad_rollout": "videoattr.methods.rollout:grad_rollout",
    "occlusion": "videoattr.methods.removal:occlusion",
    "rise": "videoattr.methods.removal:rise",
    "kernel_shap": "videoattr.methods.removal:kernel_shap",
    "2d_ep": "videoattr.methods.perturbation.methods:extremal_2d",
    "3d_ep": "videoattr.methods.perturbation.methods:extremal_3d",
    "step": "videoattr.methods.perturbation.methods:step",
    "2d_ep_fast": "videoattr.methods.perturbation.methods:extremal_2d_fast",
    "3d_ep_fast": "videoattr.methods.perturbation.methods:extremal_3d_fast",
    "step_fast": "videoattr.methods.perturbation.methods:step_fast",
    "temporal_ep": "videoattr.methods.perturbation.methods:temporal_ep",
    "random": "videoattr.methods.baselines:random_map",
    "centre": "videoattr.methods.baselines:centre_prior",
    "edges": "videoattr.methods.baselines:edge_map",
}

# The paper's three methods, then their fast presets (500 iterations instead of 2000) and the temporal
# method (one mask value per frame).
PAPER_METHODS = ("2d_ep", "3d_ep", "step")
PERTURBATION_METHODS = (*PAPER_METHODS, "2d_ep_fast", "3d_ep_fast", "step_fast", "temporal_ep")
# Methods that read a video transformer's attention (torchvision MViT, Hugging Face VideoMAE, ViViT, TimeSformer).
TRANSFORMER_METHODS = ("attention_rollout", "grad_rollout")


@dataclass
class Explanation:
    """Result of one method call.

    maps: N x A x T x H x W float32 relevance, >= 0, same T, H, W as the input clip.
    areas: the A areas for perturbation methods, else None.
    extras: per-clip method outputs with a leading N dimension (e.g. ``prob_preserved`` N x A,
        ``history`` dict of N x A x iterations arrays), saved to the clip's ``.npz``.
    """

    maps: torch.Tensor
    areas: list[float] | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def method_names() -> list[str]:
    return list(_REGISTRY)


def get_method(name: str) -> Callable[..., Explanation]:
    """Return the attribution function registered as ``name``."""
    if name not in _REGISTRY:
        raise VideoAttrError(f"Unknown method '{name}': choose one of {', '.join(_REGISTRY)}.")
    module, attr = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), attr)
