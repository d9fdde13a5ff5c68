"""A self-contained static HTML report of a run or a sweep (images embedded as data URIs)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

from videoattr.outputs import safe_name
from videoattr.sweep import collect, summarize

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; }
th { background: #f0f0f0; }
.clip { border-top: 2px solid #888; margin-top: 1.5em; }
.panels { display: flex; flex-wrap: wrap; gap: 12px; }
figure { margin: 0; } figcaption { font-size: 12px; }
img { image-rendering: pixelated; }
"""


def _data_uri(path: Path) -> str:
    mime = {".png": "image/png", ".gif": "image/gif"}[path.suffix]
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", border=0, escape=True)


def _image(path: Path, caption: str) -> str:
    return (
        f'<figure><img src="{_data_uri(path)}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def _job_caption(row: pd.Series) -> str:
    area = "" if pd.isna(row.get("area")) else f", area {row['area']:g}"
    return f"{row['method']} / {row['model']}{area}"


def build_report(root: Path) -> Path:
    """Write ``report.html`` into a run or sweep directory ``root`` and return its path.

    Sections: the sweep summary table and plots (sweeps only), then per clip the frames and every
    job's overlay animation side by side, with the clip's metrics.
    """
    root = Path(root)
    table = collect(root)
    parts = [f"<h1>videoattr report: {html.escape(root.name)}</h1>"]
    jobs = table["job"].unique()
    if len(jobs) > 1:
        summarize(root)
        parts.append("<h2>Summary</h2>" + _table(pd.read_csv(root / "summary.csv")))
        plots = sorted(root.glob("plot_*.png"))
        parts.append('<div class="panels">' + "".join(_image(p, p.stem) for p in plots) + "</div>")
    parts.append("<h2>Clips</h2>")
    for clip, rows in table.groupby("clip", sort=True):
        panels = []
        for job, job_rows in rows.groupby("job", sort=False):
            gif = root / job / "figures" / f"{safe_name(clip)}.gif"
            if gif.is_file():
                panels.append(_image(gif, _job_caption(job_rows.iloc[0])))
        first = rows.iloc[0]
        parts.append(
            f'<div class="clip"><h3>{html.escape(str(clip))}</h3>'
            f"<p>label: {html.escape(str(first.get('label', '')))}, explained class: "
            f"{html.escape(str(first.get('target_name', '')))}</p>"
            f'<div class="panels">{"".join(panels)}</div>{_table(rows.drop(columns=["clip"]))}</div>'
        )
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>videoattr report</title><style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    out = root / "report.html"
    out.write_text(page)
    return out
