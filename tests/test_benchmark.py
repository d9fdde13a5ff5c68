"""A short run of the ground-truth benchmark script: our methods, the literal reference, STEP's combined map."""

import numpy as np
import pandas as pd
import pytest

from helpers import run_module


@pytest.mark.slow
def test_short_benchmark_writes_its_table_beside_the_reference(tmp_path):
    out = run_module(
        "benchmarks.benchmark",
        "--methods",
        "grad",
        "centre",
        "3d_ep",
        "step",
        "--iterations",
        "3",
        "--clips",
        "2",
        "--areas",
        "0.02",
        "--reference",
        "3d_ep",
        "--reference-jobs",
        "2",
        "--device",
        "cpu",
        "--combined-areas",
        "0.05",
        "0.1",
        "--out",
        str(tmp_path),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "benchmark.csv")
    assert summary["method"].tolist() == ["grad", "3d_ep", "reference_3d_ep", "step", "step (areas combined)", "centre"]
    assert (summary["clips"] == 2).all()
    rows = summary.set_index("method")
    assert rows.loc["3d_ep", "area"] == rows.loc["reference_3d_ep", "area"] == 0.02
    assert rows.loc["3d_ep", "iterations"] == rows.loc["reference_3d_ep", "iterations"] == 3
    assert np.isnan(rows.loc["step (areas combined)", "area"])
    # the centre prior ignores the clip: its evidence is off-centre on these clips, so it never points at it
    assert rows.loc["centre", "pointing_game"] == 0.0
    # the spread is the standard deviation across the clips of all_results.csv
    results = pd.read_csv(tmp_path / "all_results.csv")
    reference = results[results["method"] == "reference_3d_ep"]
    assert sorted(reference["clip"]) == ["down-100_0", "down-100_1"]
    assert rows.loc["reference_3d_ep", "energy_in_mask_std"] == pytest.approx(np.std(reference["energy_in_mask"]))
    assert rows.loc["reference_3d_ep", "energy_in_mask"] == pytest.approx(reference["energy_in_mask"].mean())
    table = (tmp_path / "benchmark.md").read_text().splitlines()
    assert table[0].startswith("| method | area | clips | iterations | pointing_game")
    assert len(table) == 2 + 6 and "±" in table[2]
    assert table[0] in out.stdout
    assert "down-100_1" in (tmp_path / "per_clip.md").read_text()
    assert (tmp_path / "loss_curves.png").stat().st_size > 10_000


def test_table_puts_each_methods_cost_beside_its_scores_and_a_row_per_grad_cam_weighting():
    from benchmarks.benchmark import jobs, label_variants, markdown, table, table_order

    assert jobs(["grad_cam", "rise"], ["per_time", "elementwise"]) == [
        ("grad_cam_per_time", "grad_cam", ["method.channel_weights=per_time"]),
        ("grad_cam_elementwise", "grad_cam", ["method.channel_weights=elementwise"]),
        ("rise", "rise", []),
    ]
    rows = []
    for job, method, passes, backward in [
        ("rise", "rise", 500, 0),
        ("grad_cam_elementwise", "grad_cam", 1, 1),
        ("grad_cam_per_time", "grad_cam", 1, 1),
        ("random", "random", 0, 0),
    ]:
        for clip, pointing in [("a", 1.0), ("b", 0.5)]:
            rows.append(
                {
                    "job": job, "method": method, "clip": clip, "area": np.nan, "map": "single",
                    "pointing_game": pointing, "energy_in_mask": 0.1, "forward_passes": passes,
                    "backward_passes": backward, "seconds": 2.0 if clip == "a" else 4.0,
                }
            )  # fmt: skip
    summary = table(label_variants(pd.DataFrame(rows)), table_order())
    assert summary["method"].tolist() == ["grad_cam (per_time)", "grad_cam (elementwise)", "rise", "random"]
    assert summary.set_index("method").loc["rise", ["forward_passes", "backward_passes", "seconds"]].tolist() == [
        500,
        0,
        3.0,
    ]
    lines = markdown(summary).splitlines()
    assert lines[0] == (
        "| method | area | clips | pointing_game | energy_in_mask | forward_passes | backward_passes | seconds |"
    )
    assert lines[4] == "| rise |  | 2 | 0.75 ± 0.25 | 0.1 ± 0 | 500 | 0 | 3 |"


@pytest.mark.slow
def test_benchmark_runs_the_removal_methods_and_grad_cam_weightings_with_their_cost(tmp_path):
    out = run_module(
        "benchmarks.benchmark",
        *("--methods", "grad_cam", "occlusion", "random", "--clips", "1", "--reference", "--combined-areas"),
        *("--grad-cam-weights", "per_time", "elementwise"),
        *("--method-options", "occlusion.window=[16,56,56]", "occlusion.stride=[16,56,56]", "--out", str(tmp_path)),
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    rows = pd.read_csv(tmp_path / "benchmark.csv").set_index("method")
    assert rows.index.tolist() == ["grad_cam (per_time)", "grad_cam (elementwise)", "occlusion", "random"]
    assert rows["forward_passes"].tolist() == [1, 1, 2 * 2 + 1, 0]  # occlusion: 1 x 2 x 2 windows + the clean clip
    assert rows["backward_passes"].tolist() == [1, 1, 0, 0]
    assert (rows["seconds"] > 0).all()
    assert rows.loc["grad_cam (per_time)", "energy_in_mask"] != rows.loc["grad_cam (elementwise)", "energy_in_mask"]
