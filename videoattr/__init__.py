"""videoattr: explain video classifiers (gradients, Grad-CAM, 2D-EP, 3D-EP, STEP)."""

from pathlib import Path

import torch
from omegaconf import OmegaConf

ASSETS = Path(__file__).parent / "assets"

if not OmegaConf.has_resolver("asset"):
    OmegaConf.register_new_resolver("asset", lambda rel: str(ASSETS / rel))
if not OmegaConf.has_resolver("by_device"):  # ${by_device:<on a CPU>,<on a GPU>}
    OmegaConf.register_new_resolver("by_device", lambda cpu, gpu: gpu if torch.cuda.is_available() else cpu)

from videoattr.api import explain  # noqa: E402
from videoattr.errors import VideoAttrError  # noqa: E402
from videoattr.schema import register  # noqa: E402

register()

__all__ = ["explain", "VideoAttrError", "ASSETS"]
