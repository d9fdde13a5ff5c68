"""Did each mask meet its objective? Fit diagnostics that need no ground truth.

An extremal-perturbation mask answers "which ``area`` of the clip is enough to keep the target's
score (preserve) / to remove it (delete)?". Its fit can fail to answer: the optimiser settles where
the area or smoothness terms are content and the reward is not (the benchmark's STEP fits of the
``down`` and ``left`` clips, docs/trust.md). Three numbers per (clip, area) tell:

- ``preserve_effect`` = (p_preserved - p_baseline) / (p_clean - p_baseline): the share of the clean
  clip's lead over the fully perturbed clip that the clip kept by the mask retains (1: all of it;
  0: no more than the fully perturbed clip; above 1: more than the clean clip);
- ``delete_effect`` = (p_clean - p_deleted) / (p_clean - p_baseline): the share of that lead lost
  when the mask's region is perturbed (1: all of it; 0: nothing);
- ``area_kept``: the mean of the mask over the T x H x W clip, the share of the clip it keeps. A
  converged mask keeps more than its area: the fit's area is a share of the padded mask (1.43 x the
  frame at 112 px, 1.35 x at 224 px) whose ones fall inside the frame, and the smooth mask (sigma 11 px
  at 112 px) has soft edges that set a floor on how small it can be; on the benchmark converged masks
  keep 1.6-2.8 x their area at areas 0.02-0.05 and up to 4.1 x at 0.01 (docs/trust.md).

p_* are the softmax probabilities of the target class on the clean clip, on the clip fully perturbed
(every mask value 0: ``baseline.fully_perturbed``, the fit's own perturbation), and on the clips
preserved and deleted by the final mask. When the clean clip leads the fully perturbed one by less
than ``MIN_LEAD`` the model predicts the target without visible evidence: the effects are NaN and the
objective is not judged (``objective_met`` NaN).

``objective_met`` (1.0 / 0.0 / NaN) is judged on the fit's variant: preserve on ``preserve_effect >=
PRESERVE_MIN``, delete on ``delete_effect >= DELETE_MIN``, dual on both; and on every variant
``area_kept <= AREA_MAX_RATIO x area`` (a mask whose area term has not converged keeps 20-50 x its area).
The thresholds were chosen on the benchmark's fits (docs/trust.md, "Fit diagnostics", with the
measurements).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

# The clean clip must lead the fully perturbed one by this much for an effect to mean anything (the
# runner warns at the same gap: videoattr.runner.BIASED_WITHIN).
MIN_LEAD = 0.1
# Thresholds, from the benchmark's measurements (docs/trust.md).
PRESERVE_MIN = 0.9
DELETE_MIN = 0.5
AREA_MAX_RATIO = 5.0

KEYS = ("preserve_effect", "delete_effect", "area_kept", "objective_met")


def effects(
    p_clean: np.ndarray, p_baseline: np.ndarray, p_preserved: np.ndarray, p_deleted: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(preserve_effect, delete_effect)`` of probabilities that broadcast together (N x A with N x 1);
    NaN where the clean clip leads the baseline by less than ``MIN_LEAD``."""
    lead = np.asarray(p_clean, np.float64) - np.asarray(p_baseline, np.float64)
    judged = lead >= MIN_LEAD
    safe = np.where(judged, lead, 1.0)
    preserve = np.where(judged, (p_preserved - np.asarray(p_baseline, np.float64)) / safe, np.nan)
    delete = np.where(judged, (np.asarray(p_clean, np.float64) - p_deleted) / safe, np.nan)
    return preserve, delete


def objective_met(
    variant: str, preserve_effect: np.ndarray, delete_effect: np.ndarray, area_kept: np.ndarray, areas
) -> np.ndarray:
    """1.0 where the mask met its variant's objective at no more than ``AREA_MAX_RATIO`` x its area, 0.0
    where it did not, NaN where the objective cannot be judged (effects NaN)."""
    checks = {"preserve": [preserve_effect >= PRESERVE_MIN], "delete": [delete_effect >= DELETE_MIN]}
    checks["dual"] = checks["preserve"] + checks["delete"]
    met = np.logical_and.reduce([*checks[variant], area_kept <= AREA_MAX_RATIO * np.asarray(areas, np.float64)])
    judged = ~np.isnan(preserve_effect)
    return np.where(judged, met.astype(np.float64), np.nan)


def fit_diagnostics(
    variant: str,
    areas,
    maps: np.ndarray,
    p_clean: np.ndarray,
    p_baseline: np.ndarray,
    p_preserved: np.ndarray,
    p_deleted: np.ndarray,
) -> dict[str, np.ndarray]:
    """The diagnostics of N x A masks: each of ``KEYS`` as an N x A float64 array.

    maps: N x A x T x H x W masks in [0, 1]; areas: the A areas asked for; p_clean, p_baseline: N;
    p_preserved, p_deleted: N x A (the fit's ``prob_preserved`` / ``prob_deleted``).
    """
    maps = np.asarray(maps, np.float64)
    area_kept = maps.reshape(*maps.shape[:2], -1).mean(axis=2)
    clean = np.asarray(p_clean, np.float64)[:, None]
    base = np.asarray(p_baseline, np.float64)[:, None]
    preserve, delete = effects(clean, base, np.asarray(p_preserved, np.float64), np.asarray(p_deleted, np.float64))
    return {
        "preserve_effect": preserve,
        "delete_effect": delete,
        "area_kept": area_kept,
        "objective_met": objective_met(variant, preserve, delete, area_kept, areas),
    }


@torch.no_grad()
def diagnose(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    maps: torch.Tensor,
    areas,
    variant: str,
    perturbation: str,
    max_blur: float,
    p_preserved: np.ndarray,
    p_deleted: np.ndarray,
) -> dict[str, np.ndarray]:
    """``fit_diagnostics`` of a finished fit: the clean and fully perturbed probabilities come from one
    forward pass each of ``model`` on ``inputs`` (N x 3 x T x H x W) with the fit's ``perturbation``."""
    from videoattr.methods.perturbation.baseline import baseline_probability

    clean = model(inputs).float().softmax(dim=1).gather(1, target.view(-1, 1).to(inputs.device)).squeeze(1)
    base = baseline_probability(model, inputs, target, perturbation, max_blur)
    return fit_diagnostics(
        variant,
        areas,
        maps.detach().float().cpu().numpy(),
        clean.cpu().numpy(),
        base.float().cpu().numpy(),
        p_preserved,
        p_deleted,
    )


def advice(row: dict, variant: str) -> str:
    """What the mask of a results row (with the ``KEYS`` and its ``area``) missed and what to try, for a fit
    of ``variant``; empty when it met its objective or was not judged."""
    if row.get("objective_met") != 0:
        return ""
    missed, fixes = [], []
    area = float(row["area"])
    if row["area_kept"] > AREA_MAX_RATIO * area:
        missed.append(f"it keeps {row['area_kept']:.3g} of the clip for area {area:g}")
        fixes.append("more iterations (method.iterations) or a larger method.area_weight")
    for key, threshold in (("preserve_effect", PRESERVE_MIN), ("delete_effect", DELETE_MIN)):
        value = row.get(key)
        if (variant == "dual" or key.startswith(variant)) and value is not None and value < threshold:
            missed.append(f"{key} {value:.2f} < {threshold:g}")
    if len(missed) > len(fixes):
        fixes.append(
            "more iterations (method.iterations), a larger method.reward_weight (STEP's is 1, 2D/3D-EP's 100) "
            "or a larger area"
        )
    return "; ".join(missed) + ": try " + ", or ".join(fixes)
