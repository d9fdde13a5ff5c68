"""2D-EP, 3D-EP and STEP (Li et al., WACV 2021): extremal perturbation masks fitted with Lightning.

``method(model, inputs, target, areas=(0.1,), trainer=None, logger=None, callbacks=None, seed=0,
**options) -> Explanation``; ``options`` are the keys of ``PerturbationOptions``
(conf/method/{2d_ep,3d_ep,step}.yaml), see ``fit.fit_masks`` for the rest. The functions are
imported on first use, so that ``options`` can be read without torch or Lightning.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "baseline_probability": "baseline",
    "fully_perturbed": "baseline",
    "combine_masks": "combine",
    "fit_masks": "fit",
    **dict.fromkeys(
        ("extremal_2d", "extremal_2d_fast", "extremal_3d", "extremal_3d_fast", "step", "step_fast", "temporal_ep"),
        "methods",
    ),
}


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)


__all__ = sorted(_HOMES)
