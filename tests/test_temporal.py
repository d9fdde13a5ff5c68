"""When a map puts its relevance: per-frame curves, their peak and half-mass window, in the .npz,
results.csv and the figure of a real run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmarks.temporal_grounding import method_overrides
from helpers import ROOT, run_cli
from videoattr.temporal import (
    frame_kept,
    frame_relevance,
    half_mass_window,
    summary,
    temporal_pointing,
    top_window_iou,
)


def test_frame_relevance_is_each_maps_share_per_frame():
    maps = np.zeros((2, 4, 3, 3))
    maps[0, 1] = 1.0
    maps[0, 2, 0, 0] = 9.0  # frame 1: 9, frame 2: 9
    maps[1, 3, :2] = 0.5  # frame 3 only
    shares = frame_relevance(maps)
    assert shares == pytest.approx(np.array([[0, 0.5, 0.5, 0], [0, 0, 0, 1]]))
    assert frame_relevance(np.zeros((1, 4, 2, 2))).tolist() == [[0, 0, 0, 0]]
    assert frame_kept(maps[1:])[0] == pytest.approx([0, 0, 0, 3 / 9])


@pytest.mark.parametrize(
    ("curve", "window"),
    [
        ([0, 0, 5, 0, 0], (2, 1)),  # one frame holds it all
        ([1, 1, 1, 1], (0, 2)),  # uniform: half the frames, the earliest
        ([3, 0, 0, 1, 1, 1, 0], (0, 1)),  # exactly half in one frame
        ([1, 0, 2, 2, 0, 1], (2, 2)),
        ([1, 2, 0, 0, 0, 2, 2, 1], (5, 2)),  # the later of two runs is shorter
        ([0, 0, 0], (0, 3)),  # no mass: the whole clip
    ],
)
def test_half_mass_window_is_the_shortest_run_of_frames_holding_half(curve, window):
    assert half_mass_window(np.array(curve, float)) == window
    start, frames = window
    if sum(curve):  # brute force: no shorter run holds half
        shorter = [sum(curve[i : i + frames - 1]) for i in range(len(curve))]
        assert max(shorter) < sum(curve) / 2 <= sum(curve[start : start + frames])


def test_summary_names_the_first_peak():
    assert summary(np.array([0.1, 0.3, 0.4, 0.2])) == {"peak_frame": 2, "half_mass_start": 1, "half_mass_frames": 2}
    assert summary(np.array([0.4, 0.1, 0.4, 0.1]))["peak_frame"] == 0


def test_temporal_grounding_scores_trivial_curves_badly():
    """Evidence in frames 10-13 of 16: a peak there scores 1; a uniform curve, a centre-in-time bump and an
    early peak score low."""
    evidence = np.arange(16) >= 10
    evidence[14:] = False
    on = np.where(evidence, 1.0, 0.1)
    assert (temporal_pointing(on, evidence), top_window_iou(on, evidence)) == (1.0, 1.0)
    uniform = np.ones(16)
    assert temporal_pointing(uniform, evidence) == pytest.approx(4 / 16)  # a random frame's chance
    runs = [0] * 7 + [1 / 7, 2 / 6, 3 / 5, 1, 3 / 5, 2 / 6]  # the IoU of each run of 4 frames
    assert top_window_iou(uniform, evidence) == pytest.approx(np.mean(runs))  # a run placed at random
    centre = np.exp(-((np.arange(16) - 7.5) ** 2) / 8)
    assert temporal_pointing(centre, evidence) == 0.0 and top_window_iou(centre, evidence) == 0.0  # frames 6-9
    assert np.isnan(temporal_pointing(on, np.zeros(16, bool)))


@pytest.mark.slow
def test_a_run_records_when_each_map_puts_its_relevance(tmp_path):
    """grad on two synthetic clips: the per-frame shares in the .npz match results.csv's columns, and the
    peak falls on a frame where the red disk (the evidence, gt mask) is."""
    run_cli("method=grad", "dataset.limit=2", "metrics.groups=[localisation]", f"hydra.run.dir={tmp_path}")
    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 2
    for _, row in results.iterrows():
        with np.load(tmp_path / "clips" / f"{row['clip']}.npz") as data:
            shares, maps = data["frame_relevance"], data["maps"]
        assert "frame_kept" not in data.files  # masks only
        assert shares.shape == (1, 16) and shares.sum() == pytest.approx(1.0)
        assert shares[0] == pytest.approx(maps[0].reshape(16, -1).sum(axis=1) / maps.sum())
        assert row["peak_frame"] == int(shares[0].argmax())
        start, frames = half_mass_window(shares[0])
        assert (row["half_mass_start"], row["half_mass_frames"]) == (start, frames) and frames < 16
        with np.load(ROOT / "videoattr/assets/synthetic/clips" / f"{row['clip']}.npz") as gt:
            evidence = gt["mask"].reshape(16, -1).any(axis=1)
        assert evidence[row["peak_frame"]]
    with Image.open(tmp_path / "figures" / f"{results['clip'][0]}.png") as figure:
        assert figure.height > 200  # frames, the overlay row and the curve row


def test_the_grounding_benchmark_runs_a_method_with_its_options():
    assert method_overrides("3d_ep_fast+temporal_frames=0.5+segment=2") == [
        "method=3d_ep_fast",
        "method.temporal_frames=0.5",
        "method.segment=2",
    ]
    assert method_overrides("grad") == ["method=grad"]
