"""How reliable is each metric of a benchmark (or sweep) directory? From its ``all_results.csv``.

For each metric with a better direction (localisation, and the deletion / insertion areas with every
baseline and kind of step present): the agreement of the maps' rankings across clips (Kendall's W with
its p-value, Krippendorff's alpha of the ranks, ordinal and interval), and for each map whether it beats
the random map clip by clip (wins, sign test, Wilcoxon signed-rank test); see
``videoattr.metrics.reliability`` and docs/trust.md.

Usage: python -m benchmarks.reliability DIR [--baseline random]
Writes DIR/reliability.csv (agreement per metric), DIR/reliability_vs_random.csv (per metric and map) and
DIR/reliability.md (both tables). ``python -m benchmarks.benchmark`` runs it at its end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from videoattr.errors import VideoAttrError
from videoattr.metrics.reliability import agreement_table, versus_random_table

# The benchmark's job whose single-area masks are not rows of its table (only their combined map is).
COMBINED_JOB = "step_combined"


def load_results(directory: Path) -> pd.DataFrame:
    """DIR/all_results.csv without the single-area rows of STEP's combined-map job (as benchmark.md)."""
    path = Path(directory) / "all_results.csv"
    if not path.is_file():
        raise VideoAttrError(
            f"{path} does not exist: run python -m benchmarks.benchmark --out {directory} (or a sweep) first."
        )
    results = pd.read_csv(path)
    results["map"] = results["map"].fillna("single") if "map" in results else "single"
    if "job" in results:
        results = results[(results["job"] != COMBINED_JOB) | (results["map"] == "combined")]
    return results


def markdown(agreement: pd.DataFrame, versus: pd.DataFrame, baseline: str) -> str:
    lines = [
        "Agreement of the maps' rankings across clips (per metric: each clip ranks the maps; 1 = every clip "
        "ranks them alike, 0 = chance)",
        "",
        "| metric | clips | maps | Kendall's W ± jackknife s.e. | p | alpha (ordinal) | alpha (interval) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in agreement.itertuples():
        lines.append(
            f"| {r.metric} | {r.clips} | {r.maps} | {r.kendall_w:.3f} ± {r.kendall_w_se:.3f} "
            f"| {r.kendall_p:.2g} | {r.alpha_ordinal:.3f} | {r.alpha_interval:.3f} |"
        )
    if versus.empty:
        return "\n".join(lines + ["", f"No '{baseline}' map in the results: no test against it."]) + "\n"
    lines += [
        "",
        f"Clips on which each map beats the {baseline} map (wins / clips compared, one-sided Wilcoxon "
        "signed-rank p; ** p < 0.01, * p < 0.05)",
        "",
    ]
    wide = versus.assign(
        cell=[
            f"{r.wins}/{r.clips} ({r.wilcoxon_p:.2g})"
            + ("**" if r.wilcoxon_p < 0.01 else "*" if r.wilcoxon_p < 0.05 else "")
            for r in versus.itertuples()
        ]
    ).pivot(index="map", columns="metric", values="cell")
    wide = wide.reindex(columns=[m for m in agreement["metric"] if m in wide.columns])
    order = list(dict.fromkeys(versus["map"]))
    wide = wide.reindex(order)
    lines.append("| map | " + " | ".join(wide.columns) + " |")
    lines.append("|---|" + "---|" * len(wide.columns))
    for label, row in wide.iterrows():
        lines.append(f"| {label} | " + " | ".join("" if pd.isna(v) else v for v in row) + " |")
    return "\n".join(lines) + "\n"


def write_reliability(directory: Path, baseline: str = "random") -> str:
    """Write the reliability tables of DIR's all_results.csv; returns the markdown."""
    directory = Path(directory)
    results = load_results(directory)
    agreement = agreement_table(results)
    versus = versus_random_table(results, baseline)
    agreement.to_csv(directory / "reliability.csv", index=False)
    versus.to_csv(directory / "reliability_vs_random.csv", index=False)
    text = markdown(agreement, versus, baseline)
    (directory / "reliability.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a benchmark or sweep directory holding all_results.csv")
    parser.add_argument("--baseline", default="random", help="the map each method is tested against")
    args = parser.parse_args()
    try:
        print(write_reliability(args.directory, args.baseline))
    except VideoAttrError as err:
        raise SystemExit(f"error: {err}") from None


if __name__ == "__main__":
    main()
