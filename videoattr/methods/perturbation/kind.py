"""Which of ``options.MODEL_SETTINGS`` a model gets when a fit leaves ``variant`` / ``perturbation`` None.

A model with attention layers reads the clip as a whole: on the benchmark's MViT the evidence kept sharp
on an otherwise blurred or faded clip keeps 10-70 % of the target's lead, so no preserve mask of a small
area can meet its objective there, while fading the evidence away removes the whole lead
(docs/benchmark.md, "Perturbation masks on a transformer"). Such a model is found by class: any module
that is an ``nn.MultiheadAttention`` or whose class name holds "Attention" (torchvision's MViT and Swin3D,
the Hugging Face video transformers).
"""

from __future__ import annotations

from torch import nn


def has_attention(model: nn.Module) -> bool:
    """``model`` holds an attention layer (by class, see the module's docstring)."""
    return any(isinstance(m, nn.MultiheadAttention) or "Attention" in type(m).__name__ for m in model.modules())


def model_kind(model: nn.Module) -> str:
    """'attention' for a model with attention layers, else 'paper' (the paper's settings: preserve, blur)."""
    return "attention" if has_attention(model) else "paper"
