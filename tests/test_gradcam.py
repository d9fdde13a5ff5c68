"""Grad-CAM against a computation with hooks written here, on tiny 3D and 2D-backbone networks, tiny torchvision
MViT and Swin3D models, and one feature map seen through every layout."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import tiny_mvit, tiny_swin3d
from videoattr import explain
from videoattr.choices import CHANNEL_WEIGHTS
from videoattr.errors import VideoAttrError
from videoattr.methods.gradcam import default_layer, feature_layers, grad_cam

TARGET = torch.tensor([2, 0])


def tiny_3d_net(inplace: bool = False) -> nn.Module:
    """conv -> relu -> layer (halves T, H and W) -> relu -> pool -> fc: 'layer' gives 2 x 6 x 2 x 4 x 4."""
    torch.manual_seed(0)
    net = nn.Sequential(
        OrderedDict(
            conv=nn.Conv3d(3, 4, 3, padding=1),
            relu=nn.ReLU(),
            layer=nn.Conv3d(4, 6, 3, stride=2, padding=1),
            relu2=nn.ReLU(inplace=inplace),
            pool=nn.AdaptiveAvgPool3d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(6, 5),
        )
    )
    return net.eval().requires_grad_(False)


class TemporalMean(nn.Module):
    def __init__(self, frames: int):
        super().__init__()
        self.frames = frames

    def forward(self, x):
        return x.view(-1, self.frames, *x.shape[1:]).mean(dim=1)


class Tiny2DBackbone(nn.Module):
    """Frames through a 2D CNN, as TSM does: 'backbone' gives (N*T) x 6 x 4 x 4."""

    def __init__(self, frames: int):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Sequential(nn.Conv2d(3, 6, 3, stride=2, padding=1), nn.ReLU())
        self.consensus = TemporalMean(frames)
        self.fc = nn.Linear(6, 5)

    def forward(self, clips):
        n, c, t, h, w = clips.shape
        frames = clips.transpose(1, 2).reshape(n * t, c, h, w)
        return self.fc(self.consensus(self.backbone(frames)).mean(dim=(2, 3)))


@pytest.fixture
def clips():
    return torch.randn(2, 3, 4, 8, 8, generator=torch.Generator().manual_seed(1))


def hooked_activation_and_gradient(net, module, clips, target):
    saved = {}

    def forward_hook(_module, _args, output):
        saved["activation"] = output
        output.register_hook(lambda grad: saved.__setitem__("gradient", grad))

    handle = module.register_forward_hook(forward_hook)
    x = clips.clone().requires_grad_(True)
    net(x)[torch.arange(len(target)), target].sum().backward()
    handle.remove()
    return saved["activation"].detach(), saved["gradient"]


def min_max(v):
    return (v - v.min()) / (v.max() - v.min())


def test_grad_cam_matches_per_time_step_reference(clips):
    net = tiny_3d_net()
    activation, gradient = hooked_activation_and_gradient(net, net.layer, clips, TARGET)
    assert activation.shape == (2, 6, 2, 4, 4)
    expected = np.zeros((2, 1, 4, 8, 8), dtype=np.float32)
    for n in range(2):
        for tp in range(2):
            weights = gradient[n, :, tp].mean(dim=(1, 2))
            cam = F.relu((weights[:, None, None] * activation[n, :, tp]).sum(0))
            frame = F.interpolate(cam[None, None], size=(8, 8), mode="bilinear", align_corners=False)[0, 0]
            expected[n, 0, 2 * tp : 2 * tp + 2] = frame.numpy()
        expected[n] = min_max(expected[n])
    maps = grad_cam(net, clips, TARGET, layer="layer").maps
    assert maps.shape == (2, 1, 4, 8, 8) and maps.dtype == torch.float32
    assert maps.amin(dim=(1, 2, 3, 4)).tolist() == [0, 0] and maps.amax(dim=(1, 2, 3, 4)).tolist() == [1, 1]
    np.testing.assert_allclose(maps.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(expected[:, :, 0], expected[:, :, 2]), "weights must differ per time step"


def test_grad_cam_ignores_in_place_ops_after_the_layer(clips):
    expected = grad_cam(tiny_3d_net(), clips, TARGET, layer="layer").maps
    torch.testing.assert_close(grad_cam(tiny_3d_net(inplace=True), clips, TARGET, layer="layer").maps, expected)


def test_grad_cam_reshapes_a_2d_backbone_layer(clips):
    net = Tiny2DBackbone(frames=4).eval().requires_grad_(False)
    activation, gradient = hooked_activation_and_gradient(net, net.backbone, clips, TARGET)
    assert activation.shape == (8, 6, 4, 4)
    expected = np.zeros((2, 1, 4, 8, 8), dtype=np.float32)
    for n in range(2):
        for t in range(4):
            row = n * 4 + t
            weights = gradient[row].mean(dim=(1, 2))
            cam = F.relu((weights[:, None, None] * activation[row]).sum(0))
            expected[n, 0, t] = F.interpolate(cam[None, None], size=(8, 8), mode="bilinear")[0, 0].numpy()
        expected[n] = min_max(expected[n])
    maps = grad_cam(net, clips, TARGET, layer="backbone").maps
    np.testing.assert_allclose(maps.numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(VideoAttrError, match="2 clips of 4 frames"):
        grad_cam(net, clips, TARGET, layer="consensus")


def test_unknown_or_missing_layer_lists_candidates(clips):
    net = tiny_3d_net()
    assert feature_layers(net, clips) == ["conv", "relu", "layer", "relu2", "pool"]
    for layer, problem in [("layer9", "Unknown Grad-CAM layer 'layer9'"), (None, "Grad-CAM needs a layer")]:
        with pytest.raises(VideoAttrError) as err:
            grad_cam(net, clips, TARGET, layer=layer)
        assert str(err.value) == f"{problem}: set layer to one of conv, relu, layer, relu2, pool."
    with pytest.raises(VideoAttrError, match="'fc' does not output a 4-D or 5-D feature map"):
        grad_cam(net, clips, TARGET, layer="fc")


def test_model_without_feature_maps_is_refused(clips):
    net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 8 * 8, 5)).eval().requires_grad_(False)
    with pytest.raises(VideoAttrError, match="Grad-CAM cannot explain it"):
        grad_cam(net, clips, TARGET, layer="0")


def test_grad_cam_leaves_model_alone(clips):
    net = tiny_3d_net()
    grad_cam(net, clips, TARGET, layer="layer")
    assert not any(p.requires_grad for p in net.parameters())
    assert not net.layer._forward_hooks


def cam_by_hand(activation, gradient, channel_weights, size, upsample):
    """The Grad-CAM definition written out: N x C x T' x H' x W' activations and gradients -> N x 1 x T x H x W."""
    axes = {"per_time": (3, 4), "global": (2, 3, 4)}
    weights = gradient if channel_weights == "elementwise" else gradient.mean(dim=axes[channel_weights], keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    if upsample == "trilinear":
        cam = F.interpolate(cam, size=size, mode="trilinear", align_corners=False)
    else:
        cam = F.interpolate(cam, size=(size[0], *cam.shape[-2:]), mode="nearest")
        cam = torch.stack([F.interpolate(cam[:, :, i], size=size[1:], mode="bilinear") for i in range(size[0])], 2)
    low = cam.amin(dim=(1, 2, 3, 4), keepdim=True)
    return (cam - low) / (cam.amax(dim=(1, 2, 3, 4), keepdim=True) - low)


@pytest.mark.parametrize("channel_weights", ["per_time", "global", "elementwise"])
@pytest.mark.parametrize("upsample", ["reference", "trilinear"])
def test_channel_weights_and_upsampling_follow_their_definitions(clips, channel_weights, upsample):
    net = tiny_3d_net()
    activation, gradient = hooked_activation_and_gradient(net, net.layer, clips, TARGET)
    expected = cam_by_hand(activation, gradient, channel_weights, (4, 8, 8), upsample)
    result = grad_cam(net, clips, TARGET, layer="layer", channel_weights=channel_weights, upsample=upsample)
    torch.testing.assert_close(result.maps, expected, rtol=1e-5, atol=1e-6)
    assert result.extras["forward_passes"].tolist() == [[1], [1]] == result.extras["backward_passes"].tolist()


def test_channel_weights_give_different_maps(clips):
    maps = [grad_cam(tiny_3d_net(), clips, TARGET, layer="layer", channel_weights=w).maps for w in CHANNEL_WEIGHTS]
    assert all((a - b).abs().max() > 0.05 for i, a in enumerate(maps) for b in maps[i + 1 :])


class Views(nn.Module):
    """One conv feature map seen as channels-last, as tokens and as tokens behind a class token, each view an
    Identity computed from the previous one; the head reads the patch tokens (and the class token, whose
    gradient Grad-CAM must drop)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv3d(3, 6, 3, stride=(2, 2, 2), padding=1)
        self.last, self.tokens, self.cls = nn.Identity(), nn.Identity(), nn.Identity()
        self.cls_token = nn.Parameter(torch.randn(6))
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        last = self.last(self.conv(x).permute(0, 2, 3, 4, 1))  # N x T' x H' x W' x C
        tokens = self.tokens(last.flatten(1, 3))  # N x T'H'W' x C, T-major
        with_cls = self.cls(torch.cat([self.cls_token.expand(len(x), 1, -1), tokens], dim=1))
        return self.fc(F.relu(with_cls[:, 1:]).mean(dim=1) + with_cls[:, 0])


def test_every_layout_reads_the_same_features():
    net = Views().eval().requires_grad_(False)
    clips = torch.randn(2, 3, 4, 12, 8, generator=torch.Generator().manual_seed(2))  # T' x H' x W' = 2 x 6 x 4
    for weights in CHANNEL_WEIGHTS:
        options = {"channel_weights": weights, "upsample": "trilinear"}
        expected = grad_cam(net, clips, TARGET, layer="conv", **options).maps
        assert expected.amax() == 1
        views = [
            {"layer": "last", "layout": "channels_last"},
            {"layer": "tokens", "layout": "tokens", "token_grid": [2, 6, 4]},
            {"layer": "tokens", "token_grid": [2, 6, 4]},  # auto: as many tokens as the grid holds
            {"layer": "cls", "layout": "cls_tokens", "token_grid": [2, 6, 4]},
            {"layer": "cls", "token_grid": [2, 6, 4]},  # auto: one token more than the grid holds
        ]
        for view in views:
            torch.testing.assert_close(grad_cam(net, clips, TARGET, **view, **options).maps, expected)
    # the transformer layouts upsample trilinearly by default, the channels-first one as the reference does
    trilinear = grad_cam(net, clips, TARGET, layer="conv", upsample="trilinear").maps
    torch.testing.assert_close(grad_cam(net, clips, TARGET, layer="last", layout="channels_last").maps, trilinear)
    assert (grad_cam(net, clips, TARGET, layer="conv").maps - trilinear).abs().max() > 0.05


def test_a_layout_that_does_not_fit_is_named():
    net = Views().eval().requires_grad_(False)
    clips = torch.randn(2, 3, 4, 12, 8)
    with pytest.raises(VideoAttrError, match=r"tokens on a grid Grad-CAM cannot tell: set token_grid=\[T', H', W'\]"):
        grad_cam(net, clips, TARGET, layer="tokens")
    with pytest.raises(
        VideoAttrError, match=r"Layer 'tokens' outputs shape \(2, 48, 6\), not N x T'H'W' x C .*\[2, 6, 5\]"
    ):
        grad_cam(net, clips, TARGET, layer="tokens", layout="tokens", token_grid=[2, 6, 5])
    with pytest.raises(VideoAttrError, match="not N x C x T' x H' x W'"):
        grad_cam(net, clips, TARGET, layer="tokens", layout="channels_first")
    for key, value in [("channel_weights", "mean"), ("layout", "nhwc"), ("upsample", "cubic")]:
        with pytest.raises(VideoAttrError, match=f"Unknown Grad-CAM {key} '{value}': set {key} to one of"):
            grad_cam(net, clips, TARGET, layer="conv", **{key: value})
    with pytest.raises(VideoAttrError, match=r"token_grid must be \[T', H', W'\]"):
        grad_cam(net, clips, TARGET, layer="tokens", token_grid=[2, 6])


@pytest.fixture(scope="module")
def mvit():
    return tiny_mvit(num_classes=5).eval().requires_grad_(False)


def mvit_cam_by_hand(net, clips, channel_weights):
    """Hooks on the last block: its norm1's output and gradient, and the thw the block receives."""
    saved = {}
    pre = net.blocks[-1].register_forward_pre_hook(lambda _m, args: saved.__setitem__("thw", args[1]))
    activation, gradient = hooked_activation_and_gradient(net, net.blocks[-1].norm1, clips, TARGET)
    pre.remove()
    n, c = activation.shape[0], activation.shape[2]
    grid = [activation[:, 1:].transpose(1, 2).reshape(n, c, *saved["thw"]) for activation in (activation, gradient)]
    return cam_by_hand(*grid, channel_weights, tuple(clips.shape[2:]), "trilinear"), saved["thw"]


@pytest.mark.parametrize("channel_weights", ["per_time", "elementwise"])
def test_mvit_is_found_by_class_and_read_as_class_token_and_tokens(mvit, channel_weights):
    clips = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(3))
    expected, thw = mvit_cam_by_hand(mvit, clips, channel_weights)
    assert thw == (4, 8, 8)  # the last block pools its queries to 4 x 4 x 4: its norm1 still sees 4 x 8 x 8
    assert default_layer(mvit) == "blocks.1.norm1"
    maps = grad_cam(mvit, clips, TARGET, channel_weights=channel_weights).maps
    assert maps.shape == (2, 1, 8, 32, 32) and maps.amax() == 1
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-5)
    explicit = {"layer": "blocks.1.norm1", "layout": "cls_tokens", "token_grid": [4, 8, 8]}
    torch.testing.assert_close(grad_cam(mvit, clips, TARGET, channel_weights=channel_weights, **explicit).maps, maps)
    wrapped = nn.Sequential(OrderedDict(scale=nn.Identity(), backbone=mvit))
    assert default_layer(wrapped) == "backbone.blocks.1.norm1"
    torch.testing.assert_close(
        explain(wrapped, clips, TARGET, method="grad_cam", channel_weights=channel_weights), maps
    )


def test_mvit_block_outputs_carry_their_grid_and_the_last_block_is_refused(mvit):
    clips = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(4))
    maps = grad_cam(mvit, clips, TARGET, layer="blocks.0").maps  # a (tokens, thw) tuple
    assert maps.amax() == 1
    torch.testing.assert_close(grad_cam(mvit, clips, TARGET, layer="blocks.0", token_grid=[4, 8, 8]).maps, maps)
    for layer, options in [("blocks.1", {}), ("norm", {"token_grid": [4, 4, 4]})]:
        with pytest.raises(VideoAttrError, match=f"Layer '{layer}' passes no gradient to its patch tokens"):
            grad_cam(mvit, clips, TARGET, layer=layer, **options)
    assert "blocks.0" in feature_layers(mvit, clips) and "conv_proj" in feature_layers(mvit, clips)


def test_swin3d_is_found_by_class_and_read_channels_last():
    net = tiny_swin3d(num_classes=5).eval().requires_grad_(False)
    clips = torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(5))
    assert default_layer(net) == "features.2.0.norm1"
    activation, gradient = hooked_activation_and_gradient(net, net.features[2][0].norm1, clips, TARGET)
    assert activation.shape == (2, 4, 4, 4, 32)  # N x T/2 x H/8 x W/8 x C
    for weights in CHANNEL_WEIGHTS:
        expected = cam_by_hand(
            activation.permute(0, 4, 1, 2, 3), gradient.permute(0, 4, 1, 2, 3), weights, (8, 32, 32), "trilinear"
        )
        torch.testing.assert_close(
            grad_cam(net, clips, TARGET, channel_weights=weights).maps, expected, rtol=1e-4, atol=1e-5
        )


def test_a_model_without_a_known_class_needs_a_layer(clips):
    assert default_layer(tiny_3d_net()) is None
    with pytest.raises(VideoAttrError, match="Grad-CAM needs a layer: set layer to one of conv, relu, layer"):
        explain(tiny_3d_net(), clips, TARGET, method="grad_cam")
