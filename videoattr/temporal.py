"""When a map puts its relevance: per-frame curves of maps, their peak and the shortest window holding
half of their mass. Torch-free (NumPy only): the runner, the timelines and the report share it."""

from __future__ import annotations

import numpy as np

# The result columns of a map's curve (``summary``).
COLUMNS = ("peak_frame", "half_mass_start", "half_mass_frames")


def frame_relevance(maps: np.ndarray) -> np.ndarray:
    """The share of each map's mass in each frame: M x T x H x W maps (>= 0) -> M x T, each row summing
    to 1 (a map of zeros: a row of zeros)."""
    mass = np.asarray(maps, np.float64).reshape(*maps.shape[:2], -1).sum(axis=2)
    total = mass.sum(axis=1, keepdims=True)
    return np.divide(mass, total, out=np.zeros_like(mass), where=total > 0)


def frame_kept(masks: np.ndarray) -> np.ndarray:
    """The fraction of each frame a perturbation mask keeps: M x T x H x W masks in [0, 1] -> M x T."""
    return np.asarray(masks, np.float64).reshape(*masks.shape[:2], -1).mean(axis=2)


def half_mass_window(curve: np.ndarray) -> tuple[int, int]:
    """``(start, frames)`` of the shortest run of consecutive frames holding at least half of the curve's
    mass (the earliest of equal ones); curve: L values >= 0 (``(0, L)`` for a curve of zeros). O(L)."""
    curve = np.asarray(curve, np.float64)
    half = curve.sum() / 2
    if half <= 0:
        return 0, len(curve)
    best, start, held = (0, len(curve)), 0, 0.0
    for end, value in enumerate(curve):
        held += value
        while held - curve[start] >= half:
            held -= curve[start]
            start += 1
        if held >= half and end - start + 1 < best[1]:
            best = (start, end - start + 1)
    return best


def summary(curve: np.ndarray) -> dict[str, int]:
    """The ``COLUMNS`` of one curve (L values >= 0): its peak (first maximum) and half-mass window."""
    start, frames = half_mass_window(curve)
    return {"peak_frame": int(np.argmax(curve)), "half_mass_start": start, "half_mass_frames": frames}


def temporal_pointing(curve: np.ndarray, evidence: np.ndarray) -> float:
    """Whether the curve's peak falls on an evidence frame: the fraction of the frames tied at its maximum
    that are evidence (a flat curve scores the share of evidence frames, as a random frame would).
    curve: L values >= 0; evidence: L booleans (NaN when none is true)."""
    evidence = np.asarray(evidence, bool)
    if not evidence.any():
        return float("nan")
    peak = np.asarray(curve) >= np.max(curve)
    return float((peak & evidence).sum() / peak.sum())


def top_window_iou(curve: np.ndarray, evidence: np.ndarray) -> float:
    """IoU, in frames, of the evidence frames with the run of as many consecutive frames holding the most of
    the curve's mass; runs tied at the most share it (the mean of their IoUs), so a flat curve scores the
    mean IoU of a run placed at random. curve: L values >= 0; evidence: L booleans (NaN when none is true)."""
    evidence = np.asarray(evidence, bool)
    if not evidence.any():
        return float("nan")
    size = int(evidence.sum())
    sums = np.convolve(np.asarray(curve, np.float64), np.ones(size), mode="valid")
    inside = np.convolve(evidence.astype(np.float64), np.ones(size), mode="valid")  # evidence frames per run
    tied = np.isclose(sums, sums.max(), rtol=1e-9, atol=0.0)
    return float(np.mean(inside[tied] / (2 * size - inside[tied])))
