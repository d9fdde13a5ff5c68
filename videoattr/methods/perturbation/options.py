"""The hyper-parameters of 2D-EP, 3D-EP and STEP, with the paper's values as defaults.

``conf/method/{2d_ep,3d_ep,step}.yaml`` hold the same keys and values (a test keeps them in step).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from videoattr.errors import VideoAttrError

VARIANTS = ("preserve", "delete", "dual")
PERTURBATIONS = ("blur", "fade")
COMBINATIONS = ("sum",)


@dataclass(frozen=True)
class PerturbationOptions:
    """One perturbation method's settings (defaults: 3D-EP)."""

    iterations: int = 2000
    # preserve: the mask keeps the evidence sharp; delete: the mask removes it; dual: both rewards.
    variant: str = "preserve"
    # blur: a Gaussian pyramid per frame; fade: towards 0 (the mean colour after normalisation).
    perturbation: str = "blur"
    levels: int = 8
    max_blur: float = 20.0
    grid_step: int = 7
    # None: auto_sigma(H, W), i.e. 11 for 112-pixel and 23 for 224-pixel frames.
    sigma: float | None = None
    coldness: float = 20.0
    # Fuse the mask generator and the pyramid read with torch.compile (same values; false: plain PyTorch, slower).
    compile: bool = True
    reward_weight: float = 100.0
    area_weight: float = 300.0
    # The area weight is multiplied by area_growth ** iteration (STEP: x2 per 800 iterations).
    area_growth: float = 1.0
    # 2D-EP: every frame keeps the area; otherwise the T-frame volume does.
    per_frame: bool = False
    core_weight: float = 0.0
    # The first zero-based iteration whose energy has the core loss (the reference: after iteration 100 has run).
    core_start: int = 101
    core_shape: tuple[int, int, int] = (7, 11, 11)
    core_stride: tuple[int, int, int] = (1, 11, 11)
    # Volume of an ellipsoid over that of its bounding box, pi / 6.
    core_fill: float = 0.5236
    lr: float = 0.05
    momentum: float = 0.9
    dampening: float = 0.9
    # Seeds STEP's tie-breaking shuffle (per iteration, shared by all pairs and ranks).
    seed: int = 0
    # Stop once no mask parameter has moved by more than early_stop_tol for early_stop_patience
    # iterations in a row (None: run every iteration, as the paper does).
    early_stop_tol: float | None = None
    early_stop_patience: int = 10
    # 'sum': also report one graded map from the masks of all areas (summed, smoothed spatially with a
    # Gaussian of combine_sigma pixels, divided by the maximum; needs 2 or more areas). None: off.
    combine: str | None = None
    combine_sigma: float = 10.0


DEFAULTS = {
    "2d_ep": PerturbationOptions(reward_weight=100.0, per_frame=True),
    "3d_ep": PerturbationOptions(reward_weight=100.0),
    "step": PerturbationOptions(reward_weight=1.0, area_growth=1.0008668, core_weight=300.0),
}


def resolve_options(method: str, options: Mapping[str, Any]) -> PerturbationOptions:
    """The method's defaults updated with ``options`` (config keys), checked."""
    fields = {f.name for f in dataclasses.fields(PerturbationOptions)}
    unknown = sorted(set(options) - fields - {"name"})
    if unknown:
        raise VideoAttrError(
            f"Unknown option(s) {', '.join(unknown)} for method {method}: use only {', '.join(sorted(fields))}."
        )
    values = {
        k: tuple(int(x) for x in v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in options.items()
        if k != "name"
    }
    opts = dataclasses.replace(DEFAULTS[method], **values)
    if opts.variant not in VARIANTS:
        raise VideoAttrError(f"Unknown variant '{opts.variant}': use one of {', '.join(VARIANTS)}.")
    if opts.perturbation not in PERTURBATIONS:
        raise VideoAttrError(
            f"Unknown perturbation '{opts.perturbation}': use one of {', '.join(PERTURBATIONS)}."
        )
    if opts.iterations < 1:
        raise VideoAttrError(f"iterations is {opts.iterations}: set it to 1 or more.")
    if opts.early_stop_tol is not None and (opts.early_stop_tol < 0 or opts.early_stop_patience < 1):
        raise VideoAttrError(
            f"early_stop_tol {opts.early_stop_tol} / early_stop_patience {opts.early_stop_patience} are out of range: "
            "use a tolerance >= 0 (or null) and a patience >= 1."
        )
    if opts.combine not in (None, *COMBINATIONS) or not opts.combine_sigma > 0:
        raise VideoAttrError(
            f"combine {opts.combine!r} / combine_sigma {opts.combine_sigma} are out of range: "
            "use combine=null or combine=sum, and a combine_sigma > 0 (pixels)."
        )
    if len(opts.core_shape) != 3 or len(opts.core_stride) != 3:
        raise VideoAttrError(
            "core_shape and core_stride need 3 values (frames, height, width): fix the method config."
        )
    return opts


def check_areas(areas: float | Sequence[float]) -> list[float]:
    """A float or a list of floats in (0, 1) -> the list."""
    values = [float(a) for a in (areas if isinstance(areas, Sequence) else [areas])]
    if not values or not all(0 < a < 1 for a in values):
        raise VideoAttrError(
            f"Areas {values} must be one or more fractions strictly between 0 and 1: e.g. area=[0.05,0.1]."
        )
    return values
