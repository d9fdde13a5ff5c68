"""Attention rollout and gradient-weighted rollout (videoattr.methods.rollout) on torchvision's MViT and tiny
Hugging Face VideoMAE, ViViT and TimeSformer models built offline from configs."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import transformers
from omegaconf import OmegaConf
from torch import nn

from helpers import compose_config, tiny_mvit, tiny_net, tiny_swin3d
from helpers.hf import PATCH, TUBELET, evidence_clips, tiny_config, tiny_hf, trained_hf
from videoattr import explain
from videoattr.data import build_dataset
from videoattr.errors import VideoAttrError
from videoattr.methods.attention import _pool_transpose, _spatial_matrix, _temporal_matrix, hf_tokens
from videoattr.models import load_model
from videoattr.models.synthetic import synthetic_mvit
from videoattr.schema import validate

ROLLOUTS = ("attention_rollout", "grad_rollout")
LABELS = ["a", "b", "c"]


def hf(arch: str, **changes) -> transformers.PreTrainedModel:
    """A tiny seeded Hugging Face ``arch`` classifier of 3 classes (4 frames of 32 x 32, 2 layers, 2 heads),
    its config changed by ``changes``; raw, as a user passes it to explain."""
    config = tiny_config(arch, LABELS)
    for key, value in changes.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    return transformers.AutoModelForVideoClassification.from_config(config).eval()


@pytest.fixture(scope="module")
def mvit():
    """The benchmark's MViT design, seeded: queries pooled 1 x 2 x 2 and keys 1 x 4 x 4 in block 0, 2 heads in block 1."""
    torch.manual_seed(0)
    return synthetic_mvit().eval().requires_grad_(False)


@pytest.mark.parametrize("method", ROLLOUTS)
def test_rollouts_on_mvit_give_finite_maps_aligned_with_the_clip(mvit, method):
    clips = torch.randn(2, 3, 16, 112, 112, generator=torch.Generator().manual_seed(0))
    maps = {
        (fusion, identity): explain(mvit, clips, [0, 1], method=method, head_fusion=fusion, identity=identity)
        for fusion in ("mean", "max")
        for identity in (True, False)
    }
    for found in maps.values():
        assert found.shape == (2, 1, 16, 112, 112) and torch.isfinite(found).all()
        assert found.amin() == 0 and found.amax() == 1
    assert not torch.allclose(maps["mean", True], maps["max", True])
    assert not torch.allclose(maps["mean", True], maps["mean", False])
    wrapped = nn.Sequential(nn.Identity(), mvit)  # the MViT found by class inside a wrapper
    assert torch.allclose(explain(wrapped, clips, [0, 1], method=method), maps["mean", True])


@pytest.fixture(scope="module")
def shipped_vit():
    """The benchmark's ViT-style transformer (model=synthetic_vit: a ViViT with a convolutional stem), two of the
    shipped clips and their classes."""
    cfg = compose_config(["model=synthetic_vit"])
    net, spec = load_model(cfg.model)
    items = list(build_dataset(cfg.dataset, spec, seed=0))[:2]
    return net, torch.stack([i["clip"] for i in items]), [i["target"] for i in items]


@pytest.mark.parametrize("method", [*ROLLOUTS, "grad_cam"])
def test_the_benchmarks_vit_is_explained_with_no_layer_option(shipped_vit, method):
    """Its tokens (4 x 7 x 7 tubelets of 4 x 16 x 16 pixels behind the stem) and Grad-CAM layer are found by class."""
    net, clips, targets = shipped_vit
    maps = explain(net, clips, targets, method=method)
    assert maps.shape == (2, 1, 16, 112, 112) and torch.isfinite(maps).all()
    assert (maps.flatten(1).amax(1) > maps.flatten(1).amin(1)).all()


def test_grad_rollout_follows_the_target_and_attention_rollout_does_not(mvit):
    clips = torch.randn(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(1))
    grad = [explain(mvit, clips, target, method="grad_rollout") for target in (0, 2)]
    attention = [explain(mvit, clips, target, method="attention_rollout") for target in (0, 2)]
    assert not torch.allclose(grad[0], grad[1]) and torch.equal(attention[0], attention[1])


def test_pool_transpose_is_the_transpose_of_averaging_over_the_window():
    grid, pool = (3, 5, 5), nn.Conv3d(1, 1, (3, 3, 3), stride=(1, 2, 2), padding=(1, 1, 1))
    transpose = _pool_transpose(type("Pool", (), {"pool": pool})(), grid)
    basis = torch.eye(75).view(75, 1, *grid)
    averaging = F.avg_pool3d(basis, (3, 3, 3), (1, 2, 2), (1, 1, 1), count_include_pad=False).flatten(1).T
    v = torch.rand(2, 1 + averaging.shape[0])
    expected = torch.cat([v[:, :1], v[:, 1:] @ averaging], dim=1)
    assert torch.allclose(transpose(v), expected, atol=1e-6)
    assert torch.allclose(averaging.sum(1), torch.ones(len(averaging)))


def test_grad_rollout_equals_chefers_rule_on_a_plain_vit():
    """ViViT on tubelets of one pixel (no upsampling): the map is the class token's row of R, where R = I and
    R += mean over heads of ReLU(dA x A) . R per layer, with A from transformers' own output_attentions."""
    vivit = hf("vivit", tubelet_size=[1, 1, 1], image_size=4)
    clips = torch.randn(1, 3, 4, 4, 4, generator=torch.Generator().manual_seed(2))
    vivit.set_attn_implementation("eager")
    out = vivit(pixel_values=clips.transpose(1, 2).requires_grad_(True), output_attentions=True)
    grads = torch.autograd.grad(out.logits[0, 1], out.attentions)
    relevance = torch.eye(out.attentions[0].shape[-1])
    for a, g in zip(out.attentions, grads):
        relevance = relevance + (g * a).clamp(min=0).mean(1)[0] @ relevance
    row = relevance[0, 1:].view(4, 4, 4)
    expected = (row - row.min()) / (row.max() - row.min())
    vivit.set_attn_implementation("sdpa")
    maps = explain(vivit, clips, 1, method="grad_rollout")
    assert torch.allclose(maps[0, 0], expected, atol=1e-5)
    assert vivit.config._attn_implementation == "sdpa", "the model's own attention is restored"


@pytest.mark.parametrize(
    "kind, extra",
    [("videomae", {}), ("vivit", {}), ("timesformer", {}), ("timesformer", {"attention_type": "joint_space_time"})],
)
@pytest.mark.parametrize("method", ROLLOUTS)
def test_rollouts_on_hugging_face_video_transformers(kind, extra, method):
    net = hf(kind, **extra)
    clips = torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    before = net.config._attn_implementation
    maps = {fusion: explain(net, clips, [0, 2], method=method, head_fusion=fusion) for fusion in ("mean", "max")}
    assert net.config._attn_implementation == before
    for found in maps.values():
        assert found.shape == (2, 1, 4, 32, 32) and torch.isfinite(found).all() and found.amax() == 1
    assert not torch.allclose(maps["mean"], maps["max"])


def test_timesformers_divided_attention_mixes_within_a_frame_and_within_a_position():
    """Tokens (h, w, t) of a 2 x 2 x 2 grid: spatial attention stays in a frame, temporal at a position, and
    every row of both matrices keeps the probabilities' sum of 1."""
    spatial = torch.softmax(torch.randn(3 * 2, 5, 5), dim=-1)  # 3 clips x 2 frames, 1 + 4 tokens
    temporal = torch.softmax(torch.randn(3 * 4, 2, 2), dim=-1)  # 3 clips x 4 positions, 2 frames
    s, t = _spatial_matrix(spatial, (2, 2, 2)), _temporal_matrix(temporal, (2, 2, 2), identity=False)
    assert s.shape == t.shape == (3, 9, 9)
    assert torch.allclose(s.sum(-1), torch.ones(3, 9)) and torch.allclose(t.sum(-1), torch.ones(3, 9))
    frame = torch.arange(8) % 2
    position = torch.arange(8) // 2
    assert not s[:, 1:, 1:][:, frame.view(-1, 1) != frame.view(1, -1)].any()
    assert not t[:, 1:, 1:][:, position.view(-1, 1) != position.view(1, -1)].any()
    # token (h 0, w 0, t 0) on itself and on (h 0, w 1, t 0): its frame's attention between positions 0 and 1
    assert torch.allclose(s[0, 1, [1, 3]], spatial[0, 1, 1:3])
    # the residual carries the class token past the temporal attention
    assert _temporal_matrix(temporal, (2, 2, 2), identity=True)[:, 0].sum() == 0


def test_models_without_clip_wide_attention_are_refused_in_one_line():
    clips = torch.randn(1, 3, 8, 32, 32)
    with pytest.raises(VideoAttrError, match="grad_rollout needs a video transformer's attention.*use grad_cam"):
        explain(tiny_net(), clips, 0, method="grad_rollout")
    with pytest.raises(VideoAttrError, match="attention_rollout does not support Swin3D: its shifted windows"):
        explain(tiny_swin3d().eval().requires_grad_(False), clips, 0, method="attention_rollout")
    with pytest.raises(VideoAttrError, match="TimeSformer's space_only"):
        hf_tokens(hf("timesformer", attention_type="space_only"), (1, 3, 4, 32, 32))
    with pytest.raises(VideoAttrError, match="grad_rollout does not know the attention of VJEPA2.*use grad_cam"):
        explain(tiny_hf("vjepa2", LABELS), torch.randn(1, 3, 4, 32, 32), 0, method="grad_rollout")
    with pytest.raises(VideoAttrError, match="Unknown head_fusion 'min'"):
        explain(tiny_mvit().eval().requires_grad_(False), clips, 0, method="grad_rollout", head_fusion="min")


@pytest.mark.slow
def test_rollouts_peak_in_the_evidence_tubelet_of_a_trained_videomae():
    """A two-block VideoMAE (mean-pooling head) trained to find a bright tubelet: both rollouts put each clip's
    maximum in that tubelet (measured: 15 and 16 of 16; chance 1 in 32 token cells)."""
    model = trained_hf("videomae", 2)
    clips, labels, tubelets = evidence_clips("videomae", 40, torch.Generator().manual_seed(5))
    clips, tubelets = clips[labels == 1][:16], tubelets[labels == 1][:16]
    for method in ROLLOUTS:
        maps = explain(model, clips, 1, method=method)[:, 0]
        peaks = [np.unravel_index(int(m.argmax()), m.shape) for m in maps]
        cells = [(t // TUBELET["videomae"], h // PATCH, w // PATCH) for t, h, w in peaks]
        hits = sum(cell == tuple(tubelet) for cell, tubelet in zip(cells, tubelets.tolist(), strict=True))
        assert hits >= 12, (method, hits)


@pytest.mark.parametrize("method", ROLLOUTS)
def test_method_config_runs_with_its_function_and_checks_head_fusion(method):
    cfg = compose_config([f"method={method}"])
    validate(cfg)
    options = OmegaConf.to_container(cfg.method, resolve=True)
    assert options.pop("name") == method and options == {"head_fusion": "mean", "identity": True}
    net = tiny_mvit().eval().requires_grad_(False)
    maps = explain(net, torch.randn(1, 3, 8, 32, 32), 0, method=method, **options)
    assert maps.shape == (1, 1, 8, 32, 32)
    with pytest.raises(VideoAttrError, match=r"Invalid method.head_fusion=min.*use one of mean, max"):
        validate(compose_config([f"method={method}", "method.head_fusion=min"]))
