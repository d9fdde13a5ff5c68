"""Score every method on the synthetic ground-truth benchmark and write a table.

Each method explains the benchmark clips (videoattr/assets/synthetic/clips: 8 clips, 16 x 112 x 112)
with the committed synthetic model through the same job as ``python run.py``; the per-clip metrics
are averaged per method and area. ``random`` and ``centre`` are baselines that ignore the model.

Usage: python scripts/benchmark.py [--iterations 2000] [--areas 0.01 0.05] [--clips 8] [--set KEY=VALUE ...] [--out DIR]
Writes DIR/<method>/... (one run directory per method), DIR/summary.csv and DIR/benchmark.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from hydra import compose, initialize_config_dir

import videoattr  # noqa: F401  (registers the ${asset:...} resolver)
from videoattr.methods import PERTURBATION_METHODS, method_names
from videoattr.runner import Job
from videoattr.sweep import summarize

CONF = Path(__file__).resolve().parents[1] / "conf"
COLUMNS = ["iterations", "pointing_game", "energy_in_mask", "mass_in_evidence_frames", "deletion_auc", "insertion_auc",
           "tv_space", "tv_time", "seconds"]


def run_method(method: str, args: argparse.Namespace) -> None:
    overrides = [f"method={method}", f"dataset.limit={args.clips}", f"seed={args.seed}", "figures=false"]
    if method in PERTURBATION_METHODS:
        overrides += [f"method.iterations={args.iterations}", f"area=[{','.join(map(str, args.areas))}]",
                      "trainer.enable_progress_bar=false", *args.set]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    Job(cfg, args.out / method).run()


def markdown(summary: pd.DataFrame) -> str:
    table = summary[["method", "area", "clips"] + [c for c in COLUMNS if c in summary]].copy()
    table["area"] = table["area"].map(lambda a: "" if pd.isna(a) else f"{a:g}")
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    cell = lambda v: v if isinstance(v, str) else "" if pd.isna(v) else f"{v:.3g}"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.values]
    return header + "\n".join(rows) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=method_names(), choices=method_names())
    parser.add_argument("--iterations", type=int, default=2000, help="perturbation iterations (paper: 2000)")
    parser.add_argument("--areas", nargs="+", type=float, default=[0.01, 0.05])
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="extra overrides of the perturbation methods, e.g. method.early_stop_tol=1e-3")
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark"))
    args = parser.parse_args()
    start = time.perf_counter()
    for method in args.methods:
        print(f"benchmark: {method}", flush=True)
        run_method(method, args)
    summary = pd.read_csv(summarize(args.out))
    summary["method"] = pd.Categorical(summary["method"], args.methods, ordered=True)
    text = markdown(summary.sort_values(["method", "area"]))
    (args.out / "benchmark.md").write_text(text)
    print(text)
    print(f"{len(args.methods)} methods in {time.perf_counter() - start:.0f} s; table: {args.out / 'benchmark.md'}")


if __name__ == "__main__":
    main()
