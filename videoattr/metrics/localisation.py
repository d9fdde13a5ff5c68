"""How well a map finds the evidence of a ground-truth mask.

saliency: T x H x W, >= 0; gt_mask: T x H x W, non-zero where the evidence is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def pointing_game(saliency: torch.Tensor, gt_mask: torch.Tensor, tolerance: int = 7, ties: float = 0.0) -> float:
    """Fraction of evidence frames whose saliency maximum lies within ``tolerance`` pixels of the mask.

    Only frames where the mask is non-empty count. When several pixels share a frame's maximum (lie
    within ``ties`` of it) the frame scores the fraction of them that hit, i.e. the expected hit of a
    random tie-break, so a flat map scores like a random point. NaN when no frame holds evidence.
    """
    evidence = (gt_mask > 0).flatten(1).any(1)
    if not evidence.any():
        return math.nan
    s, near = saliency[evidence], _dilate(gt_mask[evidence] > 0, tolerance)
    peak = s >= s.flatten(1).amax(1).view(-1, 1, 1) - ties
    hits = (peak & near).flatten(1).sum(1) / peak.flatten(1).sum(1)
    return hits.mean().item()


def energy_in_mask(saliency: torch.Tensor, gt_mask: torch.Tensor) -> float:
    """Fraction of the map's total mass that falls on mask pixels (0 for an all-zero map)."""
    total = saliency.sum()
    return (saliency * (gt_mask > 0)).sum().div(total).item() if total > 0 else 0.0


def mass_in_evidence_frames(saliency: torch.Tensor, gt_mask: torch.Tensor) -> float:
    """Fraction of the map's total mass in the frames where the mask is non-empty (0 for an all-zero map)."""
    total = saliency.sum()
    evidence = (gt_mask > 0).flatten(1).any(1)
    return saliency[evidence].sum().div(total).item() if total > 0 else 0.0


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """F x H x W booleans grown by a disk of ``radius`` pixels."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32, device=mask.device)
    disk = (r.view(-1, 1) ** 2 + r.view(1, -1) ** 2 <= radius**2).float()
    grown = F.conv2d(mask.float().unsqueeze(1), disk[None, None], padding=radius)
    return grown.squeeze(1) > 0
