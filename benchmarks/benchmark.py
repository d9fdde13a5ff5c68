"""Score every method on the synthetic ground-truth benchmark, beside the literal reference, and write a table.

Each method explains the benchmark clips (videoattr/assets/synthetic/clips: 8 clips, 16 x 112 x 112)
with the committed synthetic model through the same job as ``python run.py``; ``random`` and
``centre`` are baselines that ignore the model. Beside them:

- ``reference_<method>``: the literal reference (videoattr/methods/perturbation/reference.py) run as
  2D-EP, 3D-EP and STEP on the same clips, targets and areas, one fit per clip and area as the
  reference does, in ``--reference-jobs`` processes; scored with the same metrics.
- ``step`` with the masks of ``--combined-areas`` combined into one graded map (method.combine=sum).
- ``grad_cam`` once per channel weighting of ``--grad-cam-weights`` (rows ``grad_cam (per_time)``, ...).

Each row has the method's cost beside its scores: ``forward_passes`` and ``backward_passes`` per clip (as
the method reports them; the perturbation methods' cost is their ``iterations``) and ``seconds`` per clip
(the method's own time, without the metrics). ``--model`` scores another model of the synthetic world
(e.g. ``synthetic_mvit``) on the same clips.

Usage: python -m benchmarks.benchmark [--methods grad occlusion ...] [--model synthetic] [--iterations 2000]
           [--areas 0.02 0.05] [--clips 8] [--set KEY=VALUE ...] [--method-options rise.masks=1000 ...]
           [--grad-cam-weights per_time global elementwise] [--reference 2d_ep 3d_ep step] [--reference-jobs 4]
           [--device cuda] [--out DIR] [--no-variants]
Writes DIR/<job>/... (one run directory per method or Grad-CAM weighting), DIR/all_results.csv,
DIR/benchmark.csv (mean and spread across clips per method, map and area), DIR/benchmark.md (that table),
DIR/per_clip.md (pointing game and energy in mask per clip), DIR/loss_curves.png (the fits' energy terms),
DIR/faithfulness.md (the deletion / insertion areas with the fade baseline and supervoxel steps beside
blur and pixels: benchmarks/variants.py; --no-variants skips them) and DIR/reliability.md|.csv (how
alike the clips rank the maps by each metric, and which maps beat the random map: benchmarks/reliability.py).
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, OmegaConf

import videoattr  # noqa: F401  (registers the ${asset:...} resolver)
from benchmarks.reference import reference_fit
from benchmarks.reliability import write_reliability
from benchmarks.variants import add_variants, score_variants, variants_markdown
from videoattr.choices import CHANNEL_WEIGHTS
from videoattr.data import build_dataset
from videoattr.methods import PAPER_METHODS, PERTURBATION_METHODS, method_names
from videoattr.metrics import clip_metrics
from videoattr.models import load_model
from videoattr.outputs import atomic_write
from videoattr.runner import Job
from videoattr.sweep import collect
from videoattr.terminal import set_verbose

CONF = Path(__file__).resolve().parents[1] / "conf"
COLUMNS = [
    "iterations",
    "objective_met",  # the share of a perturbation method's masks that met their objective (fit diagnostics)
    "pointing_game",
    "energy_in_mask",
    "mass_in_evidence_frames",
    "deletion_auc",
    "insertion_auc",
    "tv_space",
    "tv_time",
]
# The cost of a method, per clip, after its scores (seconds: the method's own time).
COST = ["forward_passes", "backward_passes", "seconds"]
SPREAD = ("pointing_game", "energy_in_mask")
COMBINED = "step_combined"
GRAD_CAM_JOB = "grad_cam_"  # + a channel weighting: one job per weighting, labelled "grad_cam (<weighting>)"


def config(method: str, args: argparse.Namespace, areas: list[float], extra: list[str] = ()) -> DictConfig:
    overrides = [
        f"model={args.model}",
        f"method={method}",
        f"dataset.limit={args.clips}",
        f"seed={args.seed}",
        "figures=false",
        *method_overrides(method, args.method_options),
        *extra,
    ]
    if method in PERTURBATION_METHODS:
        overrides += [
            *([f"method.iterations={args.iterations}"] if args.iterations else []),
            f"area=[{','.join(map(str, areas))}]",
            "trainer.enable_progress_bar=false",
            *args.set,
        ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def method_overrides(method: str, options: list[str]) -> list[str]:
    """The ``method.KEY=VALUE`` overrides of ``method`` among ``--method-options`` (METHOD.KEY=VALUE each)."""
    return [f"method.{option.split('.', 1)[1]}" for option in options if option.split(".", 1)[0] == method]


def jobs(methods: list[str], grad_cam_weights: list[str]) -> list[tuple[str, str, list[str]]]:
    """(run directory, method, extra overrides) of each run: one per method, Grad-CAM once per weighting."""
    runs = []
    for method in methods:
        if method == "grad_cam":
            runs += [(GRAD_CAM_JOB + w, method, [f"method.channel_weights={w}"]) for w in grad_cam_weights]
        else:
            runs.append((method, method, []))
    return runs


def label_variants(results: pd.DataFrame) -> pd.DataFrame:
    """Name the rows of the Grad-CAM runs by their weighting: ``grad_cam (per_time)``, ..."""
    results = results.copy()
    for weights in CHANNEL_WEIGHTS:
        results.loc[results["job"] == GRAD_CAM_JOB + weights, "method"] = f"grad_cam ({weights})"
    return results


def table_order() -> list[str]:
    names = []
    for m in method_names():
        names += [f"grad_cam ({w})" for w in CHANNEL_WEIGHTS] if m == "grad_cam" else []
        names += [m, f"reference_{m}", f"{m} (areas combined)"]
    return names


def run_combined(args: argparse.Namespace) -> None:
    """STEP at the combined areas; only its combined map joins the table."""
    Job(config("step", args, args.combined_areas, ["method.combine=sum"]), args.out / COMBINED).run()


def reference_task(task: dict) -> None:
    """One reference fit (one clip, one area); the scores of its mask go to ``task['out']/results.csv``."""
    torch.set_num_threads(1)
    cfg = OmegaConf.create(task["cfg"])
    net = load_model(cfg.model)[0].to(task["device"])
    clip = task["clip"].to(task["device"])
    start = time.perf_counter()
    mask = reference_fit(
        task["method"], net, clip, task["target"], task["area"], iterations=cfg.method.iterations, seed=cfg.seed
    )
    seconds = time.perf_counter() - start
    net, mask = net.cpu(), mask.cpu()
    metrics = clip_metrics(
        net, task["clip"], task["target"], mask, task["gt_mask"], **OmegaConf.to_container(cfg.metrics, resolve=True)
    )
    row = {
        "clip": task["name"],
        "label": task["label"],
        "target": task["target"],
        "model": cfg.model.name,
        "method": f"reference_{task['method']}",
        "area": task["area"],
        "map": "single",
        "seed": cfg.seed,
        "iterations": cfg.method.iterations,
        "seconds": seconds,
        **metrics,
    }
    atomic_write(task["out"] / "results.csv", lambda tmp: pd.DataFrame([row]).to_csv(tmp, index=False))


def run_reference(args: argparse.Namespace) -> None:
    """The literal reference for every method of ``--reference``, clip and area, in ``--reference-jobs``
    processes: the first area's fits first. Each fit writes DIR/reference_<method>/<clip>_<area>/results.csv
    when it ends, so an interrupted run keeps the fits it finished (the table counts the clips)."""
    tasks = []
    for method in args.reference:
        cfg = config(method, args, args.areas)
        net, spec = load_model(cfg.model)
        dataset = build_dataset(cfg.dataset, spec, seed=cfg.seed)
        for index in range(len(dataset)):
            item = dataset[index]
            for area in args.areas:
                out = args.out / f"reference_{method}" / f"{item['name']}_{area:g}"
                if not (out / "results.csv").exists():
                    tasks.append(
                        {
                            "cfg": OmegaConf.to_container(cfg, resolve=True),
                            "method": method,
                            "area": area,
                            "name": item["name"],
                            "label": item["label"],
                            "target": int(item["target"]),
                            "clip": item["clip"],
                            "gt_mask": item["gt_mask"],
                            "device": args.device,
                            "out": out,
                            "order": (args.areas.index(area), index),
                        }
                    )
    tasks.sort(key=lambda t: t["order"])
    with ProcessPoolExecutor(args.reference_jobs, mp_context=get_context("spawn")) as pool:
        list(pool.map(reference_task, tasks))


def table(results: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """Mean and spread (standard deviation across clips) per method, map and area."""
    results = results.copy()
    results["map"] = results["map"].fillna("single")
    results = results[(results["job"] != COMBINED) | (results["map"] == "combined")]
    results.loc[results["map"] == "combined", "method"] += " (areas combined)"
    results["area"] = results["area"].fillna(-1.0)
    if "objective_met" in results:  # True / False / empty in results.csv
        results["objective_met"] = results["objective_met"].astype(float)
    keys = ["method", "area"]
    columns = [c for c in COLUMNS + COST if c in results]
    grouped = results.groupby(keys)
    summary = grouped[columns].mean()
    for column in SPREAD:
        summary[f"{column}_std"] = grouped[column].std(ddof=0)
    summary.insert(0, "clips", grouped.size())
    summary = summary.reset_index()
    summary["area"] = summary["area"].where(summary["area"] >= 0)
    rank = {m: i for i, m in enumerate(order)}
    summary["rank"] = summary["method"].map(lambda m: rank.get(m, len(rank)))
    return summary.sort_values(["rank", "area"]).drop(columns="rank")


def markdown(summary: pd.DataFrame) -> str:
    def cell(row: pd.Series, column: str) -> str:
        value = row[column]
        if isinstance(value, str):
            return value
        if pd.isna(value):
            return ""
        spread = row.get(f"{column}_std")
        if spread is not None and not pd.isna(spread):
            return f"{value:.3g} ± {spread:.2g}"
        if column in ("iterations", "forward_passes", "backward_passes"):
            return f"{value:.0f}"
        return f"{value:.4g}" if column == "seconds" else f"{value:.3g}"

    columns = ["method", "area", "clips"] + [c for c in COLUMNS + COST if c in summary]
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    rows = []
    for _, row in summary.iterrows():
        row = row.copy()
        row["area"] = "" if pd.isna(row["area"]) else f"{row['area']:g}"
        row["clips"] = str(int(row["clips"]))
        rows.append("| " + " | ".join(cell(row, c) for c in columns) + " |")
    return header + "\n".join(rows) + "\n"


def per_clip(results: pd.DataFrame, area: float) -> str:
    """Pointing game / energy in mask per clip and method at ``area`` (and the area-free methods)."""
    rows = results[(results["area"] == area) | results["area"].isna()]
    rows = rows[rows["map"].fillna("single") == "single"]
    cells = rows.assign(score=[f"{p:.2f} / {e:.3f}" for p, e in zip(rows["pointing_game"], rows["energy_in_mask"])])
    wide = cells.pivot_table(index="clip", columns="method", values="score", aggfunc="first")
    header = "| clip | " + " | ".join(wide.columns) + " |\n|" + "---|" * (len(wide.columns) + 1) + "\n"
    body = "\n".join(f"| {clip} | " + " | ".join(str(v) for v in row) + " |" for clip, row in wide.iterrows())
    return f"Pointing game / energy in mask per clip at area {area:g}\n\n" + header + body + "\n"


def loss_curves(out: Path, methods: list[str], path: Path) -> None:
    """The fits' weighted energy terms and target probability, mean over clips, per method and area."""
    terms = ("reward", "regulariser", "core", "prob")
    fig, axes = plt.subplots(1, len(terms), figsize=(4 * len(terms), 3.2), squeeze=False)
    for method in methods:
        files = sorted((out / method / "clips").glob("[!.]*.npz"))
        if not files:
            continue
        data = [np.load(f) for f in files]
        for k, term in enumerate(terms):
            curves = np.stack([d[f"history_{term}"] for d in data])  # clips x A x iterations
            for a, area in enumerate(data[0]["areas"]):
                axes[0, k].plot(curves[:, a].mean(axis=0), label=f"{method} {area:g}")
    for k, term in enumerate(terms):
        axes[0, k].set_title(term)
        axes[0, k].set_xlabel("iteration")
        if term != "prob":
            axes[0, k].set_yscale("symlog", linthresh=1e-3)
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--methods",
        nargs="*",
        default=method_names(),
        choices=method_names(),
        help="methods run through the job (none: only the reference, or only the table)",
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="perturbation iterations of every method (default: each method's own, 2000 for the paper's, 500 for the fast presets)",
    )
    parser.add_argument("--areas", nargs="+", type=float, default=[0.02, 0.05])
    parser.add_argument(
        "--combined-areas",
        nargs="*",
        type=float,
        default=[0.05, 0.1, 0.15, 0.5],
        help="STEP's areas combined into one graded map (none: skip)",
    )
    parser.add_argument(
        "--reference",
        nargs="*",
        default=list(PAPER_METHODS),
        choices=PAPER_METHODS,
        help="methods run through the literal reference too (none: skip)",
    )
    parser.add_argument("--reference-jobs", type=int, default=2, help="reference fits at once (processes)")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="device of the reference fits (ours follow the trainer config)",
    )
    parser.add_argument("--model", default="synthetic", help="a conf/model of the synthetic world, e.g. synthetic_mvit")
    parser.add_argument(
        "--grad-cam-weights",
        nargs="+",
        default=list(CHANNEL_WEIGHTS),
        choices=CHANNEL_WEIGHTS,
        help="Grad-CAM's channel weightings, one row each",
    )
    parser.add_argument(
        "--method-options",
        nargs="*",
        default=[],
        metavar="METHOD.KEY=VALUE",
        help="options of one method's runs, e.g. rise.masks=1000 occlusion.window=[16,16,16]",
    )
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="extra overrides of the perturbation runs, e.g. method.early_stop_tol=1e-3",
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/benchmark"))
    parser.add_argument(
        "--no-variants",
        dest="variants",
        action="store_false",
        help="skip the fade and supervoxel deletion / insertion variants (faithfulness.md, benchmarks/variants.py)",
    )
    args = parser.parse_args()
    set_verbose(False)  # quiet as python run.py is; VIDEOATTR_VERBOSE=1 shows everything
    for option in args.method_options:
        if option.split(".", 1)[0] not in method_names() or "=" not in option:
            parser.error(f"--method-options takes METHOD.KEY=VALUE with a method of {', '.join(method_names())}")
    start = time.perf_counter()
    for job, method, extra in jobs(args.methods, args.grad_cam_weights):
        print(f"benchmark: {job} on {args.model}", flush=True)
        Job(config(method, args, args.areas, extra), args.out / job).run()
        if method == "step" and args.combined_areas:
            print(f"benchmark: step, areas {args.combined_areas} combined", flush=True)
            run_combined(args)
    if args.reference:
        print(f"benchmark: the reference as {', '.join(args.reference)} ({args.reference_jobs} processes)", flush=True)
        run_reference(args)
    results = label_variants(collect(args.out))
    order = table_order()
    if args.variants:  # the deletion / insertion curves with the fade baseline and supervoxel steps too
        print("benchmark: deletion / insertion variants of the saved maps (fade, supervoxels)", flush=True)
        done = sorted(results["job"].unique())
        results = add_variants(results, score_variants(args.out, config("grad", args, args.areas), done))
        (args.out / "faithfulness.md").write_text(variants_markdown(results, order))
    results.to_csv(args.out / "all_results.csv", index=False)
    summary = table(results, order)
    summary.to_csv(args.out / "benchmark.csv", index=False)
    text = markdown(summary)
    (args.out / "benchmark.md").write_text(text)
    (args.out / "per_clip.md").write_text(per_clip(results, min(args.areas)))
    loss_curves(args.out, list(PAPER_METHODS), args.out / "loss_curves.png")
    print(text)
    print(write_reliability(args.out))
    print(f"benchmark done in {(time.perf_counter() - start) / 60:.1f} min; table: {args.out / 'benchmark.md'}")


if __name__ == "__main__":
    main()
