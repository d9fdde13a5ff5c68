"""The deletion / insertion variants of the benchmark's maps: fade (zero) beside blur, supervoxel steps beside
pixel steps (``metrics.baseline``, ``metrics.steps_by``; videoattr/metrics/faithfulness.py).

The runs score their maps with the default curves (blur, pixels: ``deletion_auc``, ``insertion_auc``).
The other three variants are computed here from the maps saved in each run's ``clips/*.npz``, so that a
benchmark directory gets them without fitting anything again:

    deletion_auc_zero, insertion_auc_zero                          fade to 0 (the mean colour), pixels
    deletion_auc_supervoxels, insertion_auc_supervoxels            blur, SLIC supervoxels
    deletion_auc_zero_supervoxels, insertion_auc_zero_supervoxels  fade, supervoxels

Each run directory keeps its scores in ``faithfulness_variants.csv`` (with each clip's config hash, so a
rerun scores only new clips); ``add_variants`` merges them into the benchmark's results table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig, OmegaConf

from videoattr.data import build_dataset
from videoattr.metrics import clip_metrics
from videoattr.models import load_model
from videoattr.outputs import atomic_write

# (suffix, baseline, steps_by) of the variants beside the runs' own (blur, pixels).
VARIANTS = (
    ("zero", "zero", "pixels"),
    ("supervoxels", "blur", "supervoxels"),
    ("zero_supervoxels", "zero", "supervoxels"),
)
KEYS = ["job", "clip", "map", "area"]
FILE = "faithfulness_variants.csv"


def variant_columns() -> list[str]:
    return [f"{mode}_auc_{suffix}" for suffix, _, _ in VARIANTS for mode in ("deletion", "insertion")]


def score_run(run_dir: Path, job: str, net, items: dict, metrics: dict) -> pd.DataFrame:
    """The variants of every map of one run directory (one row per results row), reusing its saved file."""
    path = run_dir / FILE
    saved = pd.read_csv(path) if path.is_file() else pd.DataFrame(columns=[*KEYS, "config_hash"])
    rows, scored = [], False
    for npz in sorted((run_dir / "clips").glob("[!.]*.npz")):
        with np.load(npz) as data:
            digest, result_rows = str(data["config_hash"]), json.loads(str(data["rows"]))
            maps = np.concatenate([data["maps"], data["combined"]]) if "combined" in data.files else data["maps"]
        clip = result_rows[0]["clip"]
        done = saved[(saved["clip"] == clip) & (saved["config_hash"] == digest)]
        if len(done) == len(result_rows):
            rows += done.to_dict("records")
            continue
        item = items.get(clip)
        if item is None:  # a clip outside the benchmark's --clips: left unscored
            continue
        scored = True
        for row, saliency in zip(result_rows, maps):
            scores = {
                "job": job,
                "clip": clip,
                "map": row.get("map", "single"),
                "area": row["area"],
                "config_hash": digest,
            }
            for suffix, baseline, steps_by in VARIANTS:
                options = dict(metrics, groups=["faithfulness"], baseline=baseline, steps_by=steps_by)
                found = clip_metrics(net, item["clip"], int(row["target"]), torch.from_numpy(saliency), **options)
                scores.update({f"{mode}_auc_{suffix}": found[f"{mode}_auc"] for mode in ("deletion", "insertion")})
            rows.append(scores)
    table = pd.DataFrame(rows, columns=[*KEYS, "config_hash", *variant_columns()])
    if scored:
        atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    return table


def metrics_options(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg.metrics, resolve=True) if cfg.get("metrics") else {}


def score_variants(out: Path, cfg: DictConfig, jobs: list[str]) -> pd.DataFrame:
    """The variants of the maps of the run directories ``out/<job>`` (those with saved maps), with the
    clips and model of ``cfg`` (the benchmark's config) and its ``metrics`` settings."""
    net, spec = load_model(cfg.model)
    dataset = build_dataset(cfg.dataset, spec, seed=cfg.seed)
    items = {dataset.clip_name(i): dataset[i] for i in range(len(dataset))}
    metrics = {k: v for k, v in metrics_options(cfg).items() if k != "groups"}
    tables = [score_run(out / job, job, net, items, metrics) for job in jobs if (out / job / "clips").is_dir()]
    tables = [t for t in tables if not t.empty]
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=[*KEYS, *variant_columns()])


def add_variants(results: pd.DataFrame, variants: pd.DataFrame) -> pd.DataFrame:
    """``results`` (all_results.csv) with the variant columns of ``variants`` joined on job, clip, map, area."""
    if variants.empty:
        return results
    left = results.assign(_map=results["map"].fillna("single"), _area=results["area"].fillna(-1.0))
    right = variants.assign(_map=variants["map"].fillna("single"), _area=variants["area"].astype(float).fillna(-1.0))
    right = right[["job", "clip", "_map", "_area", *variant_columns()]]
    merged = left.merge(right, on=["job", "clip", "_map", "_area"], how="left")
    return merged.drop(columns=["_map", "_area"])


def variants_markdown(results: pd.DataFrame, order: list[str]) -> str:
    """Mean deletion / insertion areas per map with each baseline and kind of step (maps in ``order``)."""
    from videoattr.metrics.reliability import method_label

    columns = [("deletion_auc", "insertion_auc")] + [
        (f"deletion_auc_{suffix}", f"insertion_auc_{suffix}") for suffix, _, _ in VARIANTS
    ]
    columns = [pair for pair in columns if all(c in results for c in pair)]
    labelled = results.assign(label=[method_label(r) for r in results.to_dict("records")])
    means = labelled.groupby("label", sort=False)[[c for pair in columns for c in pair]].mean()
    rank = {m: i for i, m in enumerate(order)}
    means = means.loc[sorted(means.index, key=lambda m: (rank.get(m.split(" ")[0], len(rank)), m))]
    names = ["blur, pixels", "zero, pixels", "blur, supervoxels", "zero, supervoxels"][: len(columns)]
    lines = [
        "Deletion / insertion areas (mean over clips; deletion: lower is better, insertion: higher is better)",
        "",
        "| map | " + " | ".join(f"{n}: deletion / insertion" for n in names) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for label, row in means.iterrows():
        cells = [f"{row[d]:.3f} / {row[i]:.3f}" if row[[d, i]].notna().all() else "" for d, i in columns]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
