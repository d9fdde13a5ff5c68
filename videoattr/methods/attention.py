"""The attention probabilities of a video transformer's forward pass, captured inside its own attention modules.

Found by class, any size, also inside a wrapper: torchvision's ``MViT`` and the Hugging Face ``VideoMAE``,
``ViViT`` and ``TimeSformer`` models. Each computes its attention probabilities as one softmax over the keys,
inline (torchvision's ``MultiscaleAttention``, TimeSformer's self-attention) or in transformers' eager
attention function (VideoMAE, ViViT: switched to ``attn_implementation="eager"`` for the call and restored
after, as their default SDPA kernel returns no probabilities). A ``torch.overrides.TorchFunctionMode``
records every softmax called while one of these modules runs (forward pre- and post-hooks say which) and
hands the model the very same tensor, so the probabilities stay in the autograd graph and their gradient
can be taken; nothing of the model changes.

Each capture is an ``Attention``: a token-mixing step from the tokens its block reads to the tokens it
writes, with what ``videoattr.methods.rollout`` needs to chain the steps (MViT's pooled query and key
grids, TimeSformer's divided space-time attention spread over the whole clip's tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _triple
from torch.overrides import TorchFunctionMode
from torchvision.models.video.mvit import MultiscaleBlock, MViT
from torchvision.models.video.swin_transformer import SwinTransformer3d

from videoattr.errors import VideoAttrError
from videoattr.models.hf import SPACE_MAJOR, eager_attention, find_hf_model, token_layout

SOFTMAX = (torch.Tensor.softmax, torch.softmax, F.softmax)
HF_TYPES = ("videomae", "vivit", "timesformer")  # transformers' model_type
HF_ATTENTION = ("VideoMAESelfAttention", "VivitAttention", "TimesformerSelfAttention")


def _same(x: torch.Tensor) -> torch.Tensor:
    return x


def _as_is(fused: torch.Tensor, _identity: bool) -> torch.Tensor:
    return fused


@dataclass
class Attention:
    """One attention of the forward pass.

    probs: B' x heads x Q x K softmax probabilities, in the autograd graph (B' = B clips, or B x frames /
        B x positions for TimeSformer's divided attention).
    expand: (B' x Q x K with heads fused, identity) -> B x L_out x L_k, the step's token matrix over whole
        clips (``identity``: whether the rollout adds the residual itself).
    keys: B x L_k -> B x L_in, a row vector over the keys taken back to the tokens the block reads (the
        transpose of MViT's key pooling; the identity elsewhere).
    skip: B x L_out -> B x L_in, the same through the residual path (MViT's pooled skip connection).
    """

    probs: torch.Tensor
    expand: Callable[[torch.Tensor, bool], torch.Tensor] = _as_is
    keys: Callable[[torch.Tensor], torch.Tensor] = _same
    skip: Callable[[torch.Tensor], torch.Tensor] = _same


@dataclass
class Tokens:
    """The patch tokens the first attention reads: ``grid`` T' x H' x W', whether a class token comes first
    (``cls``), whether they are ordered (h, w, t) (``time_last``, TimeSformer) instead of (t, h, w), and what
    the head reads: ``first`` (the class token, or the first token) or ``mean`` (the mean over tokens)."""

    grid: tuple[int, int, int]
    cls: bool = True
    time_last: bool = False
    reads: str = "first"


@dataclass
class Capture:
    """What ``captured_attention`` recorded: the attentions in forward order and the token layout."""

    attentions: list[Attention] = field(default_factory=list)
    tokens: Tokens | None = None


class _Softmaxes(TorchFunctionMode):
    """Record each softmax output computed while ``self.owner`` (set by the hooks) is not None."""

    def __init__(self):
        super().__init__()
        self.owner: nn.Module | None = None
        self.found: list[torch.Tensor] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.owner is not None and func in SOFTMAX:
            self.found.append(out)
        return out


def video_transformer(model: nn.Module) -> bool:
    """Whether ``model`` holds a torchvision MViT or Swin3D, or a Hugging Face model."""
    return find_hf_model(model) is not None or any(isinstance(m, MViT | SwinTransformer3d) for m in model.modules())


def attention_model(model: nn.Module, method: str) -> nn.Module:
    """The first torchvision ``MViT`` in ``model``, else its Hugging Face VideoMAE, ViViT or TimeSformer;
    for any other model the one-line error naming what suits it (``method`` names the caller)."""
    mvit = next((m for m in model.modules() if isinstance(m, MViT)), None)
    hf_model = find_hf_model(model)
    if mvit is not None or hf_model is not None and hf_model.config.model_type in HF_TYPES:
        return mvit or hf_model
    if hf_model is not None:
        raise VideoAttrError(
            f"{method} does not know the attention of {type(hf_model).__name__} (it reads VideoMAE, ViViT and "
            "TimeSformer): use grad_cam, which finds its layer, or grad_x_input."
        )
    if any(isinstance(m, SwinTransformer3d) for m in model.modules()):
        raise VideoAttrError(
            f"{method} does not support Swin3D: its shifted windows attend within local windows that move "
            "between blocks, so no clip-wide attention can be rolled out; use grad_cam (layer found by class)."
        )
    raise VideoAttrError(
        f"{method} needs a video transformer's attention (torchvision MViT, Hugging Face VideoMAE, ViViT or "
        f"TimeSformer) and {type(model).__name__} has none: use grad_cam, grad_x_input or occlusion for it."
    )


@contextmanager
def captured_attention(model: nn.Module, clip_shape: torch.Size, method: str) -> Iterator[Capture]:
    """Record the attentions of the forward pass run inside the block (of ``attention_model(model)``);
    ``clip_shape`` is N x 3 x T x H x W."""
    found = attention_model(model, method)
    capture = Capture()
    mode = _Softmaxes()
    with ExitStack() as stack:
        if isinstance(found, MViT):
            capture.tokens = _mvit_hooks(found, mode, capture, stack)
        else:
            capture.tokens = hf_tokens(found, clip_shape)
            _hf_hooks(found, mode, capture, stack)
            if found.config.model_type != "timesformer":  # TimeSformer computes its attention inline
                stack.enter_context(eager_attention(found))
        stack.enter_context(mode)
        yield capture


def _record(mode: _Softmaxes, owner: nn.Module, stack: ExitStack, done: Callable[[torch.Tensor, tuple], None]):
    """Hooks on ``owner``: softmaxes are recorded while it runs; ``done(probs, args)`` gets the last one."""

    def enter(_module, _args):
        mode.owner, mode.found = owner, []

    def leave(_module, args, _output):
        mode.owner = None
        if mode.found:
            done(mode.found[-1], args)

    stack.callback(owner.register_forward_pre_hook(enter).remove)
    stack.callback(owner.register_forward_hook(leave).remove)


def _mvit_hooks(mvit: MViT, mode: _Softmaxes, capture: Capture, stack: ExitStack) -> Tokens:
    """MViT: each block's attention reads the tokens on grid ``thw`` (its second argument), pools the keys
    and values (``pool_k``) and the queries and the residual (``pool_skip``) with a stride; the grid of the
    first block's tokens is known once the forward pass has run."""
    tokens = Tokens(grid=(0, 0, 0))
    for block in mvit.blocks:
        if not isinstance(block, MultiscaleBlock):
            continue

        def done(probs, args, block=block):
            grid = tuple(args[1])
            if not capture.attentions:
                tokens.grid = grid
            capture.attentions.append(
                Attention(
                    probs,
                    keys=_pool_transpose(block.attn.pool_k, grid),
                    skip=_pool_transpose(block.pool_skip, grid),
                )
            )

        _record(mode, block.attn, stack, done)
    return tokens


def _pool_transpose(pool: nn.Module | None, grid: tuple[int, int, int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """B x (1 + pooled tokens) -> B x (1 + T'H'W' tokens on ``grid``): the transpose of averaging over the
    window of ``pool`` (an MViT ``Pool``: a strided convolution or max pool), the class token kept. The
    learnt weights of a pooling convolution (or the max) are read as an average over its window."""
    if pool is None:
        return _same
    layer = pool.pool
    kernel, stride, padding = (_triple(getattr(layer, key)) for key in ("kernel_size", "stride", "padding"))

    window = torch.ones(1, 1, *kernel)

    def average(x: torch.Tensor) -> torch.Tensor:  # over the window's cells inside the grid
        ones = window.to(x)
        covered = F.conv3d(torch.ones_like(x), ones, stride=stride, padding=padding)
        return F.conv3d(x, ones, stride=stride, padding=padding) / covered

    def transpose(v: torch.Tensor) -> torch.Tensor:
        pooled, back = torch.func.vjp(average, v.new_zeros(len(v), 1, *grid))
        (patches,) = back(v[:, 1:].reshape(pooled.shape))
        return torch.cat([v[:, :1], patches.flatten(1)], dim=1)

    return transpose


def hf_tokens(hf_model: nn.Module, clip_shape: torch.Size) -> Tokens:
    """The tokens of a Hugging Face VideoMAE, ViViT or TimeSformer on clips N x 3 x T x H x W
    (``videoattr.models.hf.token_layout``) and what its head reads (VideoMAE's mean pooling)."""
    if getattr(hf_model.config, "attention_type", None) == "space_only":
        raise VideoAttrError(
            "The rollouts do not support TimeSformer's space_only attention (each frame is its own clip "
            "there): use a divided_space_time or joint_space_time model, or grad_x_input."
        )
    layout = token_layout(hf_model, clip_shape)
    reads = "mean" if getattr(hf_model.config, "use_mean_pooling", False) else "first"
    return Tokens(layout.grid, cls=layout.special_tokens == 1, time_last=layout.order == SPACE_MAJOR, reads=reads)


def _hf_hooks(hf_model: nn.Module, mode: _Softmaxes, capture: Capture, stack: ExitStack) -> None:
    """The self-attention modules of a Hugging Face video model; TimeSformer's divided attention spread
    over the clip's tokens (temporal: per spatial position over frames; spatial: per frame)."""
    divided = getattr(hf_model.config, "attention_type", None) == "divided_space_time"
    for name, module in hf_model.named_modules():
        if type(module).__name__ not in HF_ATTENTION:
            continue
        temporal = ".temporal_attention." in f".{name}."

        def done(probs, _args, temporal=temporal):
            grid = capture.tokens.grid
            if not divided:
                capture.attentions.append(Attention(probs))
            elif temporal:
                capture.attentions.append(Attention(probs, expand=lambda f, i: _temporal_matrix(f, grid, i)))
            else:
                capture.attentions.append(Attention(probs, expand=lambda f, _: _spatial_matrix(f, grid)))

        _record(mode, module, stack, done)


def _temporal_matrix(fused: torch.Tensor, grid: tuple[int, int, int], identity: bool) -> torch.Tensor:
    """TimeSformer's temporal attention (B H'W') x T' x T' -> B x (1 + L) x (1 + L) over tokens (h, w, t).
    It leaves the class token alone: without ``identity`` the class token attends to itself, with it (the
    residual carries the class token) its row is 0."""
    t, h, w = grid
    per_position = fused.reshape(-1, h * w, t, t)
    patches = torch.einsum("bpts,pq->bptqs", per_position, torch.eye(h * w, dtype=fused.dtype, device=fused.device))
    matrix = F.pad(patches.reshape(len(per_position), h * w * t, h * w * t), (1, 0, 1, 0))
    matrix[:, 0, 0] = float(not identity)
    return matrix


def _spatial_matrix(fused: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
    """TimeSformer's spatial attention (B T') x (1 + H'W') x (1 + H'W'), the class token copied into every
    frame and its outputs averaged over frames -> B x (1 + L) x (1 + L) over tokens (h, w, t)."""
    t, h, w = grid
    per_frame = fused.reshape(-1, t, 1 + h * w, 1 + h * w)
    n = len(per_frame)
    eye = torch.eye(t, dtype=fused.dtype, device=fused.device)
    patches = torch.einsum("btpq,ts->bptqs", per_frame[:, :, 1:, 1:], eye).reshape(n, h * w * t, h * w * t)
    to_cls = per_frame[:, :, 1:, 0].transpose(1, 2).reshape(n, h * w * t, 1)
    from_cls = per_frame[:, :, 0, 1:].transpose(1, 2).reshape(n, 1, h * w * t) / t
    cls_row = torch.cat([per_frame[:, :, 0, :1].mean(1, keepdim=True), from_cls], 2)
    return torch.cat([cls_row, torch.cat([to_cls, patches], 2)], 1)
