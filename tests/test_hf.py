"""Hugging Face video classifiers (videoattr.models.hf): model=hf from a saved folder, offline; raw HF models
through explain() and the sanity check; eager attention. Tiny models of every architecture, from configs."""

import sys

import numpy as np
import pandas as pd
import pytest
import torch
import transformers
from omegaconf import OmegaConf
from torch import nn

import videoattr
from helpers import ROOT, run_cli, run_in_process
from helpers.hf import ARCHS, FRAMES, SIZE, save_folder, tiny_hf, tiny_processor
from videoattr import VideoAttrError
from videoattr.data.transforms import preprocess
from videoattr.models import load_model
from videoattr.models.hf import (
    FRAME_ROWS,
    SPACE_MAJOR,
    SPACE_ROWS,
    TIME_MAJOR,
    HFVideoClassifier,
    TokenLayout,
    as_video_classifier,
    eager_attention,
    find_hf_model,
    token_layout,
)

LABELS = ["left", "right", "up"]
# Every method family on 4 x 32 x 32 clips: gradients, Grad-CAM, removal, perturbation (a 2-iteration fit, its
# kernels not compiled: compiling takes minutes on a loaded CPU).
FAMILIES = {
    "grad": {},
    "integrated_grad": {"steps": 4},
    "grad_cam": {},
    "occlusion": {"window": [2, 16, 16], "stride": [2, 16, 16]},
    "rise": {"masks": 8, "grid": [2, 2, 2]},
    "step_fast": {
        **{"areas": [0.1], "iterations": 2, "grid_step": 4, "compile": False},
        **{"core_shape": [3, 3, 3], "core_stride": [1, 3, 3]},
    },
}


def hf_cfg(name, *overrides: str):
    """conf/model/hf.yaml with ``name`` and dotlist ``overrides``, as Hydra composes it (defaults dropped)."""
    cfg = OmegaConf.merge(
        OmegaConf.load(ROOT / "conf/model/hf.yaml"), OmegaConf.from_dotlist([f"name={name}", *overrides])
    )
    cfg.pop("defaults")
    return cfg


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """arch -> a folder written by save_pretrained: config.json, model.safetensors, the processor's config."""
    root = tmp_path_factory.mktemp("hf")
    return {arch: save_folder(tiny_hf(arch, LABELS, seed=1), arch, root / arch) for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
def test_a_saved_folder_loads_offline_with_its_processors_preprocessing(folders, arch, monkeypatch):
    monkeypatch.setenv("VIDEOATTR_OFFLINE", "1")
    net, spec = load_model(hf_cfg(folders[arch]))
    hf_model = transformers.AutoModelForVideoClassification.from_pretrained(folders[arch]).eval()
    assert isinstance(net, HFVideoClassifier) and find_hf_model(net) is net.model
    assert spec.class_names == LABELS and spec.num_frames == FRAMES and spec.crop == (SIZE, SIZE)
    # 36 x 48 frames (4:3): the processors resize the shortest edge to 36 (VideoPrism's: to 32 x 32), crop 32.
    assert spec.resize == ((SIZE, SIZE) if arch == "videoprism" else (36, 48))
    frames = np.random.default_rng(0).integers(0, 256, (FRAMES, 36, 48, 3), dtype=np.uint8)
    clip, _ = preprocess(torch.from_numpy(frames), spec)
    inputs = tiny_processor(arch)(list(frames), return_tensors="pt")
    pixels = inputs.get("pixel_values", inputs.get("pixel_values_videos"))
    with torch.no_grad():
        ours = net(clip[None])
        theirs = hf_model(**{hf_model.main_input_name: pixels}).logits.reshape(1, -1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-5)


def test_the_yaml_keys_override_what_the_model_tells(folders):
    _, spec = load_model(hf_cfg(folders["videomae"], "resize=[40,40]", "mean=[0.1,0.2,0.3]", "std=[1,1,1]"))
    assert spec.resize == (40, 40) and spec.mean == (0.1, 0.2, 0.3) and spec.std == (1, 1, 1)
    assert spec.crop == (SIZE, SIZE) and spec.class_names == LABELS


def test_a_folder_without_a_processor_asks_for_the_normalisation(folders, tmp_path):
    tiny_hf("vivit", LABELS).save_pretrained(tmp_path)
    with pytest.raises(VideoAttrError, match=r"^model.mean is not set and model .* does not tell it: set model.mean"):
        load_model(hf_cfg(tmp_path))
    _, spec = load_model(hf_cfg(tmp_path, "mean=[0.5,0.5,0.5]", "std=[0.5,0.5,0.5]"))
    assert spec.resize == spec.crop == (SIZE, SIZE) and spec.num_frames == FRAMES


def test_a_missing_model_is_one_line_saying_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDEOATTR_OFFLINE", "1")
    with pytest.raises(VideoAttrError) as err:
        load_model(hf_cfg("nobody/no-such-videomae"))
    message = str(err.value)
    assert message.startswith("Hugging Face model nobody/no-such-videomae is not in the local cache")
    assert "`hf download nobody/no-such-videomae`" in message and "\n" not in message
    with pytest.raises(VideoAttrError, match=f"^Model folder {tmp_path} holds no loadable .*save_pretrained"):
        load_model(hf_cfg(tmp_path))


def test_without_transformers_model_hf_says_so_in_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(
        VideoAttrError,
        match=r"^Hugging Face models \(model=hf\) need the transformers package.*pip install 'videoattr\[hf\]'",
    ):
        load_model(hf_cfg("MCG-NJU/videomae-base-finetuned-kinetics"))


@pytest.mark.parametrize("arch", ARCHS)
def test_a_raw_hf_model_runs_every_method_family_and_the_sanity_check(arch):
    model = tiny_hf(arch, LABELS)
    clips = torch.randn(2, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(0))
    for method, options in FAMILIES.items():
        maps = videoattr.explain(model, clips, [0, 2], method=method, **options)
        assert maps.shape == (2, 1, FRAMES, SIZE, SIZE), method
        assert torch.isfinite(maps).all() and maps.sum() > 0, method
    result = videoattr.sanity_check(model, clips[:1], 1, method="grad", steps=1)
    assert result.layers[0] == "model.classifier" and len(result.table) == 2
    assert not model.training and model.config._attn_implementation == tiny_hf(arch, LABELS).config._attn_implementation


class Wrapper(nn.Module):
    """A user's module around an HF model: takes N x 3 x T x H x W and returns the HF output object."""

    def __init__(self, model):
        super().__init__()
        self.inner = model

    def forward(self, x):
        return self.inner(pixel_values=x.transpose(1, 2))


def test_modules_returning_logits_objects_are_adapted_and_plain_ones_kept():
    model = tiny_hf("videomae", LABELS)
    plain = nn.Sequential(nn.Flatten(), nn.LazyLinear(3))
    assert as_video_classifier(plain) is plain
    adapted = as_video_classifier(model)
    assert isinstance(adapted, HFVideoClassifier) and as_video_classifier(adapted) is adapted
    clips = torch.randn(1, 3, FRAMES, SIZE, SIZE)
    wrapped = videoattr.explain(Wrapper(model), clips, 1, method="grad")
    torch.testing.assert_close(wrapped, videoattr.explain(model, clips, 1, method="grad"))
    # A layer named as in the model the user passed.
    named = videoattr.explain(model, clips, 1, method="grad_cam", layer="videomae.encoder.layer.0")
    assert named.shape == (1, 1, FRAMES, SIZE, SIZE) and named.max() == 1


@pytest.mark.parametrize(
    ("order", "position"),
    [
        (TIME_MAJOR, lambda t, h, w: (0, t * 12 + h * 4 + w)),
        (SPACE_MAJOR, lambda t, h, w: (0, (h * 4 + w) * 2 + t)),
        (SPACE_ROWS, lambda t, h, w: (h * 4 + w, t)),
        (FRAME_ROWS, lambda t, h, w: (t, h * 4 + w)),
    ],
)
def test_to_grid_puts_each_token_in_its_cell(order, position):
    layout = TokenLayout(1, (2, 3, 4), order, "")
    rows, tokens = layout.shape(1)
    values = torch.full((rows, tokens, 1), -1.0)
    cells = [(t, h, w) for t in range(2) for h in range(3) for w in range(4)]
    for index, cell in enumerate(cells):
        row, token = position(*cell)
        values[row, 1 + token] = index
    grid = layout.to_grid(values, 1)
    assert grid.shape == (1, 1, 2, 3, 4) and layout.matches(values, 1) and not layout.matches(values, 2)
    assert [int(grid[0, 0, t, h, w]) for t, h, w in cells] == list(range(len(cells)))


@pytest.mark.parametrize("arch", ARCHS)
def test_token_layout_reads_each_tubelet_where_the_clip_holds_it(arch):
    """Evidence added to one tubelet changes the default layer's tokens most at that tubelet's grid cell."""
    model = tiny_hf(arch, LABELS, layers=1)
    layout = token_layout(model, (1, 3, FRAMES, SIZE, SIZE))
    t, h, w = layout.grid
    clean = torch.randn(1, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    saved = []
    hook = model.get_submodule(layout.layer).register_forward_hook(
        lambda _m, _a, out: saved.append(out[0] if isinstance(out, tuple) else out)
    )
    net = HFVideoClassifier(model)
    with torch.no_grad():
        net(clean)
        for cell in [(0, 0, 0), (t - 1, h - 1, 0), (t // 2, 1, w - 1)]:
            bright = clean.clone()
            ft, fh, fw = FRAMES // t, SIZE // h, SIZE // w
            bright[:, :, cell[0] * ft : (cell[0] + 1) * ft, cell[1] * fh : (cell[1] + 1) * fh, cell[2] * fw :][
                ..., :fw
            ] += 3
            net(bright)
            change = layout.to_grid(saved[-1] - saved[0], 1).norm(dim=1)[0]
            assert tuple(int(i) for i in np.unravel_index(int(change.argmax()), change.shape)) == cell
    hook.remove()


def test_eager_attention_gives_the_weights_inside_and_restores_sdpa():
    model = tiny_hf("videomae", LABELS)
    assert model.config._attn_implementation == "sdpa"
    pixels = torch.randn(1, FRAMES, 3, SIZE, SIZE)
    with eager_attention(model) as eager:
        attentions = eager(pixel_values=pixels, output_attentions=True).attentions
        assert model.config._attn_implementation == "eager"
    tokens = (FRAMES // 2) * (SIZE // 8) ** 2
    assert len(attentions) == 2 and attentions[0].shape == (1, 2, tokens, tokens)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(1, 2, tokens))
    assert model.config._attn_implementation == "sdpa"


@pytest.mark.slow
def test_run_py_explains_with_each_saved_folder_naming_its_classes(folders, tmp_path, write_frames):
    clips = tmp_path / "clips"
    write_frames(clips / "up-0", np.random.default_rng(1).integers(0, 256, (FRAMES, 36, 48, 3), dtype=np.uint8))
    # Grad-CAM (its layer found inside the HF model); every method family runs in-process above (a sweep over
    # families too costs 7 s per job here, beyond the slow tier's budget).
    methods = ["grad_cam"]
    out = run_cli(
        "-m",
        "model=hf",
        f"model.name={','.join(str(folders[arch]) for arch in ARCHS)}",
        f"method={','.join(methods)}",
        "dataset=videos",
        f"dataset.root={clips}",
        "debug=fast",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    )
    results = pd.concat(pd.read_csv(path) for path in (tmp_path / "sweep").rglob("results.csv"))
    assert len(results) == len(ARCHS) * len(methods), out.stdout[-2000:]
    assert set(results["target_name"]) == {"up"} and set(results["predicted_name"]) <= set(LABELS)
    assert set(results["model"]) == {str(folders[arch]) for arch in ARCHS} and set(results["method"]) == set(methods)
    assert results["target_prob"].between(0, 1).all()


# One method of each family per architecture, through run.py's composition and runner (in-process: a sweep of
# subprocesses costs 7 s a job here); 32 x 32 clips need a smaller mask grid and STEP core than the defaults.
RUN_PY_FAMILIES = {
    "videomae": ["method=grad_rollout"],
    "timesformer": ["method=rise"],
    "vivit": ["method=step_fast", "method.grid_step=4", "method.core_shape=[3,3,3]", "method.core_stride=[1,3,3]"],
    "vjepa2": ["method=integrated_grad"],
    # delete: with temporal_ep's own dual, this random model's masks stay at 0 through the 5 iterations
    "videoprism": ["method=temporal_ep", "method.variant=delete"],
}


@pytest.mark.parametrize("arch", ARCHS)
def test_run_py_runs_each_method_family_on_a_saved_folder(arch, folders, tmp_path, write_frames):
    clips = tmp_path / "clips"
    write_frames(clips / "up-0", np.random.default_rng(2).integers(0, 256, (FRAMES, 36, 48, 3), dtype=np.uint8))
    overrides = ["model=hf", f"model.name={folders[arch]}", "dataset=videos", f"dataset.root={clips}", "debug=fast"]
    assert run_in_process([*overrides, *RUN_PY_FAMILIES[arch]], tmp_path / "run") is None
    results = pd.read_csv(tmp_path / "run" / "results.csv")
    method = RUN_PY_FAMILIES[arch][0].removeprefix("method=")
    assert set(results["method"]) == {method} and set(results["target_name"]) == {"up"}
    maps = np.load(tmp_path / "run" / "clips" / "up-0.npz")["maps"]
    assert maps.shape[-3:] == (FRAMES, SIZE, SIZE) and np.isfinite(maps).all() and maps.max() > 0
