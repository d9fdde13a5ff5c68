"""The HTML report of a real run and of a real sweep, opened in headless Chromium at 1400 pixels:
what was run, the summary (equal to summary.json), the comparison grid, per clip the figure, curves
and animation; every image decodes and nothing scrolls sideways."""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import run_cli, run_module
from videoattr.report import ALL_AREAS, fmt

WIDTH = 1400
SHORT = ("debug=fast", "dataset.limit=2", "figures=true")  # 5 STEP iterations, no torch.compile, 2 clips
PROBE = """<script>window.onload = () => {
  const images = [...document.images];
  const text = td => td.childNodes.length && td.childNodes[0].nodeType === 3 ? td.childNodes[0].textContent : '';
  const out = {
    images: images.length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt),
    scrollWidth: document.documentElement.scrollWidth,
    wide: [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > 1400).slice(0, 5).map(e => e.tagName + "." + e.className + "#" + e.id + " " + (e.getAttribute("alt") || "") + " " + Math.round(e.getBoundingClientRect().width)),
    summary: [...document.querySelectorAll('#summary tr[data-job]')].map(tr => ({
      job: tr.dataset.job, map: tr.dataset.map, area: tr.dataset.area,
      values: Object.fromEntries([...tr.querySelectorAll('td[data-metric]')].map(td => [td.dataset.metric, text(td)])),
    })),
    grid: [...document.querySelectorAll('table.grid tr')].slice(1).map(tr => tr.querySelectorAll('img').length),
    gridHead: [...document.querySelectorAll('table.grid th')].map(th => th.innerText),
  };
  const pre = document.createElement('pre');
  pre.id = 'probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
};</script>"""


def chromium() -> str:
    from shutil import which

    browser = which("chromium") or which("chromium-browser")
    if browser is None:
        assert not os.environ.get("CI"), "CI must install chromium (.ci/run does)"
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    return browser


def probe(report: Path, profile: Path) -> dict:
    """Open a copy of ``report`` in headless Chromium with a window WIDTH pixels wide; returns what the page
    shows once loaded: image count, the alt texts of images that did not decode, the document's scroll
    width, the summary table's cells and the comparison grid's images per row."""
    page = report.with_name("probe.html")
    page.write_text(report.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={WIDTH},1000",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    return json.loads(html.unescape(re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S).group(1)))


def report_of(directory: Path) -> str:
    out = run_module("videoattr.report", str(directory))
    assert f"Report: {directory / 'report.html'}" in out.stdout
    return (directory / "report.html").read_text()


def check_self_contained(page: str) -> None:
    sources = re.findall(r'src="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/png;base64,", "data:image/gif;base64,")) for s in sources)
    assert "http://" not in page and "https://" not in page


def check_summary(shown: list[dict], jobs: dict[str, Path]) -> None:
    """Every summary row equals the job's summary.json mean (one area, or the 'all areas' row) or the mean of
    its results.csv rows at that area; every metric of summary.json is shown."""
    assert {row["job"] for row in shown} == set(jobs)
    for job, directory in jobs.items():
        means = json.loads((directory / "summary.json").read_text())["mean"]
        results = pd.read_csv(directory / "results.csv")
        rows = [r for r in shown if r["job"] == job]
        areas = results["area"].dropna().unique()
        key = "all" if len(areas) > 1 else (repr(float(areas[0])) if len(areas) else "")
        headline = [r for r in rows if r["area"] == key and r["map"] == "single"]
        assert len(headline) == 1
        values = headline[0]["values"]
        assert set(means) - {"area"} <= set(values)
        for metric, text in values.items():
            assert text == fmt(means.get(metric)), (job, metric)  # '' where the job has no such metric
        for row in rows:
            if row["area"] != "all":
                same = results[results["map"] == row["map"]]
                same = (
                    same[same["area"].isna()]
                    if row["area"] == ""
                    else same[np.isclose(same["area"], float(row["area"]))]
                )
                for metric, text in row["values"].items():
                    assert text == (fmt(same[metric].mean()) if metric in same else ""), (job, row["area"], metric)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("report") / "run"
    run_cli(
        *SHORT, "area=[0.05,0.1]", "metrics.groups=[localisation,faithfulness,smoothness]", f"hydra.run.dir={directory}"
    )
    return directory


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("report") / "sweep"
    run_cli(
        "-m",
        "method=step,grad_cam",
        *SHORT,
        "metrics.groups=[localisation,faithfulness]",
        f"hydra.sweep.dir={directory}",
    )
    return directory


@pytest.mark.slow
def test_report_of_a_run_shows_what_ran_its_summary_curves_and_figures(run_dir, tmp_path):
    results = pd.read_csv(run_dir / "results.csv")
    clips = sorted(results["clip"].unique())
    # The runner keeps the deletion / insertion curves whose areas results.csv gives.
    for clip in clips:
        with np.load(run_dir / "clips" / f"{clip}.npz") as data:
            rows = results[results["clip"] == clip]
            for mode in ("deletion", "insertion"):
                curves = data[f"curve_{mode}"]
                assert curves.shape == (2, 17)  # 2 areas x (metrics.steps + 1)
                areas = ((curves[:, 1:] + curves[:, :-1]) / 2).sum(axis=1) / 16
                assert areas == pytest.approx(rows[f"{mode}_auc"].to_numpy(), abs=1e-6)

    page = report_of(run_dir)
    check_self_contained(page)
    summary = json.loads((run_dir / "summary.json").read_text())
    info = re.search(r'<table class="info" id="run">(.*?)</table>', page).group(1)
    for key, value in [
        ("model", "synthetic"),
        ("method", "step"),
        ("areas", "0.05, 0.1"),
        ("iterations", "5"),
        ("seed", "0"),
        ("config hash", summary["config_hash"]),
        ("clips", "2 done, 0 failed"),
    ]:
        assert f"<tr><th>{key}</th><td>{value}</td></tr>" in info
    assert "python run.py debug=fast dataset.limit=2 figures=true" in info
    assert f"<td>{ALL_AREAS}</td>" in page
    for clip in clips:
        section = page[page.index(f'<section class="clip" id="clip-{clip}">') :]
        section = section[: section.index("</section>")]
        figure = (run_dir / "figures" / f"{clip}.png").read_bytes()
        assert base64.b64encode(figure).decode() in section  # the run's own figure
        assert "<details><summary>animation" in section and "data:image/gif;base64," in section
        for alt in ("relevance per frame", "deletion and insertion curves", "loss curves"):
            assert f'alt="{clip}: step {alt}"' in section
        assert "p(target) on the clean clip" in section and "prob preserved" in section

    shown = probe(run_dir / "report.html", tmp_path / "profile")
    assert shown["images"] > 10 and shown["broken"] == []
    assert shown["scrollWidth"] <= WIDTH, shown["wide"]
    check_summary(shown["summary"], {".": run_dir})
    assert shown["grid"] == [3, 3]  # per clip: its frames, then area 0.05 and 0.1
    assert shown["gridHead"][2:] == ["step, area 0.05", "step, area 0.1"]

    shot = tmp_path / "shot.png"
    out = run_cli(
        str(run_dir / "report.html"), str(shot), "--height", "900", script="builders/make_report_screenshot.py"
    )
    assert f"wrote {shot}" in out.stdout
    with Image.open(shot) as image:
        assert image.size == (WIDTH, 900)
        assert len(image.convert("RGB").getcolors(1 << 24)) > 50  # not a blank page


@pytest.mark.slow
def test_report_of_a_sweep_compares_the_methods_clip_by_clip(sweep_dir, tmp_path):
    jobs = {str(p.parent.relative_to(sweep_dir)): p.parent for p in sorted(sweep_dir.rglob("summary.json"))}
    assert len(jobs) == 2
    page = report_of(sweep_dir)
    check_self_contained(page)
    assert "python run.py -m method=step,grad_cam debug=fast" in page
    assert page.count("data:image/gif;base64,") == 4  # 2 clips x 2 jobs, each in a <details>
    assert page.count("<details><summary>animation") == 4

    shown = probe(sweep_dir / "report.html", tmp_path / "profile")
    assert shown["images"] > 10 and shown["broken"] == []
    assert shown["scrollWidth"] <= WIDTH, shown["wide"]
    check_summary(shown["summary"], jobs)
    # One row per clip: its frames, then one strip per method.
    assert shown["grid"] == [3, 3]
    assert shown["gridHead"] == ["clip", "frames", "grad_cam", "step, area 0.1"]
