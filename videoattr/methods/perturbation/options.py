"""The hyper-parameters of 2D-EP, 3D-EP and STEP, with the paper's values as defaults.

``conf/method/{2d_ep,3d_ep,step}.yaml`` hold the same keys and values (a test keeps them in step).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from videoattr.errors import VideoAttrError, require

VARIANTS = ("preserve", "delete", "dual")
PERTURBATIONS = ("blur", "fade")
DELETE_FLOORS = ("zero", "baseline")
COMBINATIONS = ("sum",)


@dataclass(frozen=True)
class PerturbationOptions:
    """One perturbation method's settings (defaults: 3D-EP)."""

    iterations: int = 2000
    # preserve: the mask keeps the evidence sharp; delete: the mask removes it; dual: both rewards.
    # None: the model's own (MODEL_SETTINGS: preserve, delete for a model with attention layers).
    variant: str | None = None
    # blur: a Gaussian pyramid per frame; fade: towards 0 (the mean colour after normalisation).
    # None: the model's own (blur, fade for a model with attention layers).
    perturbation: str | None = None
    # delete and dual: how low the reward pushes the target's probability on the deleted clip. zero: as far
    # as it goes (the paper's); baseline: to the fully perturbed clip's, not below, so the mask is not paid
    # to add evidence for another class. None: the model's own (zero; baseline for a model with attention layers).
    delete_floor: str | None = None
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
    # Multiply lr by lr_gamma at each of these iterations (torch's MultiStepLR; empty: a constant lr).
    lr_milestones: tuple[int, ...] = ()
    lr_gamma: float = 1.0
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
    # 2D-EP, 3D-EP, STEP: None fits the masks over all T frames; a fraction f first runs the temporal method
    # (``TEMPORAL``'s settings, its own variant for the model, this fit's perturbation, area f) and then fits
    # the spatial masks on the max(1, round(f T)) frames it keeps most only (0 on the other frames).
    temporal_frames: float | None = None

    def __post_init__(self):
        """Raise ``ConfigValueError`` (naming the key and what it accepts) for a value out of range."""
        for key, ok, accepted in (
            ("iterations", integer(self.iterations, 1), "use an integer >= 1 (the paper: 2000)"),
            ("variant", self.variant in (None, *VARIANTS), f"use one of {', '.join(VARIANTS)}, or null"),
            (
                "perturbation",
                self.perturbation in (None, *PERTURBATIONS),
                f"use one of {', '.join(PERTURBATIONS)}, or null",
            ),
            (
                "delete_floor",
                self.delete_floor in (None, *DELETE_FLOORS),
                f"use one of {', '.join(DELETE_FLOORS)}, or null",
            ),
            ("levels", integer(self.levels, 2), "use an integer >= 2 (the paper: 8)"),
            ("max_blur", real(self.max_blur) and self.max_blur > 0, "use a number of pixels > 0 (the paper: 20)"),
            ("grid_step", integer(self.grid_step, 1), "use an integer >= 1 (the paper: 7)"),
            (
                "sigma",
                self.sigma is None or real(self.sigma) and self.sigma > 0,
                "use a number > 0, or null for 11 at 112 px and 23 at 224 px",
            ),
            ("coldness", real(self.coldness) and self.coldness > 0, "use a number > 0 (the paper: 20)"),
            ("compile", isinstance(self.compile, bool), "use true or false"),
            ("reward_weight", real(self.reward_weight) and self.reward_weight >= 0, "use a number >= 0"),
            ("area_weight", real(self.area_weight) and self.area_weight >= 0, "use a number >= 0 (the paper: 300)"),
            ("area_growth", real(self.area_growth) and self.area_growth > 0, "use a number > 0 (1: constant weight)"),
            ("per_frame", isinstance(self.per_frame, bool), "use true or false"),
            ("core_weight", real(self.core_weight) and self.core_weight >= 0, "use a number >= 0 (0: no core loss)"),
            ("core_start", integer(self.core_start, 0), "use an iteration number >= 0 (the paper: 101)"),
            ("core_shape", triple(self.core_shape), "use 3 integers >= 1 (frames, height, width), e.g. [7,11,11]"),
            ("core_stride", triple(self.core_stride), "use 3 integers >= 1 (frames, height, width), e.g. [1,11,11]"),
            (
                "core_fill",
                real(self.core_fill) and 0 < self.core_fill <= 1,
                "use a fraction in (0, 1] (an ellipsoid: 0.5236)",
            ),
            ("lr", real(self.lr) and self.lr > 0, "use a finite learning rate > 0 (the paper: 0.05)"),
            ("momentum", real(self.momentum) and 0 <= self.momentum < 1, "use a number in [0, 1) (the paper: 0.9)"),
            ("dampening", real(self.dampening) and 0 <= self.dampening <= 1, "use a number in [0, 1] (the paper: 0.9)"),
            ("lr_milestones", milestones(self.lr_milestones), "use a list of increasing iterations >= 1, e.g. [250]"),
            ("lr_gamma", real(self.lr_gamma) and self.lr_gamma > 0, "use a factor > 0 (1: a constant lr)"),
            ("seed", integer(self.seed, -(2**63)), "use an integer"),
            (
                "early_stop_tol",
                self.early_stop_tol is None or real(self.early_stop_tol) and self.early_stop_tol >= 0,
                "use a number >= 0, or null to run every iteration",
            ),
            ("early_stop_patience", integer(self.early_stop_patience, 1), "use an integer >= 1"),
            ("combine", self.combine is None or self.combine in COMBINATIONS, f"use null or {', '.join(COMBINATIONS)}"),
            ("combine_sigma", real(self.combine_sigma) and self.combine_sigma > 0, "use a number of pixels > 0"),
            (
                "temporal_frames",
                self.temporal_frames is None or real(self.temporal_frames) and 0 < self.temporal_frames < 1,
                "use a fraction of the frames strictly between 0 and 1, e.g. 0.5, or null for all frames",
            ),
        ):
            require(ok, key, getattr(self, key), accepted)


def integer(value, low: int) -> bool:
    """``value`` is an integer (not a bool) >= ``low``."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def real(value) -> bool:
    """``value`` is a finite real number (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def triple(value) -> bool:
    """``value`` is a sequence of 3 integers >= 1."""
    return isinstance(value, Sequence) and len(value) == 3 and all(integer(v, 1) for v in value)


def milestones(value) -> bool:
    """``value`` is a sequence of strictly increasing integers >= 1."""
    return (
        isinstance(value, Sequence)
        and all(integer(v, 1) for v in value)
        and all(a < b for a, b in zip(value, value[1:]))
    )


PAPER = {
    "2d_ep": PerturbationOptions(reward_weight=100.0, per_frame=True),
    "3d_ep": PerturbationOptions(reward_weight=100.0),
    "step": PerturbationOptions(reward_weight=1.0, area_growth=1.0008668, core_weight=300.0),
}
# The fast presets: the paper's settings in 500 iterations. The masks take their shape in the first 300
# iterations at the paper's learning rate; then 2D-EP and 3D-EP take 4x and, from 400, 16x longer steps, STEP
# 2x from 400, to settle the values that the paper's fit settles by iteration 2000 (README "Fast presets":
# measured on the benchmark clips).
FAST_ITERATIONS = 500
FAST_SCHEDULE = {
    "2d_ep": {"lr_milestones": (300, 400), "lr_gamma": 4.0},
    "3d_ep": {"lr_milestones": (300, 400), "lr_gamma": 4.0},
    "step": {"lr_milestones": (400,), "lr_gamma": 2.0},
}
# The temporal method (one value per frame, ``methods.temporal_ep``): 3D-EP's energy on T parameters. Its
# area term pulls on T values (not thousands), so a tenth of the learning rate, and an area weight growing
# from 10 to about 290 over the 200 iterations: early on the reward alone ranks the frames (measured on the
# synthetic clips: docs/methods.md, "Temporal").
TEMPORAL = PerturbationOptions(iterations=200, reward_weight=100.0, area_weight=10.0, area_growth=1.017, lr=0.005)
DEFAULTS = {
    **PAPER,
    **{
        f"{name}_fast": dataclasses.replace(o, iterations=FAST_ITERATIONS, **FAST_SCHEDULE[name])
        for name, o in PAPER.items()
    },
    "temporal_ep": TEMPORAL,
}


# What a None ``variant`` / ``perturbation`` / ``delete_floor`` becomes, per kind of model (``kind.model_kind``
# tells it by class). The paper's for a model without attention (a CNN); a model with attention layers is
# explained by deletion with a fade down to the fully faded clip's probability: on the benchmark's MViT no
# preserve mask on the evidence keeps the target's lead, and a deletion paid below that probability spends the
# area beyond the evidence on evidence for other classes (docs/benchmark.md, "Perturbation masks on a transformer").
MODEL_SETTINGS = {
    "paper": {"variant": "preserve", "perturbation": "blur", "delete_floor": "zero"},
    "attention": {"variant": "delete", "perturbation": "fade", "delete_floor": "baseline"},
}
# Where one method departs from its kind's settings: temporal_ep on the benchmark's MViT met its objective
# on 1 of 8 clips with delete + fade and on 8 of 8 with dual + fade, measured with the zero floor; the
# baseline floor there gave no clear gain (docs/benchmark.md, "When").
METHOD_SETTINGS = {("temporal_ep", "attention"): {"variant": "dual", "delete_floor": "zero"}}


def model_settings(method: str, kind: str) -> dict[str, str]:
    """The ``variant``, ``perturbation`` and ``delete_floor`` that ``method`` takes on a model of ``kind`` when
    left None."""
    return {**MODEL_SETTINGS[kind], **METHOD_SETTINGS.get((method, kind), {})}


def resolve_options(method: str, options: Mapping[str, Any], kind: str = "paper") -> PerturbationOptions:
    """The method's defaults updated with ``options`` (config keys), checked; a ``variant``,
    ``perturbation`` or ``delete_floor`` left None takes ``model_settings(method, kind)``'s."""
    fields = {f.name for f in dataclasses.fields(PerturbationOptions)}
    unknown = sorted(set(options) - fields - {"name"})
    if unknown:
        raise VideoAttrError(
            f"Unknown option(s) {', '.join(unknown)} for method {method}: use only {', '.join(sorted(fields))}."
        )
    values = {
        k: tuple(v) if isinstance(v, Sequence) and not isinstance(v, str) else v
        for k, v in options.items()
        if k != "name"
    }
    opts = dataclasses.replace(DEFAULTS[method], **values)
    require(
        method != "temporal_ep" or opts.temporal_frames is None,
        "temporal_frames",
        opts.temporal_frames,
        "use null with temporal_ep (it is the temporal step itself), or set it on 2d_ep, 3d_ep or step",
    )
    return dataclasses.replace(
        opts, **{k: v for k, v in model_settings(method, kind).items() if getattr(opts, k) is None}
    )


def check_areas(areas: float | Sequence[float]) -> list[float]:
    """A float or a list of floats in (0, 1) -> the list."""
    values = list(areas) if isinstance(areas, Sequence) and not isinstance(areas, str) else [areas]
    require(
        bool(values) and all(real(a) and 0 < a < 1 for a in values),
        "area",
        areas,
        "use one or more fractions strictly between 0 and 1, e.g. area=0.05 or area=[0.05,0.1]",
    )
    return [float(a) for a in values]


def frames_to_fit(fraction: float, frames: int, areas: Sequence[float]) -> int:
    """How many of a clip's ``frames`` a spatial fit restricted by ``temporal_frames=fraction`` keeps:
    max(1, round(fraction x frames)); refuses an area larger than their share of the clip (the masks could
    not reach it)."""
    kept = max(1, round(fraction * frames))
    if kept == frames:
        raise VideoAttrError(
            f"temporal_frames={fraction:g} keeps all {frames} frames of the clip: use a smaller fraction, or null."
        )
    if max(areas) > kept / frames:
        raise VideoAttrError(
            f"area {max(areas):g} is more than the {kept} of {frames} frames that temporal_frames={fraction:g} keeps "
            f"({kept / frames:.3g} of the clip): raise method.temporal_frames or lower the area."
        )
    return kept


def check_combine(combine: str | None, areas: Sequence[float]) -> None:
    """Refuse a combination with fewer than two areas (there would be nothing to combine)."""
    if combine is not None and len(areas) < 2:
        raise VideoAttrError(
            f"combine={combine} needs at least 2 areas but the run has {len(areas)} ({list(areas)}): "
            "give several, e.g. area=[0.05,0.1,0.15,0.5], or set method.combine=null."
        )
