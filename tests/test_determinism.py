"""Same config and seed, same maps, bit for bit, on the CPU; and every output records the seed."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import torch

from helpers import run_cli, tiny_mvit
from videoattr.api import explain
from videoattr.methods import TRANSFORMER_METHODS, method_names
from videoattr.models.synthetic import SyntheticNet

# Small but complete settings of every registered method (STEP's core loss from the first iteration).
OPTIONS = {
    "grad": {},
    "grad_x_input": {"polarity": "both"},
    "integrated_grad": {"steps": 4},
    "smooth_grad": {"samples": 3, "seed": 5},
    "grad_cam": {"layer": "layer4"},
    "attention_rollout": {},
    "grad_rollout": {"head_fusion": "max"},
    "occlusion": {"window": [4, 16, 16], "stride": [4, 16, 16]},
    "rise": {"masks": 8, "grid": [2, 4, 4], "seed": 5},
    "kernel_shap": {"supervoxels": 8, "compactness": 100.0, "samples": 10, "seed": 5},
    "2d_ep": {"areas": [0.1], "iterations": 3, "sigma": 11},
    "3d_ep": {"areas": [0.05, 0.2], "iterations": 3, "sigma": 11},
    "step": {"areas": [0.1], "iterations": 3, "sigma": 11, "core_start": 0, "seed": 5},
    "random": {"seed": 5},
    "centre": {},
    "edges": {},
    "2d_ep_fast": {"areas": [0.1], "iterations": 3, "sigma": 11},
    "3d_ep_fast": {"areas": [0.05, 0.2], "iterations": 3, "sigma": 11},
    "step_fast": {"areas": [0.1], "iterations": 3, "sigma": 11, "core_start": 0, "seed": 5},
    "temporal_ep": {"areas": [0.25, 0.5], "iterations": 3, "segment": 2},
}


@pytest.fixture(scope="module")
def model_and_clips():
    torch.manual_seed(0)
    model = SyntheticNet(num_classes=4, width=4).eval().requires_grad_(False)
    clips = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    return model, clips


def test_every_method_is_covered():
    assert sorted(OPTIONS) == sorted(method_names())


@pytest.mark.parametrize("method", sorted(OPTIONS))
def test_same_seed_gives_bit_identical_maps(model_and_clips, method):
    model, clips = model_and_clips
    if method in TRANSFORMER_METHODS:  # they refuse the CNN
        model = tiny_mvit(num_classes=4).eval().requires_grad_(False)
    maps = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)  # the global random state must not matter, only the method's seed
        maps.append(explain(model, clips, [0, 3], method=method, **OPTIONS[method]))
    assert maps[0].abs().sum() > 0
    assert torch.equal(maps[0], maps[1])


@pytest.mark.parametrize("method", ["smooth_grad", "random", "rise", "kernel_shap"])
def test_another_seed_gives_other_maps(model_and_clips, method):
    model, clips = model_and_clips
    first, other = (explain(model, clips, 0, method=method, **{**OPTIONS[method], "seed": s}) for s in (5, 6))
    assert not torch.equal(first, other)


@pytest.mark.slow
def test_cli_runs_repeat_bit_identically_and_record_the_seed(tmp_path):
    """STEP through the runner and its Lightning trainer."""
    overrides = [
        "method=step",
        "method.iterations=3",
        "method.core_start=0",
        "dataset.limit=1",
        "seed=3",
        "metrics.groups=[]",
        "figures=false",
        "trainer.enable_progress_bar=false",
    ]
    with ThreadPoolExecutor(2) as pool:
        outs = list(
            pool.map(
                lambda run: run_cli(*overrides, f"hydra.run.dir={tmp_path / run}", cwd=tmp_path, check=False), "ab"
            )
        )
    for out in outs:
        assert out.returncode == 0, out.stderr[-3000:]
    arrays = []
    for run in "ab":
        with np.load(tmp_path / run / "clips" / "down-100_0.npz") as data:
            arrays.append({key: data[key] for key in ("maps", "probabilities", "seed")})
        assert pd.read_csv(tmp_path / run / "results.csv")["seed"].tolist() == [3]
        assert json.loads((tmp_path / run / "summary.json").read_text())["seed"] == 3
    assert int(arrays[0]["seed"]) == 3
    for key in ("maps", "probabilities"):
        assert np.array_equal(arrays[0][key], arrays[1][key]), key
