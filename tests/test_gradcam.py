"""Grad-CAM against a computation with hooks written here, on tiny 3D and 2D-backbone networks."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.methods.gradcam import feature_layers, grad_cam

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
