"""Typed configs: the schemas (Hydra structured configs) of ``conf/`` and their range checks.

This module and what it imports are torch-free: the command line composes and checks a config (and
answers ``--help``) before it imports torch, Lightning or the method code.

Every group file of ``conf/`` starts from one of these schemas (``defaults: - /schema/<group>@_here_:
<name>``), so Hydra rejects a value of the wrong type or an unknown key while it composes the config,
naming the key. ``validate`` then checks the ranges (areas in (0, 1), iterations >= 1, lr > 0, ...) once,
before the run loads a model or a clip. The model's ``net`` and the ``trainer`` and ``logger`` groups are
open dictionaries: their keys are arguments of the network class, of Lightning's ``Trainer`` and of the
logger class.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from videoattr.choices import (
    CHANNEL_WEIGHTS,
    CURVE_BASELINES,
    GRADCAM_LAYOUTS,
    GRADCAM_UPSAMPLING,
    HEAD_FUSIONS,
    IG_BASELINES,
    MAPS_DTYPES,
    METRIC_GROUPS,
    POLARITIES,
    REMOVAL_PERTURBATIONS,
    REMOVAL_SCORES,
    SAMPLING_MODES,
    SHORT_CLIP_MODES,
    STEPS_BY,
)
from videoattr.errors import ConfigValueError, VideoAttrError, require
from videoattr.methods.perturbation.options import PerturbationOptions, check_areas, check_combine, integer, real
from videoattr.objective import check_objective
from videoattr.trainer_keys import check_trainer_keys

# The groups of conf/ that have a schema, checked in this order.
TYPED_GROUPS = ("model", "dataset", "method", "metrics", "check")


def _list(*values):
    return field(default_factory=lambda: list(values))


@dataclass
class ModelConfig:
    """``conf/model/*.yaml``: a network (``net``, built with ``hydra.utils.instantiate``) and its input."""

    name: str = MISSING
    net: dict[str, Any] = MISSING
    weights: str | None = None
    checkpoint: str | None = None
    num_frames: int = 16
    resize: list[int] = _list(128, 171)
    crop: list[int] = _list(112, 112)
    mean: list[float] = _list(0.43216, 0.39467, 0.37645)
    std: list[float] = _list(0.22803, 0.22145, 0.21699)
    gradcam_layer: str | None = None
    classes: str | None = None

    def __post_init__(self):
        # None: the network tells it (HFModelConfig).
        if self.num_frames is not None:
            require(integer(self.num_frames, 1), "num_frames", self.num_frames, "use an integer >= 1")
        for key in ("resize", "crop"):
            size = getattr(self, key)
            if size is not None:
                require(len(size) == 2 and all(s >= 1 for s in size), key, size, "use [height,width] in pixels >= 1")
        if self.mean is not None:
            require(len(self.mean) == 3, "mean", self.mean, "use 3 numbers, one per channel (R, G, B)")
        if self.std is not None:
            require(
                len(self.std) == 3 and all(real(s) and s > 0 for s in self.std),
                "std",
                self.std,
                "use 3 numbers > 0, one per channel (R, G, B)",
            )


@dataclass
class CustomModelConfig(ModelConfig):
    """``conf/model/custom.yaml``: any ``nn.Module`` class, named by ``target``."""

    target: str = MISSING


@dataclass
class HFModelConfig(ModelConfig):
    """``conf/model/hf.yaml``: a Hugging Face video classifier by hub id or folder (``name``); the null keys
    come from its config and processor (videoattr.models.hf.spec_defaults)."""

    num_frames: int | None = None
    resize: list[int] | None = None
    crop: list[int] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None


@dataclass
class DatasetConfig:
    """``conf/dataset/*.yaml``: which clips, how they are labelled and sampled, how many per fit."""

    name: str = MISSING
    root: str = MISSING
    classes: str | None = None
    label_file: str | None = None
    sampling: str = "first"
    short_clips: str = "error"
    masks: bool = False
    clips: list[str] | None = None
    limit: int | None = None
    # A stride in frames: every video cut into windows of the model's T frames (videoattr.data.windows).
    windows: int | None = None
    # None: 1 on a CPU, 8 on a GPU (videoattr.runner.batch_size_of).
    batch_size: int | None = None
    # None: videoattr.data.loader.default_workers() (one per core beyond the model's, at most 8).
    num_workers: int | None = None
    shard: int | None = None
    num_shards: int = 1

    def __post_init__(self):
        require(self.sampling in SAMPLING_MODES, "sampling", self.sampling, f"use one of {', '.join(SAMPLING_MODES)}")
        require(
            self.short_clips in SHORT_CLIP_MODES,
            "short_clips",
            self.short_clips,
            f"use one of {', '.join(SHORT_CLIP_MODES)}",
        )
        require(
            self.clips is None or len(self.clips) > 0, "clips", self.clips, "name one clip or more, or use null for all"
        )
        require(
            self.limit is None or self.limit >= 1, "limit", self.limit, "use a number of clips >= 1, or null for all"
        )
        require(
            self.windows is None or self.windows >= 1,
            "windows",
            self.windows,
            "use a stride in frames >= 1 between windows (e.g. 16 for back-to-back 16-frame clips), or null",
        )
        require(
            self.batch_size is None or self.batch_size >= 1,
            "batch_size",
            self.batch_size,
            "use a number of clips per fit >= 1, or null for 1 on a CPU and 8 on a GPU",
        )
        require(
            self.num_workers is None or self.num_workers >= 0,
            "num_workers",
            self.num_workers,
            "use a number of decoding processes >= 0 (0: decode in the main process), or null for one per spare core",
        )
        require(self.num_shards >= 1, "num_shards", self.num_shards, "use a number of shards >= 1")
        require(
            self.shard is None and self.num_shards == 1 or self.shard is not None and 0 <= self.shard < self.num_shards,
            "shard",
            self.shard,
            f"use a shard index from 0 to {self.num_shards - 1} with dataset.num_shards={self.num_shards}"
            + (" (or null for every clip)" if self.num_shards == 1 else ""),
        )


@dataclass
class MethodConfig:
    """``conf/method/*.yaml``: the method's name (``videoattr.methods.method_names()``) and options."""

    name: str = MISSING


@dataclass
class BackpropConfig(MethodConfig):
    """grad and grad_x_input."""

    polarity: str = "positive"

    def __post_init__(self):
        require(self.polarity in POLARITIES, "polarity", self.polarity, f"use one of {', '.join(POLARITIES)}")


def _batch_size(value: int | None) -> None:
    require(value is None or value >= 1, "internal_batch_size", value, "use a number >= 1, or null for all at once")


@dataclass
class IntegratedGradConfig(BackpropConfig):
    steps: int = 25
    internal_batch_size: int | None = None
    baseline: str = "auto"

    def __post_init__(self):
        super().__post_init__()
        require(self.steps >= 2, "steps", self.steps, "use an integer >= 2 (the reference: 25)")
        require(self.baseline in IG_BASELINES, "baseline", self.baseline, f"use one of {', '.join(IG_BASELINES)}")
        _batch_size(self.internal_batch_size)


@dataclass
class SmoothGradConfig(BackpropConfig):
    samples: int = 16
    stdev: float = 0.15
    seed: int = 0
    internal_batch_size: int | None = None

    def __post_init__(self):
        super().__post_init__()
        require(self.samples >= 1, "samples", self.samples, "use a number of noisy copies >= 1")
        require(real(self.stdev) and self.stdev >= 0, "stdev", self.stdev, "use a finite number >= 0")
        _batch_size(self.internal_batch_size)


@dataclass
class GradCamConfig(MethodConfig):
    layer: str | None = None
    channel_weights: str = "per_time"
    layout: str = "auto"
    token_grid: list[int] | None = None
    upsample: str = "auto"

    def __post_init__(self):
        for key, accepted in (
            ("channel_weights", CHANNEL_WEIGHTS),
            ("layout", GRADCAM_LAYOUTS),
            ("upsample", GRADCAM_UPSAMPLING),
        ):
            value = getattr(self, key)
            require(value in accepted, key, value, f"use one of {', '.join(accepted)}")
        require(
            self.token_grid is None or len(self.token_grid) == 3 and all(g >= 1 for g in self.token_grid),
            "token_grid",
            self.token_grid,
            "use [T',H',W'] (tokens per axis, each >= 1), or null",
        )


@dataclass
class RolloutConfig(MethodConfig):
    """attention_rollout and grad_rollout."""

    head_fusion: str = "mean"
    identity: bool = True

    def __post_init__(self):
        require(
            self.head_fusion in HEAD_FUSIONS, "head_fusion", self.head_fusion, f"use one of {', '.join(HEAD_FUSIONS)}"
        )


def _triple(key: str, value: list[int], unit: str) -> None:
    require(len(value) == 3 and all(v >= 1 for v in value), key, value, f"use [T,H,W] in {unit} >= 1")


@dataclass
class RemovalConfig(MethodConfig):
    """occlusion, rise and kernel_shap: what removed pixels become, the score, the batching."""

    perturbation: str = "blur"
    blur_sigma: float = 20.0
    score: str = "probability"
    polarity: str = "positive"
    batch_size: int = 16
    progress: bool | None = None

    def __post_init__(self):
        for key, accepted in (
            ("perturbation", REMOVAL_PERTURBATIONS),
            ("score", REMOVAL_SCORES),
            ("polarity", POLARITIES),
        ):
            value = getattr(self, key)
            require(value in accepted, key, value, f"use one of {', '.join(accepted)}")
        require(real(self.blur_sigma) and self.blur_sigma > 0, "blur_sigma", self.blur_sigma, "use pixels > 0")
        require(self.batch_size >= 1, "batch_size", self.batch_size, "use a number of clips per forward pass >= 1")


@dataclass
class OcclusionConfig(RemovalConfig):
    window: list[int] = _list(8, 16, 16)
    stride: list[int] = _list(4, 8, 8)

    def __post_init__(self):
        super().__post_init__()
        _triple("window", self.window, "frames and pixels")
        _triple("stride", self.stride, "frames and pixels")


@dataclass
class RiseConfig(RemovalConfig):
    perturbation: str = "fade"
    masks: int = 500
    grid: list[int] = _list(4, 7, 7)
    keep: float = 0.5
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        require(self.masks >= 2, "masks", self.masks, "use a number of random masks >= 2")
        _triple("grid", self.grid, "cells")
        require(real(self.keep) and 0 < self.keep < 1, "keep", self.keep, "use a probability in (0, 1)")


@dataclass
class KernelShapConfig(RemovalConfig):
    supervoxels: int = 200
    compactness: float = 10.0
    samples: int = 500
    seed: int = 0

    def __post_init__(self):
        super().__post_init__()
        require(self.supervoxels >= 2, "supervoxels", self.supervoxels, "use a number of SLIC supervoxels >= 2")
        require(real(self.compactness) and self.compactness > 0, "compactness", self.compactness, "use a number > 0")
        require(self.samples >= 2, "samples", self.samples, "use a number of coalitions >= 2")


@dataclass
class RandomConfig(MethodConfig):
    seed: int = 0


@dataclass
class CentreConfig(MethodConfig):
    sigma_frac: float = 0.25

    def __post_init__(self):
        require(real(self.sigma_frac) and self.sigma_frac > 0, "sigma_frac", self.sigma_frac, "use a fraction > 0")


def _perturbation_schema() -> type:
    """2D-EP, 3D-EP and STEP: ``name`` and the fields of ``PerturbationOptions`` (tuples as lists), whose
    own checks run on construction."""
    hints = typing.get_type_hints(PerturbationOptions)
    fields = [("name", str, MISSING)]
    for f in dataclasses.fields(PerturbationOptions):
        if typing.get_origin(hints[f.name]) is tuple:
            fields.append((f.name, list[int], field(default_factory=lambda d=f.default: list(d))))
        else:
            fields.append((f.name, hints[f.name], f.default))

    def __post_init__(self):
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(PerturbationOptions)}
        PerturbationOptions(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})

    schema = dataclasses.make_dataclass(
        "PerturbationConfig", fields, bases=(MethodConfig,), namespace={"__post_init__": __post_init__}
    )
    schema.__module__ = __name__  # pickled by reference in submitit jobs
    return schema


PerturbationConfig = _perturbation_schema()


@dataclass
class TemporalConfig(PerturbationConfig):
    """temporal_ep: the perturbation options and ``segment``, the frames per mask value (None: the model's tubelet)."""

    segment: int | None = None

    def __post_init__(self):
        super().__post_init__()
        require(
            self.segment is None or integer(self.segment, 1),
            "segment",
            self.segment,
            "use a number of frames >= 1 (a tubelet's length), or null for the model's own",
        )


@dataclass
class MetricsConfig:
    """``conf/metrics/*.yaml``: the keys of ``videoattr.metrics.clip_metrics``."""

    groups: list[str] = _list(*METRIC_GROUPS)
    pointing_tolerance: int = 7
    pointing_ties: float = 0.0
    steps: int = 16
    baseline: str = "blur"
    blur_sigma: float = 10.0
    batch_size: int = 8
    steps_by: str = "pixels"
    supervoxels: int = 256
    compactness: float = 10.0

    def __post_init__(self):
        require(
            set(self.groups) <= set(METRIC_GROUPS),
            "groups",
            self.groups,
            f"use a list of {', '.join(METRIC_GROUPS)}, or []",
        )
        require(
            self.pointing_tolerance >= 0, "pointing_tolerance", self.pointing_tolerance, "use a number of pixels >= 0"
        )
        require(
            real(self.pointing_ties) and self.pointing_ties >= 0,
            "pointing_ties",
            self.pointing_ties,
            "use a number >= 0 (0: exact ties only)",
        )
        require(self.steps >= 1, "steps", self.steps, "use a number of curve steps >= 1")
        require(self.baseline in CURVE_BASELINES, "baseline", self.baseline, f"use one of {', '.join(CURVE_BASELINES)}")
        require(
            real(self.blur_sigma) and self.blur_sigma > 0, "blur_sigma", self.blur_sigma, "use a number of pixels > 0"
        )
        require(self.batch_size >= 1, "batch_size", self.batch_size, "use a number of clips per forward pass >= 1")
        require(self.steps_by in STEPS_BY, "steps_by", self.steps_by, f"use one of {', '.join(STEPS_BY)}")
        require(self.supervoxels >= 2, "supervoxels", self.supervoxels, "use a number of supervoxels >= 2, e.g. 256")
        require(
            real(self.compactness) and self.compactness > 0,
            "compactness",
            self.compactness,
            "use a number > 0, e.g. 10",
        )


@dataclass
class CheckConfig:
    """``conf/check/*.yaml``: a sanity check run beside the explanation (``videoattr.sanity``)."""

    name: str = MISSING
    steps: int | None = None
    top_area: float | None = None
    threshold: float = 0.7

    def __post_init__(self):
        require(
            self.steps is None or self.steps >= 1,
            "steps",
            self.steps,
            "use a number of randomisation steps >= 1, or null for one after every layer",
        )
        require(
            self.top_area is None or real(self.top_area) and 0 < self.top_area < 1,
            "top_area",
            self.top_area,
            "use a fraction strictly between 0 and 1, or null for a mask's own area (0.05 for other maps)",
        )
        require(
            real(self.threshold) and 0 < self.threshold <= 1,
            "threshold",
            self.threshold,
            "use a similarity in (0, 1], e.g. 0.7",
        )


@dataclass
class RunConfig:
    """``conf/config.yaml``: the groups and the run's own keys."""

    model: Any = MISSING
    dataset: Any = MISSING
    method: Any = MISSING
    trainer: dict[str, Any] = field(default_factory=dict)
    logger: Any = None
    metrics: Any = None
    check: Any = None
    area: Any = 0.1
    target: Any = "label"
    seed: int = 0
    overwrite: bool = False
    fail_fast: bool = False
    figures: bool = True
    maps_dtype: str = "float32"
    verbose: bool = False
    objective: str | None = None
    plan: bool = False

    def __post_init__(self):
        areas = check_areas(self.area)
        if isinstance(self.method, PerturbationConfig):
            check_combine(self.method.combine, areas)
        check_objective(self.objective, self.metrics.groups if isinstance(self.metrics, MetricsConfig) else None)
        require(self.maps_dtype in MAPS_DTYPES, "maps_dtype", self.maps_dtype, f"use one of {', '.join(MAPS_DTYPES)}")
        target = self.target
        require(
            isinstance(target, str) and target.strip() != "" or integer(target, 0),
            "target",
            target,
            "use label, predicted, a class index >= 0 or a class name",
        )


SCHEMAS = {
    "schema/model": {"base": ModelConfig, "custom": CustomModelConfig, "hf": HFModelConfig},
    "schema/dataset": {"base": DatasetConfig},
    "schema/method": {
        "perturbation": PerturbationConfig,
        "temporal": TemporalConfig,
        "backprop": BackpropConfig,
        "integrated_grad": IntegratedGradConfig,
        "smooth_grad": SmoothGradConfig,
        "grad_cam": GradCamConfig,
        "rollout": RolloutConfig,
        "occlusion": OcclusionConfig,
        "rise": RiseConfig,
        "kernel_shap": KernelShapConfig,
        "random": RandomConfig,
        "centre": CentreConfig,
        "edges": MethodConfig,
    },
    "schema/metrics": {"base": MetricsConfig},
    "schema/check": {"randomisation": CheckConfig},
}


def register() -> None:
    """Store the schemas in Hydra's ConfigStore: ``schema_run`` and ``schema/<group>/<name>``."""
    store = ConfigStore.instance()
    store.store(name="schema_run", node=RunConfig)
    for group, nodes in SCHEMAS.items():
        for name, node in nodes.items():
            store.store(group=group, name=name, node=node)


def validate(cfg: DictConfig) -> None:
    """Check a composed config before anything runs: no key beyond its schema's (Hydra lets ``+key=``
    add one), every value in range, every mandatory value set. Raises ``VideoAttrError`` with one
    sentence naming the key and what it accepts."""
    for prefix in (*TYPED_GROUPS, ""):
        node = cfg.get(prefix) if prefix else cfg
        schema = OmegaConf.get_type(node) if isinstance(node, DictConfig) else None
        if schema is None or not dataclasses.is_dataclass(schema):
            continue
        keys = [f.name for f in dataclasses.fields(schema)]
        unknown = [k for k in node if k not in keys]
        if unknown:
            raise VideoAttrError(
                f"Unknown key {'.'.join(filter(None, (prefix, str(unknown[0]))))}: "
                f"{prefix or 'the config'} takes {', '.join(keys)}."
            )
        try:
            OmegaConf.to_object(node)
        except ConfigValueError as err:
            raise err.under(prefix) from None
        except OmegaConfBaseException as err:
            raise VideoAttrError(describe(err)) from None
    check_trainer_keys(OmegaConf.to_container(cfg.trainer, resolve=True))


def describe(err: Exception) -> str:
    """One sentence for an OmegaConf error (or a Hydra error caused by one): a wrong type, an unknown
    key, a missing value."""
    while err.__cause__ is not None and not isinstance(err, OmegaConfBaseException):
        err = err.__cause__
    text = str(err)
    key = _field(text, "full_key")
    value = _quoted(text, "Value '")
    kind = _field(text, "object_type")
    if "could not be converted to" in text or "is not a subclass" in text:
        wanted = text.split("could not be converted to ")[-1].splitlines()[0].strip()
        accepted = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false", "String": "text"}
        return f"Invalid {key}={value}: {key} takes {accepted.get(wanted, wanted)}."
    if ("not in" in text or "not in struct" in text) and key:
        parent, _, name = key.rpartition(".")
        schema = _schema_named(kind)
        keys = f" takes {', '.join(f.name for f in dataclasses.fields(schema))}" if schema else " has no such key"
        return f"Unknown key {key}: {parent or 'the config'}{keys}."
    if "issing mandatory value" in text:
        if "while resolving interpolation" in text:  # e.g. model.net.target: ${..target}
            key = text.split("Missing mandatory value: ")[-1].split()[0]
        return f"{key} is not set: add {key}=<value> to the command."
    if "is not a valid bool" in text:
        return f"Invalid {key}={value}: {key} takes true or false."
    first = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return f"Invalid configuration: {first.rstrip('.')}; check the key names with `python run.py --cfg job`."


def _field(text: str, name: str) -> str:
    """The value of a ``name: value`` or ``name=value`` line of an OmegaConf message ('' if none)."""
    for line in text.splitlines():
        line = line.strip()
        for sep in (": ", "="):
            if line.startswith(name + sep):
                return line[len(name) + len(sep) :].strip()
    return ""


def _quoted(text: str, opening: str) -> str:
    start = text.find(opening)
    return text[start + len(opening) :].split("'", 1)[0] if start >= 0 else "?"


def _schema_named(name: str) -> type | None:
    for nodes in SCHEMAS.values():
        for node in nodes.values():
            if node.__name__ == name:
                return node
    return RunConfig if name == "RunConfig" else None
