"""Experiment tracking of a run through the Lightning logger of ``conf/logger`` (wandb, CSV or none).

What is logged: the composed config; the perturbation fit's per-iteration terms (reward,
regulariser, core, prob: the fit ``self.log``s them, summed over its clips and areas and divided by
their number); per clip, its result rows' numbers (``clip/<metric>``, with ``/area=<a>`` when the
run has several areas, ``/combined`` for the map combined from them) and, with wandb, its overlay
animation (``overlay/<clip>``, a wandb.Video), its figure (``figure/<clip>``, a wandb.Image) and, for
a perturbation fit, the clip's own loss curves (``loss/<clip>/<term>``: one line per area over the
iterations, a wandb line-series chart); at the end, the run's means (``mean/<metric>``) and, with
wandb, the table of every result row (``results``) with each clip's figure in its ``figure`` column.

A run fits once per batch of clips with the same logger, and every fit counts its steps from 0:
``ContinuedSteps`` numbers them on from the previous fit, so steps only grow and nothing is dropped.
Per-clip numbers take the step after their fit (or the next step for methods without a fit).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import Logger, WandbLogger

from videoattr.errors import VideoAttrError
from videoattr.outputs import safe_name

# Row fields that identify a result rather than measure it.
IDENTITY = {"target", "predicted", "seed", "area"}
# A loss curve logged to wandb keeps at most this many points per area (every k-th iteration).
CURVE_POINTS = 1000


def run_names(run_dir: Path) -> dict[str, str]:
    """The tracker's group and run name: for a ``-m`` job, the sweep directory's name (every job of a
    sweep shares the group) and the job's sub-directory (``synthetic-step-area=0.05``); otherwise the
    run directory's name for both."""
    hydra = HydraConfig.get()
    if hydra.mode == RunMode.MULTIRUN:
        sweep = Path(hydra.sweep.dir).resolve()
        job = os.path.relpath(Path(run_dir).resolve(), sweep)
        return {"group": sweep.name, "name": job.replace(os.sep, "-")}
    return {"group": Path(run_dir).name, "name": Path(run_dir).name}


def build_logger(cfg: DictConfig, run_dir: Path) -> Logger | None:
    """The Lightning logger of ``conf/logger`` writing under ``run_dir`` (None for logger=none).

    Its ``group`` and ``name`` keys, where present and null, get the defaults of ``run_names``.
    """
    if not cfg.get("logger") or "_target_" not in cfg.logger:
        return None
    unset = [k for k in ("group", "name") if k in cfg.logger and cfg.logger[k] is None]
    names = run_names(run_dir) if unset else {}
    return instantiate(cfg.logger, save_dir=str(run_dir), **{k: names[k] for k in unset})


class ContinuedSteps(Logger):
    """A Lightning logger that hands ``logger`` the steps of successive fits numbered on from one another."""

    def __init__(self, logger: Logger):
        super().__init__()
        self.logger = logger
        self.offset = 0
        self.next_step = 0

    @property
    def name(self) -> str | None:
        return self.logger.name

    @property
    def version(self) -> int | str | None:
        return self.logger.version

    @property
    def save_dir(self) -> str | None:
        return self.logger.save_dir

    @property
    def log_dir(self) -> str | None:
        return self.logger.log_dir

    @property
    def experiment(self) -> Any:
        return self.logger.experiment

    def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
        self.logger.log_hyperparams(params, *args, **kwargs)

    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        """Log at ``offset + step``; ``step=None`` (the tracker's own numbers, between fits) logs at the
        step after the last one and moves the next fit past it."""
        own = step is None
        step = self.next_step if own else self.offset + step
        self.logger.log_metrics(metrics, step)
        self.next_step = max(self.next_step, step + 1)
        if own:
            self.offset = self.next_step

    def save(self) -> None:
        self.logger.save()

    def finalize(self, status: str) -> None:
        """The end of a fit: the next fit's steps start after this one's."""
        self.logger.finalize(status)
        self.offset = self.next_step


def numbers(row: dict, suffix: str = "") -> dict[str, float]:
    """The finite numeric fields of a result row that measure something, as ``clip/<key><suffix>``."""
    return {
        f"clip/{k}{suffix}": float(v)
        for k, v in row.items()
        if k not in IDENTITY and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    }


class Tracker:
    """Logs one run to the configured Lightning logger; a no-op for logger=none.

    ``fit_logger`` is the logger to hand the perturbation fit (None without tracking).
    """

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.run_dir = Path(run_dir)
        logger = build_logger(cfg, run_dir)
        self.fit_logger = ContinuedSteps(logger) if logger is not None else None
        self.wandb = isinstance(logger, WandbLogger)
        if logger is not None:
            start(logger, OmegaConf.to_container(cfg, resolve=True))

    def log_clip(
        self, clip: str, rows: list[dict], media: list[Path], history: dict[str, np.ndarray] | None = None
    ) -> None:
        """Log a clip's result rows (one per area) and, with wandb, its figure files ``media`` (.png/.gif)
        and its fit's loss curves ``history`` (term -> A x iterations, the areas of ``rows``' order)."""
        if self.fit_logger is None:
            return
        several = len(rows) > 1
        values: dict[str, Any] = {}
        for row in rows:
            suffix = "/combined" if row.get("map") == "combined" else f"/area={row['area']:g}"
            values.update(numbers(row, suffix if several else ""))
        if self.wandb:
            import wandb

            kinds = {".gif": ("overlay", wandb.Video), ".png": ("figure", wandb.Image)}
            for path in media:
                key, kind = kinds[path.suffix]
                values[f"{key}/{clip}"] = kind(str(path), caption=clip)
            areas = [f"area {row['area']:g}" for row in rows if row.get("map") != "combined"]
            for term, curves in (history or {}).items():
                values[f"loss/{clip}/{term}"] = loss_series(f"{clip}: {term}", curves, areas)
        self.fit_logger.log_metrics(values)

    def finish(self, rows: list[dict], summary: dict) -> None:
        """Log the run's means (``summary['mean']``) and, with wandb, the table of every result row;
        close the run."""
        if self.fit_logger is None:
            return
        means = {f"mean/{k}": v for k, v in summary.get("mean", {}).items() if k not in IDENTITY}
        self.fit_logger.log_metrics(means)
        logger = self.fit_logger.logger
        if self.wandb and rows:
            logger.log_table("results", *self.results_table(rows))
        logger.finalize("success")
        logger.save()
        if self.wandb:
            logger.experiment.finish()

    def results_table(self, rows: list[dict]) -> tuple[list[str], list[list]]:
        """The columns and rows of the wandb results table: ``clip``, then its figure (a wandb.Image of
        ``figures/<clip>.png``, None without figures), then every field of the result rows."""
        import wandb

        columns = list(dict.fromkeys(k for row in rows for k in row))
        columns.insert(columns.index("clip") + 1 if "clip" in columns else 0, "figure")
        figures: dict[str, Any] = {}
        for clip in dict.fromkeys(row.get("clip") for row in rows):
            path = self.run_dir / "figures" / f"{safe_name(str(clip))}.png"
            figures[clip] = wandb.Image(str(path), caption=str(clip)) if path.is_file() else None
        data = [[figures[row.get("clip")] if c == "figure" else row.get(c) for c in columns] for row in rows]
        return columns, data


def loss_series(title: str, curves: np.ndarray, keys: list[str]):
    """A wandb line-series chart of ``curves`` (A x iterations, one line per key), at most CURVE_POINTS
    points per line (every k-th iteration, and the last)."""
    import wandb

    iterations = curves.shape[-1]
    steps = list(range(0, iterations, max(1, math.ceil(iterations / CURVE_POINTS))))
    if steps[-1] != iterations - 1:
        steps.append(iterations - 1)
    ys = [[float(v) for v in np.asarray(c)[steps]] for c in curves]
    keys = keys if len(keys) == len(ys) else None
    return wandb.plot.line_series([s + 1 for s in steps], ys, keys=keys, title=title, xname="iteration")


def start(logger: Logger, config: dict) -> None:
    """Log the run's config, which opens the logger's run: wandb without credentials fails here,
    before any work."""
    usage_errors: tuple[type[Exception], ...] = ()
    if isinstance(logger, WandbLogger):
        import wandb

        usage_errors = (wandb.errors.UsageError,)
    try:
        logger.log_hyperparams(config)
    except usage_errors as err:
        raise VideoAttrError(
            f"wandb could not start a run ({str(err).strip().splitlines()[0]}): run `wandb login`, "
            "set WANDB_API_KEY, or use WANDB_MODE=offline or logger=csv."
        ) from err
