"""The pointing game that a flat mask of a given area can reach at best on the benchmark clips.

A perturbation mask of area a saturates: on a frame its maximum is a plateau of up to a x H x W pixels, and
the pointing game scores the share of the plateau within ``tolerance`` pixels of the evidence (ties count as
the expected hit of a random tie-break: ``videoattr.metrics.localisation.pointing_game``). Once a x H x W is
larger than the evidence grown by the tolerance, not even a plateau centred on the evidence scores 1. This
script builds that best case, per evidence frame the a x H x W pixels nearest the evidence's centroid (2D-EP's
per-frame area), and prints its pointing game per area, the mean over the clips, so that a perturbation
method's pointing at an area reads against its ceiling.

Usage: python -m benchmarks.area_ceiling [--areas 0.02 0.05 0.1] [--clips videoattr/assets/synthetic/clips]
           [--tolerance 7]
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from benchmarks.pointing_ties import add_ground_truth_options
from videoattr.metrics.localisation import pointing_game


def centred_plateau(gt_mask: torch.Tensor, area: float) -> torch.Tensor:
    """F x H x W ground truth -> F x H x W map: 1 on the round(area H W) pixels of each evidence frame nearest
    the frame's evidence centroid (ties in distance taken in raster order), 0 elsewhere."""
    frames, h, w = gt_mask.shape
    count = max(1, round(area * h * w))
    rows, cols = torch.meshgrid(
        torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij"
    )
    plateau = torch.zeros(frames, h * w)
    for f in range(frames):
        where = (gt_mask[f] > 0).nonzero().float()
        if len(where):
            centre = where.mean(0)
            distance = ((rows - centre[0]) ** 2 + (cols - centre[1]) ** 2).flatten()
            plateau[f, distance.argsort(stable=True)[:count]] = 1.0
    return plateau.view(frames, h, w)


def ceiling(gt_mask: torch.Tensor, area: float, tolerance: int = 7) -> float:
    """The pointing game of ``centred_plateau(gt_mask, area)`` against ``gt_mask`` (NaN without evidence)."""
    return pointing_game(centred_plateau(gt_mask, area), gt_mask, tolerance)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--areas", nargs="+", type=float, default=[0.02, 0.05, 0.1])
    add_ground_truth_options(parser)
    args = parser.parse_args(argv)
    if bad := [a for a in args.areas if not 0 < a <= 1]:
        sys.exit(f"error: area {bad[0]:g} is outside (0, 1]: give each area as a fraction of the frame.")
    truths = sorted(args.clips.glob("*.npz"))
    if not truths:
        sys.exit(f"error: {args.clips} holds no ground-truth masks (<clip>.npz): pass --clips, their folder.")
    masks = [torch.from_numpy(np.load(path)["mask"]).float() for path in truths]
    print("| area | clips | pointing game of a plateau centred on the evidence |")
    print("|---|---|---|")
    for area in args.areas:
        values = [ceiling(mask, area, args.tolerance) for mask in masks]
        print(f"| {area:g} | {len(values)} | {np.nanmean(values):.3f} |")


if __name__ == "__main__":
    main()
