"""Run the perturbation fit with a Lightning Trainer and package the result as an Explanation."""

from __future__ import annotations

import logging
import signal
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.exceptions import MisconfigurationException
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger
from torch import nn
from torch.utils.data import DataLoader

from videoattr.errors import VideoAttrError, one_line
from videoattr.methods import Explanation
from videoattr.methods.perturbation.combine import combine_masks
from videoattr.methods.perturbation.diagnostics import diagnose
from videoattr.methods.perturbation.early_stopping import MaskEarlyStopping
from videoattr.methods.perturbation.frame_mask import FrameMaskGenerator
from videoattr.methods.perturbation.kind import model_kind, tubelet_frames
from videoattr.methods.perturbation.module import TERMS, PerturbationFit
from videoattr.methods.perturbation.options import (
    TEMPORAL,
    PerturbationOptions,
    check_areas,
    check_combine,
    frames_to_fit,
    resolve_options,
)

# Lightning's advice that does not apply here (the "dataset" is the iteration index, the classifier
# is in eval mode on purpose, short fits log less often than log_every_n_steps) and a deprecation
# inside Lightning itself.
_IRRELEVANT_WARNINGS = (
    r".*does not have many workers.*",
    r".*module\(s\) in eval mode.*",
    r".*smaller than the logging interval.*",
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)


class KeepSigtermHandler(pl.Callback):
    """Put back, once a multi-process fit starts, the SIGTERM handler that was in place before it
    (``run.py``'s: stop cleanly, resume later). Lightning's own broadcasts from rank 0 inside the
    handler, which never completes while another rank waits in the iteration's all-reduce: the run
    would hang instead of stopping."""

    def __init__(self, handler):
        self.handler = handler

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.world_size > 1 and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self.handler)


def trainer_kwargs(
    iterations: int,
    device: torch.device,
    trainer: Mapping[str, Any] | None,
    logger: Logger | bool | None,
    callbacks: Sequence[pl.Callback] | None,
) -> dict[str, Any]:
    """Trainer arguments: ``trainer`` (e.g. conf/trainer/*.yaml) or, when None, a quiet trainer on
    ``device``; plus the settings the fit needs (``iterations`` steps, one epoch, every rank sees
    every step)."""
    if isinstance(trainer, DictConfig):
        trainer = OmegaConf.to_container(trainer, resolve=True)
    if trainer is None:
        kwargs: dict[str, Any] = {
            "accelerator": "cpu" if device.type == "cpu" else "gpu",
            "devices": 1 if device.index is None else [device.index],
            "enable_progress_bar": False,
            "enable_model_summary": False,
        }
    else:
        kwargs = dict(trainer)
    kwargs.setdefault("enable_checkpointing", False)
    kwargs["logger"] = kwargs.get("logger", False) if logger is None else logger
    kwargs["callbacks"] = [*kwargs.get("callbacks", []), *(callbacks or [])]
    kwargs.update(max_steps=iterations, max_epochs=1, use_distributed_sampler=False)
    return kwargs


def build_trainer(kwargs: dict[str, Any]) -> pl.Trainer:
    """``pl.Trainer(**kwargs)``; settings Lightning refuses raise a ``VideoAttrError`` quoting its reason."""
    try:
        return pl.Trainer(**kwargs)
    except (MisconfigurationException, TypeError, ValueError, ImportError) as err:
        raise VideoAttrError(
            f"Lightning refuses the trainer settings ({one_line(err)}): fix the trainer.* keys, "
            "e.g. trainer.accelerator=cpu trainer.devices=1."
        ) from err


def check_trainer(trainer: Mapping[str, Any]) -> None:
    """Build (and drop) the Trainer of a fit with ``trainer``'s arguments, to refuse bad ones early."""
    with quiet_lightning(silence_info=True):
        build_trainer(trainer_kwargs(1, torch.device("cpu"), trainer, False, None))


@contextmanager
def quiet_lightning(silence_info: bool) -> Iterator[None]:
    """Hide Lightning's inapplicable warnings and, if asked, its info lines (devices, tips)."""
    lightning_log = logging.getLogger("pytorch_lightning")
    level = lightning_log.level
    if silence_info:
        lightning_log.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for message in _IRRELEVANT_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
            yield
    finally:
        lightning_log.setLevel(level)


def fit_masks(
    method: str,
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    areas: float | Sequence[float] = (0.1,),
    trainer: Mapping[str, Any] | None = None,
    logger: Logger | bool | None = None,
    callbacks: Sequence[pl.Callback] | None = None,
    generator: nn.Module | None = None,
    **options: Any,
) -> Explanation:
    """Optimise the masks of every (clip, area) pair of ``inputs`` in one Lightning fit.

    method: '2d_ep', '3d_ep' or 'step' (its defaults); inputs: N x 3 x T x H x W normalised clips;
    target: N class indices; areas: A fractions; trainer: Lightning Trainer arguments (None: a quiet
    trainer on the clips' device); logger, callbacks: handed to the Trainer; generator: the mask generator
    (None: the smooth spatial one, see ``PerturbationFit``); options: the keys of ``PerturbationOptions``
    (``early_stop_tol`` set: a ``MaskEarlyStopping`` callback joins the fit; ``variant`` and ``perturbation``
    left None: the model's own, ``kind.model_kind``).
    Returns maps N x A x T x H x W (the final masks, in [0, 1]) with extras ``prob_preserved`` and
    ``prob_deleted`` (N x A: target probability of the clip kept / removed by the final mask) and
    ``history`` (N x A x iterations per key: the weighted reward, regulariser and core terms of the
    energy and the target probability of the perturbed clip, the preserved one for 'dual'; as many
    iterations as ran), ``iterations`` (N x A: the iterations run, fewer than asked after an early stop) and
    the fit diagnostics ``preserve_effect``, ``delete_effect``, ``area_kept`` and ``objective_met`` (N x A,
    see ``diagnostics``);
    with ``combine='sum'`` (2 or more areas) also ``combined`` (N x 1 x T x H x W: ``combine_masks`` of
    the maps with ``combine_sigma``).
    """
    opts = resolve_options(method, options, model_kind(model))
    areas = check_areas(areas)
    check_combine(opts.combine, areas)
    frames = None
    if opts.temporal_frames is not None:
        kept = frames_to_fit(opts.temporal_frames, inputs.shape[2], areas)
        frames, temporal_ran = select_frames(model, inputs, target, kept, opts, trainer, callbacks)
        frames = frames.repeat_interleave(len(areas), dim=0)
    module = PerturbationFit(model, inputs, target, areas, opts, generator, frames)
    if opts.early_stop_tol is not None:
        callbacks = [*(callbacks or []), MaskEarlyStopping(opts.early_stop_tol, opts.early_stop_patience)]
    if callable(signal.getsignal(signal.SIGTERM)):
        callbacks = [*(callbacks or []), KeepSigtermHandler(signal.getsignal(signal.SIGTERM))]
    kwargs = trainer_kwargs(opts.iterations, inputs.device, trainer, logger, callbacks)
    with quiet_lightning(silence_info=trainer is None):
        fitter = build_trainer(kwargs)
        fitter.fit(module, DataLoader(range(opts.iterations), batch_size=None))
    # Lightning's teardown leaves the module (classifier included) on the CPU, and "true" precision
    # plugins convert it: give the classifier back on the clips' device and dtype.
    module.to(inputs.device, inputs.dtype)
    n, a = inputs.shape[0], len(areas)
    with torch.no_grad():
        pairs = torch.arange(n * a, device=inputs.device)
        maps = module.generator.crop(module.padded_masks(pairs))
    ran = fitter.global_step
    history = module.history[..., :ran].reshape(n, a, len(TERMS), ran).cpu().numpy()
    probs = module.final_prob.view(n, a, 2).cpu().numpy()
    maps = maps.reshape(n, a, *maps.shape[1:]).float()
    extras = {
        "prob_preserved": probs[..., 0],
        "prob_deleted": probs[..., 1],
        "history": {name: history[:, :, i] for i, name in enumerate(TERMS)},
        "iterations": np.full((n, a), ran),
    }
    if frames is not None:
        extras["temporal_iterations"] = np.full((n, a), temporal_ran)
    diagnostics = (opts.variant, opts.perturbation, opts.max_blur, extras["prob_preserved"], extras["prob_deleted"])
    extras.update(diagnose(module.classifier, inputs, target, maps, areas, *diagnostics))
    if opts.combine == "sum":
        extras["combined"] = combine_masks(maps, opts.combine_sigma).cpu().numpy()
    return Explanation(maps=maps, areas=areas, extras=extras)


def select_frames(
    model: nn.Module,
    inputs: torch.Tensor,
    target: torch.Tensor,
    kept: int,
    opts: PerturbationOptions,
    trainer: Mapping[str, Any] | None,
    callbacks: Sequence[pl.Callback] | None,
) -> tuple[torch.Tensor, int]:
    """The temporal step of ``temporal_frames``: a ``temporal_ep`` fit of the N clips with its own defaults
    (``options.TEMPORAL``, its variant the model's own for ``temporal_ep``: ``options.model_settings``, its
    segment the model's tubelet) but ``opts``' perturbation, pyramid, compile and seed, area ``kept`` / T,
    no logger, and never more iterations than the spatial fit (200, or ``opts.iterations`` if fewer).
    Returns the ``kept`` frames each clip's mask keeps most (N x kept, in time order; of tied frames the
    earlier) and the iterations the fit ran."""
    shared = {k: getattr(opts, k) for k in ("perturbation", "levels", "max_blur", "compile", "seed")}
    shared["iterations"] = min(TEMPORAL.iterations, opts.iterations)
    frames = inputs.shape[2]
    generator = FrameMaskGenerator(inputs.shape[-2:], frames, tubelet_frames(model, inputs.shape))
    result = fit_masks(
        "temporal_ep", model, inputs, target, [kept / frames], trainer, False, callbacks, generator, **shared
    )
    values = result.maps[:, 0, :, 0, 0]
    order = values.sort(dim=1, descending=True, stable=True).indices[:, :kept]
    return order.sort(dim=1).values.to(inputs.device), int(result.extras["iterations"].max())
