"""The Python entry point shared by the command line and by users."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods import Explanation, get_method


def as_targets(targets: int | Sequence[int] | torch.Tensor, n: int) -> torch.Tensor:
    """Turn an int or N class indices into an N-long LongTensor."""
    t = torch.as_tensor(targets, dtype=torch.long).flatten()
    if t.numel() == 1:
        t = t.expand(n).clone()
    if t.numel() != n:
        raise VideoAttrError(f"Got {t.numel()} targets for {n} clips: pass one target or one per clip.")
    return t


def explain(
    model: nn.Module,
    clips: torch.Tensor,
    targets: int | Sequence[int] | torch.Tensor,
    method: str = "grad",
    return_details: bool = False,
    **options,
) -> torch.Tensor | Explanation:
    """Explain ``model``'s scores for ``targets`` on ``clips``.

    clips: N x 3 x T x H x W, already normalised for the model.
    targets: an int or N class indices.
    method: a name from ``videoattr.methods.method_names()``.
    options: the method's config keys, e.g. ``polarity="both"``, ``layer="layer4"``,
        ``areas=[0.05, 0.1]``, ``iterations=300``, ``seed=0``.
    Returns N x A x T x H x W non-negative relevance (A = number of areas for perturbation
    methods, else 1), or the full ``Explanation`` when ``return_details`` is true.
    """
    if clips.dim() != 5 or clips.shape[1] != 3:
        raise VideoAttrError(
            f"Clips must be N x 3 x T x H x W, got shape {tuple(clips.shape)}: add a batch dimension or permute the channels."
        )
    fn = get_method(method)
    accepted = inspect.signature(fn).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        valid = [k for k in accepted if k not in ("model", "inputs", "target")]
        raise VideoAttrError(f"Method '{method}' has no option {', '.join(unknown)}: its options are {', '.join(valid)}.")
    was_training = model.training
    model.eval()
    try:
        result = fn(model, clips, as_targets(targets, clips.shape[0]).to(clips.device), **options)
    finally:
        model.train(was_training)
    return result if return_details else result.maps
