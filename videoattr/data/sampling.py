"""Which T of a clip's L frames the model sees ("long-range" uniform sampling)."""

from __future__ import annotations

import torch

from videoattr.choices import SAMPLING_MODES, SHORT_CLIP_MODES
from videoattr.errors import VideoAttrError


def sample_indices(
    length: int,
    num_frames: int,
    mode: str = "first",
    short_clips: str = "error",
    generator: torch.Generator | None = None,
    clip: str = "clip",
) -> torch.Tensor:
    """Indices of ``num_frames`` (T) frames out of ``length`` (L), an int64 tensor of T ascending values.

    With stride r = L // T:
      'first': the last T of 0, r, 2r, ... < L (as the reference does),
      'last': L - 1, L - 1 - r, ... counted back from the end,
      'random': one index drawn uniformly in each of T equal segments [floor(iL/T), floor((i+1)L/T)),
        from ``generator``.
    Clips shorter than T frames follow ``short_clips``: 'error' raises, 'loop' repeats the indices
    0..L-1 cyclically, 'pad' repeats the last frame. ``clip`` names the clip in error messages.
    """
    check_sampling(mode, short_clips)
    if length < 1:
        raise VideoAttrError(f"Clip {clip} has no frames: re-encode it or remove it from the folder.")
    if length < num_frames:
        return _short_clip_indices(length, num_frames, short_clips, clip)
    stride = length // num_frames
    if mode == "first":
        return torch.arange(0, length, stride)[-num_frames:]
    if mode == "last":
        return length - 1 - stride * torch.arange(num_frames - 1, -1, -1)
    bounds = torch.arange(num_frames + 1) * length // num_frames
    offsets = torch.rand(num_frames, generator=generator) * (bounds[1:] - bounds[:-1])
    return bounds[:-1] + offsets.long()


def check_sampling(mode: str, short_clips: str) -> None:
    """Raise if ``mode`` or ``short_clips`` names no known option."""
    if mode not in SAMPLING_MODES:
        raise VideoAttrError(f"Unknown sampling '{mode}': set dataset.sampling to one of {', '.join(SAMPLING_MODES)}.")
    if short_clips not in SHORT_CLIP_MODES:
        raise VideoAttrError(
            f"Unknown short_clips '{short_clips}': set dataset.short_clips to one of {', '.join(SHORT_CLIP_MODES)}."
        )


def _short_clip_indices(length: int, num_frames: int, short_clips: str, clip: str) -> torch.Tensor:
    steps = torch.arange(num_frames)
    if short_clips == "loop":
        return steps % length
    if short_clips == "pad":
        return steps.clamp(max=length - 1)
    raise VideoAttrError(
        f"Clip {clip} has {length} frames but the model needs {num_frames}: set dataset.short_clips=loop "
        "or dataset.short_clips=pad, or remove the clip."
    )
