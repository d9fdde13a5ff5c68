"""How long the command line takes to answer when it runs no job: a config error, ``--help`` and
``--cfg job``, each a fresh ``python run.py`` process (interpreter start included), timed ``--repeats``
times; the median and the slowest are reported.

Usage: python -m benchmarks.bench_cli [--repeats 5] [--json outputs/bench_cli.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "config error (area=5)": ["area=5"],
    "unknown choice (method=lime)": ["method=lime"],
    "--help": ["--help"],
    "--cfg job": ["--cfg", "job"],
    "--cfg job of a preset": ["experiment=step_i3d_kinetics", "--cfg", "job"],
}


def seconds(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "run.py"), *args], cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    seconds(["--help"])  # a first process writes the bytecode caches
    rows = {}
    for name, command in COMMANDS.items():
        times = [seconds(command) for _ in range(args.repeats)]
        rows[name] = {"command": "python run.py " + " ".join(command), "median_s": statistics.median(times),
                      "max_s": max(times)}  # fmt: skip
    print(f"| command | median of {args.repeats} (s) | slowest (s) |\n|---|---|---|")
    for row in rows.values():
        print(f"| `{row['command']}` | {row['median_s']:.2f} | {row['max_s']:.2f} |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
