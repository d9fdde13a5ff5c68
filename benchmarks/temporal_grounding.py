"""When does each method put its relevance? Temporal grounding on the synthetic benchmark clips, whose red
disk (the evidence) moves in 6 to 10 of the 16 frames among distractors that move in others.

Runs ``python run.py`` per model and method (the localisation metrics only) and tabulates the mean over
the clips of ``temporal_pointing`` and ``temporal_iou`` (``videoattr.temporal``) with each method's cost
(seconds per clip, forward / backward passes). The trivial maps first: ``centre`` (the same map in every
frame: uniform in time) and ``random``.

Usage: python -m benchmarks.temporal_grounding [--models synthetic synthetic_mvit]
           [--methods centre random grad grad_x_input grad_cam temporal_ep] [--out outputs/temporal_grounding]
Writes OUT/grounding.md and OUT/grounding.csv, one row per model and method, after each run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "temporal_pointing",
    "temporal_iou",
    "mass_in_evidence_frames",
    "seconds",
    "forward_passes",
    "backward_passes",
]


def run(model: str, method: str, out: Path) -> pd.DataFrame:
    """The results.csv of one run on the 8 synthetic clips (the single maps)."""
    directory = out / model / method
    command = [
        sys.executable, "run.py", f"model={model}", f"method={method}", "metrics.groups=[localisation]",
        "figures=false", f"hydra.run.dir={directory}",
    ]  # fmt: skip
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    results = pd.read_csv(directory / "results.csv")
    return results[results["map"] == "single"]


def markdown(table: pd.DataFrame) -> str:
    """A pipe table of ``table``."""
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    lines += [
        "| " + " | ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in table.itertuples(index=False)
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["synthetic", "synthetic_mvit"])
    parser.add_argument(
        "--methods", nargs="+", default=["centre", "random", "grad", "grad_x_input", "grad_cam", "temporal_ep"]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "temporal_grounding")
    args = parser.parse_args()
    rows = []
    for model in args.models:
        for method in args.methods:
            results = run(model, method, args.out)
            means = results[[c for c in COLUMNS if c in results]].mean()
            rows.append({"model": model, "method": method, "clips": results["clip"].nunique(), **means.round(3)})
            table = pd.DataFrame(rows)
            table.to_csv(args.out / "grounding.csv", index=False)
            (args.out / "grounding.md").write_text(markdown(table))
            print(rows[-1], flush=True)


if __name__ == "__main__":
    main()
