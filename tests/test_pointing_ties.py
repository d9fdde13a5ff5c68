"""benchmarks/pointing_ties.py: the pointing game of saved masks with near-maximum values counted as ties."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import run_module


@pytest.mark.slow
def test_pointing_ties_rescores_saved_masks_with_near_ties(tmp_path):
    (tmp_path / "truth").mkdir()
    mask = np.zeros((1, 4, 16, 16), dtype=np.float32)
    mask[0, 1, 12, 12], mask[0, 1, 3, 3] = 1.0, 1.0 - 1e-7  # in frame 1 of the run: frame 2 of the clip
    gt_frames = np.zeros((6, 16, 16), dtype=np.float32)  # a 6-frame clip; the run read frames 0, 2, 4, 5
    gt_frames[2, 2:5, 2:5] = 1.0
    np.savez(tmp_path / "truth" / "a.npz", mask=gt_frames)
    (tmp_path / "run" / "clips").mkdir(parents=True)
    np.savez(
        tmp_path / "run" / "clips" / "a.npz", maps=mask, areas=np.array([0.05]), frame_indices=np.array([0, 2, 4, 5])
    )
    out = run_module(
        "benchmarks.pointing_ties",
        str(tmp_path / "run"),
        "--ties",
        "0",
        "1e-6",
        "--clips",
        str(tmp_path / "truth"),
        "--tolerance",
        "1",
        check=True,
    )
    assert out.stdout.splitlines()[2] == f"| {tmp_path / 'run'} | 0.05 | 1 | 0.000 | 0.500 |"
    missing = run_module("benchmarks.pointing_ties", str(tmp_path / "run"), check=False)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ") and "a.npz is missing" in missing.stderr


@pytest.mark.slow
def test_pointing_ties_scores_maps_without_an_area(tmp_path):
    gt = np.zeros((2, 8, 8), dtype=np.float32)
    gt[0, 1:3, 1:3] = 1.0
    (tmp_path / "truth").mkdir()
    np.savez(tmp_path / "truth" / "a.npz", mask=gt)
    saliency = np.ones((1, 2, 8, 8), dtype=np.float32)  # flat: every pixel ties for the maximum
    (tmp_path / "run" / "clips").mkdir(parents=True)
    np.savez(
        tmp_path / "run" / "clips" / "a.npz", maps=saliency, areas=np.array([np.nan]), frame_indices=np.array([0, 1])
    )
    out = run_module(
        "benchmarks.pointing_ties",
        str(tmp_path / "run"),
        "--ties",
        "0",
        "--clips",
        str(tmp_path / "truth"),
        "--tolerance",
        "0",
        check=True,
    )
    assert out.stdout.splitlines()[2] == f"| {tmp_path / 'run'} |  | 1 | 0.062 |"  # 4 of 64 pixels hit
