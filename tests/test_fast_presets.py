"""The fast presets (2d_ep_fast, 3d_ep_fast, step_fast): they run through the API and the command line,
are deterministic per seed, and benchmarks/fast_presets.py compares their masks with the full fit's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from benchmarks import fast_presets
from helpers import run_cli, run_module, tiny_net
from videoattr import explain

SMALL = {"grid_step": 4, "sigma": 3, "core_shape": [3, 5, 5], "core_stride": [1, 5, 5]}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["step_fast"])  # the presets share the fit; STEP adds the core
def test_a_fast_preset_runs_its_500_iterations_deterministically_per_seed(method):
    clips = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(4))
    runs = [
        explain(tiny_net(), clips, 1, method=method, areas=[0.2], seed=seed, return_details=True, **SMALL)
        for seed in (3, 3)
    ]
    assert runs[0].maps.shape == (1, 1, 4, 16, 16)
    assert runs[0].extras["iterations"].tolist() == [[500]]
    assert torch.equal(runs[0].maps, runs[1].maps)
    assert (runs[0].maps - 1).abs().max() > 0.5  # the masks moved from their all-ones start


@pytest.mark.slow
def test_a_fast_preset_on_the_command_line(tmp_path):
    run_dir = tmp_path / "run"
    run_cli(
        "method=step_fast",
        "method.iterations=3",
        "dataset.limit=1",
        "figures=false",
        "metrics.groups=[]",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    )
    results = pd.read_csv(run_dir / "results.csv")
    assert results["method"].tolist() == ["step_fast"]
    assert np.load(run_dir / "clips" / f"{results['clip'][0]}.npz")["iterations"].tolist() == [3]  # one per area


def test_top_area_agreement_of_known_masks():
    full = np.zeros((2, 4, 5))
    full[0, :2, :2] = 1.0  # 4 voxels of 40: area 0.1
    same, shifted = full.copy(), np.roll(full, 1, axis=2)  # shifted: 2 of its 4 voxels overlap
    assert fast_presets.mask_agreement(same, full, 0.1) == (0.0, 1.0)
    mad, iou = fast_presets.mask_agreement(shifted, full, 0.1)
    assert mad == pytest.approx(4 / 40) and iou == pytest.approx(2 / 6)


def write_run(directory: Path, method: str, masks: dict[str, np.ndarray], pointing: float) -> None:
    (directory / method / "clips").mkdir(parents=True)
    rows = []
    for clip, mask in masks.items():
        np.savez(directory / method / "clips" / f"{clip}.npz", maps=mask[None], areas=np.array([0.1]))
        rows.append(
            {
                "clip": clip,
                "area": 0.1,
                "pointing_game": pointing,
                "energy_in_mask": 0.1,
                "deletion_auc": 0.5,
                "insertion_auc": 0.9,
                "seconds": 4.0 if "fast" in method else 16.0,
            }
        )
    pd.DataFrame(rows).to_csv(directory / method / "results.csv", index=False)


@pytest.mark.parametrize("fast_pointing, status", [(1.0, 0), (0.9, 1)], ids=["met", "missed"])
def test_the_comparison_script_reports_and_exits_by_the_targets(tmp_path, fast_pointing, status):
    mask = np.zeros((2, 4, 5))
    mask[0, :2, :2] = 1.0
    write_run(tmp_path, "step", {"a": mask, "b": mask}, pointing=1.0)
    write_run(tmp_path, "step_fast", {"a": mask, "b": mask}, pointing=fast_pointing)
    out = run_module("benchmarks.fast_presets", str(tmp_path), check=False)
    assert out.returncode == status, out.stderr
    table = (tmp_path / "fast_presets.md").read_text().splitlines()
    assert table[2].startswith("| step | 0.1 | 2 | 1.000 | 0.0000 | 1 -> ")
    assert table[2].endswith(f"| 16 -> 4 | {'met' if status == 0 else 'missed'} |")
    per_clip = pd.read_csv(tmp_path / "fast_presets.csv")
    assert per_clip["clip"].tolist() == ["a", "b"] and (per_clip["iou"] == 1.0).all()


def test_the_comparison_script_refuses_runs_without_common_masks(tmp_path):
    mask = np.zeros((2, 4, 5))
    write_run(tmp_path, "step", {"a": mask}, pointing=1.0)
    write_run(tmp_path, "step_fast", {"b": mask}, pointing=1.0)
    out = run_module("benchmarks.fast_presets", str(tmp_path), check=False)
    assert out.returncode == 1 and out.stderr.startswith("error: no clip has masks (clips/*.npz) in both runs")
    assert "Traceback" not in out.stderr and not (tmp_path / "fast_presets.md").exists()
