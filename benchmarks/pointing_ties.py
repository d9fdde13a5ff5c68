"""The pointing game of saved masks again, with values near a frame's maximum counted as ties.

A perturbation mask saturates: its evidence frames hold plateaus of values within float noise of 1,
so which pixel is "the" maximum, and with it the pointing game, can change with the last bits of the
fit (another device, another batch, another iteration count). This script reads the masks that runs
saved (``RUN/clips/*.npz``) and the clips' ground-truth masks (``CLIPS/<clip>.npz``, key ``mask``)
and prints, per run, area and tie tolerance, the mean pointing game over clips
(``videoattr.metrics.localisation.pointing_game(..., ties=TOL)``; tolerance 0 is what runs report).

Usage: python -m benchmarks.pointing_ties RUN [RUN ...] [--ties 0 1e-6 1e-4 1e-2]
           [--clips videoattr/assets/synthetic/clips] [--tolerance 7]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from videoattr.metrics.localisation import pointing_game

ROOT = Path(__file__).resolve().parents[1]


def scores(run: Path, clips: Path, ties: list[float], tolerance: int) -> pd.DataFrame:
    """One row per clip, area and tie tolerance of ``run``'s saved masks."""
    rows = []
    for path in sorted((run / "clips").glob("*.npz")):
        truth = clips / path.name
        if not truth.is_file():
            sys.exit(f"error: {truth} is missing: pass --clips, the folder of the ground-truth masks of {run}'s clips.")
        saved = np.load(path)
        gt = torch.from_numpy(np.load(truth)["mask"][saved["frame_indices"]]).float()
        for area, mask in zip(saved["areas"], saved["maps"]):
            if mask.shape != tuple(gt.shape):
                sys.exit(
                    f"error: the mask of {path} is {mask.shape} but its ground truth is {tuple(gt.shape)}: "
                    "this script scores clips whose masks were saved at the ground truth's size."
                )
            for tie in ties:
                value = pointing_game(torch.from_numpy(mask).float(), gt, tolerance, tie)
                label = f"{area:g}" if np.isfinite(area) else ""  # a map without an area: backprop, baselines
                rows.append({"run": str(run), "clip": path.stem, "area": label, "ties": tie, "pointing_game": value})
    if not rows:
        sys.exit(f"error: {run} holds no saved masks (clips/*.npz): give a run of a perturbation method.")
    return pd.DataFrame(rows)


def add_ground_truth_options(parser: argparse.ArgumentParser) -> None:
    """--clips (the folder of the ground-truth masks) and --tolerance (the pointing game's, in pixels)."""
    parser.add_argument(
        "--clips",
        type=Path,
        default=ROOT / "videoattr" / "assets" / "synthetic" / "clips",
        help="folder of the clips' ground-truth masks (<clip>.npz with key 'mask')",
    )
    parser.add_argument("--tolerance", type=int, default=7, help="pixels a maximum may lie from the evidence")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories with clips/*.npz")
    parser.add_argument("--ties", nargs="+", type=float, default=[0.0, 1e-6, 1e-4, 1e-2])
    add_ground_truth_options(parser)
    args = parser.parse_args()
    table = pd.concat([scores(run, args.clips, args.ties, args.tolerance) for run in args.runs])
    means = table.groupby(["run", "area", "ties"], sort=False)["pointing_game"].agg(["mean", "count"]).reset_index()
    wide = means.pivot_table(index=["run", "area"], columns="ties", values="mean", sort=False)
    lines = [
        "| run | area | clips | " + " | ".join(f"ties {t:g}" for t in wide.columns) + " |",
        "|---|---|---|" + "---|" * len(wide.columns),
    ]
    for (run, area), values in wide.iterrows():
        n = int(means[(means["run"] == run) & (means["area"] == area)]["count"].iloc[0])
        lines.append(f"| {run} | {area} | {n} | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
