"""A long video through ``dataset.windows``: time and peak memory of explaining every window and writing
the timeline, for a synthetic video of MINUTES minutes at FPS frames per second (generated at SIZE x SIZE
pixels into OUT, not committed) whose red disk moves in one clip at the middle.

The explanation runs as ``python run.py`` in a child process (one thread); its peak resident memory is
the child's ``ru_maxrss``. Memory stays bounded when it does not grow with the video's length: run two
lengths and compare.

Usage: python -m benchmarks.bench_long_video [--minutes 60] [--fps 4] [--size 64] [--method grad]
           [--out outputs/bench_long_video]
Prints one line of measurements and writes OUT/<minutes>min.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from videoattr.synthetic import World
from videoattr.synthetic.long_video import save_long_video

ROOT = Path(__file__).resolve().parents[1]
FRAMES = 16  # the synthetic model's clip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--fps", type=int, default=4)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--method", default="grad")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_long_video")
    args = parser.parse_args()
    clips = round(args.minutes * 60 * args.fps / FRAMES)
    start = time.perf_counter()
    video, evidence = save_long_video(
        args.out / f"{args.minutes:g}min", seed=0, label=2, clips=clips, evidence_clip=clips // 2,
        world=World(size=args.size), fps=args.fps,
    )  # fmt: skip
    generated = time.perf_counter() - start
    run = args.out / f"{args.minutes:g}min_run"
    command = [
        sys.executable, "run.py", f"method={args.method}", f"dataset.root={video.parent}", "dataset.masks=false",
        f"dataset.windows={FRAMES}", "metrics.groups=[]", "figures=false", "overwrite=true", f"hydra.run.dir={run}",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    line = pd.read_csv(run / "timelines.csv").iloc[0]
    found = evidence.nonzero()[0]
    result = {
        "minutes": args.minutes, "fps": args.fps, "size": args.size, "frames": len(evidence),
        "windows": int(line["windows"]), "method": args.method, "generate_s": round(generated, 1),
        "run_s": round(seconds, 1), "s_per_window": round(seconds / line["windows"], 3),
        "peak_rss_mb": round(peak_mb), "peak_frame": int(line["peak_frame"]),
        "evidence_frames": [int(found.min()), int(found.max())], "peak_on_evidence": bool(evidence[line["peak_frame"]]),
    }  # fmt: skip
    (args.out / f"{args.minutes:g}min.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
