"""The perturbation methods as registered functions: the paper's three, their fast presets and the
temporal method (which frames are enough)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import Logger
from torch import nn

from videoattr.methods import Explanation
from videoattr.methods.perturbation.fit import fit_masks
from videoattr.methods.perturbation.frame_mask import FrameMaskGenerator
from videoattr.methods.perturbation.kind import tubelet_frames


def _method(name: str, summary: str) -> Callable[..., Explanation]:
    def explain_with_masks(
        model: nn.Module,
        inputs: torch.Tensor,
        target: torch.Tensor,
        areas: float | Sequence[float] = (0.1,),
        trainer: Mapping[str, Any] | None = None,
        logger: Logger | bool | None = None,
        callbacks: Sequence[pl.Callback] | None = None,
        seed: int = 0,
        **options: Any,
    ) -> Explanation:
        return fit_masks(name, model, inputs, target, areas, trainer, logger, callbacks, seed=seed, **options)

    explain_with_masks.__doc__ = f"{summary}\n\n{fit_masks.__doc__}"
    return explain_with_masks


extremal_2d = _method("2d_ep", "2D-EP: every frame keeps the area (per-frame area regulariser).")
extremal_3d = _method("3d_ep", "3D-EP: the T-frame volume keeps the area, free to move across frames.")
step = _method("step", "STEP: 3D-EP with a growing area weight and the ellipsoid core smoothness loss.")
_FAST = " (fast preset: 500 iterations, see options.FAST_SCHEDULE)"
extremal_2d_fast = _method("2d_ep_fast", "2D-EP" + _FAST)
extremal_3d_fast = _method("3d_ep_fast", "3D-EP" + _FAST)
step_fast = _method("step_fast", "STEP" + _FAST)


def temporal_ep(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    areas: float | Sequence[float] = (0.25,),
    trainer: Mapping[str, Any] | None = None,
    logger: Logger | bool | None = None,
    callbacks: Sequence[pl.Callback] | None = None,
    seed: int = 0,
    segment: int | None = None,
    **options: Any,
) -> Explanation:
    """Temporal extremal perturbation: the smallest set of frames (``segment`` > 1: of runs of that many
    frames, e.g. a transformer's tubelets; None: the model's tubelet length, ``kind.tubelet_frames``) that,
    kept while the others are blurred (or faded), still gives the target; ``areas`` are fractions of the
    frames (0.25 of 16: 4 frames), all fitted at once. One parameter per frame: the fit of 3D-EP with
    ``frame_mask.FrameMaskGenerator`` as its mask, so the maps (N x A x T x H x W) are constant over each frame.

    """
    segment = tubelet_frames(model, inputs.shape) if segment is None else segment
    generator = FrameMaskGenerator(inputs.shape[-2:], inputs.shape[2], segment)
    return fit_masks(
        "temporal_ep", model, inputs, target, areas, trainer, logger, callbacks, generator, seed=seed, **options
    )


temporal_ep.__doc__ += fit_masks.__doc__
