"""What a batch of clips costs per clip, through the command line: ``python run.py`` on the 8 synthetic
benchmark clips at each ``dataset.batch_size``, at two iteration counts.

The explanation time of a run is the sum of its clips' ``seconds`` (results.csv: each fit's time divided
by its clips), so it counts every fit's fixed cost (the blur pyramid, the Trainer, torch.compile's
first build in the process) but not the process start or the model load. From the two iteration
counts I1 < I2: per-iteration cost = (t(I2) - t(I1)) / (I2 - I1), fixed cost = t(I1) - I1 x that, and
the seconds per clip of a full fit = (fixed + iterations x per-iteration) / clips.

Usage: python -m benchmarks.bench_batching [--method step] [--batch-sizes 1 4 8] [--iterations 10 60]
           [--full 2000] [--set KEY=VALUE ...] [--out outputs/bench_batching]
Writes OUT/batching.md (the table) and OUT/batching.json; each run's directory stays under OUT.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def explain_seconds(
    method: str, batch_size: int, iterations: int, extra: list[str], run_dir: Path
) -> tuple[float, int]:
    """(sum of the clips' explanation seconds, clips) of one ``python run.py`` run."""
    command = [
        sys.executable,
        str(ROOT / "run.py"),
        f"method={method}",
        f"method.iterations={iterations}",
        f"dataset.batch_size={batch_size}",
        "figures=false",
        "metrics.groups=[]",
        "trainer.enable_progress_bar=false",
        "overwrite=true",
        f"hydra.run.dir={run_dir}",
        *extra,
    ]
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True, env=dict(os.environ))
    results = pd.read_csv(run_dir / "results.csv").drop_duplicates("clip")
    return float(results["seconds"].sum()), len(results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--method", default="step")
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[1, 4, 8])
    parser.add_argument("--iterations", nargs=2, type=int, default=[10, 60], metavar=("I1", "I2"))
    parser.add_argument("--full", type=int, default=2000, help="iterations of the fit extrapolated per clip")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="extra overrides of every run")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_batching")
    args = parser.parse_args()
    low, high = sorted(args.iterations)
    rows = []
    for batch_size in args.batch_sizes:
        times = {}
        for iterations in (low, high):
            start = time.perf_counter()
            times[iterations], clips = explain_seconds(
                args.method, batch_size, iterations, args.set, args.out / f"batch{batch_size}_it{iterations}"
            )
            print(
                f"batch {batch_size}, {iterations} iterations: {times[iterations]:.1f} s explaining "
                f"{clips} clips ({time.perf_counter() - start:.0f} s with the process)",
                flush=True,
            )
        per_iteration = (times[high] - times[low]) / (high - low)
        fixed = times[low] - low * per_iteration
        fits = -(-clips // batch_size)
        rows.append(
            {
                "batch_size": batch_size,
                "clips": clips,
                "fits": fits,
                "per_iteration_s": per_iteration,
                "per_iteration_per_clip_s": per_iteration / clips,
                "fixed_s": fixed,
                "fixed_per_fit_s": fixed / fits,
                "per_clip_full_s": (fixed + args.full * per_iteration) / clips,
            }
        )
    table = pd.DataFrame(rows)
    base = table["per_clip_full_s"].iloc[0]
    table["per_clip_vs_first"] = table["per_clip_full_s"] / base
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "batching.json").write_text(
        json.dumps(
            {"method": args.method, "iterations": [low, high], "full": args.full, "set": args.set, "rows": rows},
            indent=2,
        )
    )
    lines = [
        f"| batch size | fits for {table['clips'].iloc[0]} clips | one iteration (all clips) | per clip-iteration | "
        f"fixed cost (run) | per clip at {args.full} iterations | vs batch {table['batch_size'].iloc[0]} |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.batch_size} | {r.fits} | {1000 * r.per_iteration_s / r.fits:.0f} ms per fit | "
            f"{1000 * r.per_iteration_per_clip_s:.1f} ms | {r.fixed_s:.1f} s | {r.per_clip_full_s:.1f} s | {r.per_clip_vs_first:.2f} x |"
        )
    text = "\n".join(lines) + "\n"
    (args.out / "batching.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
