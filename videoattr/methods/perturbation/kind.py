"""Which of ``options.MODEL_SETTINGS`` a model gets when a fit leaves ``variant`` / ``perturbation`` /
``delete_floor`` None.

A model with attention layers reads the clip as a whole: on the benchmark's MViT the evidence kept sharp
on an otherwise blurred or faded clip keeps 10-70 % of the target's lead, so no preserve mask of a small
area can meet its objective there, while fading the evidence away removes the whole lead
(docs/benchmark.md, "Perturbation masks on a transformer"), and a deletion rewarded below the fully faded
clip's probability spends its area on evidence for other classes. Such a model is found by class: any module
that is an ``nn.MultiheadAttention`` or whose class name holds "Attention" (torchvision's MViT and Swin3D,
the Hugging Face video transformers).

``tubelet_frames`` is how many frames a token spans, the segment ``temporal_ep`` keeps or perturbs whole.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn
from torchvision.models.video.mvit import MViT
from torchvision.models.video.swin_transformer import SwinTransformer3d

from videoattr.errors import VideoAttrError
from videoattr.models.hf import find_hf_model, token_layout


def has_attention(model: nn.Module) -> bool:
    """``model`` holds an attention layer (by class, see the module's docstring)."""
    return any(isinstance(m, nn.MultiheadAttention) or "Attention" in type(m).__name__ for m in model.modules())


def model_kind(model: nn.Module) -> str:
    """'attention' for a model with attention layers, else 'paper' (the paper's settings: preserve, blur)."""
    return "attention" if has_attention(model) else "paper"


def tubelet_frames(model: nn.Module, clip_shape: Sequence[int]) -> int:
    """Frames per token along time on clips N x 3 x T x H x W of ``clip_shape``: the temporal stride of the
    patch embedding of torchvision's MViT and Swin3D, T over the token grid's length for a Hugging Face model
    whose token layout videoattr knows (``models.hf.token_layout``); 1 for any other model."""
    for module in model.modules():
        if isinstance(module, MViT):
            return module.conv_proj.stride[0]
        if isinstance(module, SwinTransformer3d):
            return module.patch_embed.proj.stride[0]
    hf_model = find_hf_model(model)
    if hf_model is None:
        return 1
    try:
        length = token_layout(hf_model, clip_shape).grid[0]
    except VideoAttrError:  # a layout videoattr does not know: frame by frame
        return 1
    return max(1, clip_shape[-3] // length)
