"""Property-based tests of ``videoattr.explain`` (issue 13, item 3).

For random shapes, dtypes, too-short clips, wrong channel counts, NaN or inf values, empty batches and
targets out of range or of the wrong length, every method either returns maps N x A x T x H x W that
are finite and >= 0, or raises ``VideoAttrError`` with a one-line message; never another exception.
Inputs that are fully valid must give maps (perturbation methods may still refuse clips too small for
their mask grid or STEP core, with a ``VideoAttrError``); huge values (1e30) may give either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers import tiny_net
from videoattr import explain
from videoattr.errors import VideoAttrError
from videoattr.methods import PAPER_METHODS, PERTURBATION_METHODS, TRANSFORMER_METHODS, method_names

CLASSES = 5
# Perturbation fits small enough for 4-pixel frames and a few iterations (see test_perturbation_fit.SMALL).
SMALL_FIT = {
    "areas": [0.1],
    "iterations": 2,
    "grid_step": 4,
    "sigma": 3,
    "core_shape": [3, 5, 5],
    "core_stride": [1, 5, 5],
    "compile": False,
}
OPTIONS = {
    "grad_cam": {"layer": "0"},  # tiny_net's Conv3d
    "integrated_grad": {"steps": 2},
    "smooth_grad": {"samples": 2},
    # Removal methods: windows and grids that fit 1-frame, 4-pixel clips, small budgets.
    "occlusion": {"window": [1, 4, 4], "stride": [1, 4, 4]},
    "rise": {"masks": 3, "grid": [1, 2, 2]},
    "kernel_shap": {"supervoxels": 3, "samples": 3},
    **{name: SMALL_FIT for name in PERTURBATION_METHODS},
}
DTYPES = [torch.float32, torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.uint8]
SPECIALS = [None, None, None, float("nan"), float("inf"), float("-inf")]
TARGETS = ["valid", "valid", "single", "negative", "too_large", "wrong_length"]
# The only refusals of valid clips allowed: too small for the mask grid or for STEP's core.
TOO_SMALL = r"STEP's core \[3, 5, 5\] is larger than|Mask sigma .* is too small for grid step"


@dataclass(frozen=True)
class Case:
    """One drawn input: the clip batch's layout, dtype and values, and the kind of targets."""

    n: int
    c: int
    t: int
    h: int
    w: int
    rank: int  # 5 = N x C x T x H x W; 4 = the batch dimension missing; 6 = one dimension too many
    dtype: torch.dtype
    special: float | None
    targets: str
    seed: int
    scale: float = 1.0  # the values' spread: 1e30 and 1e300 overflow float16 / float32 (on conversion or in the model)

    def clips(self) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        shape = (self.n, self.c, self.t, self.h, self.w)
        if self.dtype.is_floating_point:
            clips = (torch.randn(shape, generator=generator, dtype=torch.float64) * self.scale).to(self.dtype)
            if self.special is not None and clips.numel():
                clips.view(-1)[int(torch.randint(clips.numel(), (1,), generator=generator))] = self.special
        else:
            clips = torch.randint(0, 256, shape, generator=generator).to(self.dtype)
        if self.rank == 4:
            clips = clips.flatten(0, 1)
        elif self.rank == 6:
            clips = clips.unsqueeze(0)
        return clips

    def target(self) -> int | list[int]:
        good = [i % CLASSES for i in range(self.n)]
        return {
            "valid": good,
            "single": 2,
            "negative": [-1, *good[1:]] if self.n else -1,
            "too_large": [*good[:-1], CLASSES] if self.n else CLASSES,
            "wrong_length": [*good, 0],
        }[self.targets]

    @property
    def well_formed(self) -> bool:
        """Every check of the input passes (values aside): explain must not accept anything else."""
        return (
            self.n > 0
            and self.c == 3
            and self.rank == 5
            and self.dtype.is_floating_point
            and self.special is None
            and self.targets in ("valid", "single")
            and bool(torch.isfinite(self.clips().float()).all())  # finite in the model's float32
        )

    @property
    def valid(self) -> bool:
        """Well formed and of a modest scale: the non-perturbation methods must give maps."""
        return self.well_formed and self.scale <= 1e3


shapes = {"t": st.integers(1, 6), "h": st.integers(4, 20), "w": st.integers(4, 20), "seed": st.integers(0, 2**16)}
# A third of the draws are valid inputs of random shapes and float dtypes (the maps must come back), a
# third valid but for one field, a third anything at all (mostly errors).
valid_cases = st.builds(
    Case,
    n=st.integers(1, 3),
    c=st.just(3),
    rank=st.just(5),
    dtype=st.sampled_from([d for d in DTYPES if d.is_floating_point]),
    special=st.none(),
    targets=st.sampled_from(["valid", "single"]),
    **shapes,
)
any_cases = st.builds(
    Case,
    n=st.integers(0, 3),
    c=st.sampled_from([3, 3, 1, 2, 4]),
    rank=st.sampled_from([5, 5, 5, 4, 6]),
    dtype=st.sampled_from(DTYPES),
    special=st.sampled_from(SPECIALS),
    targets=st.sampled_from(TARGETS),
    scale=st.sampled_from([1.0, 1e3, 1e30, 1e300]),
    **shapes,
)
FAULTS = ["n", "c", "rank", "dtype", "special", "targets", "scale"]
# A valid input with one field taken from an arbitrary draw: reaches the checks after the first.
one_fault_cases = st.builds(
    lambda case, field, other: replace(case, **{field: getattr(other, field)}),
    valid_cases,
    st.sampled_from(FAULTS),
    any_cases,
)
cases = st.one_of(valid_cases, one_fault_cases, any_cases)
VALID = Case(2, 3, 4, 12, 12, 5, torch.float32, None, "valid", 0)
# Every method sees each kind of input at least once, whatever the draws.
EXAMPLES = [
    VALID,
    Case(1, 3, 1, 4, 20, 5, torch.float16, None, "single", 1),
    Case(3, 3, 6, 20, 4, 5, torch.bfloat16, None, "valid", 2),
    Case(2, 3, 3, 9, 7, 5, torch.float64, None, "valid", 3),
    Case(0, 3, 4, 8, 8, 5, torch.float32, None, "valid", 0),
    Case(2, 1, 4, 8, 8, 5, torch.float32, None, "valid", 0),
    Case(2, 3, 4, 8, 8, 4, torch.float32, None, "valid", 0),
    Case(2, 3, 4, 8, 8, 5, torch.uint8, None, "valid", 0),
    Case(2, 3, 4, 8, 8, 5, torch.int64, None, "valid", 0),
    Case(2, 3, 4, 8, 8, 5, torch.float32, float("nan"), "valid", 0),
    Case(2, 3, 4, 8, 8, 5, torch.float16, float("-inf"), "valid", 0),
    Case(2, 3, 4, 8, 8, 5, torch.float32, None, "negative", 0),
    Case(2, 3, 4, 8, 8, 5, torch.float32, None, "too_large", 0),
    Case(2, 3, 4, 8, 8, 5, torch.float32, None, "wrong_length", 0),
    Case(2, 3, 4, 8, 8, 5, torch.float16, None, "valid", 0, scale=1e3),
    Case(2, 3, 4, 8, 8, 5, torch.float32, None, "valid", 0, scale=1e30),
    Case(2, 3, 4, 8, 8, 5, torch.float64, None, "valid", 0, scale=1e300),
]


def with_examples(test):
    for case in reversed(EXAMPLES):
        test = example(case=case)(test)
    return test


def check(method: str, case: Case) -> None:
    """The property: documented maps or a one-line VideoAttrError, never another exception."""
    net = tiny_net(CLASSES)
    try:
        maps = explain(net, case.clips(), case.target(), method=method, **OPTIONS.get(method, {}))
    except VideoAttrError as err:
        message = str(err)
        assert message and "\n" not in message, f"{method} {case}: message is not one line: {message!r}"
        if case.valid and not (method in PERTURBATION_METHODS and re.match(TOO_SMALL, message)):
            pytest.fail(f"{method} refused valid input {case}: {message}")
        return
    assert case.well_formed, f"{method} accepted invalid input {case}"
    areas = len(SMALL_FIT["areas"]) if method in PERTURBATION_METHODS else 1
    assert isinstance(maps, torch.Tensor)
    assert maps.shape == (case.n, areas, case.t, case.h, case.w), f"{method} {case}: shape {tuple(maps.shape)}"
    assert maps.is_floating_point()
    assert torch.isfinite(maps).all(), f"{method} {case}: non-finite maps"
    assert (maps >= 0).all(), f"{method} {case}: negative maps"


# The rollouts refuse the CNN of these cases in one line (tests/test_rollout.py).
QUICK = [m for m in method_names() if m not in PERTURBATION_METHODS + TRANSFORMER_METHODS]


@pytest.mark.parametrize("method", QUICK)
@settings(
    max_examples=200, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(case=cases)
@with_examples
def test_explain_gives_maps_or_a_one_line_error(method, case):
    check(method, case)


# The paper's three: their fast presets run the same code, differing only in iterations (set here) and lr.
@pytest.mark.parametrize("method", PAPER_METHODS)
@settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases)
@with_examples
def test_perturbation_gives_masks_or_a_one_line_error(method, case):
    check(method, case)


@pytest.mark.parametrize("method", PERTURBATION_METHODS)
def test_perturbation_fits_a_valid_clip(method):
    """The valid example must really be fitted (the property alone would accept a refusal)."""
    maps = explain(tiny_net(CLASSES), VALID.clips(), VALID.target(), method=method, **SMALL_FIT)
    assert maps.shape == (2, 1, 4, 12, 12) and torch.isfinite(maps).all() and (maps >= 0).all()


@pytest.mark.parametrize(
    ("case", "match"),
    [
        (Case(0, 3, 4, 8, 8, 5, torch.float32, None, "valid", 0), "Empty batch"),
        (Case(1, 3, 4, 8, 8, 5, torch.uint8, None, "valid", 0), "float"),
        (Case(1, 3, 4, 8, 8, 5, torch.float32, float("nan"), "valid", 0), "NaN or inf"),
        (Case(2, 3, 4, 8, 8, 5, torch.float32, None, "too_large", 0), "out of range for a model with 5 classes"),
        (Case(2, 3, 4, 8, 8, 5, torch.float32, None, "negative", 0), "out of range"),
        (Case(2, 2, 4, 8, 8, 5, torch.float32, None, "valid", 0), "N x 3 x T x H x W"),
    ],
)
def test_explain_names_the_problem(case, match):
    with pytest.raises(VideoAttrError, match=match):
        explain(tiny_net(CLASSES), case.clips(), case.target(), method="grad")


@pytest.mark.parametrize("method", method_names())
def test_clip_shorter_than_the_model_expects_is_a_video_attr_error(method):
    """T shorter than the model's temporal kernel: the model's own failure becomes a one-line VideoAttrError."""
    net = torch.nn.Sequential(torch.nn.Conv3d(3, 4, (4, 1, 1)), torch.nn.AdaptiveAvgPool3d(1), torch.nn.Flatten())
    with pytest.raises(VideoAttrError, match=r"cannot run on clips of shape \(1, 3, 2, 8, 8\)") as err:
        explain(net.eval(), torch.randn(1, 3, 2, 8, 8), 0, method=method, **OPTIONS.get(method, {}))
    assert "\n" not in str(err.value)
