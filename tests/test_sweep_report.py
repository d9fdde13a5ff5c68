"""Sweep summaries, and the static HTML report of minimal job directories opened in a real headless browser
(the report of real runs and sweeps: tests/test_report.py)."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from builders.make_report_screenshot import CHROMIUM_FLAGS
from helpers import run_module
from videoattr.outputs import RunStore, atomic_write
from videoattr.viz import save_animation


def fake_job(directory: Path, method: str, area: float, value: float, clips=("c1", "c2")) -> None:
    """A job directory as the runner leaves it: clip records, GIFs and results.csv."""
    store = RunStore(directory, "h")
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    for clip in clips:
        gif = store.figure_path(clip, ".gif")
        atomic_write(gif, lambda tmp: save_animation(tmp, frames, np.full((1, 2, 8, 8), value)))
        row = {
            "clip": clip,
            "label": "up",
            "target_name": "up",
            "model": "synthetic",
            "method": method,
            "area": area,
            "seconds": 1.0,
            "pointing": value,
            "target": 0,
            "predicted": 0,
            "seed": 0,
        }
        store.save_clip(clip, {}, [row])
    store.write_tables([], {})


@pytest.fixture
def sweep(tmp_path):
    for area, value in [(0.05, 0.2), (0.1, 0.6)]:
        fake_job(tmp_path / "synthetic" / "step" / f"area={area}", "step", area, value)
    fake_job(tmp_path / "synthetic" / "grad", "grad", float("nan"), 0.4)
    return tmp_path


def test_summarize_means_per_model_method_area_and_plots(sweep):
    assert f"Summary: {sweep / 'summary.csv'}" in run_module("videoattr.sweep", str(sweep)).stdout
    summary = pd.read_csv(sweep / "summary.csv")
    step = summary[summary.method == "step"].sort_values("area")
    assert step["area"].tolist() == [0.05, 0.1]
    assert step["pointing"].tolist() == pytest.approx([0.2, 0.6])
    assert step["clips"].tolist() == [2, 2]
    assert summary[summary.method == "grad"]["area"].isna().all()
    for plot in ("plot_pointing.png", "plot_seconds.png"):
        with Image.open(sweep / plot) as image:
            assert image.format == "PNG"


def test_summarize_names_a_missing_directory(tmp_path):
    out = run_module("videoattr.sweep", str(tmp_path / "nope"), check=False)
    assert out.returncode != 0
    assert "does not exist" in out.stderr.strip().splitlines()[-1]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def images_in_chromium(page: str, folder: Path, profile: Path) -> str:
    """Open ``page`` in headless chromium; returns 'images:<count> broken:<count>' once it has loaded
    (an image is broken when it did not decode: naturalWidth 0)."""
    browser = chromium()
    if browser is None:
        assert not os.environ.get("CI"), "CI must install chromium (.ci/run does)"
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    probe = folder / "probe.html"
    probe.write_text(
        page.replace(
            "</body>",
            "<script>window.onload=()=>{"
            "const bad=[...document.images].filter(i=>!i.complete||i.naturalWidth===0);"
            "document.title='images:'+document.images.length+' broken:'+bad.length;};</script></body>",
        )
    )
    dom = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    return re.search(r"<title>(images:\d+ broken:\d+)</title>", dom.stdout).group(1)


@pytest.mark.slow
def test_report_loads_in_headless_chromium_and_shows_its_images(sweep, tmp_path_factory):
    assert f"Report: {sweep / 'report.html'}" in run_module("videoattr.report", str(sweep)).stdout
    page = (sweep / "report.html").read_text()
    assert page.count("data:image/gif;base64,") == 6  # 2 clips x 3 jobs
    assert "data:image/png;base64," in page
    assert images_in_chromium(page, sweep, tmp_path_factory.mktemp("chromium-profile")) == "images:8 broken:0"
