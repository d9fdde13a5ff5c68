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
    spec = ModelSpec(
        name=cfg.name,
        num_frames=int(cfg.num_frames),
        resize=tuple(cfg.resize),
        crop=tuple(cfg.crop),
        mean=tuple(cfg.mean),
        std=tuple(cfg.std),
        gradcam_layer=cfg.get("gradcam_layer"),
        class_names=load_class_list(cfg.classes) if cfg.get("classes") else None,
    )
    return net, spec
