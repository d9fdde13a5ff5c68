"""Our fast perturbation fit against the literal baseline of docs/REFERENCE.md (reference.py), and the speed benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from benchmarks.reference import reference_fit, smooth_mask
from helpers import run_module, tiny_net
from videoattr.methods.perturbation import fit_masks
from videoattr.methods.perturbation.losses import area_loss
from videoattr.methods.perturbation.mask_generator import SmoothMaskGenerator

# 4 frames of 16 x 16: a 4-pixel grid, sigma 3 and a 3 x 5 x 5 core; STEP's core from iteration 3 of 6.
SMALL = {"grid_step": 4, "sigma": 3, "core_shape": [3, 5, 5], "core_stride": [1, 5, 5]}
# A learning rate > 0 (the config requires one) too small to move a float32 mask away from its start of 1.
STILL = 1e-30


@pytest.mark.parametrize("method", ["2d_ep", "3d_ep", "step"])
def test_fit_gives_the_baseline_masks(method):
    clip = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))
    options = dict(iterations=6, core_start=3, seed=2, **SMALL)
    ours = fit_masks(method, tiny_net(), clip, torch.tensor([1]), areas=[0.2], **options).maps[0, 0]
    # The reference returns the mask generated at the start of its last iteration: one more iteration.
    baseline = reference_fit(method, tiny_net(), clip[0], 1, 0.2, **{**options, "iterations": 7})
    start = fit_masks(method, tiny_net(), clip, torch.tensor([1]), areas=[0.2], **{**options, "lr": STILL}).maps[0, 0]
    assert (ours - start).abs().max() > 0.5  # the masks moved far from their start...
    torch.testing.assert_close(ours, baseline, atol=1e-5, rtol=0)  # ...and both the same way


@pytest.mark.parametrize("compile", [True, False], ids=["fused", "plain"])
def test_mask_generator_and_its_gradient_match_the_baseline_per_frame_pixel_loop(compile):
    gen = SmoothMaskGenerator((16, 20), 4, 3.0, compile=compile)
    params = torch.rand(2, 3, *gen.grid_shape, generator=torch.Generator().manual_seed(3), requires_grad=True)
    weights = torch.rand(2, 3, *gen.padded_shape, generator=torch.Generator().manual_seed(4))
    ours = gen(params)
    baseline = torch.stack([smooth_mask(p, (16, 20), 4, 3.0, 20.0) for p in params])
    torch.testing.assert_close(ours, baseline, atol=1e-6, rtol=0)
    grad = torch.autograd.grad((ours * weights).sum(), params)[0]
    expected = torch.autograd.grad((baseline * weights).sum(), params)[0]
    torch.testing.assert_close(grad, expected, atol=1e-4, rtol=1e-5)


@pytest.mark.slow
def test_without_a_working_compiler_the_kernels_warn_once_and_compute_the_same_masks(tmp_path):
    script = tmp_path / "no_compiler.py"
    script.write_text(
        "import warnings, torch\n"
        "from videoattr.methods.perturbation.mask_generator import SmoothMaskGenerator\n"
        "params = torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(6), requires_grad=True)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    masks = [SmoothMaskGenerator((16, 20), 4, 3.0)(params) for _ in range(2)]\n"
        "    grad = torch.autograd.grad(masks[0].sum(), params)[0]\n"
        "plain = SmoothMaskGenerator((16, 20), 4, 3.0, compile=False)(params)\n"
        "torch.testing.assert_close(masks[0], plain, atol=0, rtol=0)\n"
        "torch.testing.assert_close(grad, torch.autograd.grad(plain.sum(), params)[0], atol=0, rtol=0)\n"
        "print('WARNINGS', [str(w.message) for w in caught if 'fused perturbation kernels' in str(w.message)])\n"
    )
    env = {**os.environ, "CXX": str(tmp_path / "no-such-c++"), "TORCHINDUCTOR_FORCE_DISABLE_CACHES": "1"}
    run = subprocess.run(
        [sys.executable, str(script)], check=False, capture_output=True, text=True, timeout=300, env=env
    )
    assert run.returncode == 0, run.stderr[-2000:]
    (warned,) = [line for line in run.stdout.splitlines() if line.startswith("WARNINGS")]
    assert warned.count("could not build the fused perturbation kernels") == 1
    assert "No working C++ compiler" in warned and "compile=false" in warned


def test_area_selection_equals_a_stable_full_sort_with_ties():
    mask = ((torch.rand(3, 4, 6, 6, generator=torch.Generator().manual_seed(5)) * 4).round() / 4).requires_grad_(True)
    for per_frame, zeros in ((True, [10, 20, 30]), (False, [50, 100, 140])):
        zeros = torch.tensor(zeros)
        values = mask.flatten(2) if per_frame else mask.flatten(1).unsqueeze(1)
        ranked = values.sort(dim=-1, stable=True).values
        reference = (torch.arange(ranked.shape[-1]) >= zeros[:, None]).float()[:, None]
        expected = ((ranked - reference) ** 2).mean(dim=(1, 2))
        loss = area_loss(mask, zeros, per_frame)
        torch.testing.assert_close(loss, expected)
        grads = [torch.autograd.grad(x.sum(), mask)[0] for x in (loss, expected)]
        torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.slow
def test_benchmark_writes_its_table_as_json(tmp_path):
    out = tmp_path / "speed.json"
    command = ["--frames", "4", "--size", "56", "--iterations", "2", "--repeats", "1", "--baseline-iterations", "1"]
    command += ["--method", "3d_ep", "--json", str(out), "--early-stop-tol", "1", "1e-9"]
    command += ["--early-stop-patience", "1", "--early-stop-iterations", "4"]
    run = run_module("benchmarks.bench_speed", *command)
    report = json.loads(out.read_text())
    seconds = report["seconds_per_iteration"]
    assert seconds["ours"] > 0 and seconds["floor (forward + backward)"] > 0
    assert report["ratio_ours_to_floor"] == pytest.approx(seconds["ours"] / seconds["floor (forward + backward)"])
    assert set(report["split_of_ours"]) >= {"mask generation", "pyramid read", "regularisers", "optimiser"}
    assert "ours / floor" in run.stdout and "six areas, one fit" in run.stdout
    # No parameter ever moves by more than 1, so that count never starts; 1e-9 never sees a still step:
    # both run all 4 iterations and end with the plain fit's masks (the stop itself: test_early_stopping).
    early = report["early_stopping"]
    assert early["iterations_full"] == 4
    for tol in ("tol 1", "tol 1e-09"):
        assert early[tol]["iterations"] == 4 and early[tol]["mask_max_abs_diff"] == 0
        assert early[tol]["prob_preserved"] == early["prob_preserved_full"]
