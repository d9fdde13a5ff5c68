"""Attention rollout (Abnar and Zuidema 2020) and gradient-weighted rollout (Chefer, Gur and Wolf, ICCV 2021)
for video transformers: torchvision's MViT and Hugging Face VideoMAE, ViViT and TimeSformer, found by class.

The attention probabilities of every block are captured inside the model (``videoattr.methods.attention``)
and fused over heads (``head_fusion``: mean or max) into a token matrix A per block:

- ``attention_rollout``: A = fused probabilities; with ``identity`` the residual is added and the rows are
  normalised, R = prod over blocks of rownorm(A + I) (Abnar and Zuidema); without it, rownorm(A).
- ``grad_rollout``: A = fused ReLU(dA x A), dA the gradient of the target's logit; R = I, then per block
  R += A . R (Chefer et al.); without ``identity``, R = A . R.

The patch relevance is the row of R that the head reads (the class token, or the mean over tokens for a
mean-pooling head). Only that row is computed, from the last block back to the first (one row vector times
each block's matrix), so no token x token product is formed. MViT pools the queries (and with them the
residual) and the keys between stages: a row over pooled tokens is taken back to the tokens a block reads by
the transpose of the pooling (an average over its window). The row, on the patch embedding's grid T' x H' x
W', is upsampled trilinearly to the clip's T x H x W and scaled to [0, 1] per clip.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from videoattr.choices import HEAD_FUSIONS
from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation
from videoattr.methods.attention import Attention, Tokens, captured_attention
from videoattr.methods.cost import cost
from videoattr.methods.upsample import clip_maps


def attention_rollout(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    head_fusion: str = "mean",
    identity: bool = True,
) -> Explanation:
    """Attention rollout of ``inputs`` N x 3 x T x H x W (the target is not used: the attention is the
    same for every class). Returns ``maps`` N x 1 x T x H x W in [0, 1]. One forward pass per clip."""
    _check_fusion(head_fusion)
    with torch.no_grad(), captured_attention(model, inputs.shape, "attention_rollout") as capture:
        model(inputs)
    fused = [_fuse(a.probs, head_fusion) for a in capture.attentions]
    relevance = _rollout(capture.attentions, fused, capture.tokens, identity, normalise=True)
    return Explanation(clip_maps(relevance.clamp(min=0), tuple(inputs.shape[2:])), extras=cost(len(inputs), 1, 0))


def grad_rollout(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    head_fusion: str = "mean",
    identity: bool = True,
) -> Explanation:
    """Gradient-weighted attention rollout of ``target`` (N class indices) on ``inputs`` N x 3 x T x H x W.
    Returns ``maps`` N x 1 x T x H x W in [0, 1]. One forward and one backward pass per clip."""
    _check_fusion(head_fusion)
    with torch.enable_grad(), captured_attention(model, inputs.shape, "grad_rollout") as capture:
        logits = model(inputs.detach().requires_grad_(True))
    probs = [a.probs for a in capture.attentions]
    score = logits.gather(1, target.view(-1, 1)).sum()
    grads = torch.autograd.grad(score, probs, allow_unused=True)
    with torch.no_grad():
        fused = [
            _fuse(F.relu(p * (g if g is not None else torch.zeros_like(p))), head_fusion)
            for p, g in zip(probs, grads, strict=True)
        ]
        relevance = _rollout(capture.attentions, fused, capture.tokens, identity, normalise=False)
    return Explanation(clip_maps(relevance.clamp(min=0), tuple(inputs.shape[2:])), extras=cost(len(inputs), 1, 1))


def _check_fusion(head_fusion: str) -> None:
    if head_fusion not in HEAD_FUSIONS:
        raise VideoAttrError(
            f"Unknown head_fusion '{head_fusion}': set head_fusion to one of {', '.join(HEAD_FUSIONS)}."
        )


def _fuse(per_head: torch.Tensor, head_fusion: str) -> torch.Tensor:
    """B' x heads x Q x K -> B' x Q x K: the mean or the max over heads."""
    per_head = per_head.detach().float()
    return per_head.mean(1) if head_fusion == "mean" else per_head.amax(1)


def _rollout(
    attentions: list[Attention], fused: list[torch.Tensor], tokens: Tokens, identity: bool, normalise: bool
) -> torch.Tensor:
    """The row of the rollout R that the head reads, over the first block's tokens -> N x T' x H' x W'.

    Per block (matrix M = A, or A + I with ``identity``; rows normalised to sum 1 with ``normalise``) the
    row v becomes v M, from the last block back to the first; A's columns (keys) and the residual are taken
    back to the block's input tokens by ``Attention.keys`` and ``Attention.skip``."""
    v = None
    for attention, matrix in zip(reversed(attentions), reversed(fused), strict=True):
        matrix = attention.expand(matrix, identity)
        if v is None:
            v = _head_row(matrix.shape[0], matrix.shape[1], tokens, matrix)
        weights = v / (matrix.sum(-1) + float(identity)).clamp(min=1e-12) if normalise else v
        row = attention.keys(torch.bmm(weights.unsqueeze(1), matrix).squeeze(1))
        v = row + attention.skip(weights) if identity else row
    patches = v[:, 1:] if tokens.cls else v
    t, h, w = tokens.grid
    if tokens.time_last:
        return patches.reshape(-1, h, w, t).permute(0, 3, 1, 2)
    return patches.reshape(-1, t, h, w)


def _head_row(n: int, length: int, tokens: Tokens, like: torch.Tensor) -> torch.Tensor:
    """N x length: what the head reads of the last block's tokens, the first one or the mean of all."""
    row = like.new_zeros(n, length)
    if tokens.reads == "mean":
        row[:, int(tokens.cls) :] = 1 / (length - int(tokens.cls))
    else:
        row[:, 0] = 1
    return row
