"""A short run of the ground-truth benchmark script: our methods, the literal reference, STEP's combined map."""

import io

import numpy as np
import pandas as pd
import pytest

from helpers import run_module


@pytest.mark.slow
def test_short_benchmark_writes_its_table_beside_the_reference(tmp_path):
    # STEP serves as our method beside its literal reference and as the combined map's fit (grad and 3D-EP
    # through the benchmark: the variants test and test_speed's equality with the reference)
    out = run_module(
        "benchmarks.benchmark",
        "--methods",
        "centre",
        "step",
        "--iterations",
        "3",
        "--clips",
        "2",
        "--areas",
        "0.02",
        "--reference",
        "step",
        "--reference-jobs",
        "2",
        "--device",
        "cpu",
        "--combined-areas",
        "0.05",
        "0.1",
        "--out",
        str(tmp_path),
        "--no-variants",
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "benchmark.csv")
    assert summary["method"].tolist() == ["step", "reference_step", "step (areas combined)", "centre"]
    assert (summary["clips"] == 2).all()
    rows = summary.set_index("method")
    assert rows.loc["step", "area"] == rows.loc["reference_step", "area"] == 0.02
    assert rows.loc["step", "iterations"] == rows.loc["reference_step", "iterations"] == 3
    assert np.isnan(rows.loc["step (areas combined)", "area"])
    # the centre prior ignores the clip: its evidence is off-centre on these clips, so it never points at it
    assert rows.loc["centre", "pointing_game"] == 0.0
    # the spread is the standard deviation across the clips of all_results.csv
    results = pd.read_csv(tmp_path / "all_results.csv")
    reference = results[results["method"] == "reference_step"]
    assert sorted(reference["clip"]) == ["down-100_0", "down-100_1"]
    assert rows.loc["reference_step", "energy_in_mask_std"] == pytest.approx(np.std(reference["energy_in_mask"]))
    assert rows.loc["reference_step", "energy_in_mask"] == pytest.approx(reference["energy_in_mask"].mean())
    table = (tmp_path / "benchmark.md").read_text().splitlines()
    assert table[0].startswith("| method | area | clips | iterations | objective_met | pointing_game")
    assert len(table) == 2 + 4 and "±" in table[2]
    assert table[0] in out.stdout
    assert "down-100_1" in (tmp_path / "per_clip.md").read_text()
    assert (tmp_path / "loss_curves.png").stat().st_size > 10_000
    # the reliability tables (no random map: no test against it); the variants are left out (--no-variants)
    agreement = pd.read_csv(tmp_path / "reliability.csv").set_index("metric")
    assert set(agreement.index) == {
        "pointing_game", "energy_in_mask", "mass_in_evidence_frames", "deletion_auc", "insertion_auc"
    }  # fmt: skip
    assert (agreement["clips"] == 2).all() and agreement["kendall_w"].between(0, 1).all()
    assert not (tmp_path / "faithfulness.md").exists()
    assert "Kendall's W" in out.stdout and "beats the random map" not in out.stdout  # no random map was run


@pytest.mark.slow
def test_benchmark_scores_the_fade_and_supervoxel_variants_and_their_reliability(tmp_path):
    run_module("benchmarks.benchmark", "--methods", "grad", "random", "edges", "--clips", "2", "--reference",
               "--combined-areas", "--out", str(tmp_path))  # fmt: skip
    results = pd.read_csv(tmp_path / "all_results.csv")
    variants = [f"{mode}_auc_{suffix}" for suffix in ("zero", "supervoxels", "zero_supervoxels")
                for mode in ("deletion", "insertion")]  # fmt: skip
    assert results[variants].notna().all().all() and results[variants].stack().between(0, 1).all()
    saved = pd.read_csv(tmp_path / "grad" / "faithfulness_variants.csv")
    assert sorted(saved["clip"]) == ["down-100_0", "down-100_1"]
    assert "zero, supervoxels: deletion / insertion" in (tmp_path / "faithfulness.md").read_text()
    agreement = pd.read_csv(tmp_path / "reliability.csv").set_index("metric")
    assert set(variants) <= set(agreement.index) and (agreement["maps"] == 3).all()
    versus = pd.read_csv(tmp_path / "reliability_vs_random.csv")
    assert set(versus["map"]) == {"grad", "edges"} and (versus["clips"] == 2).all()
    # gradients put the disk first: on both clips they delete it sooner than the random map does
    grad = versus[(versus["map"] == "grad") & (versus["metric"] == "deletion_auc")].iloc[0]
    assert grad["wins"] == 2 and grad["sign_p"] == 0.25
    # a rerun scores nothing again: the saved variants are reused, their file left as it was
    written = (tmp_path / "grad" / "faithfulness_variants.csv").stat().st_mtime_ns
    again = run_module("benchmarks.benchmark", "--methods", "--clips", "2", "--reference", "--combined-areas",
                       "--out", str(tmp_path))  # fmt: skip
    assert "Kendall's W" in again.stdout
    assert (tmp_path / "grad" / "faithfulness_variants.csv").stat().st_mtime_ns == written
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "all_results.csv")[variants], results[variants])


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


def test_the_table_gives_the_share_of_masks_that_met_their_objective():
    from benchmarks.benchmark import markdown, table, table_order

    csv = "job,method,clip,area,map,objective_met,pointing_game,energy_in_mask\n" + "\n".join(
        [
            "fit,3d_ep_fast,a,0.02,single,True,1,0.1",
            "fit,3d_ep_fast,b,0.02,single,False,0.5,0.1",
            "grad,grad,a,,single,,1,0.2",
        ]
    )
    summary = table(pd.read_csv(io.StringIO(csv)), table_order()).set_index("method")
    assert summary.loc["3d_ep_fast", "objective_met"] == 0.5 and np.isnan(summary.loc["grad", "objective_met"])
    assert "| 3d_ep_fast | 0.02 | 2 | 0.5 | 0.75 ± 0.25 |" in markdown(table(pd.read_csv(io.StringIO(csv)), []))


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
