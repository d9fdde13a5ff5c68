"""Video classifiers: build a network from its config and describe what it expects."""

from __future__ import annotations

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from videoattr.data.classes import load_class_list
from videoattr.errors import VideoAttrError
from videoattr.models.spec import ModelSpec


def load_model(cfg: DictConfig) -> tuple[nn.Module, ModelSpec]:
    """Build the frozen, eval-mode network of a ``conf/model/*.yaml`` config and its spec."""
    try:
        net = instantiate(cfg.net)
    except InstantiationException as err:
        if isinstance(err.__cause__, VideoAttrError):
            raise err.__cause__ from None
        raise
    net.eval().requires_grad_(False)
    # A net that knows its preprocessing (videoattr.models.hf) fills the keys its config leaves null.
    defaults = net.spec_defaults() if hasattr(net, "spec_defaults") else {}

    def value(key: str):
        found = cfg.get(key)
        found = defaults.get(key) if found is None else found
        if found is None:
            raise VideoAttrError(f"model.{key} is not set and model {cfg.name} does not tell it: set model.{key}.")
        return found

    spec = ModelSpec(
        name=cfg.name,
        num_frames=int(value("num_frames")),
        resize=tuple(value("resize")),
        crop=tuple(value("crop")),
        mean=tuple(value("mean")),
        std=tuple(value("std")),
        gradcam_layer=cfg.get("gradcam_layer"),
        class_names=load_class_list(cfg.classes) if cfg.get("classes") else defaults.get("class_names"),
    )
    return net, spec
