"""The report's trust section (docs/trust.md): the masks that missed their objective (fit diagnostics),
the model-randomisation check of each job (``check=randomisation``) and, for a benchmark or sweep
directory, the metric reliability tables (``python -m benchmarks.reliability DIR``).

Each part is read from the files the run wrote; a part with no file is left out.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from videoattr.outputs import safe_name

# The files of a sanity check (videoattr.sanity) and of metric reliability (benchmarks/reliability.py).
VERDICTS = "sanity_verdicts.csv"
SANITY_PLOT = "sanity.png"
SANITY_SUMMARY = "sanity_summary.csv"
AGREEMENT = "reliability.csv"
VERSUS_RANDOM = "reliability_vs_random.csv"


def plain_table(frame: pd.DataFrame, columns: list[str], fmt) -> dict:
    """A table of the page: the ``columns`` of ``frame`` that it has, each value through ``fmt``."""
    columns = [c for c in columns if c in frame]
    return {"columns": columns, "rows": [[fmt(row[c]) for c in columns] for _, row in frame.iterrows()]}


def diagnostics_view(table: pd.DataFrame, summaries: dict[str, dict], labels: dict, fmt) -> dict | None:
    """The perturbation masks judged by the fit diagnostics: how many met their objective, and each that
    missed with its effects, the area it kept and what to try (``summary.json``'s ``objective_missed``)."""
    if "objective_met" not in table or table["objective_met"].isna().all():
        return None
    judged = table[table["objective_met"].notna()]
    met = judged["objective_met"] == 1.0  # videoattr.sweep.collect reads it as 1.0 / 0.0
    advice = {
        (job, str(m["clip"]), float(m["area"])): m["advice"]
        for job, summary in summaries.items()
        for m in summary.get("objective_missed", [])
    }
    missed = []
    for _, row in judged[~met].iterrows():
        missed.append(
            {
                "job": labels[row["job"]],
                "clip": row["clip"],
                "anchor": safe_name(str(row["clip"])),
                "cells": [fmt(row.get(c)) for c in ("area", "preserve_effect", "delete_effect", "area_kept")],
                "advice": advice.get((row["job"], str(row["clip"]), float(row["area"])), ""),
            }
        )
    return {"judged": len(judged), "met": int(met.sum()), "missed": missed}


def sanity_view(root: Path, jobs: dict, labels: dict, picture, fmt) -> dict | None:
    """Each job's randomisation check: its verdict per clip and area, and its similarities along the
    cascade (``sanity.png``); for a sweep, the gathered summary."""
    checks = []
    for name, job in jobs.items():
        path = job.root / VERDICTS
        if path.is_file():
            verdicts = pd.read_csv(path)
            checks.append(
                {
                    "job": labels[name],
                    "passed": int(verdicts["passed"].sum()),
                    "clips": len(verdicts),
                    "table": plain_table(verdicts, ["clip", "area", "spearman", "ssim", "iou", "verdict"], fmt),
                    "plot": picture(job.root / SANITY_PLOT, f"{name}: similarities along the cascade"),
                }
            )
    if not checks:
        return None
    gathered = root / SANITY_SUMMARY
    summary = None
    if gathered.is_file():
        columns = ["job", "method", "area", "spearman", "ssim", "iou", "passed", "clips"]
        summary = plain_table(pd.read_csv(gathered), columns, fmt)
    return {"checks": checks, "summary": summary}


def reliability_view(root: Path, fmt) -> dict | None:
    """The metric reliability tables of a benchmark or sweep directory: the agreement of the maps'
    rankings across clips per metric, and per map and metric the clips on which it beats the random map."""
    path = root / AGREEMENT
    if not path.is_file():
        return None
    columns = ["metric", "clips", "maps", "kendall_w", "kendall_w_se", "kendall_p", "alpha_ordinal", "alpha_interval"]
    view = {"agreement": plain_table(pd.read_csv(path), columns, fmt), "versus": None}
    versus = root / VERSUS_RANDOM
    if versus.is_file():
        table = pd.read_csv(versus)
        if not table.empty:
            view["versus"] = plain_table(table, ["map", "metric", "wins", "clips", "wilcoxon_p"], fmt)
    return view


def sanity_figure(job, clip: str, picture):
    """The clip's maps at each randomisation step (``figures/<clip>_sanity.png``), or None."""
    path = job.figure(clip, "_sanity.png")
    return None if path is None else picture(path, f"{clip}: {job.name} maps along the randomisation cascade")
