"""Grad-CAM for video networks: 3D CNNs, 2D backbones run per frame (TSM) and video transformers (MViT, Swin3D).

The activations A of one layer and the gradients G of the target's logit with respect to them are
brought to N x C x T' x H' x W' from the layer's ``layout``; ``channel_weights`` turns them into a map
N x T' x H' x W' (ReLU of a weighted sum over channels), which is upsampled to the clip's T x H x W and
scaled to [0, 1] per clip. One forward and one backward pass per clip.

torchvision's video transformers are found by class, so ``layer`` may be left out for them (any size,
also inside a wrapper module):

- ``MViT``: its blocks take and return ``(tokens, thw)``; tokens are T-major with the class token at
  index 0. Only the class token reaches the head and LayerNorm works per token, so after the last
  block's attention no patch token has a gradient; the default layer is the last block's ``norm1``
  (its output still feeds that attention), read as ``cls_tokens`` on the grid ``thw`` the block receives.
- ``SwinTransformer3d``: its features are channels-last N x T' x H' x W' x C and its head
  average-pools, so every position of the last stage gets a gradient. The default layer is the last
  stage's last block's ``norm1`` (as pytorch-grad-cam advises for Swin): on small Swin3D models trained
  on a task with known evidence it points at the evidence, while the last stage's output (after that
  block's window attention has mixed the tokens) did not (docs/methods.md).

- Hugging Face video transformers (VideoMAE, TimeSformer, ViViT, V-JEPA 2, VideoPrism): the layer and
  the token layout of ``videoattr.models.hf.token_layout``, which also reads a ``layer`` the user names
  when its tokens fit that layout.

Channel-averaged weights (``per_time``, ``global``) discard where a layer's gradient is, and at an
attention layer's input that is where the attention looks: on MViT's class-token layer prefer
``elementwise`` (docs/methods.md has the measurements).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.video.mvit import MultiscaleBlock, MViT
from torchvision.models.video.swin_transformer import SwinTransformer3d

from videoattr.choices import CHANNEL_WEIGHTS, GRADCAM_LAYOUTS, GRADCAM_UPSAMPLING
from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation
from videoattr.methods.cost import cost
from videoattr.methods.upsample import clip_maps
from videoattr.models.hf import TokenLayout, adapted_name, find_hf_model, token_layout

# Layouts whose maps are upsampled trilinearly under upsample="auto" (the CNN layouts keep the reference's way).
TRANSFORMER_LAYOUTS = ("channels_last", "tokens", "cls_tokens")


def grad_cam(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    layer: str | None = None,
    channel_weights: str = "per_time",
    layout: str = "auto",
    token_grid: Sequence[int] | None = None,
    upsample: str = "auto",
) -> Explanation:
    """Grad-CAM of ``target`` on the output of the module named ``layer``.

    layer: dotted module name, e.g. "layer4" (R(2+1)D, R3D, MC3), "mixed_5c" (I3D), "blocks.15.norm1"
        (MViT-V2-S), "features.6.1.norm1" (Swin3D-T). None: the default layer of the first torchvision ``MViT`` or
        ``SwinTransformer3d`` or Hugging Face video transformer inside ``model``; other models need a layer.
    channel_weights: with G averaged over the named axes,
        'per_time': one weight per channel and time step, mean of G over H' x W' (the reference's);
        'global': one weight per channel, mean of G over T' x H' x W' (Captum's LayerGradCam,
        pytorch-grad-cam); 'elementwise': G itself, i.e. the map is the sum over channels of G x A at
        every position (HiResCAM, Draelos and Carin 2020). The map is ReLU(sum over C of weights x A).
    layout: how the layer's output holds the features:
        'channels_first': N x C x T' x H' x W' (3D CNNs);
        'channels_last': N x T' x H' x W' x C (Swin3D);
        'frames': (N*T) x C x h x w, one 2D map per frame (TSM), T' = T;
        'tokens': N x L x C with L = T' H' W' tokens, T-major (token t H' W' + h W' + w);
        'cls_tokens': N x (1 + L) x C, a class token first (dropped), then the L tokens as above;
        'auto': 'frames' for 4-D outputs, 'channels_last' for 5-D outputs inside a SwinTransformer3d,
        else 'channels_first'; 3-D outputs (or ``(tokens, thw)`` tuples, as MViT's blocks return) are
        'cls_tokens' when there is one token more than the grid holds, else 'tokens'.
    token_grid: [T', H', W'] of the token layouts. None: the ``thw`` an MViT block returns (layer
        "blocks.i") or receives (layer "blocks.i.norm1"); other token layers need it.
    upsample: from T' x H' x W' to T x H x W. 'reference': repeated along time (nearest), then bilinear
        per frame, as the reference does for 3D CNNs; 'trilinear': trilinear over time and space;
        'auto': 'reference' for the channels_first and frames layouts (the reference's maps are kept),
        'trilinear' for the transformer layouts.
    Returns ``maps`` N x 1 x T x H x W in [0, 1] (min-max scaled per clip; an all-zero map stays 0).
    """
    _check_choice("channel_weights", channel_weights, CHANNEL_WEIGHTS)
    _check_choice("layout", layout, GRADCAM_LAYOUTS)
    _check_choice("upsample", upsample, GRADCAM_UPSAMPLING)
    grid = _check_grid(token_grid)
    n, _, t, h, w = inputs.shape
    name = adapted_name(model, layer) if layer else default_layer(model)
    if not name:
        raise VideoAttrError(f"Grad-CAM needs a layer: set layer to one of {_candidates(model, inputs)}.")
    module = _find_layer(model, inputs, name)
    activation, gradient, found_grid = _activation_and_gradient(model, module, inputs, target, _mvit_block(model, name))
    if activation is None:
        raise VideoAttrError(
            f"Layer '{name}' does not output a tensor: set layer to one of {_candidates(model, inputs)}."
        )
    tokens = _hf_tokens(model, activation, inputs) if layout == "auto" and grid is None else None
    if tokens is not None:
        if tokens.special_tokens:
            _check_patch_gradient(name, gradient)
        activation, gradient = (tokens.to_grid(x, n) for x in (activation, gradient))
        layout = "tokens"
    else:
        grid = grid or found_grid
        if layout == "auto":
            layout = _auto_layout(model, name, activation, grid, inputs)
        if layout == "cls_tokens" and gradient.dim() == 3:
            _check_patch_gradient(name, gradient)
        activation, gradient = (_channels_first(x, layout, name, grid, n, t) for x in (activation, gradient))
    cam = _combine(activation, gradient, channel_weights)
    if upsample == "auto":
        upsample = "trilinear" if layout in TRANSFORMER_LAYOUTS else "reference"
    return Explanation(clip_maps(cam, (t, h, w), upsample), extras=cost(n, 1, 1))


def default_layer(model: nn.Module) -> str | None:
    """The Grad-CAM layer of the first torchvision ``MViT`` or ``SwinTransformer3d`` or Hugging Face video
    transformer in ``model``: the last block's ``norm1`` (of the last stage, for Swin3D), the layer of
    ``videoattr.models.hf.token_layout`` for an HF model, as a dotted name from ``model``; None if it has none."""
    hf_model = find_hf_model(model)
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if module is hf_model:
            try:
                return prefix + token_layout(hf_model).layer
            except VideoAttrError:
                return None
        if isinstance(module, MViT):
            return f"{prefix}blocks.{len(module.blocks) - 1}.norm1"
        if isinstance(module, SwinTransformer3d):
            stage = module.features[-1]
            if isinstance(stage, nn.Sequential) and len(stage) and hasattr(stage[-1], "norm1"):
                return f"{prefix}features.{len(module.features) - 1}.{len(stage) - 1}.norm1"
            return f"{prefix}features"
    return None


def feature_layers(model: nn.Module, inputs: torch.Tensor) -> list[str]:
    """Top- and second-level module names whose output is a feature map (4-D or 5-D) or tokens (3-D, or
    a tuple that starts with them, as MViT's blocks return), in model order."""
    shallow = [(name, module) for name, module in model.named_modules() if name and name.count(".") < 2]
    found: set[str] = set()

    def record(name: str):
        def hook(_module, _args, output):
            tensor = _leading_tensor(output)
            if tensor is not None and (tensor.dim() in (4, 5) or tensor.dim() == 3 and tensor.shape[0] == 1):
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


def _check_choice(key: str, value: str, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise VideoAttrError(f"Unknown Grad-CAM {key} '{value}': set {key} to one of {', '.join(accepted)}.")


def _check_grid(token_grid: Sequence[int] | None) -> tuple[int, int, int] | None:
    if token_grid is None:
        return None
    grid = tuple(token_grid)
    if len(grid) != 3 or not all(isinstance(g, int) and g >= 1 for g in grid):
        raise VideoAttrError(
            f"token_grid must be [T', H', W'], three integers >= 1, got {list(grid)}: e.g. token_grid=[8, 7, 7]."
        )
    return grid


def _candidates(model: nn.Module, inputs: torch.Tensor) -> str:
    names = feature_layers(model, inputs)
    if not names:
        raise VideoAttrError(
            "The model has no module that outputs a feature map: Grad-CAM cannot explain it, use grad."
        )
    return ", ".join(names)


def _find_layer(model: nn.Module, inputs: torch.Tensor, layer: str) -> nn.Module:
    try:
        return model.get_submodule(layer)
    except AttributeError:
        pass
    raise VideoAttrError(f"Unknown Grad-CAM layer '{layer}': set layer to one of {_candidates(model, inputs)}.")


def _mvit_block(model: nn.Module, name: str) -> nn.Module | None:
    """The MViT block whose ``norm1`` is the layer ``name`` (its input ``thw`` is the tokens' grid), or None."""
    parent, _, leaf = name.rpartition(".")
    if leaf != "norm1" or not parent:
        return None
    block = model.get_submodule(parent)
    return block if isinstance(block, MultiscaleBlock) else None


def _leading_tensor(output) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    return None


def _as_grid(value) -> tuple[int, int, int] | None:
    if isinstance(value, (tuple, list)) and len(value) == 3 and all(isinstance(v, int) for v in value):
        return tuple(value)
    return None


def _activation_and_gradient(
    model: nn.Module, module: nn.Module, inputs: torch.Tensor, target: torch.Tensor, block: nn.Module | None = None
) -> tuple[torch.Tensor | None, torch.Tensor | None, tuple[int, int, int] | None]:
    """The tensor ``module`` outputs on ``inputs`` (the first element of a tuple output), the gradient
    of the target logits' sum with respect to it, and the token grid the forward pass revealed: the
    second element of a ``(tokens, thw)`` output, or the ``thw`` that ``block`` (an MViT block) received.
    (None, None, None) when ``module`` outputs no tensor."""
    saved: dict = {}

    def keep(_module, _args, output):
        tensor = _leading_tensor(output)
        if tensor is None:
            return None
        saved["activation"] = tensor.detach().requires_grad_(True)
        # Downstream layers get a copy, so in-place operations there cannot alter the saved activation.
        copy = saved["activation"].clone()
        if isinstance(output, torch.Tensor):
            return copy
        if len(output) > 1 and _as_grid(output[1]):
            saved["grid"] = _as_grid(output[1])
        return (copy, *output[1:])

    def keep_grid(_module, args):
        if len(args) > 1 and _as_grid(args[1]):
            saved["grid"] = _as_grid(args[1])

    handles = [module.register_forward_hook(keep)]
    if block is not None:
        handles.append(block.register_forward_pre_hook(keep_grid))
    try:
        with torch.enable_grad():
            logits = model(inputs.detach())
            if "activation" not in saved:
                return None, None, None
            (gradient,) = torch.autograd.grad(
                logits.gather(1, target.view(-1, 1)).sum(), saved["activation"], allow_unused=True
            )
    finally:
        for handle in handles:
            handle.remove()
    if gradient is None:  # the logits do not depend on the layer
        gradient = torch.zeros_like(saved["activation"])
    return saved["activation"].detach(), gradient, saved.get("grid")


def _inside(model: nn.Module, name: str, kind: type) -> bool:
    """Whether the module named ``name`` is, or lies inside, a module of class ``kind``."""
    parts = name.split(".")
    return any(isinstance(model.get_submodule(".".join(parts[:i])), kind) for i in range(len(parts) + 1))


def _hf_tokens(model: nn.Module, activation: torch.Tensor, inputs: torch.Tensor) -> TokenLayout | None:
    """The token layout of the HF video transformer in ``model`` when ``activation`` is in it, else None."""
    hf_model = find_hf_model(model)
    if hf_model is None:
        return None
    try:
        tokens = token_layout(hf_model, inputs.shape)
    except VideoAttrError:
        return None
    return tokens if tokens.matches(activation, inputs.shape[0]) else None


def _auto_layout(
    model: nn.Module, name: str, activation: torch.Tensor, grid: tuple[int, int, int] | None, inputs: torch.Tensor
) -> str:
    dim = activation.dim()
    if dim == 5:
        return "channels_last" if _inside(model, name, SwinTransformer3d) else "channels_first"
    if dim == 4:
        return "frames"
    if dim == 3:
        if grid is None:
            raise VideoAttrError(
                f"Layer '{name}' outputs {activation.shape[1]} tokens on a grid Grad-CAM cannot tell: "
                "set token_grid=[T', H', W'] (and layout=tokens or cls_tokens)."
            )
        return "cls_tokens" if activation.shape[1] == math.prod(grid) + 1 else "tokens"
    raise VideoAttrError(
        f"Layer '{name}' does not output a 4-D or 5-D feature map or 3-D tokens (shape {tuple(activation.shape)}): "
        f"set layer to one of {_candidates(model, inputs)}."
    )


def _channels_first(
    x: torch.Tensor, layout: str, name: str, grid: tuple[int, int, int] | None, n: int, t: int
) -> torch.Tensor:
    """``x`` (the layer's output or its gradient, in ``layout``) as N x C x T' x H' x W'."""
    shape = tuple(x.shape)
    expected = {
        "channels_first": "N x C x T' x H' x W'",
        "channels_last": "N x T' x H' x W' x C",
        "frames": "(N*T) x C x h x w",
        "tokens": "N x T'H'W' x C",
        "cls_tokens": "N x (1 + T'H'W') x C",
    }[layout]
    wrong = VideoAttrError(
        f"Layer '{name}' outputs shape {shape}, not {expected} for {n} clip(s) of {t} frames"
        + (f" on token grid {list(grid)}" if grid and layout in ("tokens", "cls_tokens") else "")
        + f" (layout={layout}): choose the layout (and token_grid) that fits the layer, or another layer."
    )
    if layout in ("channels_first", "channels_last"):
        if x.dim() != 5 or shape[0] != n:
            raise wrong
        return x if layout == "channels_first" else x.permute(0, 4, 1, 2, 3)
    if layout == "frames":
        if x.dim() != 4:
            raise wrong
        if shape[0] != n * t:
            raise VideoAttrError(
                f"Layer '{name}' gives {shape[0]} 2D feature maps for {n} clips of {t} frames: "
                f"choose a layer with one map per frame."
            )
        return x.view(n, t, *shape[1:]).transpose(1, 2)
    if grid is None:
        raise VideoAttrError(
            f"Layer '{name}' holds tokens on a grid Grad-CAM cannot tell: set token_grid=[T', H', W'] (layout={layout})."
        )
    skip = 1 if layout == "cls_tokens" else 0
    if x.dim() != 3 or shape[0] != n or shape[1] != math.prod(grid) + skip:
        raise wrong
    return x[:, skip:].transpose(1, 2).reshape(n, shape[2], *grid)


def _check_patch_gradient(name: str, gradient: torch.Tensor) -> None:
    """Refuse a ``cls_tokens`` layer whose patch tokens get no gradient at all while the class token does
    (an MViT's last block or final norm: only the class token reaches the head from there)."""
    if not gradient[:, 1:].any() and gradient[:, :1].any():
        raise VideoAttrError(
            f"Layer '{name}' passes no gradient to its patch tokens (only the class token reaches the head from "
            "there): use an earlier layer, e.g. the last block's norm1 (the default for MViT)."
        )


def _combine(activation: torch.Tensor, gradient: torch.Tensor, channel_weights: str) -> torch.Tensor:
    """N x C x T' x H' x W' activations and gradients -> N x T' x H' x W' map, >= 0."""
    if channel_weights == "per_time":
        weights = gradient.mean(dim=(3, 4), keepdim=True)
    elif channel_weights == "global":
        weights = gradient.mean(dim=(2, 3, 4), keepdim=True)
    else:  # elementwise
        weights = gradient
    return F.relu((weights * activation).sum(dim=1))
