"""Grad-CAM for video networks, with weights per channel and per time step as in the reference."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation


def grad_cam(model: nn.Module, inputs: torch.Tensor, target: torch.Tensor, layer: str | None = None) -> Explanation:
    """Grad-CAM of ``target`` on the output of the module named ``layer`` (e.g. "layer4", "mixed_5c").

    With activations A (N x C x T' x h x w) and their gradients G, the weights are G averaged over h and
    w only (N x C x T' x 1 x 1) and the map is ReLU(sum over C of weights x A), N x T' x h x w. It is
    repeated along time to T frames (nearest), upsampled bilinearly to H x W and scaled to [0, 1] per
    clip. A 4-D layer output (N*T x C x h x w, from a 2D backbone such as TSM) is read as
    N x T x C x h x w with T = inputs.shape[2].
    Returns ``maps`` N x 1 x T x H x W.
    """
    n, _, t, h, w = inputs.shape
    activation, gradient = _activation_and_gradient(model, _find_layer(model, inputs, layer), inputs, target)
    if activation is None or activation.dim() not in (4, 5):
        raise VideoAttrError(
            f"Layer '{layer}' does not output a 4-D or 5-D feature map: "
            f"set layer to one of {_candidates(model, inputs)}."
        )
    if activation.dim() == 4:
        if activation.shape[0] != n * t:
            raise VideoAttrError(
                f"Layer '{layer}' gives {activation.shape[0]} 2D feature maps for {n} clips of {t} frames: "
                f"choose a layer with one map per frame."
            )
        activation, gradient = (x.view(n, t, *x.shape[1:]).transpose(1, 2) for x in (activation, gradient))
    weights = gradient.mean(dim=(3, 4), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1))
    cam = F.interpolate(cam.unsqueeze(1), size=(t, *cam.shape[-2:]), mode="nearest").squeeze(1)
    cam = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)
    return Explanation(_scale_per_clip(cam).unsqueeze(1).float())


def feature_layers(model: nn.Module, inputs: torch.Tensor) -> list[str]:
    """Top- and second-level module names whose output is a 4-D or 5-D feature map, in model order."""
    shallow = [(name, module) for name, module in model.named_modules() if name and name.count(".") < 2]
    found: set[str] = set()

    def record(name: str):
        def hook(_module, _args, output):
            if isinstance(output, torch.Tensor) and output.dim() in (4, 5):
                found.add(name)

        return hook

    handles = [module.register_forward_hook(record(name)) for name, module in shallow]
    try:
        with torch.no_grad():
            model(inputs[:1])
    finally:
        for handle in handles:
            handle.remove()
    return [name for name, _ in shallow if name in found]


def _candidates(model: nn.Module, inputs: torch.Tensor) -> str:
    names = feature_layers(model, inputs)
    if not names:
        raise VideoAttrError(
            "The model has no module that outputs a feature map: Grad-CAM cannot explain it, use grad."
        )
    return ", ".join(names)


def _find_layer(model: nn.Module, inputs: torch.Tensor, layer: str | None) -> nn.Module:
    if layer:
        try:
            return model.get_submodule(layer)
        except AttributeError:
            pass
    problem = f"Unknown Grad-CAM layer '{layer}'" if layer else "Grad-CAM needs a layer"
    raise VideoAttrError(f"{problem}: set layer to one of {_candidates(model, inputs)}.")


def _activation_and_gradient(
    model: nn.Module, module: nn.Module, inputs: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The tensor ``module`` outputs on ``inputs`` and the gradient of the target logits' sum with
    respect to it; (None, None) when ``module`` outputs no tensor."""
    saved: dict[str, torch.Tensor] = {}

    def keep(_module, _args, output):
        if isinstance(output, torch.Tensor):
            saved["activation"] = output.detach().requires_grad_(True)
            # Downstream layers get a copy, so in-place operations there cannot alter the saved activation.
            return saved["activation"].clone()
        return None

    handle = module.register_forward_hook(keep)
    try:
        with torch.enable_grad():
            logits = model(inputs.detach())
            if "activation" not in saved:
                return None, None
            (gradient,) = torch.autograd.grad(logits.gather(1, target.view(-1, 1)).sum(), saved["activation"])
    finally:
        handle.remove()
    return saved["activation"].detach(), gradient


def _scale_per_clip(maps: torch.Tensor) -> torch.Tensor:
    """Min-max scale each clip of ``maps`` (N x ...) to [0, 1]; a constant clip becomes zeros."""
    flat = maps.flatten(1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    return ((flat - low) / torch.where(span > 0, span, torch.ones_like(span))).view_as(maps)
