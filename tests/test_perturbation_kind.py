"""A perturbation fit's ``variant``, ``perturbation`` and ``delete_floor`` left null: the paper's (preserve, blur,
zero) for a model without attention, deletion with a fade down to the fully faded clip's probability for one with
attention layers (docs/benchmark.md, "Perturbation masks on a transformer"); a value the user gives always wins."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from torch import nn

import videoattr
from helpers import compose_config, tiny_mvit, tiny_net, tiny_swin3d
from helpers.hf import FRAMES, SIZE, TUBELET, tiny_hf
from videoattr.methods.perturbation import fit
from videoattr.methods.perturbation.baseline import baseline_probability
from videoattr.methods.perturbation.kind import model_kind, tubelet_frames
from videoattr.methods.perturbation.module import PerturbationFit
from videoattr.methods.perturbation.options import DEFAULTS, resolve_options
from videoattr.methods.perturbation.pyramid import fade_pyramid
from videoattr.models import load_model
from videoattr.runner import baseline_settings, method_options

# 8 frames of 32 x 32 (tiny_mvit's input): a 4-pixel grid and sigma 4, one iteration, plain PyTorch.
SMALL = {"grid_step": 4, "sigma": 4, "iterations": 1, "seed": 0, "compile": False}


class SelfAttentionNet(nn.Module):
    """Patch tokens through one nn.MultiheadAttention, mean-pooled to 3 logits."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.embed = nn.Conv3d(3, 8, (2, 8, 8), (2, 8, 8))
        self.attention = nn.MultiheadAttention(8, 2, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        return self.head(self.attention(tokens, tokens, tokens)[0].mean(dim=1))


@pytest.mark.parametrize(
    "build, kind",
    [(tiny_net, "paper"), (tiny_mvit, "attention"), (tiny_swin3d, "attention"), (SelfAttentionNet, "attention")],
)
def test_a_model_with_attention_layers_is_found_by_class(build, kind):
    assert model_kind(build()) == kind


@pytest.mark.parametrize("method", list(DEFAULTS))
def test_without_attention_every_method_keeps_the_papers_settings(method):
    paper = dataclasses.replace(DEFAULTS[method], variant="preserve", perturbation="blur", delete_floor="zero")
    assert resolve_options(method, {}) == resolve_options(method, {}, "paper") == paper
    temporal = method == "temporal_ep"  # keeps and deletes its frames, with the zero floor it was measured with
    own = {"variant": "dual", "delete_floor": "zero"} if temporal else {"variant": "delete", "delete_floor": "baseline"}
    attention = dataclasses.replace(paper, perturbation="fade", **own)
    assert resolve_options(method, {}, "attention") == attention
    assert resolve_options(method, {"variant": "preserve"}, "attention").variant == "preserve"
    assert resolve_options(method, {"delete_floor": "zero"}, "attention").delete_floor == "zero"


def first_reward(net: nn.Module, **options) -> float:
    """The weighted reward of a one-iteration 3D-EP fit's first step on a fixed clip (target 1)."""
    clips = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    net = net.eval().requires_grad_(False)
    result = videoattr.explain(net, clips, [1], method="3d_ep", areas=[0.1], return_details=True, **SMALL, **options)
    return float(result.extras["history"]["reward"][0, 0, 0])


@pytest.mark.parametrize(
    "build, own, other",
    [
        (tiny_net, {"variant": "preserve", "perturbation": "blur"}, {"variant": "delete", "perturbation": "fade"}),
        (
            tiny_mvit,
            {"variant": "delete", "perturbation": "fade", "delete_floor": "baseline"},
            {"variant": "preserve", "perturbation": "blur"},
        ),
    ],
)
def test_a_fit_without_variant_and_perturbation_runs_with_the_models_own(build, own, other):
    unset = first_reward(build())
    assert unset == first_reward(build(), **own)
    assert unset != pytest.approx(first_reward(build(), **other), rel=1e-3)


@pytest.mark.parametrize("floor", ["zero", "baseline"])
def test_a_baseline_floor_pays_nothing_below_the_fully_perturbed_clips_probability(floor):
    """A delete fit whose target probability falls below the fully faded clip's: with delete_floor=zero the
    reward keeps falling with it, with baseline it stops at -log(1 - p_baseline) (runner's prob_baseline)."""
    clips = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    net = tiny_mvit().eval().requires_grad_(False)
    p0 = baseline_probability(net, clips, torch.tensor([0]), "fade").item()
    options = {**SMALL, "iterations": 30, "lr": 0.5, "delete_floor": floor}
    result = videoattr.explain(net, clips, [0], method="3d_ep", areas=[0.1], return_details=True, **options)
    history = result.extras["history"]
    assert history["prob"][0, 0].min() < p0 - 0.01  # the deleted clip went below the baseline either way
    lowest, at_floor = history["reward"][0, 0].min().item() / 100, -math.log(1 - p0)
    if floor == "zero":
        assert lowest < at_floor - 0.01
    else:
        assert lowest == pytest.approx(at_floor, abs=1e-6)


@pytest.mark.parametrize("variant, floor", [("delete", True), ("dual", True), ("preserve", False)])
def test_each_pair_deletes_down_to_its_own_clips_baseline(variant, floor):
    """Two clips with two targets, two areas each: every pair's floor is its clip's baseline probability;
    a preserve fit has no delete term and computes none."""
    clips = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(2))
    net, target = tiny_mvit().eval().requires_grad_(False), torch.tensor([0, 2])
    opts = resolve_options("3d_ep", {**SMALL, "variant": variant, "delete_floor": "baseline"}, "attention")
    module = PerturbationFit(net, clips, target, [0.05, 0.1], opts)
    module.pyramid = fade_pyramid(clips, opts.levels)
    if not floor:
        assert module.delete_floor() is None
        return
    expected = baseline_probability(net, clips, target, "fade")
    assert module.delete_floor().tolist() == pytest.approx(expected.repeat_interleave(2).tolist(), abs=1e-6)
    assert expected[0] != pytest.approx(expected[1].item(), abs=1e-4)  # the pairs' floors are the clips' own


@pytest.mark.parametrize(
    "model, overrides, expected",
    [
        ("synthetic", [], ("preserve", "blur", "zero")),
        ("synthetic_mvit", [], ("delete", "fade", "baseline")),
        ("synthetic_mvit", ["method.variant=preserve"], ("preserve", "fade", "baseline")),
        ("synthetic_mvit", ["method.perturbation=blur", "method.delete_floor=zero"], ("delete", "blur", "zero")),
        ("synthetic", ["method=temporal_ep"], ("preserve", "blur", "zero")),
        ("synthetic_mvit", ["method=temporal_ep"], ("dual", "fade", "zero")),
        ("synthetic_mvit", ["method=temporal_ep", "method.delete_floor=baseline"], ("dual", "fade", "baseline")),
    ],
)
def test_the_run_fills_the_models_settings_and_the_users_win(model, overrides, expected):
    cfg = compose_config([f"model={model}", "method=3d_ep_fast", *overrides])
    net, spec = load_model(cfg.model)
    options = method_options(cfg, net, spec, [0.05], None)
    assert (options["variant"], options["perturbation"], options["delete_floor"]) == expected
    assert baseline_settings(cfg.method.name, options) == {"perturbation": expected[1], "max_blur": 20.0}


@pytest.mark.parametrize("build, temporal_variant", [(tiny_net, "preserve"), (tiny_mvit, "dual")])
def test_the_temporal_step_of_temporal_frames_takes_temporal_eps_own_variant(build, temporal_variant, monkeypatch):
    """3D-EP restricted by temporal_frames: its temporal step runs as temporal_ep would on the model (dual on a
    model with attention), the spatial fit with 3D-EP's own variant."""
    resolved = []

    def recording(method, options, kind="paper"):
        opts = resolve_options(method, options, kind)
        resolved.append((method, opts.variant))
        return opts

    monkeypatch.setattr(fit, "resolve_options", recording)
    spatial = "delete" if temporal_variant == "dual" else "preserve"
    clips = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    net = build().eval().requires_grad_(False)
    videoattr.explain(net, clips, [1], method="3d_ep", areas=[0.1], temporal_frames=0.5, **SMALL)
    assert resolved == [("3d_ep", spatial), ("temporal_ep", temporal_variant)]


@pytest.mark.parametrize(
    "build, frames",
    [(tiny_net, 1), (tiny_mvit, 2), (tiny_swin3d, 2), (SelfAttentionNet, 1)],
)
def test_the_tubelet_is_the_patch_embeddings_temporal_stride(build, frames):
    assert tubelet_frames(build(), (1, 3, 8, 32, 32)) == frames


@pytest.mark.parametrize("arch", ["videomae", "vivit", "timesformer"])
def test_the_tubelet_of_a_hugging_face_model_is_read_from_its_token_grid(arch):
    assert tubelet_frames(tiny_hf(arch, ["a", "b"]), (1, 3, FRAMES, SIZE, SIZE)) == TUBELET[arch]


@pytest.mark.parametrize("build, tubelet", [(tiny_net, 1), (tiny_mvit, 2)])
def test_temporal_ep_keeps_or_perturbs_the_models_tubelets_whole(build, tubelet):
    """segment left None: the model's tubelet, here and in temporal_frames' temporal step."""
    clips = torch.randn(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    net = build().eval().requires_grad_(False)
    options = {**SMALL, "iterations": 3}
    maps = videoattr.explain(net, clips, [1], method="temporal_ep", areas=[0.5], **options)[0, 0, :, 0, 0]
    assert torch.equal(maps, maps[::tubelet].repeat_interleave(tubelet))  # equal within each tubelet
    per_frame = videoattr.explain(net, clips, [1], method="temporal_ep", areas=[0.5], segment=1, **options)
    assert torch.equal(maps, per_frame[0, 0, :, 0, 0]) == (tubelet == 1)
