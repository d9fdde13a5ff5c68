"""Any ``nn.Module`` as a video classifier: ``model=custom model.target=package.module.Class``."""

from __future__ import annotations

from hydra.utils import get_object
from torch import nn

from videoattr.errors import VideoAttrError
from videoattr.models.checkpoints import load_weights


def build(target: str, checkpoint: str | None = None, **kwargs) -> nn.Module:
    """Import ``target`` (a class or factory), call it with ``kwargs`` and load ``checkpoint`` into it.

    The network must map N x 3 x T x H x W clips to N x classes logits; extra keys under
    ``model.net`` (e.g. ``+model.net.num_classes=10``) become ``kwargs``.
    """
    try:
        factory = get_object(target)
    except Exception as err:  # hydra wraps import failures of any kind
        raise VideoAttrError(
            f"Cannot import model.target '{target}' ({type(err).__name__}): give the dotted path of an "
            "importable class or function, e.g. mypackage.models.MyNet, with its package on PYTHONPATH."
        ) from err
    net = factory(**kwargs)
    if not isinstance(net, nn.Module):
        raise VideoAttrError(
            f"model.target '{target}' returned a {type(net).__name__}, not a torch nn.Module: "
            "point it at a network class."
        )
    return load_weights(net, None, checkpoint, name=target)
