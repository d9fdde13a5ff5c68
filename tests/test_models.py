"""The model zoo: configs build, public weights come from torch hub's cache, checkpoints are checked."""

from __future__ import annotations

import argparse
import hashlib
import json
import urllib.error
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from torch import nn
from torchvision.models import video

import videoattr  # noqa: F401  (registers ${asset:...})
from helpers import ROOT, layouts
from videoattr import explain
from videoattr.errors import VideoAttrError
from videoattr.models import fetch as fetch_weights
from videoattr.models import load_model
from videoattr.models.tsm import temporal_shift

FIXTURES = Path(__file__).parent / "fixtures"


def model_cfg(name: str, *overrides: str):
    """conf/model/<name>.yaml with dotlist ``overrides`` (e.g. ``weights=none``)."""
    return OmegaConf.merge(
        OmegaConf.load(ROOT / "conf/model" / f"{name}.yaml"), OmegaConf.from_dotlist(list(overrides))
    )


def clip(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """An empty torch hub checkpoint folder under a temporary TORCH_HOME, downloads forbidden."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("VIDEOATTR_OFFLINE", "1")
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    return folder


@pytest.mark.parametrize(
    "name, arch, weights",
    [
        ("r2plus1d", "r2plus1d_18", video.R2Plus1D_18_Weights.KINETICS400_V1),
        ("r3d", "r3d_18", video.R3D_18_Weights.KINETICS400_V1),
        ("mc3", "mc3_18", video.MC3_18_Weights.KINETICS400_V1),
    ],
)
def test_torchvision_resnets_load_public_weights_from_the_hub_cache(hub, name, arch, weights):
    torch.manual_seed(1)
    reference = getattr(video, arch)().eval()
    torch.save(reference.state_dict(), hub / weights.url.rsplit("/", 1)[-1])

    net, spec = load_model(model_cfg(name))

    x = clip(2, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x))
    assert not net.training and not any(p.requires_grad for p in net.parameters())
    assert (spec.num_frames, spec.resize, spec.crop, spec.gradcam_layer) == (
        16,
        (128, 172),
        (112, 112),
        "layer4",
    )
    assert spec.mean == (0.43216, 0.39467, 0.37645) and spec.std == (0.22803, 0.22145, 0.21699)
    assert spec.class_names == weights.meta["categories"]
    assert isinstance(net.get_submodule("layer4"), nn.Module)


def test_missing_public_weights_offline_name_the_file_folder_and_fix(hub):
    with pytest.raises(VideoAttrError) as err:
        load_model(model_cfg("r2plus1d"))
    message = str(err.value)
    assert "r2plus1d_18-91a641e6.pth" in message and str(hub) in message
    assert "https://download.pytorch.org/models/r2plus1d_18-91a641e6.pth" in message
    assert "videoattr-fetch-weights" in message
    assert "\n" not in message and message.count(". ") == 0
    # The I3D file's name in the cache is not its URL's (model_rgb.pth): the message says what to save it as.
    with pytest.raises(VideoAttrError, match=r"model_rgb\.pth and save it as .*kinetics400_rgb_i3d\.pth or run"):
        load_model(model_cfg("i3d"))


def test_failed_download_is_a_one_sentence_error(hub, monkeypatch):
    monkeypatch.delenv("VIDEOATTR_OFFLINE")
    calls = []

    def no_network(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix))
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    with pytest.raises(VideoAttrError, match=r"kinetics400_rgb_i3d\.pth is not in .*downloading it failed"):
        load_model(model_cfg("i3d"))
    assert calls == [("https://github.com/hassony2/kinetics_i3d_pytorch/raw/master/model/model_rgb.pth", None)]
    with pytest.raises(VideoAttrError):
        load_model(model_cfg("r3d"))
    assert calls[-1][1] == "b3b3357e"  # torchvision's hash prefix is checked


def test_user_checkpoint_overrides_weights_and_unwraps_common_wrappers(tmp_path, hub):
    torch.manual_seed(2)
    reference = video.mc3_18(num_classes=7).eval()
    path = tmp_path / "finetuned.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in reference.state_dict().items()}}, path)

    net, _ = load_model(model_cfg("mc3", f"checkpoint={path}", "net.num_classes=7"))

    x = clip(1, 3, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x))


def test_lightning_style_prefix_is_dropped(tmp_path):
    torch.manual_seed(3)
    reference = video.r3d_18(num_classes=3).eval()
    path = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {f"model.{k}": v for k, v in reference.state_dict().items()}}, path)
    net, _ = load_model(model_cfg("r3d", f"checkpoint={path}", "net.num_classes=3"))
    torch.testing.assert_close(net.fc.weight, reference.fc.weight)


def test_checkpoint_of_another_model_says_what_differs_and_what_it_is(tmp_path):
    path = tmp_path / "r3d.pt"
    torch.save(video.r3d_18().state_dict(), path)
    with pytest.raises(VideoAttrError) as err:
        load_model(model_cfg("r2plus1d", f"checkpoint={path}"))
    message = str(err.value)
    assert "does not fit the r2plus1d_18 model" in message
    assert "missing keys (e.g. stem.3.weight" in message and "shape mismatches" in message
    assert "looks like a checkpoint of R3D-18 (model=r3d)" in message


def test_head_size_mismatch_is_reported_without_a_wrong_guess(tmp_path):
    path = tmp_path / "ucf.pt"
    torch.save(video.r2plus1d_18(num_classes=101).state_dict(), path)
    with pytest.raises(VideoAttrError) as err:
        load_model(model_cfg("r2plus1d", f"checkpoint={path}"))
    message = str(err.value)
    assert (
        "2 shape mismatches, file vs model (e.g. fc.weight (101, 512) vs (400, 512), fc.bias (101,) vs (400,))"
        in message
    )
    assert "looks like" not in message


@pytest.mark.parametrize(
    "content, match",
    [
        (None, "does not exist"),
        (b"PK\x03\x04 this is not a torch file", "is corrupt or not a plain state dict file"),
        ([1, 2, 3], "holds no state dict"),
    ],
)
def test_unusable_checkpoint_files(tmp_path, content, match):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(VideoAttrError, match=match):
        load_model(model_cfg("r3d", f"checkpoint={path}"))


def test_i3d_reproduces_the_golden_logits_from_a_user_file(tmp_path):
    """Weights from the given manifest + the formula of tests/fixtures/README.md, loaded like a user's file,
    give the recorded logits."""
    path = tmp_path / "i3d.pth"
    torch.save(layouts.formula_state_dict(layouts.load_manifest("i3d_seed_kinetics400")), path)
    net, spec = load_model(model_cfg("i3d", f"checkpoint={path}"))
    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, 16, 224, 224, generator=g) * 2 - 1
    with torch.no_grad():
        logits = net(x)
    golden = torch.tensor(json.loads((FIXTURES / "i3d_seed_kinetics400.golden.json").read_text())["logits"])
    torch.testing.assert_close(logits[0], golden, atol=1e-4, rtol=0)
    assert (spec.num_frames, spec.resize, spec.crop, spec.gradcam_layer) == (
        16,
        (256, 344),
        (224, 224),
        "mixed_5c",
    )
    assert len(spec.class_names) == 400 and net.get_submodule("mixed_5c") is net.mixed_5c


def test_i3d_pytorch_i3d_layout_loads_like_its_seed_layout_twin(tmp_path):
    seed_keys = [k for k, _, _ in layouts.load_manifest("i3d_seed_kinetics400")["params"]]
    theirs = layouts.load_manifest("i3d_pytorch_i3d_kinetics400")
    assert theirs["params"][0][0] == "logits.conv3d.weight" and "Mixed_3b.b1a.conv3d.weight" in [
        p[0] for p in theirs["params"]
    ]
    their_keys = [k for k, _, _ in theirs["params"]]
    state = layouts.formula_state_dict(theirs)
    # pytorch-i3d registers its classifier first; otherwise the two layouts list modules in the same order.
    twin = {ours: state[k] for ours, k in zip(seed_keys, their_keys[2:] + their_keys[:2])}
    their_path, twin_path = tmp_path / "rgb_imagenet.pt", tmp_path / "twin.pth"
    torch.save(state, their_path)
    torch.save(twin, twin_path)

    net, _ = load_model(model_cfg("i3d", f"checkpoint={their_path}"))
    twin_net, _ = load_model(model_cfg("i3d", f"checkpoint={twin_path}"))
    x = clip(1, 3, 8, 32, 32)
    with torch.no_grad():
        plain_eps = twin_net(x)
        for m in twin_net.modules():
            if isinstance(m, nn.BatchNorm3d):
                m.eps = 1e-3  # pytorch-i3d's epsilon
        torch.testing.assert_close(net(x), twin_net(x))
    assert net.conv3d_1a_7x7.batch3d.eps == 1e-3 and not torch.allclose(plain_eps, twin_net(x))


@pytest.mark.parametrize(
    "name, layout, wrap, classes",
    [
        ("tsm", "tsm_kinetics400", lambda sd: {"epoch": 50, "arch": "resnet50", "state_dict": sd}, 400),
        (
            "tsm_epic_noun",
            "tsm_epic55",
            lambda sd: {"state_dict": sd, "args": argparse.Namespace(dropout=0.5)},
            352,
        ),
        (
            "tsm_epic_verb",
            "tsm_epic55",
            lambda sd: {"state_dict": sd, "args": argparse.Namespace(dropout=0.5)},
            125,
        ),
    ],
)
def test_tsm_checkpoint_layouts(tmp_path, name, layout, wrap, classes):
    """Loads the upstream layouts; the golden logits were made by our own TSM (tests/helpers/layouts.py),
    so they prove self-consistency across versions, not agreement with the upstream code."""
    path = tmp_path / "tsm.pth.tar"
    torch.save(wrap(layouts.formula_state_dict(layouts.load_manifest(layout))), path)
    net, spec = load_model(model_cfg(name, f"checkpoint={path}"))
    with torch.no_grad():
        logits = net(layouts.tsm_input())
    assert logits.shape == (1, classes) and len(spec.class_names) == classes
    golden = json.loads((FIXTURES / f"{layout}.golden.json").read_text())
    if golden["output"] == net.output:
        torch.testing.assert_close(logits[0], torch.tensor(golden["logits"]), atol=1e-4, rtol=0)
    assert (spec.num_frames, spec.crop, spec.gradcam_layer) == (8, (224, 224), "base_model.layer4")
    assert spec.mean == (0.485, 0.456, 0.406)


def test_tsm_shift_and_segment_layout():
    x = torch.arange(2 * 3 * 16, dtype=torch.float32).view(2 * 3, 16, 1, 1)  # N=2, T=3, C=16
    shifted = temporal_shift(x, num_segments=3, fold_div=8).view(2, 3, 16)
    frames = x.view(2, 3, 16)
    assert torch.equal(shifted[:, :2, :2], frames[:, 1:, :2]) and not shifted[:, 2, :2].any()
    assert torch.equal(shifted[:, 1:, 2:4], frames[:, :2, 2:4]) and not shifted[:, 0, 2:4].any()
    assert torch.equal(shifted[:, :, 4:], frames[:, :, 4:])

    net, _ = load_model(model_cfg("tsm", "weights=none"))
    with pytest.raises(VideoAttrError, match="built for 8 segments but the clip has 4 frames"):
        net(clip(1, 3, 4, 32, 32))
    # A frame's own logits do not depend on which clip of the batch it is in.
    a, b = clip(1, 3, 8, 32, 32, seed=1), clip(1, 3, 8, 32, 32, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(net(torch.cat([a, b])), torch.cat([net(a), net(b)]), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    "name, weights, shape, gradcam_layer",
    [
        ("s3d", video.S3D_Weights.KINETICS400_V1, (1, 3, 14, 224, 224), "features"),
        ("swin3d", video.Swin3D_T_Weights.KINETICS400_V1, (1, 3, 4, 64, 64), "features.6.1.norm1"),
        pytest.param(
            "mvit",
            video.MViT_V2_S_Weights.KINETICS400_V1,
            (1, 3, 16, 224, 224),
            "blocks.15.norm1",
            marks=pytest.mark.slow,
        ),
    ],
)
def test_other_torchvision_models_follow_their_weights_metadata(name, weights, shape, gradcam_layer):
    net, spec = load_model(model_cfg(name, "weights=none"))
    transforms = weights.transforms()
    assert list(spec.crop) == transforms.crop_size
    assert spec.resize[0] == transforms.resize_size[0]
    assert list(spec.mean) == transforms.mean and list(spec.std) == transforms.std
    assert spec.num_frames >= weights.meta.get("min_temporal_size", 1)
    assert spec.class_names == weights.meta["categories"] and spec.gradcam_layer == gradcam_layer
    with torch.no_grad():
        assert net(clip(*shape)).shape == (1, 400)


class TinyNet(nn.Module):
    """A user's own classifier for the custom config."""

    def __init__(self, num_classes: int = 4):
        super().__init__()
        self.conv = nn.Conv3d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).relu().mean(dim=(2, 3, 4)))


def test_custom_model_from_a_dotted_path_and_checkpoint(tmp_path):
    torch.manual_seed(4)
    reference = TinyNet(num_classes=5).eval()
    path, classes = tmp_path / "tiny.pt", tmp_path / "classes.txt"
    torch.save(reference.state_dict(), path)
    classes.write_text("a\nb\nc\nd\ne\n")
    target = f"{TinyNet.__module__}.TinyNet"
    cfg = model_cfg(
        "custom",
        f"target={target}",
        f"checkpoint={path}",
        f"classes={classes}",
        "num_frames=4",
        "net.num_classes=5",
        "gradcam_layer=conv",
    )
    net, spec = load_model(cfg)
    x = clip(2, 3, 4, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(net(x), reference(x))
    assert spec.num_frames == 4 and spec.class_names == list("abcde") and spec.gradcam_layer == "conv"

    with pytest.raises(VideoAttrError, match="Cannot import model.target 'no_such_pkg.Net'"):
        load_model(model_cfg("custom", "target=no_such_pkg.Net", f"classes={classes}"))


def test_fetch_weights_verifies_the_cached_file(hub, capsys, monkeypatch):
    assert fetch_weights.weights_of("tsm_epic_verb").file_name == "TSM_arch=resnet50_modality=RGB_segments=8.pth.tar"
    data = b"not really I3D weights"
    (hub / "kinetics400_rgb_i3d.pth").write_bytes(data)
    monkeypatch.setattr("sys.argv", ["fetch_weights.py", "i3d"])
    assert fetch_weights.main() == 0
    assert hashlib.sha256(data).hexdigest() in capsys.readouterr().out

    (hub / "r3d_18-b3b3357e.pth").write_bytes(data)  # wrong content under torchvision's name
    monkeypatch.setattr("sys.argv", ["fetch_weights.py", "r3d"])
    assert fetch_weights.main() == 1
    assert "not b3b3357e" in capsys.readouterr().err

    monkeypatch.setattr("sys.argv", ["fetch_weights.py", "swin3d"])
    assert fetch_weights.main() == 2
    assert "swin3d_t-7615ae03.pth is not in" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name, shape",
    [
        ("synthetic", (1, 3, 16, 112, 112)),
        ("r2plus1d", (1, 3, 8, 32, 32)),
        ("r3d", (1, 3, 8, 32, 32)),
        ("mc3", (1, 3, 8, 32, 32)),
        ("i3d", (1, 3, 8, 32, 32)),
        ("tsm", (1, 3, 8, 32, 32)),
        ("tsm_epic_noun", (1, 3, 8, 32, 32)),
        ("tsm_epic_verb", (1, 3, 8, 32, 32)),
        pytest.param("s3d", (1, 3, 14, 224, 224), marks=pytest.mark.slow),
        ("swin3d", (1, 3, 4, 64, 64)),
        pytest.param("mvit", (1, 3, 16, 224, 224), marks=pytest.mark.slow),
    ],
)
def test_every_model_config_is_explained_by_one_method(name, shape):
    """Gradients for the predicted class, and Grad-CAM on the config's layer where it has one (TSM: per-frame
    2D maps reshaped to T). With random weights the deep nets' activations nearly vanish (~1e-7), so
    Grad-CAM may be all zero after its [0, 1] scaling; its shape and range are checked, gradients must be > 0."""
    net, spec = load_model(model_cfg(name, "weights=none"))
    x = clip(*shape)
    with torch.no_grad():
        predicted = net(x).argmax(dim=1)
    maps = explain(net, x, predicted, method="grad")
    assert maps.shape == (1, 1, *shape[2:])
    assert torch.isfinite(maps).all() and maps.min() >= 0 and maps.max() > 0
    if spec.gradcam_layer:
        cam = explain(net, x, predicted, method="grad_cam", layer=spec.gradcam_layer)
        assert cam.shape == (1, 1, *shape[2:]) and 0 <= cam.min() <= cam.max() <= 1
