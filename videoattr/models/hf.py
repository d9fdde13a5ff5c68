"""Hugging Face video classifiers (transformers' ``AutoModelForVideoClassification``) as video classifiers.

The one place that knows their layouts and outputs. An HF video model takes ``pixel_values`` (or
``pixel_values_videos``) N x T x 3 x H x W and returns an output object with ``logits``;
``HFVideoClassifier`` makes it a plain N x 3 x T x H x W -> N x classes module, ``token_layout`` says
where its patch tokens lie for Grad-CAM (and attention rollout), ``build`` loads one by hub id or folder
for ``conf/model/hf.yaml`` and ``spec_defaults`` reads its preprocessing from its config and processor.
transformers is optional (``pip install 'videoattr[hf]'``): only ``build`` imports it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from videoattr.errors import VideoAttrError, one_line
from videoattr.models.checkpoints import OFFLINE_ENV
from videoattr.terminal import is_verbose

# Token orders (TokenLayout.order): where token (t, h, w) of the T' x H' x W' grid sits.
TIME_MAJOR = "thw"  # row n, token t H'W' + h W' + w (VideoMAE, ViViT, V-JEPA 2)
SPACE_MAJOR = "hwt"  # row n, token (h W' + w) T' + t (TimeSformer, divided space-time attention)
SPACE_ROWS = "hw,t"  # row n H'W' + h W' + w, token t: one row per position (VideoPrism's temporal encoder)
FRAME_ROWS = "t,hw"  # row n T' + t, token h W' + w: one row per frame (TimeSformer's spatial attention)


@dataclass(frozen=True)
class TokenLayout:
    """How a layer of an HF video transformer holds its patch tokens.

    special_tokens: leading tokens that are no patch (1: a class token).
    grid: (T', H', W'), the tokens along time, height and width (a tubelet per token).
    order: TIME_MAJOR, SPACE_MAJOR, SPACE_ROWS or FRAME_ROWS (above; the rows orders also describe
        attention weights computed per position or per frame, e.g. TimeSformer's temporal and spatial ones).
    layer: the default Grad-CAM layer, a dotted module name inside the HF model, where every patch
        token still receives a gradient from the logits.
    """

    special_tokens: int
    grid: tuple[int, int, int]
    order: str
    layer: str

    def shape(self, n: int) -> tuple[int, int]:
        """(rows, tokens) of the layer's rows x tokens x C output for ``n`` clips."""
        t, h, w = self.grid
        if self.order == SPACE_ROWS:
            return n * h * w, self.special_tokens + t
        if self.order == FRAME_ROWS:
            return n * t, self.special_tokens + h * w
        return n, self.special_tokens + t * h * w

    def matches(self, tokens: torch.Tensor, n: int) -> bool:
        """Whether ``tokens`` (a layer's output) is rows x tokens x C in this layout for ``n`` clips."""
        return tokens.dim() == 3 and tuple(tokens.shape[:2]) == self.shape(n)

    def to_grid(self, tokens: torch.Tensor, n: int) -> torch.Tensor:
        """rows x tokens x C (this layout, ``n`` clips) -> N x C x T' x H' x W', special tokens dropped."""
        t, h, w = self.grid
        patches = tokens[:, self.special_tokens :]
        c = patches.shape[-1]
        if self.order == TIME_MAJOR:
            return patches.transpose(1, 2).reshape(n, c, t, h, w)
        if self.order == SPACE_MAJOR:
            return patches.transpose(1, 2).reshape(n, c, h, w, t).permute(0, 1, 4, 2, 3)
        if self.order == SPACE_ROWS:
            return patches.reshape(n, h, w, t, c).permute(0, 4, 3, 1, 2)
        return patches.reshape(n, t, h, w, c).permute(0, 4, 1, 2, 3)


class HFVideoClassifier(nn.Module):
    """An HF video classifier (kept as ``model``) taking N x 3 x T x H x W clips, returning N x classes logits.

    processor: its image or video processor (or None), read by ``spec_defaults``.
    """

    def __init__(self, model: nn.Module, processor=None):
        super().__init__()
        self.model = model
        self.processor = processor
        self.train(model.training)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        name = getattr(self.model, "main_input_name", "pixel_values")
        return logits_of(self.model(**{name: clips.transpose(1, 2)}), clips.shape[0])

    def spec_defaults(self) -> dict:
        """What conf/model/hf.yaml leaves null: num_frames, resize, crop, mean, std, class_names."""
        return spec_defaults(self.model.config, self.processor)


class LogitsOf(nn.Module):
    """A module (kept as ``model``) whose output carries ``.logits``, as one that returns the N x classes logits;
    its input is passed on as it is."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.train(model.training)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(clips), clips.shape[0])


def logits_of(output, n: int) -> torch.Tensor:
    """The N x classes logits of a model's output: its ``.logits`` (VideoPrism's N x 1 x classes flattened)."""
    logits = getattr(output, "logits", output)
    return logits.reshape(n, -1) if isinstance(logits, torch.Tensor) and logits.dim() == 3 else logits


def _pretrained_class() -> type | None:
    """transformers' PreTrainedModel if transformers is loaded (no HF model can exist otherwise)."""
    return getattr(sys.modules.get("transformers.modeling_utils"), "PreTrainedModel", None)


def find_hf_model(module: nn.Module) -> nn.Module | None:
    """The first transformers ``PreTrainedModel`` in ``module``'s tree (``module`` itself included), or None."""
    pretrained = _pretrained_class()
    if pretrained is None:
        return None
    return next((m for m in module.modules() if isinstance(m, pretrained)), None)


def as_video_classifier(model: nn.Module) -> nn.Module:
    """``model`` as an N x 3 x T x H x W -> N x classes module: a raw HF model wrapped in HFVideoClassifier,
    another module with an HF model inside (whose output may carry ``.logits``) in LogitsOf; other modules,
    and already adapted ones, unchanged."""
    if isinstance(model, (HFVideoClassifier, LogitsOf)):
        return model
    hf_model = find_hf_model(model)
    if hf_model is None:
        return model
    return HFVideoClassifier(model) if hf_model is model else LogitsOf(model)


def adapted_name(model: nn.Module, name: str) -> str:
    """A module name given for the model a user passed, as a name in ``as_video_classifier(model)``."""
    if isinstance(model, (HFVideoClassifier, LogitsOf)) and not _has_module(model, name):
        return f"model.{name}"
    return name


def _has_module(model: nn.Module, name: str) -> bool:
    try:
        model.get_submodule(name)
    except AttributeError:
        return False
    return True


# ------------------------------------------------------------------------------------------- token layouts


def _pairs(value) -> tuple[int, int]:
    return tuple(value) if isinstance(value, Sequence) else (value, value)


def _last(hf_model: nn.Module, blocks: str) -> str:
    """The dotted name of the last block of the ModuleList ``blocks``."""
    return f"{blocks}.{len(hf_model.get_submodule(blocks)) - 1}"


def _videomae(hf_model, t, h, w) -> TokenLayout:
    # Conv3d tubelets flattened time-major, no class token. With mean pooling every token reaches the head
    # from the last block's output; without it only token 0 does, so take the input of its attention.
    c = hf_model.config
    ph, pw = _pairs(c.patch_size)
    last = _last(hf_model, "videomae.encoder.layer")
    layer = last if c.use_mean_pooling else f"{last}.layernorm_before"
    return TokenLayout(0, (t // c.tubelet_size, h // ph, w // pw), TIME_MAJOR, layer)


def _entering_last(hf_model: nn.Module, blocks: str, embeddings: str) -> str:
    """The module whose output enters the last block of ``blocks``: the block before it, else ``embeddings``."""
    count = len(hf_model.get_submodule(blocks))
    return f"{blocks}.{count - 2}" if count > 1 else embeddings


def _timesformer(hf_model, t, h, w) -> TokenLayout:
    # A class token, then patch-major / frame-minor tokens. Only the class token reaches the head after
    # the last block, and that block's norms see per-frame rows, so take the tokens that enter it.
    ph, pw = _pairs(hf_model.config.patch_size)
    layer = _entering_last(hf_model, "timesformer.encoder.layer", "timesformer.embeddings")
    return TokenLayout(1, (t, h // ph, w // pw), SPACE_MAJOR, layer)


def _vivit(hf_model, t, h, w) -> TokenLayout:
    # A class token, then Conv3d tubelets flattened time-major; only the class token reaches the head, so
    # take the last block's attention input (as MViT's norm1).
    tt, th, tw = hf_model.config.tubelet_size
    return TokenLayout(
        1, (t // tt, h // th, w // tw), TIME_MAJOR, f"{_last(hf_model, 'vivit.layers')}.layernorm_before"
    )


def _vjepa2(hf_model, t, h, w) -> TokenLayout:
    # Conv3d tubelets flattened time-major, no class token; the encoder's final norm feeds every token to
    # the attentive pooler.
    c = hf_model.config
    grid = (max(t // c.tubelet_size, 1), h // c.patch_size, w // c.patch_size)
    return TokenLayout(0, grid, TIME_MAJOR, "vjepa2.encoder.layernorm")


def _videoprism(hf_model, t, h, w) -> TokenLayout:
    # A spatial encoder per frame, then a temporal encoder per position: (N H'W') x T' x C rows; take the
    # last temporal block's attention input.
    tt, th, tw = hf_model.config.tubelet_size
    layer = f"{_last(hf_model, 'vision_model.temporal_layers')}.layernorm_before"
    return TokenLayout(0, (t // tt, h // th, w // tw), SPACE_ROWS, layer)


_LAYOUTS = {
    "videomae": _videomae,
    "timesformer": _timesformer,
    "vivit": _vivit,
    "vjepa2": _vjepa2,
    "videoprism_vision_model": _videoprism,
}


def token_layout(hf_model: nn.Module, clip_shape: Sequence[int] | None = None) -> TokenLayout:
    """The token layout of ``hf_model`` (a transformers video classifier) on clips N x 3 x T x H x W of
    ``clip_shape`` (None: the clip size of its config). Raises VideoAttrError for a model type it does not know."""
    config = hf_model.config
    known = _LAYOUTS.get(config.model_type)
    if known is None:
        raise VideoAttrError(
            f"videoattr does not know the token layout of {type(hf_model).__name__} (model type "
            f"{config.model_type}; it knows {', '.join(_LAYOUTS)}): pass Grad-CAM a layer, token_grid and layout."
        )
    if clip_shape is None:
        h, w = _pairs(getattr(config, "image_size", None) or config.crop_size)
        t = getattr(config, "num_frames", None) or config.frames_per_clip
    else:
        t, h, w = clip_shape[-3:]
    return known(hf_model, t, h, w)


@contextlib.contextmanager
def eager_attention(hf_model: nn.Module) -> Iterator[nn.Module]:
    """Run ``hf_model`` with eager attention inside (so that ``output_attentions=True`` returns the
    weights), restoring its previous attention implementation afterwards."""
    previous = hf_model.config._attn_implementation
    hf_model.set_attn_implementation("eager")
    try:
        yield hf_model
    finally:
        hf_model.set_attn_implementation(previous)


# ------------------------------------------------------------------------------------------------ loading


def require_transformers():
    """The ``transformers`` module, or a one-line error saying how to install it."""
    try:
        import transformers
    except ImportError as err:
        raise VideoAttrError(
            "Hugging Face models (model=hf) need the transformers package, which is not installed: pip install 'videoattr[hf]'."
        ) from err
    return transformers


def build(name: str) -> HFVideoClassifier:
    """Load the video classifier ``name`` (a hub id or a folder saved with ``save_pretrained``) and its
    processor (None if it has none), offline when the files are there; ``VIDEOATTR_OFFLINE=1`` (or
    ``HF_HUB_OFFLINE=1``) forbids downloading them."""
    transformers = require_transformers()
    offline = os.environ.get(OFFLINE_ENV) == "1"
    if _is_folder(name) and not (Path(name).expanduser() / "config.json").is_file():
        raise VideoAttrError(_missing(name, "no config.json"))
    try:
        with _progress_bars(transformers, is_verbose()):
            model = transformers.AutoModelForVideoClassification.from_pretrained(name, local_files_only=offline)
    except OSError as err:
        raise VideoAttrError(_missing(name, one_line(err))) from err
    except ValueError as err:  # a config of a model type without a video classification head
        raise VideoAttrError(
            f"model.name {name} is not a video classifier ({one_line(err)}): give the hub id or folder of one "
            f"({', '.join(_LAYOUTS)})."
        ) from err
    return HFVideoClassifier(model, _processor(transformers, name, offline))


@contextlib.contextmanager
def _progress_bars(transformers, shown: bool) -> Iterator[None]:
    """transformers' loading progress bars shown or hidden (quiet runs, videoattr.terminal), then as before."""
    logging = transformers.utils.logging
    before = logging.is_progress_bar_enabled()
    (logging.enable_progress_bar if shown else logging.disable_progress_bar)()
    try:
        yield
    finally:
        (logging.enable_progress_bar if before else logging.disable_progress_bar)()


def _is_folder(name: str) -> bool:
    """Whether ``name`` means a local folder rather than a hub id."""
    return Path(name).expanduser().exists() or name.startswith(("/", ".", "~"))


def _missing(name: str, reason: str) -> str:
    if _is_folder(name):
        return (
            f"Model folder {name} holds no loadable video classifier ({reason}): point model.name at a folder "
            "written by save_pretrained (config.json, model.safetensors, preprocessor_config.json)."
        )
    return (
        f"Hugging Face model {name} is not in the local cache and cannot be downloaded here ({reason}): "
        f"run `hf download {name}` on a machine with network (HF_HOME is where it caches), or set model.name to a "
        "folder written by save_pretrained."
    )


def _processor(transformers, name: str, offline: bool):
    """The model's video processor, else its image processor, else None."""
    for auto in (transformers.AutoVideoProcessor, transformers.AutoImageProcessor):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            return auto.from_pretrained(name, local_files_only=offline)
    return None


def spec_defaults(config, processor=None) -> dict:
    """num_frames, resize, crop, mean, std and class_names of an HF model's ``config`` and ``processor``
    (keys it cannot tell are left out). Mean and std are for frames scaled to [0, 1]: a processor's
    ``rescale_factor`` is folded into them. A processor's shortest edge S becomes resize [S, 4S/3] (4:3
    frames, as conf/model/mvit.yaml)."""
    defaults = {"class_names": [str(config.id2label[i]) for i in range(config.num_labels)]}
    frames = getattr(config, "num_frames", None) or getattr(config, "frames_per_clip", None)
    if frames:
        defaults["num_frames"] = int(frames)
    size = getattr(config, "image_size", None) or getattr(config, "crop_size", None)
    if size:
        defaults["resize"] = defaults["crop"] = _pairs(size)
    if processor is None:
        return defaults
    crop = _size(processor.crop_size) if getattr(processor, "do_center_crop", False) else None
    resize = _size(processor.size) if getattr(processor, "do_resize", False) else None
    defaults["crop"] = crop or resize or defaults.get("crop")
    defaults["resize"] = resize or defaults["crop"]
    # The processor computes ((x r - offset) - mean) / std of uint8 x; videoattr (x / 255 - mean') / std'.
    rescale = getattr(processor, "do_rescale", False)
    factor = 255 * (processor.rescale_factor if rescale else 1)
    offset = 1.0 if rescale and _offsets(processor) else 0.0
    mean, std = (0.0,) * 3, (1.0,) * 3
    if getattr(processor, "do_normalize", False):
        mean, std = _three(processor.image_mean), _three(processor.image_std)
    defaults["mean"] = tuple((m + offset) / factor for m in mean)
    defaults["std"] = tuple(s / factor for s in std)
    return defaults


def _offsets(processor) -> bool:
    """Whether rescaling subtracts 1 (ViViT's processors: x / 127.5 - 1; its video processor always does)."""
    return bool(getattr(processor, "offset", False)) or type(processor).__name__ == "VivitVideoProcessor"


def _size(size) -> tuple[int, int] | None:
    """(H, W) of a processor's size dict: height and width, or a shortest edge S as (S, 4S/3)."""
    if not size:
        return None
    size = dict(size)
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    edge = size.get("shortest_edge")
    return (int(edge), int(edge) * 4 // 3) if edge else None


def _three(values) -> tuple[float, float, float]:
    return tuple(float(v) for v in values) if isinstance(values, Sequence) else (float(values),) * 3
