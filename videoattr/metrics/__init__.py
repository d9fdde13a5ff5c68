"""Scores of a saliency map: localisation against ground truth, faithfulness, smoothness.

``clip_metrics`` scores one clip's map and ``summarize`` averages the rows of many clips. The
keys of ``conf/metrics/default.yaml`` are ``clip_metrics``'s options:

- ``groups``: which of ``localisation``, ``faithfulness``, ``smoothness`` to compute;
- ``pointing_tolerance``: pixels a pointing-game maximum may lie from the mask;
- ``pointing_ties``: values within this of a frame's maximum share it in the pointing game;
- ``steps``, ``baseline``, ``blur_sigma``, ``batch_size``, ``steps_by``, ``supervoxels``, ``compactness``:
  the deletion / insertion curves (``faithfulness``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from videoattr.choices import METRIC_GROUPS
from videoattr.errors import VideoAttrError
from videoattr.metrics.faithfulness import area_under_curve, baseline_clip, perturbation_curve, supervoxel_labels
from videoattr.metrics.localisation import energy_in_mask, mass_in_evidence_frames, pointing_game, temporal_grounding
from videoattr.metrics.smoothness import spatial_tv, temporal_tv

GROUPS = METRIC_GROUPS


def clip_metrics(
    model: nn.Module,
    clip: torch.Tensor,
    target: int,
    saliency: torch.Tensor,
    gt_mask: torch.Tensor | None = None,
    groups: Iterable[str] = GROUPS,
    pointing_tolerance: int = 7,
    pointing_ties: float = 0.0,
    steps: int = 16,
    baseline: str = "blur",
    blur_sigma: float = 10.0,
    batch_size: int = 8,
    steps_by: str = "pixels",
    supervoxels: int = 256,
    compactness: float = 10.0,
    return_curves: bool = False,
) -> dict[str, float] | tuple[dict[str, float], dict[str, np.ndarray]]:
    """Score one map.

    clip: 3 x T x H x W, normalised for ``model``; saliency: T x H x W, >= 0; gt_mask: T x H x W
    (non-zero on evidence) or None, in which case the localisation scores are left out.
    Returns ``pointing_game``, ``energy_in_mask``, ``mass_in_evidence_frames`` (localisation),
    ``deletion_auc``, ``insertion_auc`` (faithfulness), ``tv_space``, ``tv_time`` (smoothness).
    With ``return_curves`` it returns ``(row, curves)``: ``curves`` holds the ``deletion`` and
    ``insertion`` curves whose areas the row gives (float32, ``steps`` + 1 target probabilities at
    0, 1/steps, ..., 1 of the locations, or with ``steps_by='supervoxels'`` of the supervoxels,
    changed; empty without the faithfulness group).
    """
    groups = list(groups)
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise VideoAttrError(f"Unknown metric group(s) {', '.join(unknown)}: choose from {', '.join(GROUPS)}.")
    shape = tuple(clip.shape[1:])
    if clip.dim() != 4 or tuple(saliency.shape) != shape:
        raise VideoAttrError(
            f"Saliency of shape {tuple(saliency.shape)} does not fit clip {tuple(clip.shape)}: pass one T x H x W map per 3 x T x H x W clip."
        )
    saliency = saliency.detach().float()
    row: dict[str, float] = {}
    curves: dict[str, np.ndarray] = {}
    if "localisation" in groups and gt_mask is not None:
        if tuple(gt_mask.shape) != shape:
            raise VideoAttrError(
                f"Ground-truth mask of shape {tuple(gt_mask.shape)} does not fit clip {tuple(clip.shape)}: resize the mask like the frames."
            )
        gt_mask = gt_mask.to(saliency.device)
        row["pointing_game"] = pointing_game(saliency, gt_mask, pointing_tolerance, pointing_ties)
        row["energy_in_mask"] = energy_in_mask(saliency, gt_mask)
        row["mass_in_evidence_frames"] = mass_in_evidence_frames(saliency, gt_mask)
        row.update(temporal_grounding(saliency, gt_mask))
    if "faithfulness" in groups:
        for mode in ("deletion", "insertion"):
            curve = perturbation_curve(
                model,
                clip,
                target,
                saliency.to(clip.device),
                mode,
                steps,
                baseline,
                blur_sigma,
                batch_size,
                steps_by,
                supervoxels,
                compactness,
            )
            row[f"{mode}_auc"] = area_under_curve(curve)
            curves[mode] = curve.numpy().astype(np.float32)
    if "smoothness" in groups:
        row["tv_space"] = spatial_tv(saliency)
        row["tv_time"] = temporal_tv(saliency)
    return (row, curves) if return_curves else row


def summarize(rows: list[dict]) -> dict[str, float]:
    """Mean of every float-valued key over the rows where it is finite (NaN if it never is).

    Other values (names, labels, integer targets) are left out.
    """
    keys = dict.fromkeys(k for row in rows for k, v in row.items() if isinstance(v, float))
    summary = {}
    for key in keys:
        values = [row[key] for row in rows if isinstance(row.get(key), float) and math.isfinite(row[key])]
        summary[key] = sum(values) / len(values) if values else math.nan
    return summary


__all__ = [
    "GROUPS",
    "area_under_curve",
    "baseline_clip",
    "clip_metrics",
    "energy_in_mask",
    "mass_in_evidence_frames",
    "perturbation_curve",
    "pointing_game",
    "spatial_tv",
    "summarize",
    "supervoxel_labels",
    "temporal_grounding",
    "temporal_tv",
]
