"""The mask of the temporal method: one value per frame (or per segment of frames), the same over the
whole frame. It stands in for ``SmoothMaskGenerator`` in ``PerturbationFit``: its "padded" masks
(what the area term sorts) hold the T values, ``crop`` spreads each over its H x W frame."""

from __future__ import annotations

import torch
from torch import nn

from videoattr.errors import VideoAttrError


class FrameMaskGenerator(nn.Module):
    """Parameters Q x T x 1 x 1 in [0, 1] (the fit clamps them) -> frame masks Q x T x 1 x 1, equal within each run of
    ``segment`` frames (the mean of the run's parameters; the last run may be shorter), so that a
    model whose tubelets span ``segment`` frames sees whole tubelets kept or perturbed. The masks start at
    ``initial`` = 0, the whole clip perturbed: the reward's gradient then tells the frames apart, where
    masks starting at 1 (the spatial fits' start) would all tie and the area term alone would choose
    which frames to keep."""

    initial = 0.0

    def __init__(self, size: tuple[int, int], frames: int, segment: int = 1):
        super().__init__()
        if not 1 <= segment <= frames:
            raise VideoAttrError(
                f"segment={segment} does not fit the clip's {frames} frames: use a number of frames "
                f"from 1 to {frames} (e.g. the model's tubelet length)."
            )
        self.size, self.segment = tuple(size), int(segment)
        self.grid_shape = self.padded_shape = (1, 1)
        runs = torch.arange(frames) // segment
        self.register_buffer("runs", runs, persistent=False)
        self.register_buffer("run_length", torch.bincount(runs).float(), persistent=False)

    def forward(self, params: torch.Tensor) -> torch.Tensor:
        """params Q x T x 1 x 1 -> Q x T x 1 x 1: each frame the mean of its segment (no clamp here: a clamp
        passes no gradient to a value at its bound, and the masks start at 1)."""
        values = params.flatten(1)
        sums = values.new_zeros(values.shape[0], len(self.run_length)).index_add(1, self.runs, values)
        means = sums / self.run_length.to(values)
        return means[:, self.runs].view_as(params)

    def crop(self, masks: torch.Tensor) -> torch.Tensor:
        """Frame masks ... x T x 1 x 1 -> ... x T x H x W, each frame filled with its value."""
        return masks.expand(*masks.shape[:-2], *self.size).contiguous()
