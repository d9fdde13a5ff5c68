"""The Python entry point shared by the command line and by users."""

from __future__ import annotations

import inspect
from collections.abc import Sequence

import torch
from torch import nn

from videoattr.errors import VideoAttrError, one_line
from videoattr.methods import Explanation, get_method
from videoattr.models.hf import as_video_classifier


def model_dtype(model: nn.Module) -> torch.dtype | None:
    """The dtype of the model's first floating parameter or buffer (None: it has none)."""
    for tensor in (*model.parameters(), *model.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return None


def check_clips(model: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    """``clips`` checked for ``explain`` and converted to the model's floating dtype.

    Errors (``VideoAttrError``): not a tensor, not N x 3 x T x H x W, an empty batch (N = 0) or an empty
    T, H or W, an integer / bool / complex dtype (raw pixels: normalise them first), NaN or inf values
    (also after the conversion). Floating clips of another dtype (float64, float16, bfloat16) are
    converted to the model's dtype.
    """
    if not isinstance(clips, torch.Tensor):
        raise VideoAttrError(
            f"Clips must be a torch.Tensor N x 3 x T x H x W, got {type(clips).__name__}: convert them with torch.as_tensor."
        )
    shape = tuple(clips.shape)
    if clips.dim() != 5 or clips.shape[1] != 3:
        raise VideoAttrError(
            f"Clips must be N x 3 x T x H x W, got shape {shape}: add a batch dimension or permute the channels."
        )
    if clips.shape[0] == 0:
        raise VideoAttrError(f"Empty batch: clips of shape {shape} hold no clip; pass at least one clip.")
    if 0 in shape:
        raise VideoAttrError(f"Clips of shape {shape} have no frames or pixels: pass T, H and W of 1 or more.")
    if not clips.is_floating_point():
        raise VideoAttrError(
            f"Clips must be a float tensor normalised for the model, got dtype {str(clips.dtype).removeprefix('torch.')}: "
            "convert raw pixels with clips.float() and normalise them (e.g. (x / 255 - mean) / std)."
        )
    dtype = model_dtype(model) or clips.dtype
    finite = torch.isfinite(clips)
    if not finite.all():
        bad = (~finite).flatten(1).any(dim=1).nonzero().flatten().tolist()
        raise VideoAttrError(
            f"Clips contain {int((~finite).sum())} NaN or inf values (clip {', '.join(map(str, bad))}): "
            "replace them (e.g. torch.nan_to_num) or leave those clips out."
        )
    converted = clips.to(dtype)
    if not torch.isfinite(converted).all():
        raise VideoAttrError(
            f"Clips overflow to inf when converted to the model's {str(dtype).removeprefix('torch.')}: "
            "normalise them for the model (values near 0, unit spread)."
        )
    return converted


def model_classes(model: nn.Module, clips: torch.Tensor) -> int:
    """The number of classes the model scores, from one forward pass of the first clip.

    A model that fails on the clip (too few frames for its kernels, another device, ...) or that does
    not return N x classes scores raises a ``VideoAttrError`` that quotes its own message.
    """
    shape = tuple(clips.shape)
    try:
        with torch.no_grad():
            scores = model(clips[:1])
    except VideoAttrError:
        raise
    except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError) as err:
        raise VideoAttrError(
            f"The model cannot run on clips of shape {shape} ({one_line(err)}): give it as many frames (T), "
            "as large frames (H x W) and the device and dtype it expects."
        ) from err
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or scores.shape[0] != 1 or scores.shape[1] == 0:
        got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores).__name__
        raise VideoAttrError(
            f"The model must return N x classes scores, got {got} for one clip: wrap it so that it returns logits."
        )
    return int(scores.shape[1])


def as_targets(targets: int | Sequence[int] | torch.Tensor, n: int, classes: int | None = None) -> torch.Tensor:
    """Turn an int or N class indices into an N-long LongTensor, checked against ``classes`` if given."""
    try:
        t = torch.as_tensor(targets)
    except (TypeError, ValueError, RuntimeError) as err:
        raise VideoAttrError(
            f"Targets must be an int or N class indices, got {str(targets)[:60]!r}: pass e.g. targets=[0, 3]."
        ) from err
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex():
        raise VideoAttrError(
            f"Targets must be integer class indices, got dtype {str(t.dtype).removeprefix('torch.')}: "
            "pass ints, e.g. targets=[0, 3]."
        )
    t = t.to(torch.long).flatten()
    if t.numel() == 1:
        t = t.expand(n).clone()
    if t.numel() != n:
        raise VideoAttrError(f"Got {t.numel()} targets for {n} clips: pass one target or one per clip.")
    if classes is not None:
        bad = t[(t < 0) | (t >= classes)]
        if bad.numel():
            raise VideoAttrError(
                f"Target {int(bad[0])} is out of range for a model with {classes} classes (0..{classes - 1}): "
                f"pass class indices from 0 to {classes - 1}."
            )
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

    model: an ``nn.Module`` returning N x classes logits, or a Hugging Face video classifier as it is
        (a ``PreTrainedModel``, or a module whose output carries ``.logits``): videoattr.models.hf adapts it.

    clips: N x 3 x T x H x W float, already normalised for the model, N >= 1, no NaN or inf; float64,
        float16 or bfloat16 clips are converted to the model's dtype.
    targets: an int or N class indices, each in 0 .. classes - 1.
    method: a name from ``videoattr.methods.method_names()``.
    options: the method's config keys, e.g. ``polarity="both"``, ``layer="layer4"``,
        ``areas=[0.05, 0.1]``, ``iterations=300``, ``seed=0``.
    Returns N x A x T x H x W non-negative, finite relevance (A = number of areas for perturbation
    methods, else 1), or the full ``Explanation`` when ``return_details`` is true.
    Every problem with the inputs raises ``VideoAttrError`` with a one-line message: clips that are not
    such a float tensor, an empty batch, NaN or inf values, targets of the wrong number or out of range,
    clips the model cannot run (e.g. fewer frames than its kernels need), an unknown method or option,
    clips too small for a perturbation method's mask grid or STEP core, and maps that come out non-finite
    (the model's scores or gradients overflow).
    """
    fn = get_method(method)
    accepted = inspect.signature(fn).parameters
    unknown = sorted(set(options) - set(accepted))
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        valid = [k for k in accepted if k not in ("model", "inputs", "target")]
        raise VideoAttrError(
            f"Method '{method}' has no option {', '.join(unknown)}: its options are {', '.join(valid)}."
        )
    model = as_video_classifier(model)
    clips = check_clips(model, clips)
    was_training = model.training
    model.eval()
    try:
        target = as_targets(targets, clips.shape[0], model_classes(model, clips)).to(clips.device)
        result = fn(model, clips, target, **options)
    finally:
        model.train(was_training)
    if not torch.isfinite(result.maps).all():
        raise VideoAttrError(
            f"Method '{method}' gave NaN or inf relevance: the model's scores or gradients are not finite for these "
            "clips, so check the model and the clips' normalisation."
        )
    return result if return_details else result.maps
