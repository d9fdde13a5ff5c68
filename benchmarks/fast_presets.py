"""Compare the fast presets' masks (500 iterations) with the paper's fits (2000) on the benchmark clips.

Reads a ``benchmarks/benchmark.py`` output directory that holds both, e.g. after
    python -m benchmarks.benchmark --methods 2d_ep 3d_ep step 2d_ep_fast 3d_ep_fast step_fast --reference --out DIR
and writes, per method and area, the mean over clips of
- mad: the mean absolute difference of the fast mask and the full mask (both in [0, 1]);
- iou: the IoU of their top-area voxels (the ceil(area x T x H x W) largest values of each mask);
- each benchmark metric of both fits and the fast one's relative change (a higher pointing game and
  energy in mask, a lower deletion AUC are better);
- seconds per clip of both fits.

Usage: python -m benchmarks.fast_presets DIR [--out DIR/fast_presets.md]
       python -m benchmarks.fast_presets DIR --runs RUN FULL_RUN   (any two runs of the same clips and areas,
       e.g. the full fit with two seeds: how far apart two full fits are; the table is DIR/fast_presets.md)
Exits with status 1 when a preset misses a target (top-area IoU >= 0.8, pointing game and energy in
mask not more than 5 % below the full fit's), so that the table says plainly what was met.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

PAIRS = {"2d_ep_fast": "2d_ep", "3d_ep_fast": "3d_ep", "step_fast": "step"}
METRICS = ("pointing_game", "energy_in_mask", "deletion_auc", "insertion_auc")
HIGHER_IS_BETTER = {"pointing_game": True, "energy_in_mask": True, "deletion_auc": False, "insertion_auc": True}
TARGET_IOU = 0.8
TARGET_LOSS = 0.05


def top_area(mask: np.ndarray, area: float) -> np.ndarray:
    """The boolean T x H x W set of the ceil(area x size) largest values of ``mask`` (ties by position)."""
    k = math.ceil(area * mask.size)
    keep = np.zeros(mask.size, dtype=bool)
    keep[np.argsort(-mask.ravel(), kind="stable")[:k]] = True
    return keep.reshape(mask.shape)


def mask_agreement(fast: np.ndarray, full: np.ndarray, area: float) -> tuple[float, float]:
    """(mean absolute difference, IoU of the top-area voxels) of two T x H x W masks."""
    a, b = top_area(fast, area), top_area(full, area)
    return float(np.abs(fast - full).mean()), float((a & b).sum() / (a | b).sum())


def per_clip(fast_dir: Path, full_dir: Path, label: str) -> pd.DataFrame:
    """One row per clip of both runs and area: its mask's agreement with ``full_dir``'s and both
    runs' metrics (``label`` names the pair in the ``method`` column)."""
    rows = []
    fast_results = pd.read_csv(fast_dir / "results.csv")
    full_results = pd.read_csv(full_dir / "results.csv")
    for path in sorted((fast_dir / "clips").glob("*.npz")):
        if not (full_dir / "clips" / path.name).is_file():
            continue  # a clip only one of the runs explained
        a, b = np.load(path), np.load(full_dir / "clips" / path.name)
        for i, area in enumerate(a["areas"]):
            j = int(np.flatnonzero(np.isclose(b["areas"], area))[0])
            mad, iou = mask_agreement(a["maps"][i], b["maps"][j], float(area))
            row = {"method": label, "clip": path.stem, "area": float(area), "mad": mad, "iou": iou}
            for name, results in (("fast", fast_results), ("full", full_results)):
                match = results[(results["clip"] == path.stem) & np.isclose(results["area"], area)]
                row.update({f"{name}_{k}": float(match[k].iloc[0]) for k in (*METRICS, "seconds")})
            rows.append(row)
    return pd.DataFrame(rows)


def summary(clips: pd.DataFrame) -> pd.DataFrame:
    """Means over clips per method and area, the fast fit's relative change and whether it met the targets."""
    means = clips.groupby(["method", "area"], sort=False).mean(numeric_only=True).reset_index()
    met = means["iou"] >= TARGET_IOU
    for k in METRICS:
        change = (means[f"fast_{k}"] - means[f"full_{k}"]) / means[f"full_{k}"].abs()
        means[f"change_{k}"] = change
        if k in ("pointing_game", "energy_in_mask"):
            met &= change >= -TARGET_LOSS
    means["met"] = met
    return means


def markdown(means: pd.DataFrame, clips: pd.DataFrame) -> str:
    lines = [
        "| method | area | clips | top-area IoU | mean abs. diff. | pointing game full -> fast | energy in mask full -> fast "
        "| deletion AUC full -> fast | s/clip full -> fast | targets |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, r in means.iterrows():
        n = int(((clips["method"] == r["method"]) & np.isclose(clips["area"], r["area"])).sum())
        cells = [
            f"{r[f'full_{k}']:.3g} -> {r[f'fast_{k}']:.3g} ({r[f'change_{k}']:+.0%})"
            for k in ("pointing_game", "energy_in_mask", "deletion_auc")
        ]
        lines.append(
            f"| {r['method']} | {r['area']:g} | {n} | {r['iou']:.3f} | {r['mad']:.4f} | "
            + " | ".join(cells)
            + f" | {r['full_seconds']:.3g} -> {r['fast_seconds']:.3g} | {'met' if r['met'] else 'missed'} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a benchmarks/benchmark.py output directory with both fits")
    parser.add_argument(
        "--runs",
        nargs=2,
        type=Path,
        metavar=("RUN", "FULL_RUN"),
        default=None,
        help="compare these two run directories instead (e.g. two seeds of the full fit)",
    )
    parser.add_argument("--out", type=Path, default=None, help="the markdown table (default DIR/fast_presets.md)")
    args = parser.parse_args()
    if args.runs:
        found = [(args.runs[0], args.runs[1], args.runs[1].name)]
    else:
        found = [
            (args.directory / fast, args.directory / full, full)
            for fast, full in PAIRS.items()
            if (args.directory / fast / "clips").is_dir() and (args.directory / full / "clips").is_dir()
        ]
    if not found:
        sys.exit(
            f"error: {args.directory} holds no pair of runs to compare (e.g. step and step_fast): "
            "run benchmarks/benchmark.py with both methods first."
        )
    clips = pd.concat([per_clip(*pair) for pair in found], ignore_index=True)
    if clips.empty:
        sys.exit(
            f"error: no clip has masks (clips/*.npz) in both runs of {', '.join(f'{a} and {b}' for a, b, _ in found)}: "
            "compare runs that saved their masks for the same clips."
        )
    means = summary(clips)
    text = markdown(means, clips)
    out = args.out or args.directory / "fast_presets.md"
    out.write_text(text)
    clips.to_csv(out.with_suffix(".csv"), index=False)
    print(text)
    print(f"written: {out} and {out.with_suffix('.csv')} (per clip)")
    sys.exit(0 if means["met"].all() else 1)


if __name__ == "__main__":
    main()
