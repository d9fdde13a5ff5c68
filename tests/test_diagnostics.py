"""Fit diagnostics: whether each perturbation mask met its objective, and at what area."""

import math

import numpy as np
import pytest
import torch

from helpers import tiny_net
from videoattr import explain
from videoattr.methods.perturbation.baseline import baseline_probability
from videoattr.methods.perturbation.diagnostics import (
    AREA_MAX_RATIO,
    DELETE_MIN,
    PRESERVE_MIN,
    advice,
    effects,
    fit_diagnostics,
)
from videoattr.results import ClipResult, result_rows

TINY_FIT = {"iterations": 3, "grid_step": 2, "sigma": 2.0, "compile": False}


def test_effects_are_shares_of_the_clean_clips_lead_over_the_fully_perturbed_one():
    clean, base = np.array([[0.9], [0.5], [0.3]]), np.array([[0.1], [0.45], [0.25]])
    preserve, delete = effects(clean, base, np.array([[0.7], [0.5], [0.3]]), np.array([[0.3], [0.46], [0.2]]))
    # clip 0: the lead is 0.8; the preserved clip keeps 0.6 of it, the deleted one loses 0.6
    assert preserve[0, 0] == pytest.approx(0.75) and delete[0, 0] == pytest.approx(0.75)
    # clips 1 and 2 lead by 0.05 only (< MIN_LEAD = 0.1): the model needs no evidence, nothing is judged
    assert np.isnan(preserve[1:]).all() and np.isnan(delete[1:]).all()


@pytest.mark.parametrize(
    ("variant", "met"),
    [("preserve", [1.0, 0.0, 0.0, 1.0]), ("delete", [1.0, 0.0, 1.0, 0.0]), ("dual", [1.0, 0.0, 0.0, 0.0])],
)
def test_objective_met_follows_the_variant_and_the_area(variant, met):
    # 4 clips x 1 area (0.1); clip 1's mask keeps 0.6 of the clip (6 x its area)
    maps = np.zeros((4, 1, 2, 10, 10))
    maps[:, :, :, :1] = 1.0  # a tenth of every frame
    maps[1, :, :, :6] = 1.0
    clean, base = np.full(4, 0.9), np.full(4, 0.1)
    preserved = np.array([[0.9], [0.9], [0.5], [0.85]])  # effects 1, 1, 0.5, 0.94
    deleted = np.array([[0.1], [0.1], [0.2], [0.6]])  # effects 1, 1, 0.875, 0.375
    found = fit_diagnostics(variant, [0.1], maps, clean, base, preserved, deleted)
    assert found["area_kept"][:, 0].tolist() == pytest.approx([0.1, 0.6, 0.1, 0.1])
    assert found["preserve_effect"][:, 0].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.9375])
    assert found["delete_effect"][:, 0].tolist() == pytest.approx([1.0, 1.0, 0.875, 0.375])
    assert found["objective_met"][:, 0].tolist() == met
    assert all(v.shape == (4, 1) and v.dtype == np.float64 for v in found.values())


def test_thresholds_are_the_documented_ones():
    assert (PRESERVE_MIN, DELETE_MIN, AREA_MAX_RATIO) == (0.9, 0.5, 5.0)


def test_advice_names_what_was_missed_and_what_to_try():
    row = {"area": 0.02, "area_kept": 0.021, "preserve_effect": 0.41, "delete_effect": 0.02, "objective_met": False}
    text = advice(row, "preserve")
    assert text.startswith("preserve_effect 0.41 < 0.9: try more iterations (method.iterations)")
    assert "method.reward_weight" in text and "larger area" in text and "delete_effect" not in text
    assert "delete_effect 0.02 < 0.5" in advice(row, "dual")
    too_big = dict(row, area_kept=0.5, preserve_effect=1.0)
    assert advice(too_big, "preserve") == (
        "it keeps 0.5 of the clip for area 0.02: try more iterations (method.iterations) or a larger method.area_weight"
    )
    assert advice(dict(row, objective_met=True), "preserve") == advice(dict(row, objective_met=None), "dual") == ""


def test_a_fit_reports_its_diagnostics_per_clip_and_area():
    net = tiny_net(4)
    net[-1].weight.mul_(20)  # peaked scores: the clean clips lead the blurred ones by about 0.3
    clips = torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        target = net(clips).argmax(1)
    result = explain(net, clips, target, method="3d_ep", return_details=True, areas=[0.05, 0.5], **TINY_FIT)
    extras = result.extras
    for key in ("preserve_effect", "delete_effect", "area_kept", "objective_met"):
        assert extras[key].shape == (2, 2), key
    np.testing.assert_allclose(extras["area_kept"], result.maps.double().mean(dim=(2, 3, 4)).numpy(), rtol=1e-6)
    with torch.no_grad():
        clean = net(clips).softmax(1)[[0, 1], target].double().numpy()[:, None]
    base = baseline_probability(net, clips, target, "blur", 20.0).double().numpy()[:, None]  # the fit's own
    expected = fit_diagnostics("preserve", [0.05, 0.5], result.maps.numpy(), clean[:, 0], base[:, 0],
                               extras["prob_preserved"], extras["prob_deleted"])  # fmt: skip
    for key, value in expected.items():
        np.testing.assert_allclose(extras[key], value, rtol=1e-5, equal_nan=True, err_msg=key)
    judged = (clean - base)[:, 0] >= 0.1
    assert judged.all(), "the model leads the blurred clips by 0.3: every mask is judged"
    np.testing.assert_allclose(
        extras["preserve_effect"][judged], ((extras["prob_preserved"] - base) / (clean - base))[judged], rtol=1e-5
    )
    # three iterations leave the masks near their start (all ones): far more than area 0.05 is kept
    assert (extras["area_kept"][:, 0] > AREA_MAX_RATIO * 0.05).all()
    assert not (extras["objective_met"][:, 0] == 1).any()


def clip_result(extras: dict, combined: bool) -> ClipResult:
    return ClipResult(
        name="c",
        label="a",
        target=0,
        maps=np.zeros((2, 2, 4, 4), np.float32),
        areas=[0.05, 0.1],
        probabilities=np.array([0.9, 0.1]),
        prob_baseline=0.5,
        seconds=1.0,
        frames=np.zeros((2, 4, 4, 3), np.uint8),
        frame_indices=np.arange(2),
        extras=extras,
        combined=np.zeros((1, 2, 4, 4), np.float32) if combined else None,
    )


def test_results_rows_carry_the_diagnostics_of_single_area_masks_only():
    extras = {
        "prob_preserved": np.array([0.9, 0.4]),
        "preserve_effect": np.array([1.0, -0.25]),
        "delete_effect": np.array([0.5, 0.1]),
        "area_kept": np.array([0.05, 0.3]),
        "objective_met": np.array([1.0, 0.0]),
    }
    rows = result_rows(clip_result(extras, combined=True), "m", "3d_ep", 0, [{}, {}, {}], str)
    assert [r["objective_met"] for r in rows[:2]] == [True, False]
    assert rows[1]["area_kept"] == pytest.approx(0.3) and rows[1]["preserve_effect"] == pytest.approx(-0.25)
    assert rows[2]["map"] == "combined" and not {"objective_met", "area_kept", "preserve_effect"} & set(rows[2])
    unjudged = dict(extras, objective_met=np.array([math.nan, math.nan]))
    rows = result_rows(clip_result(unjudged, combined=False), "m", "3d_ep", 0, [{}, {}], str)
    assert [r["objective_met"] for r in rows] == [None, None]
