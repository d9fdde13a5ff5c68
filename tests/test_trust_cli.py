"""python run.py with the fit diagnostics and check=randomisation, single runs and a sweep, read back from disk."""

import json

import pandas as pd
import pytest

from helpers import run_cli, run_module

ONE_CLIP = ["dataset.limit=1", "metrics.groups=[]", "trainer.enable_progress_bar=false"]


@pytest.mark.slow
def test_a_perturbation_run_reports_its_diagnostics_and_its_randomisation_check(tmp_path):
    args = ["method=3d_ep", "method.iterations=2", "method.compile=false", "area=[0.05,0.1]", "check=randomisation",
            "check.steps=2", *ONE_CLIP, f"hydra.run.dir={tmp_path}"]  # fmt: skip
    out = run_cli(*args)
    results = pd.read_csv(tmp_path / "results.csv")
    assert {"preserve_effect", "delete_effect", "area_kept", "objective_met"} <= set(results.columns)
    # two iterations leave the masks almost all ones: every mask keeps far more than its area
    assert (results["area_kept"] > 0.5).all() and (results["objective_met"] == False).all()  # noqa: E712
    summary = json.loads((tmp_path / "summary.json").read_text())
    missed = summary["objective_missed"]
    assert [m["area"] for m in missed] == [0.05, 0.1] and "method.area_weight" in missed[0]["advice"]
    assert "2 mask(s) missed their objective: down-100_0 (area 0.05), down-100_0 (area 0.1)" in out.stdout
    assert "down-100_0, area 0.05: the mask missed its objective" in (tmp_path / "run.log").read_text()
    # the cascade of the synthetic model: 9 layers, explained at 0, 4 (rounded from 4.5) and 9 of them
    sanity = pd.read_csv(tmp_path / "sanity.csv")
    assert sanity["randomised"].drop_duplicates().tolist() == [0, 4, 9] and len(sanity) == 3 * 2
    assert sanity["layer"].fillna("").drop_duplicates().tolist() == ["", "layer3.1", "layer1.0"]
    verdicts = pd.read_csv(tmp_path / "sanity_verdicts.csv")
    assert verdicts["area"].tolist() == [0.05, 0.1] and len(summary["sanity"]["layers"]) == 9
    assert (tmp_path / "sanity.png").stat().st_size > 10_000
    assert (tmp_path / "figures" / "down-100_0_sanity.png").stat().st_size > 10_000
    # a rerun with another verdict bound skips the clip (the bound changes no clip's files) and rebuilds the tables
    again = run_cli(*args, "check.threshold=1.0")
    assert "skipping down-100_0" in (tmp_path / "run.log").read_text() and "Explained 1 clip" in again.stdout
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "sanity.csv"), sanity)
    rejudged = pd.read_csv(tmp_path / "sanity_verdicts.csv")
    assert (rejudged["passed"] == (rejudged[["spearman", "iou"]].min(axis=1) < 1.0)).all()
    assert json.loads((tmp_path / "summary.json").read_text())["sanity"]["threshold"] == 1.0
    # the report's trust section: both masks missed, with what to try; the check's verdicts and figures
    page = report_page(tmp_path)
    assert "0 of 2 perturbation masks met their objective" in page
    assert page.count("method.area_weight</td>") == 2
    assert "of 2 passed</h4>" in page and page.count('<td class="l">down-100_0</td>') == 2
    assert "maps along the randomisation cascade" in page


@pytest.mark.slow
def test_a_sweep_of_sanity_checks_is_gathered(tmp_path):
    run_cli("-m", "check=randomisation", "method=centre,grad", "check.steps=1", *ONE_CLIP,
            f"hydra.sweep.dir={tmp_path}")  # fmt: skip
    summary = pd.read_csv(tmp_path / "sanity_summary.csv").set_index("method")
    assert summary.loc["centre", "spearman"] == 1.0 and summary.loc["centre", "passed"] == 0
    assert summary.loc["grad", "spearman"] < 0.5 and summary.loc["grad", "passed"] == 1
    assert "check=randomisation" in summary.loc["grad", "job"]
    assert (tmp_path / "plot_sanity.png").is_file() and (tmp_path / "summary.csv").is_file()
    page = report_page(tmp_path)
    assert page.count("of 1 passed</h4>") == 2 and 'class="sanity-summary"' in page
    assert "Fit diagnostics" not in page  # no perturbation mask in this sweep


def report_page(directory) -> str:
    run_module("videoattr.report", str(directory))
    return (directory / "report.html").read_text()
