"""Masks you can trust: the baseline probability of every explained clip (the target probability of
the fully perturbed clip, with a warning when the model needs no visible evidence) and the graded map
combined from the masks of several areas. Checked against independent computations and through real
``python run.py`` runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir
from PIL import Image

import videoattr
from benchmarks.reference import gaussian_blur
from helpers import ROOT, run_cli, tiny_net
from videoattr.data.datasets import build_dataset
from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation import combine_masks, fully_perturbed
from videoattr.methods.perturbation.options import resolve_options
from videoattr.methods.perturbation.pyramid import blur_pyramid, fade_pyramid
from videoattr.models import load_model
from videoattr.viz import probability_line

CLIP = "down-100_0"  # the first synthetic clip in name order
FAST = ["dataset.limit=1", "metrics.groups=[localisation,smoothness]"]
FIT = ["method.compile=false", "trainer.enable_progress_bar=false"]
WARNING = "predicts this target without visible evidence"


def read_npz(path: Path) -> dict:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def independent_baseline(overrides: list[str], sigma: float) -> float:
    """The target probability of the first clip of a run's dataset with every frame blurred by the
    reference Gaussian of ``sigma``, computed here from the config, the model and the clip."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    net, spec = load_model(cfg.model)
    item = build_dataset(cfg.dataset, spec, seed=cfg.seed)[0]
    assert item["name"] == CLIP
    clip = item["clip"]
    blurred = torch.stack([gaussian_blur(clip[:, t], sigma) for t in range(clip.shape[1])], dim=1)
    with torch.no_grad():
        return float(torch.softmax(net(blurred[None]).double(), dim=1)[0, item["target"]])


def independent_combination(masks: np.ndarray, sigma: float) -> np.ndarray:
    """N x A x T x H x W -> N x 1 x T x H x W in numpy, as the authors' ``sum_masks`` (sum over the
    areas, skimage.filters.gaussian of each frame: mode 'nearest', truncated at 4 sigma, then / max):
    the Gaussian is a dense H x H (W x W) matrix whose taps beyond the frame land on its edge pixel."""
    radius = math.ceil(4 * sigma)
    taps = np.exp(-(np.arange(-radius, radius + 1) ** 2) / (2 * sigma**2))
    taps /= taps.sum()

    def matrix(size: int) -> np.ndarray:
        weights = np.zeros((size, size))
        for i in range(size):
            for k, tap in zip(range(-radius, radius + 1), taps):
                weights[i, min(max(i + k, 0), size - 1)] += tap
        return weights

    total = masks.astype(np.float64).sum(axis=1, keepdims=True)
    rows, cols = matrix(masks.shape[-2]), matrix(masks.shape[-1])
    smooth = np.einsum("ij,...jk,lk->...il", rows, total, cols)
    return smooth / smooth.reshape(len(smooth), -1).max(axis=1).reshape(-1, 1, 1, 1, 1)


# --- the fully perturbed clip and its probability --------------------------------------------


def test_fully_perturbed_clip_is_level_zero_of_the_fit_pyramids():
    clips = torch.randn(2, 3, 3, 40, 44, generator=torch.Generator().manual_seed(0))
    assert torch.equal(fully_perturbed(clips, "blur", 20.0), blur_pyramid(clips, 8, 20.0)[:, 0])
    assert torch.equal(fully_perturbed(clips, "blur", 7.5), blur_pyramid(clips, 4, 7.5)[:, 0])
    assert torch.equal(fully_perturbed(clips, "fade"), fade_pyramid(clips, 8)[:, 0])
    reference = torch.stack([gaussian_blur(clips[0, :, t], 20.0) for t in range(3)], dim=1)
    torch.testing.assert_close(fully_perturbed(clips, "blur", 20.0)[0], reference, atol=1e-6, rtol=0)


def test_figure_title_lists_every_probability():
    assert probability_line(0.987) == "p(target): clean 0.99"
    assert probability_line(0.99, 0.25, np.array([0.98, 0.97]), np.array([0.1, 0.05])) == (
        "p(target): clean 0.99, baseline 0.25, preserved 0.98 / 0.97, deleted 0.10 / 0.05"
    )


@pytest.fixture(scope="module")
def perturbation_run(tmp_path_factory):
    """3D-EP with two areas, its own max_blur (12) and the combined map."""
    out = tmp_path_factory.mktemp("ep3d")
    overrides = ["method=3d_ep", "method.iterations=3", "area=[0.05,0.1]", "method.combine=sum", "method.max_blur=12"]
    run_cli(*overrides, *FAST, *FIT, f"hydra.run.dir={out}")
    return out, overrides


def test_prob_baseline_of_a_perturbation_method_uses_its_own_blur(perturbation_run):
    out, overrides = perturbation_run
    expected = independent_baseline(overrides + FAST[:1], sigma=12.0)
    table = pd.read_csv(out / "results.csv")
    assert table["prob_baseline"].to_numpy() == pytest.approx([expected] * 3, abs=1e-5)
    data = read_npz(out / "clips" / f"{CLIP}.npz")
    assert float(data["prob_baseline"]) == pytest.approx(expected, abs=1e-5)
    # the synthetic model needs the red disk: blurred away, the target is much less likely
    assert table["target_prob"].iloc[0] - expected > 0.1
    assert WARNING not in (out / "run.log").read_text()


def test_prob_baseline_of_a_backprop_method_uses_the_default_blur(tmp_path):
    overrides = ["method=grad"]
    out = run_cli(*overrides, *FAST, f"hydra.run.dir={tmp_path}")
    expected = independent_baseline(overrides + FAST[:1], sigma=20.0)
    row = pd.read_csv(tmp_path / "results.csv").iloc[0]
    assert row["prob_baseline"] == pytest.approx(expected, abs=1e-5)
    assert row["map"] == "single" and math.isnan(row["area"])
    assert float(read_npz(tmp_path / "clips" / f"{CLIP}.npz")["prob_baseline"]) == pytest.approx(expected, abs=1e-5)
    assert WARNING not in out.stdout + out.stderr


BIASED_MODEL = '''
import torch
from torch import nn


class Biased(nn.Module):
    """Predicts class 1 whatever the clip shows."""

    def __init__(self):
        super().__init__()
        self.logits = nn.Parameter(torch.tensor([0.0, 3.0, 0.0, 0.0]))

    def forward(self, x):
        return self.logits.expand(x.shape[0], -1) + 0 * x.mean(dim=(1, 2, 3, 4))[:, None]
'''


@pytest.mark.slow
def test_a_model_that_needs_no_evidence_is_warned_about_once_per_clip(tmp_path):
    (tmp_path / "biased.py").write_text(BIASED_MODEL)
    out_dir = tmp_path / "run"
    out = run_cli(
        "model=custom",
        "model.target=biased.Biased",
        "model.classes=${asset:synthetic/classes.json}",
        "model.resize=[112,112]",
        "model.crop=[112,112]",
        "model.mean=[0.5,0.5,0.5]",
        "model.std=[0.25,0.25,0.25]",
        "method=centre",
        "target=1",
        "metrics.groups=[smoothness]",
        "dataset.limit=1",
        f"hydra.run.dir={out_dir}",
        env={"PYTHONPATH": str(tmp_path)},
    )
    row = pd.read_csv(out_dir / "results.csv").iloc[0]
    assert row["prob_baseline"] == pytest.approx(row["target_prob"], abs=1e-6)
    lines = [line for line in (out_dir / "run.log").read_text().splitlines() if WARNING in line]
    assert len(lines) == 1
    assert "WARNING" in lines[0] and f"Clip {CLIP}: target down has probability" in lines[0]
    assert f"{row['target_prob']:.3f} on the clean clip and {row['prob_baseline']:.3f}" in lines[0]
    assert (out.stdout + out.stderr).count(WARNING) == 1


# --- the graded map combined from several areas -------------------------------------------------


def test_combine_masks_sums_smooths_each_frame_and_divides_by_the_maximum():
    rng = np.random.default_rng(0)
    masks = (rng.random((2, 3, 4, 30, 36)) > 0.7).astype(np.float32)
    masks[1, :, :, 10:14, 5:9] = 1.0  # a block kept at every area
    combined = combine_masks(torch.from_numpy(masks), sigma=4.0)
    assert combined.shape == (2, 1, 4, 30, 36)
    np.testing.assert_allclose(combined.numpy(), independent_combination(masks, 4.0), atol=1e-6)
    assert combined.flatten(1).amax(dim=1).tolist() == [1.0, 1.0]
    # frames are smoothed one by one: a frame of zeros stays zero; a full frame has no dark border
    masks[:, :, 2] = 0
    masks[:, :, 3] = 1
    combined = combine_masks(torch.from_numpy(masks), 4.0)
    assert combined[:, :, 2].abs().max() == 0
    torch.testing.assert_close(combined[:, :, 3], torch.ones(2, 1, 30, 36))
    assert combine_masks(torch.zeros(1, 2, 2, 8, 8)).abs().max() == 0


def test_combine_options_and_too_few_areas_are_refused():
    assert resolve_options("step", {}).combine is None and resolve_options("step", {}).combine_sigma == 10.0
    with pytest.raises(VideoAttrError, match=r"Invalid combine=max: use null or sum\."):
        resolve_options("3d_ep", {"combine": "max"})
    clips = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    with pytest.raises(VideoAttrError, match=r"combine=sum needs at least 2 areas.*area=\[0.05,0.1,0.15,0.5\]"):
        videoattr.explain(tiny_net(), clips, 1, method="3d_ep", areas=[0.1], combine="sum", iterations=1)


def test_explain_with_combine_returns_the_combined_map_in_its_details():
    clips = torch.randn(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    result = videoattr.explain(
        tiny_net(),
        clips,
        [1, 2],
        method="step",
        areas=[0.05, 0.1, 0.5],
        combine="sum",
        combine_sigma=3.0,
        iterations=2,
        grid_step=4,
        sigma=3,
        core_shape=[3, 5, 5],
        core_stride=[1, 5, 5],
        compile=False,
        return_details=True,
    )
    assert result.maps.shape == (2, 3, 4, 16, 16)
    combined = result.extras["combined"]
    assert combined.shape == (2, 1, 4, 16, 16)
    np.testing.assert_allclose(combined, independent_combination(result.maps.numpy(), 3.0), atol=1e-6)


def test_run_writes_the_combined_row_figure_row_and_npz_key(perturbation_run):
    out, _ = perturbation_run
    table = pd.read_csv(out / "results.csv")
    assert table["map"].tolist() == ["single", "single", "combined"]
    assert table["area"].tolist()[:2] == [0.05, 0.1] and math.isnan(table["area"].iloc[2])
    combined_row = table.iloc[2]
    for metric in ("pointing_game", "energy_in_mask", "mass_in_evidence_frames", "tv_space", "tv_time"):
        assert np.isfinite(combined_row[metric])
    assert math.isnan(combined_row["prob_preserved"])
    data = read_npz(out / "clips" / f"{CLIP}.npz")
    assert data["maps"].shape == (2, 16, 112, 112) and data["combined"].shape == (1, 16, 112, 112)
    np.testing.assert_allclose(
        data["combined"], combine_masks(torch.from_numpy(data["maps"])[None], 10.0)[0], atol=1e-6
    )
    assert data["combined"].max() == pytest.approx(1.0)
    assert [r["map"] for r in json.loads(str(data["rows"]))] == ["single", "single", "combined"]
    # the input row, one row per area, the combined row and the per-frame curves: 5 rows of 1.2 inches at 80 dpi
    with Image.open(out / "figures" / f"{CLIP}.png") as png:
        assert png.size[1] == round(5 * 1.2 * 80)
    with Image.open(out / "figures" / f"{CLIP}.gif") as gif:
        assert gif.size == (4 * 112, 112)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mean_combined"]["pointing_game"] == pytest.approx(combined_row["pointing_game"])
    assert summary["mean"]["pointing_game"] == pytest.approx(table["pointing_game"].iloc[:2].mean())


def test_sweep_summary_keeps_the_combined_map_apart(perturbation_run, tmp_path):
    from videoattr.sweep import summarize

    out, _ = perturbation_run
    job = tmp_path / "synthetic" / "3d_ep"
    job.mkdir(parents=True)
    (job / "results.csv").write_bytes((out / "results.csv").read_bytes())
    summary = pd.read_csv(summarize(tmp_path))
    assert summary[["method", "map", "clips"]].values.tolist() == [
        ["3d_ep", "combined", 1],
        ["3d_ep", "single", 1],
        ["3d_ep", "single", 1],
    ]
    assert math.isnan(summary["area"].iloc[0]) and summary["area"].tolist()[1:] == [0.05, 0.1]
    table = pd.read_csv(out / "results.csv")
    assert summary["pointing_game"].iloc[0] == pytest.approx(table["pointing_game"].iloc[2])


def test_one_area_with_combine_stops_the_run_before_its_first_clip(tmp_path):
    out = run_cli(
        "method=3d_ep",
        "method.combine=sum",
        "area=0.1",
        "dataset.limit=1",
        f"hydra.run.dir={tmp_path / 'r'}",
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: combine=sum needs at least 2 areas")
    assert "method.combine=null" in out.stderr and not (tmp_path / "r").exists()
