"""A self-contained static HTML report of a run or a sweep (one file, images embedded as data URIs).

``build_report(dir)`` writes ``dir/report.html``, in this order:

- what was run: per job the model, data, method, areas, iterations, target, seed, clips done and
  failed, config hash, date and command (from ``.hydra/config.yaml``, ``.hydra/overrides.yaml``,
  ``summary.json``; a sweep's command from ``multirun.yaml``);
- for a run of long videos cut into windows (``dataset.windows``), per job its ``timelines.csv`` and each
  video's timeline plot (``videoattr.timeline``);
- the summary: per job, map and area the mean of every metric over the clips with its standard
  deviation across clips under it (a job with several areas also gets an ``all areas`` row, which is
  its ``summary.json`` mean), and the mean deletion / insertion curves of every job and area;
- the comparison grid: one row per clip, one column per job and area (or combined map), each cell
  the same few frames of the clip (those where the maps put most mass) with the map overlaid;
- per clip: label, target and prediction, the target's probabilities, a table of the metrics of
  each map, and per job the run's PNG figure, the relevance per frame (when), the deletion / insertion curves, the loss curves of a
  perturbation fit (weighted reward, regulariser, core, target probability per iteration) and the
  GIF animation in a ``<details>`` element;
- for a sweep, the plots of ``videoattr.sweep.summarize`` (each metric against the area);
- trust (``videoattr.report_trust``): the masks that missed their objective, each job's model-randomisation
  check (verdicts, similarities along the cascade, and per clip its maps at each step) and, where the
  directory has them, the metric reliability tables.

Everything comes from the files a run writes (``results.csv``, ``summary.json``, ``clips/*.npz``,
``figures/*.png|gif``); what a run did not write (figures=false, no faithfulness metrics, a
method without a fit) is left out.
"""

from __future__ import annotations

import base64
import io
import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import imageio.v3 as iio
import jinja2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from PIL import Image

from videoattr.methods import PERTURBATION_METHODS
from videoattr.outputs import safe_name
from videoattr.report_trust import diagnostics_view, reliability_view, sanity_figure, sanity_view
from videoattr.results import display_maps
from videoattr.sweep import SINGLE, collect, summarize
from videoattr.viz import overlay_strip, strongest_frames

# Columns shown, in this order (others that are numeric follow); identities are never averaged.
METRICS = (
    "pointing_game",
    "energy_in_mask",
    "mass_in_evidence_frames",
    "deletion_auc",
    "insertion_auc",
    "tv_space",
    "tv_time",
    "target_prob",
    "prob_baseline",
    "prob_preserved",
    "prob_deleted",
    "iterations",
    "seconds",
)
# Not averaged into the summary table: identities, and the frame positions of the temporal view (per clip, in its
# relevance plot; results.csv has them).
IDENTITY = {"target", "predicted", "seed", "area", "peak_frame", "half_mass_start", "half_mass_frames"}
# The loss terms of a perturbation fit (``history_<term>`` in a clip's .npz).
TERMS = {
    "reward": "reward (weighted)",
    "regulariser": "area regulariser (weighted)",
    "core": "core loss (weighted)",
    "prob": "target probability",
}
ALL_AREAS = "all areas"

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class Job:
    """One job directory of a run or sweep and what it recorded."""

    name: str  # relative to the report's root ("." for a single run)
    root: Path
    config: dict = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @classmethod
    def load(cls, root: Path, name: str) -> Job:
        job = cls(name, root / name)
        config, overrides = job.root / ".hydra" / "config.yaml", job.root / ".hydra" / "overrides.yaml"
        summary = job.root / "summary.json"
        if config.is_file():
            job.config = yaml.safe_load(config.read_text()) or {}
        if overrides.is_file():
            job.overrides = [str(o) for o in yaml.safe_load(overrides.read_text()) or []]
        if summary.is_file():
            job.summary = json.loads(summary.read_text())
        return job

    def clip(self, clip: str) -> dict | None:
        """The arrays of the clip's .npz (None when it has none)."""
        path = self.root / "clips" / f"{safe_name(clip)}.npz"
        if not path.is_file():
            return None
        with np.load(path) as data:
            return {k: data[k] for k in data.files}

    def figure(self, clip: str, suffix: str) -> Path | None:
        path = self.root / "figures" / f"{safe_name(clip)}{suffix}"
        return path if path.is_file() else None

    def finished(self) -> str:
        path = self.root / "summary.json"
        return datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M") if path.is_file() else ""


# ---------------------------------------------------------------- formatting


def fmt(value) -> str:
    """A number for a person: 3 significant digits, whole numbers from 100 up, and enough decimals to
    tell a probability close to 1 from 1 (0.9996). NaN and None give ''."""
    if value is None or isinstance(value, str):
        return "" if value is None else value
    value = float(value)
    if not np.isfinite(value):
        return ""
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if 0.99 <= abs(value) < 1:
        for decimals in range(4, 8):
            text = f"{value:.{decimals}f}"
            if abs(float(text)) < 1:
                return text
    return f"{value:.3g}"


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _file_uri(path: Path) -> str:
    return _data_uri(path.read_bytes(), {".png": "image/png", ".gif": "image/gif"}[path.suffix])


def _file_picture(path: Path, alt: str) -> Picture | None:
    return Picture(_file_uri(path), alt) if path.is_file() else None


def _png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return _data_uri(buffer.getvalue(), "image/png")


def _figure_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return _data_uri(buffer.getvalue(), "image/png")


# ---------------------------------------------------------------- tables


def _metric_columns(table: pd.DataFrame) -> list[str]:
    """The numeric result columns with a finite value, known metrics first."""
    numeric = [c for c in table.select_dtypes("number").columns if c not in IDENTITY and table[c].notna().any()]
    return [c for c in METRICS if c in numeric] + [c for c in numeric if c not in METRICS]


def _map_label(row: pd.Series | dict) -> str:
    if row.get("map") == "combined":
        return "combined"
    area = row.get("area")
    return "" if area is None or pd.isna(area) else f"area {float(area):g}"


def _split_overrides(part: str) -> list[str]:
    """``a=1,b=[x,y]`` -> ``['a=1', 'b=[x,y]']`` (commas inside brackets stay)."""
    tokens, depth, current = [], 0, ""
    for char in part:
        depth += (char in "[{(") - (char in "]})")
        if char == "," and depth == 0:
            tokens.append(current)
            current = ""
        else:
            current += char
    return [*tokens, current]


def job_details(names: list[str], shown: dict[str, set[str]]) -> dict[str, str]:
    """What sets each job of a sweep apart: the parts of its directory (``model/method/overrides``) that
    not every job shares, less the names ``shown[job]`` (its method and model, shown anyway); '' for a
    single run."""
    if len(names) < 2:
        return dict.fromkeys(names, "")
    split = {n: [_split_overrides(part) for part in n.split("/")] for n in names}
    common = set.intersection(*({t for part in parts for t in part} for parts in split.values()))
    details = {}
    for name, parts in split.items():
        kept = [",".join(t for t in part if t not in common and t not in shown[name]) for part in parts]
        details[name] = "/".join(k for k in kept if k)
    return details


def summary_rows(table: pd.DataFrame) -> list[dict]:
    """Per job, map and area: ``clips`` and the ``mean`` / ``std`` (across clips) of every metric; per job
    with several single areas also an ``all areas`` row whose means are the job's summary.json means
    (over every single row), its spread that of the clips' means over the areas."""
    columns = _metric_columns(table)
    table = table.assign(map=table["map"].fillna(SINGLE) if "map" in table else SINGLE)
    out = []
    for job, rows in table.groupby("job", sort=False):
        single = rows[rows["map"] == SINGLE]
        groups = [(kind, area, g) for (kind, area), g in rows.groupby(["map", rows["area"].fillna(-1.0)], sort=True)]
        groups.sort(key=lambda g: (g[0] != SINGLE, g[1]))
        if single["area"].nunique() > 1:  # after the single areas, before a combined map
            groups.insert(sum(kind == SINGLE for kind, _, _ in groups), (SINGLE, ALL_AREAS, single))
        for kind, area, g in groups:
            per_clip = g.groupby("clip")[columns].mean()
            out.append(
                {
                    "job": job,
                    "method": g["method"].iloc[0],
                    "model": g["model"].iloc[0],
                    "map": kind,
                    "area": area if area == ALL_AREAS else (None if area < 0 else float(area)),
                    "clips": g["clip"].nunique(),
                    "mean": g[columns].mean(),
                    "std": per_clip.std(),
                }
            )
    return out


# ---------------------------------------------------------------- plots


def _curves_figure(curves: list[tuple[str, np.ndarray, np.ndarray]], title: str = "") -> str:
    """Deletion and insertion curves side by side: ``curves`` holds (label, deletion, insertion)."""
    fig, axes = plt.subplots(1, 2, figsize=(6.6, 2.5), sharey=True)
    for label, deletion, insertion in curves:
        for ax, curve in zip(axes, (deletion, insertion)):
            x = np.linspace(0, 1, len(curve))
            auc = float(np.sum((curve[1:] + curve[:-1]) / 2) / (len(curve) - 1))
            ax.plot(x, curve, marker=".", markersize=3, label=f"{label} ({auc:.3f})")
    for ax, name, better in zip(axes, ("deletion", "insertion"), ("lower", "higher")):
        ax.set_title(f"{name} curve (area {better} is better)", fontsize=8)
        ax.set_xlabel("fraction of the clip changed", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.set_ylim(-0.02, 1.02)
        ax.legend(fontsize=6, title="map (area under curve)", title_fontsize=6)
    axes[0].set_ylabel("p(target)", fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout(pad=0.4)
    return _figure_uri(fig)


def _loss_figure(history: dict[str, np.ndarray], labels: list[str]) -> str:
    """The fit's terms per iteration, one panel per term, one line per area (``history``: A x iterations)."""
    terms = [t for t in TERMS if t in history]
    fig, axes = plt.subplots(1, len(terms), figsize=(2.35 * len(terms), 2.3), squeeze=False)
    for ax, term in zip(axes[0], terms):
        for label, values in zip(labels, history[term]):
            ax.plot(np.arange(1, len(values) + 1), values, linewidth=1, label=label)
        ax.set_title(TERMS[term], fontsize=8)
        ax.set_xlabel("iteration", fontsize=7)
        ax.tick_params(labelsize=7)
        if term == "prob":
            ax.set_ylim(-0.02, 1.02)
    axes[0][0].legend(fontsize=6)
    fig.tight_layout(pad=0.4)
    return _figure_uri(fig)


def _when_figure(data: dict, labels: list[str]) -> str:
    """When in the clip each map puts its relevance: the kept fraction of each frame for perturbation
    masks (``frame_kept``), else the share of the map's mass (``frame_relevance``), one line per map."""
    key, name = ("frame_kept", "kept fraction") if "frame_kept" in data else ("frame_relevance", "share of mass")
    fig, ax = plt.subplots(figsize=(6.6, 1.8))
    t = data[key].shape[1]
    for label, curve in zip(labels, data[key]):
        ax.plot(np.arange(t), curve, marker=".", markersize=3, linewidth=1, label=label)
    ax.set_title(f"when: {name} per frame", fontsize=8)
    ax.set_xlabel("frame", fontsize=7)
    ax.set_xticks(np.arange(t))
    ax.set_ylim(bottom=0)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6)
    fig.tight_layout(pad=0.4)
    return _figure_uri(fig)


def _map_labels(data: dict, method: str) -> list[str]:
    """The labels of a clip's maps (its rows' order: the areas, then the combined map)."""
    rows = json.loads(str(data["rows"])) if "rows" in data else []
    labels = [_map_label(r) or method for r in rows]
    return labels or [method] * len(data.get("maps", []))


def _shown_maps(data: dict, method: str) -> np.ndarray | None:
    """The clip's maps in [0, 1] as the figures show them: M x T x H x W (areas, then combined)."""
    if "maps" not in data or data["maps"].ndim != 4:
        return None
    maps = data["maps"] if "combined" not in data else np.concatenate([data["maps"], data["combined"]])
    return display_maps(maps.astype(np.float32), method)


def _gif_frames(job: Job, clip: str, size: tuple[int, int]) -> np.ndarray | None:
    """The clip's frames (T x H x W x 3): the first panel of the job's animation."""
    gif = job.figure(clip, ".gif")
    if gif is None:
        return None
    frames = iio.imread(gif, index=None)[..., :3]
    return frames[:, : size[0], : size[1]] if frames.ndim == 4 and frames.shape[1] == size[0] else None


@dataclass
class Picture:
    """An image of the page: a data URI and its alt text."""

    uri: str
    alt: str


@dataclass
class JobLabel:
    """How a job is named on the page: its method (and model, when the report holds several) and what
    sets it apart in a sweep."""

    name: str
    method: str
    model: str
    detail: str
    show_model: bool


# ---------------------------------------------------------------- the page's parts


def run_info(jobs: list[Job], root: Path) -> dict:
    """What was run: key / value pairs for a run, one row per job for a sweep (and the sweep's command)."""

    def described(job: Job) -> dict[str, str]:
        cfg, summary = job.config, job.summary
        method, dataset = cfg.get("method") or {}, cfg.get("dataset") or {}
        data = str(dataset.get("name", ""))
        if dataset.get("clips"):
            data += f": {', '.join(map(str, dataset['clips']))}"
        elif dataset.get("limit"):
            data += f", first {dataset['limit']} clips"
        name = str(method.get("name", summary.get("method", "")))
        areas = cfg.get("area", summary.get("areas")) if name in PERTURBATION_METHODS else None
        areas = areas if isinstance(areas, list) else [] if areas is None else [areas]
        done, failed = summary.get("clips_done"), summary.get("clips_failed")
        return {
            "model": str((cfg.get("model") or {}).get("name", summary.get("model", ""))),
            "data": data,
            "method": name,
            "areas": ", ".join(f"{a:g}" for a in areas),
            "iterations": str(method.get("iterations", "")),
            "target": str(cfg.get("target", "")),
            "seed": str(cfg.get("seed", summary.get("seed", ""))),
            "clips": "" if done is None else f"{done} done, {failed} failed" + (" (errors.csv)" if failed else ""),
            "config hash": str(summary.get("config_hash", "")),
            "finished": job.finished(),
        }

    if len(jobs) == 1 and jobs[0].name == ".":
        fields = described(jobs[0])
        fields["command"] = shlex.join(["python", "run.py", *jobs[0].overrides])
        return {"single": True, "fields": [(k, v) for k, v in fields.items() if v]}
    rows = [(job.name, described(job)) for job in jobs]
    keys = [k for k in rows[0][1] if any(d[k] for _, d in rows)]
    command = ""
    multirun = root / "multirun.yaml"
    if multirun.is_file():
        hydra = (yaml.safe_load(multirun.read_text()) or {}).get("hydra") or {}
        task = (hydra.get("overrides") or {}).get("task") or []
        command = shlex.join(["python", "run.py", "-m", *map(str, task)])
    return {
        "single": False,
        "columns": keys,
        "rows": [(name, [d[k] for k in keys]) for name, d in rows],
        "command": command,
    }


def summary_view(table: pd.DataFrame, labels: dict[str, JobLabel]) -> dict:
    """The summary table: per job, map and area the mean of every metric with its spread across clips."""
    columns = _metric_columns(table)
    rows = []
    for row in summary_rows(table):
        area = row["area"]
        cells = []
        for c in columns:
            mean, std = row["mean"][c], row["std"][c]
            cells.append((c, fmt(mean), fmt(std) if np.isfinite(std) and np.isfinite(mean) else ""))
        rows.append(
            {
                "job": labels[row["job"]],
                "map": row["map"],
                "area_key": "all" if area == ALL_AREAS else ("" if area is None else repr(area)),
                "area_text": "combined" if row["map"] == "combined" else (area if area == ALL_AREAS else fmt(area)),
                "clips": row["clips"],
                "cells": cells,
            }
        )
    return {"columns": columns, "rows": rows}


def clip_facts(rows: pd.DataFrame, columns: list[str]) -> tuple[list[str], list[str]]:
    """What a clip's header says (label, target, prediction, and the probabilities every job shares) and the
    columns left for its table."""
    first = rows.iloc[0]
    label = first.get("label")
    facts = [f"label {label}" if pd.notna(label) and label != "" else "no label"]
    facts.append(f"target {first.get('target_name', first.get('target', ''))}")
    facts.append(f"predicted {first.get('predicted_name', first.get('predicted', ''))}")
    left = list(columns)
    for column, word in (("target_prob", "clean clip"), ("prob_baseline", "fully perturbed clip (baseline)")):
        if column in left and rows[column].nunique() == 1:
            facts.append(f"p(target) on the {word} {fmt(rows[column].iloc[0])}")
            left.remove(column)
    return facts, [c for c in left if rows[c].notna().any()]


def job_block(job: Job, clip: str, data: dict | None, label: JobLabel, map_labels: list[str]) -> dict:
    """One job's part of a clip's section: the run's figure, the deletion / insertion and loss curves, the GIF."""
    method = label.method
    png, gif = job.figure(clip, ".png"), job.figure(clip, ".gif")
    plots = []
    if data is not None and "frame_relevance" in data:
        plots.append(Picture(_when_figure(data, map_labels), f"{clip}: {method} relevance per frame"))
    if data is not None and "curve_deletion" in data and "curve_insertion" in data:
        curves = list(zip(map_labels, data["curve_deletion"], data["curve_insertion"]))
        plots.append(Picture(_curves_figure(curves), f"{clip}: {method} deletion and insertion curves"))
    history = {t: data[f"history_{t}"] for t in TERMS if data is not None and f"history_{t}" in data}
    if history:
        plots.append(Picture(_loss_figure(history, map_labels), f"{clip}: {method} loss curves"))
    block = {"job": label, "figure": None, "plots": plots, "gif": None, "gif_width": 0}
    block["sanity"] = sanity_figure(job, clip, _file_picture)
    if png is not None:
        block["figure"] = Picture(_file_uri(png), f"{clip}: {method} figure")
    if gif is not None:
        with Image.open(gif) as image:
            block["gif_width"] = min(2 * image.width, 1330)
        block["gif"] = Picture(_file_uri(gif), f"{clip}: {method} animation")
    return block


class Page:
    """Gathers the report's comparison grid, clip sections and mean curves, clip by clip."""

    def __init__(self, table: pd.DataFrame, jobs: dict[str, Job], labels: dict[str, JobLabel]):
        self.table, self.jobs, self.labels = table, jobs, labels
        self.columns = _metric_columns(table)
        self.strips: dict[str, dict[str, list[Picture]]] = {}  # clip -> job -> one strip per map
        self.map_labels: dict[str, list[str]] = {}  # job -> its maps' labels
        self.frames: dict[str, Picture] = {}  # clip -> its bare frames
        self.curves: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
        self.sections: list[dict] = []

    def add_clip(self, clip: str) -> None:
        rows = self.table[self.table["clip"] == clip]
        present = [name for name in self.jobs if (rows["job"] == name).any()]
        loaded = {name: self.jobs[name].clip(clip) for name in present}
        shown = {name: _shown_maps(d, self.labels[name].method) for name, d in loaded.items() if d is not None}
        shown = {name: m for name, m in shown.items() if m is not None}
        # The same frames for every map of the clip: those where the maps put most mass.
        first_t = next((m.shape[1] for m in shown.values()), 0)
        together = [m for maps in shown.values() if maps.shape[1] == first_t for m in maps]
        count = max(2, min(6, 12 // (1 + max(1, len(together)))))
        chosen = strongest_frames(together, count) if together else []
        blocks = []
        for name in present:
            data, method = loaded[name], self.labels[name].method
            labels = _map_labels(data, method) if data is not None else []
            if name in shown:
                picks = chosen if shown[name].shape[1] == first_t else strongest_frames(list(shown[name]), count)
                self._add_strips(clip, name, shown[name], labels, picks)
            if data is not None and "curve_deletion" in data and "curve_insertion" in data:
                for label, deletion, insertion in zip(labels, data["curve_deletion"], data["curve_insertion"]):
                    self.curves.setdefault((name, label), []).append((deletion, insertion))
            blocks.append(job_block(self.jobs[name], clip, data, self.labels[name], labels))
        facts, columns = clip_facts(rows, self.columns)
        table_rows = [
            {"job": self.labels[r["job"]], "map": _map_label(r), "cells": [fmt(r[c]) for c in columns]}
            for _, r in rows.iterrows()
        ]
        self.sections.append(
            {"name": clip, "anchor": safe_name(str(clip)), "facts": facts, "columns": columns, "rows": table_rows,
             "blocks": blocks}
        )  # fmt: skip

    def _add_strips(self, clip: str, name: str, shown: np.ndarray, labels: list[str], picks: list[int]) -> None:
        """The comparison grid's cells of one job and clip: a strip of the chosen frames per map."""
        method = self.labels[name].method
        frames = _gif_frames(self.jobs[name], clip, shown.shape[2:4])
        if frames is None:  # figures=false: the maps over grey
            frames = np.full((*shown.shape[1:4], 3), 128, np.uint8)
        elif clip not in self.frames:
            self.frames[clip] = Picture(_png(overlay_strip(frames, None, picks)), f"{clip}: frames {picks}")
        self.strips.setdefault(clip, {})[name] = [
            Picture(_png(overlay_strip(frames, m, picks)), f"{clip}: {method} {label}")
            for label, m in zip(labels, shown)
        ]
        if len(labels) > len(self.map_labels.get(name, [])):
            self.map_labels[name] = labels

    def grid(self) -> dict | None:
        """The comparison grid: a row per clip, a column for its frames and one per job and map."""
        if not self.strips:
            return None
        columns = [(name, label) for name in self.jobs if name in self.map_labels for label in self.map_labels[name]]
        head = []
        for name, label in columns:
            job = self.labels[name]
            text = (
                job.method
                + (f" / {job.model}" if job.show_model else "")
                + (f", {label}" if label != job.method else "")
            )
            head.append({"text": text, "detail": job.detail})
        rows = []
        for clip, by_job in self.strips.items():
            cells = []
            for name, label in columns:
                strips, index = by_job.get(name, []), self.map_labels[name].index(label)
                cells.append(strips[index] if index < len(strips) else None)
            rows.append({"clip": clip, "anchor": safe_name(str(clip)), "frames": self.frames.get(clip), "cells": cells})
        return {"head": head, "rows": rows}

    def mean_curves(self) -> Picture | None:
        """The deletion and insertion curves of every job and map, averaged over the clips."""
        if not self.curves:
            return None
        curves = []
        for (name, label), pairs in self.curves.items():
            job = self.labels[name]
            text = job.method + (f" / {job.model}" if job.show_model else "") + (f" {job.detail}" if job.detail else "")
            text += f", {label}" if label != job.method else ""
            curves.append((text, np.mean([d for d, _ in pairs], axis=0), np.mean([i for _, i in pairs], axis=0)))
        return Picture(_curves_figure(curves, "mean over clips"), "mean deletion and insertion curves")


def timelines_view(jobs: dict[str, Job], labels: dict[str, JobLabel]) -> list[dict]:
    """Per job of a windowed run (``timelines.csv``): its table of videos and each video's timeline plot."""
    views = []
    for name, job in jobs.items():
        table = job.root / "timelines.csv"
        if not table.is_file():
            continue
        videos = pd.read_csv(table)
        plots = [
            _file_picture(job.root / "timelines" / f"{safe_name(str(v))}.png", f"{v}: timeline")
            for v in videos["video"]
        ]
        rows = [[fmt(v) if isinstance(v, float) else str(v) for v in row] for row in videos.itertuples(index=False)]
        views.append({"job": labels[name], "table": {"columns": list(videos.columns), "rows": rows},
                      "plots": [p for p in plots if p is not None]})  # fmt: skip
    return views


# ---------------------------------------------------------------- the report


def build_report(root: Path) -> Path:
    """Write ``report.html`` into a run or sweep directory ``root`` and return its path (see the module
    docstring for its sections)."""
    root = Path(root)
    table = collect(root)
    table["map"] = table["map"].fillna(SINGLE) if "map" in table else SINGLE
    names = list(dict.fromkeys(table["job"]))
    jobs = {name: Job.load(root, name) for name in names}
    sweep = len(names) > 1
    show_model = table["model"].nunique() > 1
    method = {n: table[table["job"] == n]["method"].iloc[0] for n in names}
    model = {n: table[table["job"] == n]["model"].iloc[0] for n in names}
    details = job_details(names, {n: {method[n], *table[table["job"] == n]["model"]} for n in names})
    labels = {n: JobLabel(n, method[n], model[n], details[n], show_model) for n in names}
    page = Page(table, jobs, labels)
    for clip in sorted(table["clip"].unique(), key=str):
        page.add_clip(clip)
    sweep_plots = []
    if sweep:
        summarize(root)
        sweep_plots = [Picture(_file_uri(p), p.stem) for p in sorted(root.glob("plot_*.png"))]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    html = environment.get_template("report.html.j2").render(
        title=f"videoattr report: {root.resolve().name}",
        css=(TEMPLATES / "report.css").read_text(),
        sweep=sweep,
        run=run_info(list(jobs.values()), root),
        timelines=timelines_view(jobs, labels),
        summary=summary_view(table, labels),
        mean_curves=page.mean_curves(),
        sweep_plots=sweep_plots,
        grid=page.grid(),
        clips=page.sections,
        diagnostics=diagnostics_view(table, {n: j.summary for n, j in jobs.items()}, labels, fmt),
        sanity=sanity_view(root, jobs, labels, _file_picture, fmt),
        reliability=reliability_view(root, fmt),
    )
    out = root / "report.html"
    out.write_text(html)
    return out


def main() -> None:
    """``videoattr-report DIR`` (or ``python -m videoattr.report DIR``): write DIR/report.html."""
    from videoattr.cli import directory_command

    directory_command("Write a self-contained HTML report of a run or sweep directory.", build_report, "Report: {path}")


if __name__ == "__main__":
    main()
