"""The committed synthetic MViT (``model=synthetic_mvit``) on the 8 benchmark clips, whose ground-truth masks
mark the red disk that decides the class: the transformer methods and integrated gradients at their defaults
must find it far more often than a random map (pointing 0.014, energy 0.005: docs/benchmark.md)."""

import pytest
import torch

from helpers import compose_config
from videoattr import explain
from videoattr.data import build_dataset
from videoattr.metrics.localisation import energy_in_mask, pointing_game
from videoattr.models import load_model

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def benchmark():
    cfg = compose_config(["model=synthetic_mvit"])
    net, spec = load_model(cfg.model)
    items = list(build_dataset(cfg.dataset, spec, seed=0))
    clips, masks = torch.stack([i["clip"] for i in items]), torch.stack([i["gt_mask"] for i in items])
    return net, clips, [i["target"] for i in items], masks


@pytest.mark.parametrize("method", ["attention_rollout", "grad_rollout", "integrated_grad"])
def test_the_method_finds_the_disk_on_the_benchmarks_mvit(benchmark, method):
    net, clips, targets, masks = benchmark
    maps = explain(net, clips, targets, method=method)[:, 0]
    pointing = sum(pointing_game(m, g) for m, g in zip(maps, masks)) / len(masks)
    energy = sum(energy_in_mask(m, g) for m, g in zip(maps, masks)) / len(masks)
    assert pointing > 0.5 and energy > 0.02, (method, pointing, energy)
