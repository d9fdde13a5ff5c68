"""Model-parameter randomisation: does a map depend on the model it explains?

Adebayo et al., "Sanity Checks for Saliency Maps" (NeurIPS 2018): re-initialise the model's layers
one after another, from the logits down (the cascade), explain the same clips at each step and
compare each map with the original. A map that explains the model must change as the model is
destroyed; one that stays the same shows the input (its edges, a prior), not the model.

- Layers: the modules with parameters of their own (``module.parameters(recurse=False)``), in the
  reverse of the order in which a forward pass of one clip first calls them (found with forward
  pre-hooks, so a container's own parameters, e.g. a position embedding, count where it starts;
  modules the forward never calls are left alone). Step k has the top k layers randomised.
- Randomisation: on a deep copy of the model (the caller's model is never touched), each layer is
  re-initialised by its own ``reset_parameters()`` (``_reset_parameters()`` for
  ``nn.MultiheadAttention``) under ``torch.manual_seed(seed * 1_000_003 + i)`` for the i-th layer of
  the cascade, inside ``torch.random.fork_rng`` (the caller's random state is left alone), so a layer
  gets the same weights at every step, in every batch and every run with that seed. Fallback, for a
  module with no such method: every own parameter of 2 or more dimensions is redrawn with
  ``kaiming_uniform_(a=sqrt(5))`` (the default of ``nn.Linear`` and ``nn.ConvNd``) and every other
  one is permuted at random (its values kept, their places shuffled). Batch norm's
  ``reset_parameters`` also resets its running statistics (mean 0, variance 1).
- Similarity of each map with the original (same clip, same area), on the T x H x W volumes:
  ``spearman``, the Spearman rank correlation of the voxels (scipy); ``ssim``, the structural
  similarity (scikit-image, 7 x 7 x 7 windows, or per frame for clips of fewer than 7 frames) of the
  maps min-max scaled to [0, 1]; ``iou``, the intersection over union of their top ``top_area``
  voxels (the mask's own area for perturbation methods, 5 % otherwise). A constant map has Spearman
  correlation 0 with a varying one and 1 with another constant map.
- Verdict, per clip and area: the map passes when, with every layer randomised, its Spearman
  correlation or its top-area IoU with the original falls below ``threshold`` (0.7), i.e. it fails
  when both stay at or above it. A map that ignores the model (the ``centre`` prior, ``edges``, a
  seeded ``random`` map) keeps 1.0 at every step and fails. Both statistics, because a smooth
  perturbation mask shares its dark background with any other mask (Spearman 0.59 on a fully
  randomised model) while its top region moves away (IoU 0.03-0.10); docs/trust.md has the
  measurements that chose the rule.

``sanity_check(model, clips, targets, method, **options)`` returns a ``SanityResult``; the command
line runs it with ``check=randomisation`` (``RandomisationCheck``) and writes ``sanity.csv``,
``sanity_verdicts.csv``, ``sanity.png`` and ``figures/<clip>_sanity.png`` into the run directory.
"""

from __future__ import annotations

import copy
import inspect
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from videoattr.errors import VideoAttrError

log = logging.getLogger(__name__)

SIMILARITIES = ("spearman", "ssim", "iou")
# The verdict: Spearman correlation or top-area IoU with the original map at full randomisation below this
# (docs/trust.md).
THRESHOLD = 0.7
# Top-area IoU of maps without an area of their own.
TOP_AREA = 0.05


# ----------------------------------------------------------------------------------------------- layers


def cascade_layers(model: nn.Module, clip: torch.Tensor) -> list[str]:
    """The names of the modules with parameters of their own, in reverse order of their first call by
    a forward pass of ``clip`` (1 x 3 x T x H x W): the randomisation cascade, logits first."""
    order: list[str] = []
    handles = []
    for name, module in model.named_modules():
        if any(True for _ in module.parameters(recurse=False)):

            def hook(_module, _args, name=name):
                if name not in order:
                    order.append(name)

            handles.append(module.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(clip)
    finally:
        for handle in handles:
            handle.remove()
    if not order:
        raise VideoAttrError(
            "The model has no module with parameters that its forward pass calls: there is nothing to randomise."
        )
    return order[::-1]


@torch.no_grad()
def reinitialise(module: nn.Module, seed: int) -> str:
    """Re-initialise ``module``'s own parameters under ``seed`` (see the module docstring); returns how:
    'reset_parameters', '_reset_parameters' or 'fallback'."""
    devices = sorted({p.device.index or 0 for p in module.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        for how in ("reset_parameters", "_reset_parameters"):
            if callable(getattr(module, how, None)):
                getattr(module, how)()
                return how
        for param in module.parameters(recurse=False):
            if param.dim() >= 2:
                nn.init.kaiming_uniform_(param, a=math.sqrt(5))
            else:
                flat = param.view(-1)
                flat.copy_(flat[torch.randperm(flat.numel(), device=flat.device)])
        return "fallback"


def evaluation_points(layers: int, steps: int | None) -> list[int]:
    """The numbers of randomised layers at which the maps are compared: 0 and, with ``steps`` None,
    every count up to ``layers``, else ``steps`` counts spread evenly up to ``layers`` (always included)."""
    if steps is None or steps >= layers:
        return list(range(layers + 1))
    return sorted({0, *np.round(np.linspace(0, layers, int(steps) + 1)).astype(int).tolist()})


# ------------------------------------------------------------------------------------------ similarity


def _scaled(volume: np.ndarray) -> np.ndarray:
    low, span = volume.min(), np.ptp(volume)
    return (volume - low) / span if span > 0 else np.zeros_like(volume)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps' voxels (0 when one map is constant, 1 when both are)."""
    from scipy.stats import spearmanr

    flat_a, flat_b = a.ravel(), b.ravel()
    constant = (np.ptp(flat_a) == 0, np.ptp(flat_b) == 0)
    if any(constant):
        return 1.0 if all(constant) else 0.0
    return float(spearmanr(flat_a, flat_b).statistic)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Structural similarity of two T x H x W maps, each min-max scaled to [0, 1]: over the volume with
    7-voxel windows, or frame by frame (mean) when the clip has fewer than 7 frames."""
    from skimage.metrics import structural_similarity

    a, b = _scaled(a.astype(np.float64)), _scaled(b.astype(np.float64))
    if min(a.shape) >= 7:
        return float(structural_similarity(a, b, data_range=1.0))
    if min(a.shape[1:]) < 7:
        return math.nan
    return float(np.mean([structural_similarity(x, y, data_range=1.0) for x, y in zip(a, b)]))


def top_iou(a: np.ndarray, b: np.ndarray, area: float) -> float:
    """IoU of the top ``area`` fraction of voxels of two maps (ties in raster order)."""
    count = max(1, round(area * a.size))
    top = [np.argsort(-m.ravel(), kind="stable")[:count] for m in (a, b)]
    inter = np.intersect1d(top[0], top[1], assume_unique=True).size
    return inter / (2 * count - inter)


def similarities(original: np.ndarray, other: np.ndarray, area: float) -> dict[str, float]:
    return {"spearman": spearman(original, other), "ssim": ssim(original, other), "iou": top_iou(original, other, area)}


# --------------------------------------------------------------------------------------------- the check


@dataclass
class SanityResult:
    """What ``sanity_check`` found.

    layers: the cascade (module names, logits first); points: the numbers of layers randomised at
    each evaluated step (0 first); table: one row per clip, area and step (``clip`` index or name,
    ``area``, ``step``, ``randomised``, ``layer`` (the last layer randomised), ``spearman``, ``ssim``,
    ``iou``); verdicts: one row per clip and area with the similarities at full randomisation and
    ``passed`` (Spearman or IoU below ``threshold``); maps: the maps at each step, S x N x A x T x H x W
    (None with ``keep_maps=False``).
    """

    layers: list[str]
    points: list[int]
    table: pd.DataFrame
    verdicts: pd.DataFrame
    threshold: float
    maps: torch.Tensor | None = None
    how: dict[str, str] = field(default_factory=dict)


def _options_for(fn, options: dict, seed: int) -> dict:
    accepted = inspect.signature(fn).parameters
    options = dict(options)
    if "seed" in accepted and "seed" not in options:
        options["seed"] = seed
    if "logger" in options:
        options["logger"] = False  # the cascade's fits stay out of the run's logger
    return options


def cascade_maps(
    model: nn.Module,
    clips: torch.Tensor,
    targets,
    method: str,
    layers: list[str],
    points: list[int],
    seed: int,
    options: dict,
    original: torch.Tensor | None = None,
):
    """Yield ``(randomised, layer, maps, how)`` for each count of ``points``: the N x A x T x H x W maps
    of ``method`` on a copy of ``model`` with its top ``randomised`` layers re-initialised (``layer``
    the last of them; the count 0 yields ``original`` when given, else the model's own maps)."""
    from videoattr.api import explain
    from videoattr.methods import get_method

    options = _options_for(get_method(method), options, seed)
    copy_ = None
    done = 0
    how: dict[str, str] = {}
    for count in points:
        if count == 0:
            maps = original if original is not None else explain(model, clips, targets, method, **options)
            yield 0, "", maps.detach(), how
            continue
        if copy_ is None:
            copy_ = copy.deepcopy(model).eval()
        for index in range(done, count):
            how[layers[index]] = reinitialise(copy_.get_submodule(layers[index]), seed * 1_000_003 + index)
        done = count
        yield count, layers[count - 1], explain(copy_, clips, targets, method, **options).detach(), how


def compare(
    names: Sequence, areas: Sequence[float], top_area: float | None, step: int, count: int, layer: str, original, maps
) -> list[dict]:
    """The similarity rows of one step: one per clip and area."""
    rows = []
    for i, name in enumerate(names):
        for a, area in enumerate(areas):
            top = top_area if top_area is not None else (area if area == area else TOP_AREA)
            first, other = original[i, a].float().cpu().numpy(), maps[i, a].float().cpu().numpy()
            sims = similarities(first, other, top) if step else dict.fromkeys(SIMILARITIES, 1.0)
            rows.append({"clip": name, "area": area, "step": step, "randomised": count, "layer": layer, **sims})
    return rows


def passes(rows: pd.DataFrame, threshold: float = THRESHOLD) -> pd.Series:
    """The verdict of similarity rows at full randomisation: Spearman or top-area IoU below ``threshold``."""
    return np.minimum(rows["spearman"], rows["iou"]) < threshold


def verdicts(table: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """One row per clip and area: the similarities at full randomisation (the last step) and ``passed``."""
    last = table[table["step"] == table["step"].max()]
    out = last[["clip", "area", *SIMILARITIES]].reset_index(drop=True).copy()
    out["passed"] = passes(out, threshold)
    out["verdict"] = np.where(
        out["passed"],
        "the map changes with the model",
        f"the map keeps Spearman and IoU >= {threshold:g} with every layer randomised: it does not depend on the model",
    )
    return out


def sanity_check(
    model: nn.Module,
    clips: torch.Tensor,
    targets,
    method: str = "grad",
    steps: int | None = None,
    top_area: float | None = None,
    threshold: float = THRESHOLD,
    seed: int = 0,
    keep_maps: bool = True,
    **options,
) -> SanityResult:
    """Model-parameter randomisation of ``method`` on ``model`` (see the module docstring).

    clips, targets, method, options: as for ``videoattr.explain`` (``seed`` is also handed to a method
    that takes one); steps: how many randomisation steps to evaluate besides the original (None:
    after every layer); top_area: the fraction of voxels of the IoU (None: a mask's own area, else
    0.05); threshold: the verdict's bound; seed: seeds the re-initialisation. The caller's
    model is not modified.
    """
    from videoattr.api import check_clips
    from videoattr.models.hf import as_video_classifier

    if not 0 < threshold <= 1:
        raise VideoAttrError(f"threshold must be in (0, 1], got {threshold}: use e.g. 0.7.")
    if top_area is not None and not 0 < top_area < 1:
        raise VideoAttrError(f"top_area must be a fraction in (0, 1), got {top_area}: use e.g. 0.05.")
    if steps is not None and (int(steps) != steps or steps < 1):
        raise VideoAttrError(f"steps must be an integer >= 1 or None, got {steps}: use e.g. steps=4.")
    model = as_video_classifier(model)
    clips = check_clips(model, clips)
    layers = cascade_layers(model, clips[:1])
    points = evaluation_points(len(layers), steps)
    rows, kept, how, original, areas = [], [], {}, None, None
    names = list(range(clips.shape[0]))
    for step, (count, layer, maps, reset) in enumerate(
        cascade_maps(model, clips, targets, method, layers, points, seed, options)
    ):
        how = reset
        if original is None:
            original = maps
            areas = _areas(options, maps.shape[1])
        rows += compare(names, areas, top_area, step, count, layer, original, maps)
        if keep_maps:
            kept.append(maps.cpu())
    table = pd.DataFrame(rows)
    return SanityResult(
        layers, points, table, verdicts(table, threshold), threshold, torch.stack(kept) if keep_maps else None, how
    )


def _areas(options: dict, count: int) -> list[float]:
    areas = options.get("areas")
    if areas is None:
        return [math.nan] * count
    values = [float(a) for a in (areas if isinstance(areas, Sequence) else [areas])]
    return values if len(values) == count else [math.nan] * count


# ------------------------------------------------------------------------------------------ command line


class RandomisationCheck:
    """``check=randomisation`` in a run: the cascade of each batch beside its explanation.

    Per clip, before the clip's ``.npz`` (so that a resumed run finds both or neither):
    ``sanity/<clip>.json`` (its similarity rows and the config hash) and ``figures/<clip>_sanity.png``
    (its maps at each step). At the end: ``sanity.csv`` (every row), ``sanity_verdicts.csv`` (one row
    per clip and area), ``sanity.png`` (the mean similarities along the cascade) and a ``sanity``
    block in ``summary.json``.
    """

    def __init__(
        self,
        run_dir: Path,
        method: str,
        options: dict,
        areas: list[float],
        config_hash: str,
        seed: int = 0,
        figures: bool = True,
        steps: int | None = None,
        top_area: float | None = None,
        threshold: float = THRESHOLD,
    ):
        self.run_dir, self.method, self.options, self.areas = Path(run_dir), method, options, areas
        self.config_hash, self.seed, self.figures = config_hash, int(seed), figures
        self.steps, self.top_area, self.threshold = steps, top_area, threshold
        self.layers: list[str] | None = None

    def explain_batch(self, net: nn.Module, clips: torch.Tensor, targets: list[int], result, names: list[str]):
        """The similarity rows and per-step maps of the batch's clips ``names`` (computed on every rank)."""
        if self.layers is None:
            self.layers = cascade_layers(net, clips[:1])
        points = evaluation_points(len(self.layers), self.steps)
        areas = self.areas if result.areas else [math.nan]
        rows, steps = [], []
        cascade = cascade_maps(
            net, clips, targets, self.method, self.layers, points, self.seed, self.options, result.maps
        )
        for step, (count, layer, maps, _) in enumerate(cascade):
            rows += compare(names, areas, self.top_area, step, count, layer, result.maps, maps)
            steps.append((count, layer, maps.float().cpu().numpy()))
        return rows, steps

    def write_clip(self, name: str, rows: list[dict], steps, frames: np.ndarray, index: int) -> None:
        """``sanity/<clip>.json`` and ``figures/<clip>_sanity.png`` of clip ``index`` of the batch."""
        from videoattr.outputs import atomic_write, safe_name

        mine = [r for r in rows if r["clip"] == name]
        payload = json.dumps({"config_hash": self.config_hash, "rows": mine})
        if self.figures:
            path = self.run_dir / "figures" / f"{safe_name(name)}_sanity.png"
            atomic_write(path, lambda tmp: sanity_figure(tmp, name, frames, steps, index, self.method))
        atomic_write(self.run_dir / "sanity" / f"{safe_name(name)}.json", lambda tmp: tmp.write_text(payload))

    def finish(self, clips_done: list[str]) -> dict:
        """Write the run's tables and plot; returns the ``sanity`` block of summary.json."""
        from videoattr.outputs import atomic_write, safe_name

        rows = []
        for name in clips_done:
            path = self.run_dir / "sanity" / f"{safe_name(name)}.json"
            if path.is_file():
                data = json.loads(path.read_text())
                if data["config_hash"] == self.config_hash:
                    rows += data["rows"]
        if not rows:
            return {}
        table = pd.DataFrame(rows)
        table.insert(2, "method", self.method)
        found = verdicts(table, self.threshold)
        atomic_write(self.run_dir / "sanity.csv", lambda tmp: table.to_csv(tmp, index=False))
        atomic_write(self.run_dir / "sanity_verdicts.csv", lambda tmp: found.to_csv(tmp, index=False))
        atomic_write(self.run_dir / "sanity.png", lambda tmp: cascade_plot(tmp, table, self.method, self.threshold))
        means = table.fillna({"layer": ""}).groupby(["step", "randomised", "layer"])[list(SIMILARITIES)].mean()
        means = means.reset_index()
        failed = found[~found["passed"]]
        block = {
            "layers": self.layers or [],
            "threshold": self.threshold,
            "passed": int(found["passed"].sum()),
            "failed": [
                {"clip": r.clip, "area": None if r.area != r.area else r.area, "spearman": r.spearman}
                for r in failed.itertuples()
            ],
            "mean_at_full_randomisation": {k: float(found[k].mean()) for k in SIMILARITIES},
            "mean_by_step": means.to_dict(orient="records"),
        }
        for r in failed.itertuples():
            log.warning(
                "Clip %s%s: %s with every layer randomised (Spearman %.2f, SSIM %.2f, IoU %.2f): it does not "
                "depend on the model.", r.clip, "" if r.area != r.area else f", area {r.area:g}",
                self.method, r.spearman, r.ssim, r.iou,
            )  # fmt: skip
        return block


def randomisation_check(cfg, run_dir: Path, options: dict, areas: list[float], config_hash: str):
    """The run's ``RandomisationCheck`` when ``cfg.check`` asks for one, else None."""
    check = cfg.get("check")
    if not check:
        return None
    return RandomisationCheck(
        run_dir, cfg.method.name, options, areas, config_hash, cfg.seed, cfg.figures, check.steps, check.top_area,
        check.threshold,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------ figures


def sanity_figure(path: Path, name: str, frames: np.ndarray, steps, index: int, method: str, columns: int = 6) -> None:
    """PNG: one row per evaluated step (at most 12, spread over the cascade), the ``columns`` frames where
    the original map is strongest, the first area's map overlaid (scaled per step for display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from videoattr.results import display_maps
    from videoattr.viz import overlay, strongest_frames

    shown = [steps[i] for i in sorted(set(np.round(np.linspace(0, len(steps) - 1, min(12, len(steps)))).astype(int)))]
    maps = [display_maps(m[index, :1], method)[0] for _, _, m in shown]
    maps = [m / m.max() if m.max() > 0 else m for m in maps]
    frame_ids = strongest_frames([maps[0]], columns)
    fig, axes = plt.subplots(len(shown), len(frame_ids), figsize=(1.2 * len(frame_ids) + 0.8, 1.25 * len(shown)),
                             squeeze=False)  # fmt: skip
    for r, ((count, layer, _), m) in enumerate(zip(shown, maps)):
        for c, t in enumerate(frame_ids):
            ax = axes[r, c]
            ax.imshow(overlay(frames[t : t + 1], m[t : t + 1])[0])
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"frame {t}", fontsize=7)
        axes[r, 0].set_ylabel("original" if count == 0 else f"{count}: {layer}", fontsize=6)
    fig.suptitle(f"{name}: {method}, layers randomised from the logits down", fontsize=8)
    fig.tight_layout(pad=0.2, rect=(0, 0, 1, 1 - 0.3 / fig.get_figheight()))
    fig.savefig(path, format="png", dpi=80)
    plt.close(fig)


def cascade_plot(path: Path, table: pd.DataFrame, label: str, threshold: float = THRESHOLD) -> None:
    """PNG: mean Spearman, SSIM and top-area IoU with the original along the cascade (one line per area,
    the spread across clips shaded), the layers on the x axis, the verdict's bound dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    steps = table.drop_duplicates("step").sort_values("step")
    ticks = ["original" if r.randomised == 0 else str(r.layer) for r in steps.itertuples()]
    for ax, key in zip(axes, SIMILARITIES):
        for area, group in table.groupby(table["area"].fillna(-1.0)):
            stats = group.groupby("step")[key].agg(["mean", "min", "max"])
            name = label if area < 0 else f"{label} {area:g}"
            ax.plot(stats.index, stats["mean"], marker="o", label=name)
            ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.2)
        ax.set_title(key)
        ax.set_xticks(steps["step"], ticks, rotation=60, ha="right", fontsize=6)
        ax.axhline(0, color="grey", linewidth=0.5)
    for ax in (axes[0], axes[2]):
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
    axes[0].set_ylabel("similarity with the original map")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def gather(sweep_dir: Path) -> Path | None:
    """Gather the sanity checks of a sweep's jobs (every ``sanity.csv`` under ``sweep_dir``):
    ``sanity_all.csv`` (every row, with its ``job``), ``sanity_summary.csv`` (per job and area: the mean
    similarities at full randomisation, the clips that passed and those checked) and ``plot_sanity.png``
    (mean Spearman correlation along the cascade, one line per job and area, the x axis the fraction of
    layers randomised). Returns the summary's path, or None when no job ran a check."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep_dir = Path(sweep_dir)
    frames = []
    for path in sorted(sweep_dir.rglob("sanity.csv")):
        if path.parent != sweep_dir:
            frames.append(pd.read_csv(path).assign(job=str(path.parent.relative_to(sweep_dir))))
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    table.to_csv(sweep_dir / "sanity_all.csv", index=False)
    table["area"] = table["area"].fillna(-1.0)
    rows = []
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    short = {job: "/".join(Path(job).parts[:2]) for job in table["job"].unique()}  # <model>/<method>
    if len(set(short.values())) < len(short):  # jobs that differ in other settings keep their whole path
        short = {job: job for job in short}
    for (job, area), group in table.groupby(["job", "area"], sort=False):
        last = group[group["step"] == group["step"].max()]
        threshold = THRESHOLD
        verdict_path = sweep_dir / job / "summary.json"
        if verdict_path.is_file():
            threshold = json.loads(verdict_path.read_text()).get("sanity", {}).get("threshold", THRESHOLD)
        rows.append(
            {
                "job": job,
                "method": group["method"].iloc[0],
                "area": area if area >= 0 else math.nan,
                **{k: float(last[k].mean()) for k in SIMILARITIES},
                "passed": int(passes(last, threshold).sum()),
                "clips": int(last["clip"].nunique()),
            }
        )
        curve = group.groupby("randomised")["spearman"].mean()
        label = short[job] + ("" if area < 0 else f" {area:g}")
        ax.plot(curve.index / max(1, curve.index.max()), curve.values, marker="o", label=label)
    ax.set_xlabel("fraction of the layers randomised (from the logits down)")
    ax.set_ylabel("Spearman with the original map")
    ax.axhline(THRESHOLD, color="grey", linestyle="--", linewidth=0.8)
    ax.legend(fontsize=6, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(sweep_dir / "plot_sanity.png", dpi=90)
    plt.close(fig)
    summary = pd.DataFrame(rows)
    summary.to_csv(sweep_dir / "sanity_summary.csv", index=False)
    return sweep_dir / "sanity_summary.csv"
