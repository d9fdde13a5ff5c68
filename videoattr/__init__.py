"""videoattr: explain video classifiers (gradients, Grad-CAM, 2D-EP, 3D-EP, STEP)."""

from pathlib import Path

from omegaconf import OmegaConf

ASSETS = Path(__file__).parent / "assets"

if not OmegaConf.has_resolver("asset"):
    OmegaConf.register_new_resolver("asset", lambda rel: str(ASSETS / rel))

from videoattr.api import explain  # noqa: E402
from videoattr.errors import VideoAttrError  # noqa: E402
from videoattr.schema import register  # noqa: E402

register()

__all__ = ["explain", "VideoAttrError", "ASSETS"]
