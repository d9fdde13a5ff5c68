"""One table of every method on several models of the synthetic world, from their benchmark runs.

Reads the ``benchmark.csv`` that ``benchmarks.benchmark --model M --out DIR`` wrote for each model and
writes, per method and area, each model's scores side by side: ``pointing / energy`` (pointing game and
energy in mask, means over the clips) in a wide summary, then every score with the cost and the fit
diagnostics (``objective_met``: the share of a perturbation method's masks that met their objective) in a
long table, model by model (a perturbation method's cost is its iterations, each a forward and a backward
pass per mask), and from each run's ``all_results.csv`` ``temporal pointing / temporal IoU`` (when in the
clip: ``videoattr.temporal``). A method a model's run lacks is left empty (e.g. the rollouts on a CNN).

Usage: python -m benchmarks.compare_models --runs synthetic=DIR synthetic_mvit=DIR synthetic_vit=DIR
           [--out compare.md]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from benchmarks.benchmark import table_order

LONG = [
    "pointing_game",
    "energy_in_mask",
    "deletion_auc",
    "insertion_auc",
    "objective_met",
    "iterations",
    "forward_passes",
    "backward_passes",
    "seconds",
]


def load(runs: dict[str, Path]) -> pd.DataFrame:
    """The runs' benchmark.csv rows, a ``model`` column added, methods in the benchmark's order."""
    frames = []
    for model, directory in runs.items():
        path = directory / "benchmark.csv"
        if not path.is_file():
            raise SystemExit(f"{path} is missing: run python -m benchmarks.benchmark --model {model} --out {directory}")
        frames.append(pd.read_csv(path).assign(model=model))
    rows = pd.concat(frames, ignore_index=True)
    rank = {m: i for i, m in enumerate(table_order())}
    rows["rank"] = rows["method"].map(lambda m: rank.get(m.split(" (")[0], len(rank)))
    rows["area"] = rows["area"].map(lambda a: "" if pd.isna(a) else f"{a:g}")
    return rows.sort_values(["rank", "method", "area"], kind="stable").drop(columns="rank")


def temporal(runs: dict[str, Path], rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with each method's mean temporal pointing and temporal IoU over the clips of its run's
    all_results.csv (the same method and area); NaN where a run lacks them."""
    means = []
    for model, directory in runs.items():
        path = directory / "all_results.csv"
        if not path.is_file():
            continue
        results = pd.read_csv(path)
        results = results[results["map"].fillna("single") == "single"]
        results["area"] = results["area"].map(lambda a: "" if pd.isna(a) else f"{a:g}")
        grouped = results.groupby(["method", "area"])[["temporal_pointing", "temporal_iou"]].mean()
        means.append(grouped.reset_index().assign(model=model))
    if not means:
        return rows.assign(temporal_pointing=float("nan"), temporal_iou=float("nan"))
    return rows.merge(pd.concat(means), on=["method", "area", "model"], how="left")


def wide(rows: pd.DataFrame, models: list[str], first: str, second: str, digits: tuple[int, int]) -> str:
    """``| method | area | <model> ... |`` with ``first / second`` cells (e.g. pointing / energy)."""
    a, b = digits
    cells = rows.dropna(subset=[first, second])
    cells = cells.assign(cell=[f"{x:.{a}f} / {y:.{b}f}" for x, y in zip(cells[first], cells[second])])
    table = cells.pivot_table(index=["method", "area"], columns="model", values="cell", aggfunc="first", sort=False)
    header = "| method | area | " + " | ".join(models) + " |\n|" + "---|" * (len(models) + 2) + "\n"
    body = [
        f"| {method} | {area} | " + " | ".join("" if pd.isna(row.get(m)) else row[m] for m in models) + " |"
        for (method, area), row in table.iterrows()
    ]
    return header + "\n".join(body) + "\n"


def long(rows: pd.DataFrame) -> str:
    """Every score, the cost and objective_met, one row per method, area and model."""
    columns = [c for c in LONG if c in rows]

    def cell(value: float, column: str) -> str:
        if pd.isna(value):
            return ""
        if column in ("iterations", "forward_passes", "backward_passes"):
            return f"{value:.0f}"
        return f"{value:.3g}"

    header = "| method | area | model | " + " | ".join(columns) + " |\n|" + "---|" * (len(columns) + 3) + "\n"
    body = [
        f"| {r.method} | {r.area} | {r.model} | " + " | ".join(cell(getattr(r, c), c) for c in columns) + " |"
        for r in rows.itertuples()
    ]
    return header + "\n".join(body) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", required=True, metavar="MODEL=DIR", help="a benchmark run per model")
    parser.add_argument("--out", type=Path, default=Path("outputs/compare_models.md"))
    args = parser.parse_args()
    runs = {}
    for run in args.runs:
        model, sep, directory = run.partition("=")
        if not sep:
            parser.error(f"--runs takes MODEL=DIR, got {run}")
        runs[model] = Path(directory)
    rows = temporal(runs, load(runs))
    text = (
        "Pointing game / energy in mask (means over the clips)\n\n"
        + wide(rows, list(runs), "pointing_game", "energy_in_mask", (2, 3))
        + "\nEvery score, the cost per clip and the share of masks that met their objective\n\n"
        + long(rows)
    )
    if rows["temporal_pointing"].notna().any():
        text += "\nWhen: temporal pointing / temporal IoU (means over the clips)\n\n" + wide(
            rows, list(runs), "temporal_pointing", "temporal_iou", (2, 2)
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
