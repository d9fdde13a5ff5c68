"""videoattr: explain video classifiers (gradients, Grad-CAM, removal methods, 2D-EP, 3D-EP, STEP).

``videoattr.explain`` and ``videoattr.sanity_check`` are imported on first use: importing the package (as the
command line does to compose and check its config) loads neither torch nor Lightning.
"""

import re
from pathlib import Path

from omegaconf import OmegaConf

from videoattr.errors import VideoAttrError
from videoattr.schema import register

ASSETS = Path(__file__).parent / "assets"

if not OmegaConf.has_resolver("asset"):
    OmegaConf.register_new_resolver("asset", lambda rel: str(ASSETS / rel))
# A model name as one directory name (model=hf names a hub id or a folder): ${dir_name:${model.name}}.
if not OmegaConf.has_resolver("dir_name"):
    OmegaConf.register_new_resolver("dir_name", lambda name: re.sub(r"[^\w.-]+", "_", str(name)).strip("_"))
register()


def __getattr__(name: str):
    if name == "explain":
        from videoattr.api import explain

        return explain
    if name == "sanity_check":
        from videoattr.sanity import sanity_check

        return sanity_check
    raise AttributeError(f"module 'videoattr' has no attribute {name!r}")


__all__ = ["ASSETS", "VideoAttrError", "explain", "sanity_check"]
