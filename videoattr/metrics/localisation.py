"""How well a map finds the evidence of a ground-truth mask.

saliency: T x H x W, >= 0; gt_mask: T x H x W, non-zero where the evidence is.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from videoattr.temporal import frame_relevance, temporal_pointing, top_window_iou


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


def temporal_grounding(saliency: torch.Tensor, gt_mask: torch.Tensor) -> dict[str, float]:
    """When the map puts its relevance against when the evidence is, from the map's mass per frame:
    ``temporal_pointing`` (its peak frame holds evidence) and ``temporal_iou`` (IoU of the evidence frames
    with the run of as many consecutive frames holding most of the map's mass); ``videoattr.temporal``."""
    curve = frame_relevance(saliency[None].cpu().numpy())[0]
    evidence = (gt_mask > 0).flatten(1).any(1).cpu().numpy()
    return {"temporal_pointing": temporal_pointing(curve, evidence), "temporal_iou": top_window_iou(curve, evidence)}


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    """F x H x W booleans grown by a disk of ``radius`` pixels."""
    r = torch.arange(-radius, radius + 1, dtype=torch.float32, device=mask.device)
    disk = (r.view(-1, 1) ** 2 + r.view(1, -1) ** 2 <= radius**2).float()
    grown = F.conv2d(mask.float().unsqueeze(1), disk[None, None], padding=radius)
    return grown.squeeze(1) > 0
