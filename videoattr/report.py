"""A self-contained static HTML report of a run or a sweep (one file, images embedded as data URIs).

``build_report(dir)`` writes ``dir/report.html``, in this order:

- what was run: per job the model, data, method, areas, iterations, target, seed, clips done and
  failed, config hash, date and command (from ``.hydra/config.yaml``, ``.hydra/overrides.yaml``,
  ``summary.json``; a sweep's command from ``multirun.yaml``);
- the summary: per job, map and area the mean of every metric over the clips with its standard
  deviation across clips under it (a job with several areas also gets an ``all areas`` row, which is
  its ``summary.json`` mean), and the mean deletion / insertion curves of every job and area;
- the comparison grid: one row per clip, one column per job and area (or combined map), each cell
  the same few frames of the clip (those where the maps put most mass) with the map overlaid;
- per clip: label, target and prediction, the target's probabilities, a table of the metrics of
  each map, and per job the run's PNG figure, the deletion / insertion curves, the loss curves of a
  perturbation fit (weighted reward, regulariser, core, target probability per iteration) and the
  GIF animation in a ``<details>`` element;
- for a sweep, the plots of ``videoattr.sweep.summarize`` (each metric against the area).

Everything comes from the files a run writes (``results.csv``, ``summary.json``, ``clips/*.npz``,
``figures/*.png|gif``); what a run did not write (figures=false, no faithfulness metrics, a
method without a fit) is left out.
"""

from __future__ import annotations

import base64
import html
import io
import json
import shlex
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import imageio.v3 as iio
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import yaml
from PIL import Image

from videoattr.methods import PERTURBATION_METHODS
from videoattr.outputs import safe_name
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
IDENTITY = {"target", "predicted", "seed", "area"}
# The loss terms of a perturbation fit (``history_<term>`` in a clip's .npz).
TERMS = {
    "reward": "reward (weighted)",
    "regulariser": "area regulariser (weighted)",
    "core": "core loss (weighted)",
    "prob": "target probability",
}
ALL_AREAS = "all areas"

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1360px; margin: 12px auto; padding: 0 12px;
       color: #222; font-size: 14px; }
h1 { font-size: 22px; margin: 0 0 6px; } h2 { font-size: 18px; margin: 22px 0 6px; }
h3 { font-size: 16px; margin: 0 0 4px; } h4 { font-size: 14px; margin: 12px 0 4px; }
nav, .note { color: #555; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; margin: 4px 0 12px; }
th, td { border: 1px solid #d4d4d4; padding: 2px 5px; text-align: right; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; text-align: center; max-width: 84px; }
.l { text-align: left; overflow-wrap: anywhere; } .sd { display: block; color: #777; font-size: 10px; }
.job { display: block; color: #777; font-size: 10px; font-weight: normal; }
.info th { text-align: left; max-width: none; } .info td { text-align: left; }
img { max-width: 100%; height: auto; }
.grid { table-layout: fixed; width: 100%; } .grid td { padding: 2px; }
.grid th.l, .grid td.l { width: 110px; } .grid img { width: 100%; image-rendering: pixelated; display: block; }
.clip { border-top: 2px solid #999; margin-top: 18px; padding-top: 8px; }
.panels { display: flex; flex-wrap: wrap; gap: 10px; align-items: flex-start; }
details { margin: 4px 0 8px; } summary { cursor: pointer; color: #0550ae; }
.gif { image-rendering: pixelated; }
code { font-size: 12px; overflow-wrap: anywhere; }
"""


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


def _e(value) -> str:
    return html.escape(str(value))


def _header(column: str) -> str:
    """A column header that may wrap between its words."""
    return f'<th title="{_e(column)}">{_e(column.replace("_", " "))}</th>'


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def _file_uri(path: Path) -> str:
    return _data_uri(path.read_bytes(), {".png": "image/png", ".gif": "image/gif"}[path.suffix])


def _png(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    return _data_uri(buffer.getvalue(), "image/png")


def _figure_uri(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return _data_uri(buffer.getvalue(), "image/png")


def _img(uri: str, alt: str, css: str = "", style: str = "") -> str:
    css = f' class="{css}"' if css else ""
    style = f' style="{style}"' if style else ""
    return f'<img src="{uri}" alt="{_e(alt)}"{css}{style}>'


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


def _job_label(detail: str, method: str, model: str, models: int) -> str:
    """A job's method (and model, when the report holds several) with ``detail`` (what sets the job
    apart in a sweep) under it."""
    label = f"<b>{_e(method)}</b>" + (f" / {_e(model)}" if models > 1 else "")
    return label + (f'<span class="job">{_e(detail)}</span>' if detail else "")


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


def _summary_table(table: pd.DataFrame, details: dict[str, str]) -> str:
    columns = _metric_columns(table)
    models = table["model"].nunique()
    head = '<tr><th class="l">method</th><th>area</th><th>clips</th>' + "".join(_header(c) for c in columns) + "</tr>"
    body = []
    for row in summary_rows(table):
        area = row["area"]
        area_text = "combined" if row["map"] == "combined" else (area if area == ALL_AREAS else fmt(area))
        cells = []
        for c in columns:
            mean, std = row["mean"][c], row["std"][c]
            spread = f'<span class="sd">± {fmt(std)}</span>' if np.isfinite(std) and np.isfinite(mean) else ""
            cells.append(f'<td data-metric="{_e(c)}">{fmt(mean)}{spread}</td>')
        key = "all" if area == ALL_AREAS else ("" if area is None else repr(area))
        body.append(
            f'<tr data-job="{_e(row["job"])}" data-map="{_e(row["map"])}" data-area="{key}">'
            f'<td class="l">{_job_label(details[row["job"]], row["method"], row["model"], models)}</td>'
            f"<td>{_e(area_text)}</td><td>{row['clips']}</td>{''.join(cells)}</tr>"
        )
    return f'<table id="summary">{head}{"".join(body)}</table>'


def _clip_table(rows: pd.DataFrame, columns: list[str], details: dict[str, str], models: int) -> str:
    head = '<tr><th class="l">method</th><th>map</th>' + "".join(_header(c) for c in columns) + "</tr>"
    body = []
    for _, row in rows.iterrows():
        first = _job_label(details[row["job"]], row["method"], row["model"], models)
        cells = "".join(f"<td>{fmt(row[c])}</td>" for c in columns)
        body.append(f'<tr><td class="l">{first}</td><td>{_e(_map_label(row))}</td>{cells}</tr>')
    return f'<table class="clip-table">{head}{"".join(body)}</table>'


def _info(jobs: list[Job], root: Path) -> str:
    """What was run: one key / value table for a run, one row per job for a sweep."""

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
        areas = (
            ", ".join(f"{a:g}" for a in (areas if isinstance(areas, list) else [areas])) if areas is not None else ""
        )
        done, failed = summary.get("clips_done"), summary.get("clips_failed")
        return {
            "model": str((cfg.get("model") or {}).get("name", summary.get("model", ""))),
            "data": data,
            "method": name,
            "areas": areas,
            "iterations": str(method.get("iterations", "")),
            "target": str(cfg.get("target", "")),
            "seed": str(cfg.get("seed", summary.get("seed", ""))),
            "clips": "" if done is None else f"{done} done, {failed} failed" + (" (errors.csv)" if failed else ""),
            "config hash": str(summary.get("config_hash", "")),
            "finished": job.finished(),
        }

    if len(jobs) == 1 and jobs[0].name == ".":
        (job,) = jobs
        fields = described(job)
        fields["command"] = f"<code>{_e(shlex.join(['python', 'run.py', *job.overrides]))}</code>"
        rows = "".join(
            f"<tr><th>{_e(k)}</th><td>{v if k == 'command' else _e(v)}</td></tr>" for k, v in fields.items() if v
        )
        return f'<table class="info" id="run">{rows}</table>'
    described_jobs = [(job, described(job)) for job in jobs]
    keys = [k for k in described_jobs[0][1] if any(d[k] for _, d in described_jobs)]
    head = '<tr><th class="l">job</th>' + "".join(f"<th>{_e(k)}</th>" for k in keys) + "</tr>"
    body = "".join(
        f'<tr><td class="l">{_e(job.name)}</td>' + "".join(f"<td>{_e(d[k])}</td>" for k in keys) + "</tr>"
        for job, d in described_jobs
    )
    command = ""
    multirun = root / "multirun.yaml"
    if multirun.is_file():
        task = (((yaml.safe_load(multirun.read_text()) or {}).get("hydra") or {}).get("overrides") or {}).get(
            "task"
        ) or []
        command = f"<p>command: <code>{_e(shlex.join(['python', 'run.py', '-m', *map(str, task)]))}</code></p>"
    return f'<table class="info" id="run">{head}{body}</table>{command}'


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


def _grid(cells: dict, labels: dict, frames: dict, table: pd.DataFrame, details: dict[str, str], models: int) -> str:
    """The comparison grid: a row per clip, a column for its frames and one per job and map."""
    columns = [(name, label) for name in dict.fromkeys(table["job"]) if name in labels for label in labels[name]]
    head = ['<th class="l">clip</th><th>frames</th>']
    for name, label in columns:
        rows = table[table["job"] == name]
        method, model = rows["method"].iloc[0], rows["model"].iloc[0]
        text = _e(method) + (f" / {_e(model)}" if models > 1 else "") + (f", {_e(label)}" if label != method else "")
        head.append(f"<th>{text}{f'<span class=job>{_e(details[name])}</span>' if details[name] else ''}</th>")
    body = []
    for clip, by_job in cells.items():
        row = [
            f'<td class="l"><a href="#clip-{_e(safe_name(str(clip)))}">{_e(clip)}</a></td><td>{frames.get(clip, "")}</td>'
        ]
        for name, label in columns:
            strips = by_job.get(name, [])
            index = labels[name].index(label)
            row.append(f"<td>{strips[index] if index < len(strips) else ''}</td>")
        body.append(f"<tr>{''.join(row)}</tr>")
    return (
        '<h2 id="comparison">Comparison</h2><p class="note">The same frames of each clip (those where the maps '
        "put most of their mass, in time order) with each map overlaid (red: high).</p>"
        f'<table class="grid"><tr>{"".join(head)}</tr>{"".join(body)}</table>'
    )


# ---------------------------------------------------------------- the report


def build_report(root: Path) -> Path:
    """Write ``report.html`` into a run or sweep directory ``root`` and return its path (see the module
    docstring for its sections)."""
    root = Path(root)
    table = collect(root)
    if "map" not in table:
        table["map"] = SINGLE
    table["map"] = table["map"].fillna(SINGLE)
    names = list(dict.fromkeys(table["job"]))
    jobs = {name: Job.load(root, name) for name in names}
    sweep = len(names) > 1
    models = table["model"].nunique()
    clips = sorted(table["clip"].unique(), key=str)
    methods = {name: table[table["job"] == name]["method"].iloc[0] for name in names}
    details = job_details(names, {n: {methods[n], *table[table["job"] == n]["model"]} for n in names})

    grid_cells: dict[str, dict[str, list[str]]] = {}  # clip -> job -> one strip per map
    grid_labels: dict[str, list[str]] = {}  # job -> its maps' labels
    frame_strips: dict[str, str] = {}  # clip -> its bare frames
    sections: list[str] = []
    mean_curves: dict[tuple[str, str], list[tuple[np.ndarray, np.ndarray]]] = {}
    clip_columns = _metric_columns(table)
    for clip in clips:
        rows = table[table["clip"] == clip]
        present = [name for name in names if (rows["job"] == name).any()]
        method_of = {name: rows[rows["job"] == name]["method"].iloc[0] for name in present}
        loaded = {name: jobs[name].clip(clip) for name in present}
        shown_all = {name: _shown_maps(d, method_of[name]) for name, d in loaded.items() if d is not None}
        shown_all = {name: m for name, m in shown_all.items() if m is not None}
        # The same frames for every map of the clip: those where the maps put most mass.
        first_t = next((m.shape[1] for m in shown_all.values()), 0)
        together = [m for maps in shown_all.values() if maps.shape[1] == first_t for m in maps]
        count = max(2, min(6, 12 // (1 + max(1, len(together)))))
        chosen = strongest_frames(together, count) if together else []
        blocks = []
        for name in present:
            job, method, data = jobs[name], method_of[name], loaded[name]
            job_rows = rows[rows["job"] == name]
            labels = _map_labels(data, method) if data is not None else []
            shown = shown_all.get(name)
            if shown is not None:
                frames = _gif_frames(job, clip, shown.shape[2:4])
                picks = chosen if shown.shape[1] == first_t else strongest_frames(list(shown), count)
                if frames is None:  # figures=false: the maps over grey
                    frames = np.full((*shown.shape[1:4], 3), 128, np.uint8)
                elif clip not in frame_strips:
                    frame_strips[clip] = _img(_png(overlay_strip(frames, None, picks)), f"{clip}: frames {picks}")
                grid_cells.setdefault(clip, {})[name] = [
                    _img(_png(overlay_strip(frames, m, picks)), f"{clip}: {method} {label}")
                    for label, m in zip(labels, shown)
                ]
                if len(labels) > len(grid_labels.get(name, [])):
                    grid_labels[name] = labels
            # The job's block in the clip's section.
            parts = [
                f"<h4>{_job_label(details[name], method, job_rows['model'].iloc[0], models)}</h4>" if sweep else ""
            ]
            png = job.figure(clip, ".png")
            if png is not None:
                parts.append(_img(_file_uri(png), f"{clip}: {method} figure"))
            plots = []
            if data is not None and "curve_deletion" in data and "curve_insertion" in data:
                curves = list(zip(labels, data["curve_deletion"], data["curve_insertion"]))
                plots.append(_img(_curves_figure(curves), f"{clip}: {method} deletion and insertion curves"))
                for label, deletion, insertion in curves:
                    mean_curves.setdefault((name, label), []).append((deletion, insertion))
            history = {t: data[f"history_{t}"] for t in TERMS if data is not None and f"history_{t}" in data}
            if history:
                plots.append(_img(_loss_figure(history, labels), f"{clip}: {method} loss curves"))
            if plots:
                parts.append(f'<div class="panels">{"".join(plots)}</div>')
            gif = job.figure(clip, ".gif")
            if gif is not None:
                with Image.open(gif) as image:
                    width = min(2 * image.width, 1330)
                parts.append(
                    "<details><summary>animation (frames and overlays, GIF)</summary>"
                    f"{_img(_file_uri(gif), f'{clip}: {method} animation', 'gif', f'width:{width}px')}</details>"
                )
            blocks.append("".join(parts))
        first = rows.iloc[0]
        facts = [
            f"label {_e(first.get('label', ''))}"
            if pd.notna(first.get("label")) and first.get("label") != ""
            else "no label"
        ]
        facts.append(f"target {_e(first.get('target_name', first.get('target', '')))}")
        facts.append(f"predicted {_e(first.get('predicted_name', first.get('predicted', '')))}")
        shown_columns = list(clip_columns)
        for column, word in (("target_prob", "clean clip"), ("prob_baseline", "fully perturbed clip (baseline)")):
            if column in shown_columns and rows[column].nunique() == 1:
                facts.append(f"p(target) on the {word} {fmt(rows[column].iloc[0])}")
                shown_columns.remove(column)
        shown_columns = [c for c in shown_columns if rows[c].notna().any()]
        sections.append(
            f'<section class="clip" id="clip-{_e(safe_name(str(clip)))}"><h3>{_e(clip)}</h3>'
            f"<p>{' · '.join(facts)}</p>{_clip_table(rows, shown_columns, details, models)}{''.join(blocks)}</section>"
        )

    title = f"videoattr report: {root.resolve().name}"
    parts = [f"<h1>{_e(title)}</h1>"]
    nav = ['<a href="#summary-section">summary</a>']
    if grid_cells:
        nav.append('<a href="#comparison">comparison</a>')
    nav.append("clips: " + ", ".join(f'<a href="#clip-{_e(safe_name(str(c)))}">{_e(c)}</a>' for c in clips))
    parts.append(f"<nav>{' · '.join(nav)}</nav>")
    parts.append("<h2>What was run</h2>" + _info(list(jobs.values()), root))
    parts.append(
        '<h2 id="summary-section">Summary</h2><p class="note">Mean over the clips, with the standard deviation '
        "across clips under it (none for one clip). Higher is better for pointing game, energy in mask, "
        "mass in evidence frames, insertion AUC and p(preserved); lower for deletion AUC and p(deleted).</p>"
        + _summary_table(table, details)
    )
    if mean_curves:
        curves = [
            (
                methods[name]
                + (f" / {table[table['job'] == name]['model'].iloc[0]}" if models > 1 else "")
                + (f" {details[name]}" if details[name] else "")
                + (f", {label}" if label != methods[name] else ""),
                np.mean([d for d, _ in pairs], axis=0),
                np.mean([i for _, i in pairs], axis=0),
            )
            for (name, label), pairs in mean_curves.items()
        ]
        parts.append(_img(_curves_figure(curves, "mean over clips"), "mean deletion and insertion curves"))
    if sweep:
        summarize(root)
        plots = sorted(root.glob("plot_*.png"))
        if plots:
            parts.append(
                "<details><summary>each metric against the area (sweep plots)</summary>"
                f'<div class="panels">{"".join(_img(_file_uri(p), p.stem) for p in plots)}</div></details>'
            )
    if grid_cells:
        parts.append(_grid(grid_cells, grid_labels, frame_strips, table, details, models))
    parts.append("<h2>Clips</h2>" + "".join(sections))
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{_STYLE}</style>"
        f"</head><body>{''.join(parts)}</body></html>"
    )
    out = root / "report.html"
    out.write_text(page)
    return out


def main() -> None:
    """``videoattr-report DIR`` (or ``python -m videoattr.report DIR``): write DIR/report.html."""
    from videoattr.cli import directory_command

    directory_command("Write a self-contained HTML report of a run or sweep directory.", build_report, "Report: {path}")


if __name__ == "__main__":
    main()
