"""When does each method put its relevance? Temporal grounding on the synthetic benchmark clips, whose red
disk (the evidence) moves in 6 to 10 of the 16 frames among distractors that move in others, and on long
videos made of the synthetic world's clips (``videoattr.synthetic.long_video``: clips drawn without the disk,
their background and distractors still moving, and one clip with it, at a known time).

Clips: runs ``python run.py`` per model and method (the localisation metrics only) and tabulates the mean
over the clips of ``temporal_pointing`` and ``temporal_iou`` (``videoattr.temporal``), the pointing game, the
perturbation fits' ``objective_met`` and iterations, with each method's cost (seconds per clip, forward /
backward passes). Long videos (``--videos V``): V videos of ``--clips`` clips each, explained window by window
(``dataset.windows=16``); the same two scores of each video's timeline (``timelines/<video>.npz``) against
the frames where its disk moves, their mean over the videos, and the seconds per window.

The trivial maps come first: ``centre`` (the same map in every frame: uniform in time) and ``random`` as
runs, and two curves scored without a run (``uniform in time`` and ``centre in time``, a Gaussian of a
quarter of the length at the middle frame of the clip, or of the video).

A method is a name with optional ``+key=value`` options of it: ``3d_ep_fast+temporal_frames=0.5`` runs
``method=3d_ep_fast method.temporal_frames=0.5``.

Usage: python -m benchmarks.temporal_grounding [--models synthetic synthetic_mvit]
           [--methods centre random grad grad_x_input grad_cam temporal_ep] [--set dataset.limit=4 ...]
           [--videos 0] [--clips 5] [--out outputs/temporal_grounding]
Writes OUT/grounding.md and OUT/grounding.csv (clips) and OUT/long.md and OUT/long.csv (long videos), one row
per model and method, after each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from videoattr.synthetic.long_video import save_long_video
from videoattr.temporal import temporal_pointing, top_window_iou

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "videoattr" / "assets" / "synthetic" / "clips"
FRAMES = 16  # the synthetic models' clip
COLUMNS = [
    "temporal_pointing",
    "temporal_iou",
    "mass_in_evidence_frames",
    "pointing_game",
    "objective_met",
    "temporal_iterations",
    "iterations",
    "seconds",
    "forward_passes",
    "backward_passes",
]


def method_overrides(method: str) -> list[str]:
    """``name+key=value+...`` -> ``["method=name", "method.key=value", ...]``."""
    name, *options = method.split("+")
    return [f"method={name}", *(f"method.{option}" for option in options)]


def run(model: str, method: str, out: Path, overrides: list[str]) -> Path:
    """Run ``method`` on ``model`` with ``overrides`` into OUT/<model>/<method>; returns that directory."""
    directory = out / model / method.replace("+", "_").replace("=", "-")  # Hydra's override grammar
    command = [
        sys.executable, "run.py", f"model={model}", *method_overrides(method), "metrics.groups=[localisation]",
        "figures=false", "overwrite=true", *overrides, f"hydra.run.dir={directory}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return directory


def single_maps(directory: Path) -> pd.DataFrame:
    """The rows of a run's single maps (not the combined ones)."""
    results = pd.read_csv(directory / "results.csv")
    return results[results["map"] == "single"]


def centre_in_time(length: int) -> np.ndarray:
    """A curve peaked at the middle of ``length`` frames: a Gaussian of a quarter of the length."""
    return np.exp(-0.5 * ((np.arange(length) - (length - 1) / 2) / (length / 4)) ** 2)


TRIVIAL_CURVES: dict[str, Callable[[int], np.ndarray]] = {"uniform in time": np.ones, "centre in time": centre_in_time}


def trivial_rows(evidence: list[np.ndarray], unit: str) -> list[dict]:
    """The grounding scores of ``TRIVIAL_CURVES`` against each of ``evidence`` (L booleans), averaged over the
    ``len(evidence)`` ``unit`` (clips, videos)."""
    rows = []
    for name, curve in TRIVIAL_CURVES.items():
        pointing = [temporal_pointing(curve(len(e)), e) for e in evidence]
        iou = [top_window_iou(curve(len(e)), e) for e in evidence]
        rows.append({"model": "-", "method": f"{name} (no run)", unit: len(evidence),
                     "temporal_pointing": np.mean(pointing), "temporal_iou": np.mean(iou)})  # fmt: skip
    return rows


def clip_evidence(names: list[str]) -> list[np.ndarray]:
    """The frames of each benchmark clip where its disk is drawn (from its mask)."""
    return [np.load(CLIPS / f"{name}.npz")["mask"].reshape(FRAMES, -1).any(axis=1) for name in names]


def make_videos(out: Path, videos: int, clips: int) -> Path:
    """V long videos of ``clips`` clips (label v % 4, seed v, the disk in clip 1 + v % (clips - 2)) in
    OUT/videos; returns the folder."""
    folder = out / "videos"
    for v in range(videos):
        save_long_video(folder, seed=v, label=v % 4, clips=clips, evidence_clip=1 + v % (clips - 2))
    return folder


def long_scores(directory: Path, videos: Path) -> dict:
    """Means over a windowed run's videos of its timelines' grounding scores, and its seconds per window."""
    lines = pd.read_csv(directory / "timelines.csv")
    pointing, iou = [], []
    for video in lines["video"]:
        relevance = np.load(directory / "timelines" / f"{video}.npz")["relevance"]
        evidence = np.load(videos / f"{video}.npz")["evidence"]
        pointing.append(temporal_pointing(relevance, evidence))
        iou.append(top_window_iou(relevance, evidence))
    results = single_maps(directory)
    return {
        "videos": len(lines),
        "windows": int(lines["windows"].sum()),
        "temporal_pointing": float(np.mean(pointing)),
        "temporal_iou": float(np.mean(iou)),
        "peak_on_evidence": f"{sum(p == 1 for p in pointing)} of {len(pointing)}",
        "seconds_per_window": float(results.groupby("clip")["seconds"].first().mean()),
    }


def markdown(table: pd.DataFrame) -> str:
    """A pipe table of ``table``."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += [
        "| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def write(rows: list[dict], out: Path, name: str) -> None:
    table = pd.DataFrame(rows)
    table.to_csv(out / f"{name}.csv", index=False)
    (out / f"{name}.md").write_text(markdown(table))
    print(rows[-1], flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["synthetic", "synthetic_mvit"])
    parser.add_argument(
        "--methods", nargs="+", default=["centre", "random", "grad", "grad_x_input", "grad_cam", "temporal_ep"]
    )
    parser.add_argument("--set", nargs="*", default=[], help="more run.py overrides for every run")
    parser.add_argument("--videos", type=int, default=0, help="long videos (0: the clips only)")
    parser.add_argument("--clips", type=int, default=5, help="clips per long video")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "temporal_grounding")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    for model in args.models:
        for method in args.methods:
            results = single_maps(run(model, method, args.out, args.set))
            if not rows:
                rows = trivial_rows(clip_evidence(sorted(results["clip"].unique())), "clips")
            means = results[[c for c in COLUMNS if c in results]].mean()
            rows.append(
                {"model": model, "method": method, "clips": results["clip"].nunique(), **means.round(3).to_dict()}
            )
            write(rows, args.out, "grounding")
    if not args.videos:
        return
    videos = make_videos(args.out, args.videos, args.clips)
    evidence = [np.load(path)["evidence"] for path in sorted(videos.glob("*.npz"))]
    rows = trivial_rows(evidence, "videos")
    windowed = [f"dataset.root={videos}", "dataset.masks=false", f"dataset.windows={FRAMES}"]
    for model in args.models:
        for method in args.methods:
            directory = run(model, method, args.out / "long", [*windowed, *args.set])
            rows.append({"model": model, "method": method, **long_scores(directory, videos)})
            write(rows, args.out, "long")


if __name__ == "__main__":
    main()
