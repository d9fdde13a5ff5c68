"""A short run of the ground-truth benchmark script: our methods, the literal reference, STEP's combined map."""

import numpy as np
import pandas as pd
import pytest

from helpers import run_module


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
        "--no-variants",
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
