"""The command-line job: explain every clip of a dataset with one model and one method."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import time
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from lightning_fabric.utilities.rank_zero import rank_zero_only
from omegaconf import DictConfig, ListConfig, OmegaConf

from videoattr.api import explain
from videoattr.data.datasets import build_dataset
from videoattr.errors import VideoAttrError
from videoattr.methods import PERTURBATION_METHODS, get_method
from videoattr.methods.perturbation.baseline import baseline_probability
from videoattr.methods.perturbation.diagnostics import advice
from videoattr.methods.perturbation.fit import check_trainer
from videoattr.methods.perturbation.options import PerturbationOptions, check_areas
from videoattr.models import load_model
from videoattr.outputs import RunStore, atomic_write
from videoattr.results import ClipResult, clip_arrays, clip_result, figure_rows, figure_title, means, result_rows
from videoattr.sanity import randomisation_check
from videoattr.schema import validate
from videoattr.tracking import Tracker
from videoattr.viz import save_animation, save_figure

log = logging.getLogger(__name__)

HASHED_KEYS = ("model", "dataset", "method", "area", "target", "seed", "metrics")
# prob_baseline this close to the clean clip's target probability: the model needs no visible evidence.
BIASED_WITHIN = 0.1


def areas_of(cfg: DictConfig) -> list[float]:
    """The configured area(s) as a list of floats (validated by ``videoattr.schema``)."""
    return check_areas(OmegaConf.to_container(cfg.area) if isinstance(cfg.area, ListConfig) else cfg.area)


def config_hash(cfg: DictConfig) -> str:
    """A short hash of everything that changes a clip's results."""
    resolved = OmegaConf.to_container(cfg, resolve=True)
    subset = {k: resolved.get(k) for k in HASHED_KEYS}
    if resolved.get("check"):
        # A sanity check adds files per clip (absent, the hash of other runs stays as it was); its verdict's
        # bound changes no clip's files, only the run's tables, so a rerun with another threshold reuses them.
        subset["check"] = {k: v for k, v in resolved["check"].items() if k != "threshold"}
    return hashlib.sha1(json.dumps(subset, sort_keys=True, default=str).encode()).hexdigest()[:12]


def method_options(cfg: DictConfig, spec, areas: list[float], logger) -> dict:
    """The method's config keys, completed with what the model spec and the run know."""
    fn = get_method(cfg.method.name)
    options = {k: v for k, v in OmegaConf.to_container(cfg.method, resolve=True).items() if k != "name"}
    accepted = inspect.signature(fn).parameters
    known = {
        "mean": list(spec.mean),
        "std": list(spec.std),
        "layer": spec.gradcam_layer,
        "seed": cfg.seed,
    }
    if cfg.method.name in PERTURBATION_METHODS:
        known.update(areas=areas, trainer=OmegaConf.to_container(cfg.trainer, resolve=True), logger=logger)
    for key, value in known.items():
        if key in accepted and options.get(key) is None:
            options[key] = value
    if "layer" in accepted and options.get("layer") is None:
        raise VideoAttrError(
            f"Model '{spec.name}' has no Grad-CAM layer: set method.layer=<module name> or use another method."
        )
    return options


def resolve_target(target, item: dict, logits: torch.Tensor, class_names: list[str] | None) -> int:
    """The class index to explain for one clip (target = label | predicted | index | class name)."""
    if target == "label":
        if item["target"] < 0:
            raise VideoAttrError(
                f"Clip '{item['name']}' has no label in the class list: set target=predicted or target=<class>."
            )
        return int(item["target"])
    if target == "predicted":
        return int(logits.argmax())
    if isinstance(target, int) or str(target).lstrip("-").isdigit():
        index = int(target)
        if not 0 <= index < logits.numel():
            raise VideoAttrError(
                f"Target class {index} is out of range: the model has {logits.numel()} classes (0..{logits.numel() - 1})."
            )
        return index
    if class_names and target in class_names:
        return class_names.index(target)
    raise VideoAttrError(
        f"Unknown target class '{target}': use label, predicted, a class index or a name from the class list."
    )


def baseline_settings(cfg: DictConfig) -> dict:
    """How prob_baseline perturbs a clip: the perturbation method's own ``perturbation`` and
    ``max_blur``, for any other method the default blur (sigma 20)."""
    defaults = PerturbationOptions()
    if cfg.method.name not in PERTURBATION_METHODS:
        return {"perturbation": defaults.perturbation, "max_blur": defaults.max_blur}
    return {
        "perturbation": cfg.method.get("perturbation", defaults.perturbation),
        "max_blur": float(cfg.method.get("max_blur", defaults.max_blur)),
    }


class Job:
    """One run: a model, a dataset, a method, the areas; writes into the Hydra run directory."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg = cfg
        self.run_dir = run_dir
        self.areas = areas_of(cfg)
        self.method = cfg.method.name
        get_method(self.method)
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        self.net, self.spec = load_model(cfg.model)
        self.dataset = build_dataset(cfg.dataset, self.spec, seed=cfg.seed)
        self.tracker = Tracker(cfg, run_dir)
        self.options = method_options(cfg, self.spec, self.areas, self.tracker.fit_logger)
        self.baseline = baseline_settings(cfg)
        self.store = RunStore(run_dir, config_hash(cfg))
        self.check = randomisation_check(cfg, run_dir, self.options, self.areas, self.store.config_hash)
        self.writes = rank_zero_only.rank == 0
        self.errors: list[dict] = []
        self.seconds: list[float] = []

    def run(self) -> None:
        batch_size = batch_size_of(self.cfg)
        batch: list[dict] = []
        for index in range(len(self.dataset)):
            name = self.dataset.clip_name(index)
            if not self.cfg.overwrite and self.store.is_done(name):
                log.info("skipping %s: results exist (overwrite=true recomputes)", name)
                continue
            item = self._guard([name], self._load, index)
            if item is not None:
                batch.append(item)
            if len(batch) == batch_size:
                self._explain_batch(batch)
                batch = []
        if batch:
            self._explain_batch(batch)
        self._check_any_done()
        if self.writes:
            summary = self._summary()
            self.store.write_tables(self.errors, summary)
            self.tracker.finish(self.store.rows(), summary)

    def _load(self, index: int) -> dict:
        """Clip ``index`` as a dataset item. A label the class list lacks fails the clip (before decoding
        it) when the label is the target; another target explains it, with a warning."""
        if self.cfg.target == "label":
            self.dataset.check_label(index)
        elif self.dataset.label_errors[index] is not None:
            label = self.dataset.labels[index][0]
            log.warning(
                "clip %s: label '%s' is not in the class list; explaining target=%s",
                self.dataset.clip_name(index),
                label,
                self.cfg.target,
            )
        return self.dataset[index]

    def _guard(self, names: list[str], work, *args, **kwargs):
        """Return ``work(*args, **kwargs)``; a user-level error is recorded for each clip of ``names``
        (and None returned) unless fail_fast."""
        try:
            return work(*args, **kwargs)
        except VideoAttrError as err:
            if self.cfg.fail_fast:
                raise
            for name in names:
                log.error("clip %s failed: %s", name, err)
                self.errors.append({"clip": name, "error": str(err)})
            return None

    def _check_any_done(self) -> None:
        """Raise when every clip failed: the run has no result to write."""
        if not self.errors or self.store.rows():
            return
        first = self.errors[0]["error"]
        if len(self.errors) == 1:
            raise VideoAttrError(first)
        raise VideoAttrError(f"All {len(self.errors)} clips failed, the first ({self.errors[0]['clip']}) with: {first}")

    def _explain_batch(self, items: list[dict]) -> None:
        with torch.no_grad():
            logits = self.net(torch.stack([item["clip"] for item in items]))
        self._check_classes(logits)
        jobs = []
        for item, row in zip(items, logits):
            target = self._guard([item["name"]], resolve_target, self.cfg.target, item, row, self.spec.class_names)
            if target is not None:
                jobs.append((item, row, target))
        if not jobs:
            return
        clips = torch.stack([item["clip"] for item, _, _ in jobs])
        start = time.perf_counter()
        result = self._guard(
            [item["name"] for item, _, _ in jobs],
            explain,
            self.net,
            clips,
            [t for _, _, t in jobs],
            method=self.method,
            return_details=True,
            **self.options,
        )
        if result is None:
            return
        seconds = (time.perf_counter() - start) / len(jobs)
        self.seconds.extend([seconds] * len(jobs))
        targets = torch.tensor([t for _, _, t in jobs])
        baseline = baseline_probability(self.net, clips, targets, **self.baseline).cpu().numpy()
        sanity = None
        if self.check is not None:  # check=randomisation: the maps of the randomised copies (every rank)
            names = [item["name"] for item, _, _ in jobs]
            sanity = self._guard(names, self.check.explain_batch, self.net, clips, targets.tolist(), result, names)
            if sanity is None:
                return
        if self.writes:
            for i, (item, row, target) in enumerate(jobs):
                clip = clip_result(result, i, item, row, target, seconds, float(baseline[i]))
                if sanity is not None:
                    self.check.write_clip(item["name"], *sanity, item["frames"].numpy(), i)
                self._record(clip, item)

    def _check_classes(self, logits: torch.Tensor) -> None:
        names = self.spec.class_names
        classes = getattr(self.dataset, "class_names", None) or names
        if classes is not None and len(classes) != logits.shape[1]:
            raise VideoAttrError(
                f"The class list has {len(classes)} classes but model '{self.spec.name}' outputs {logits.shape[1]}: "
                "give the dataset the class list the model was trained with (dataset.classes=...)."
            )

    def _label_of(self, index: int) -> str:
        class_names = self.spec.class_names or getattr(self.dataset, "class_names", None)
        return class_names[index] if class_names else str(index)

    def _record(self, clip: ClipResult, item: dict) -> None:
        """Score the clip's maps and write its figures, its ``.npz`` (rows included) and its tracking."""
        metrics, curves = self._metrics(item, clip)
        self._warn_if_no_evidence_needed(clip)
        seed = int(self.cfg.seed)
        rows = result_rows(clip, self.spec.name, self.method, seed, metrics, self._label_of)
        self._warn_if_objective_missed(rows)
        media = self._write_figures(clip) if self.cfg.figures else []
        self.store.save_clip(clip.name, clip_arrays(clip, self.spec.name, self.method, seed, curves), rows)
        self.tracker.log_clip(clip.name, rows, media, clip.history)

    def _warn_if_no_evidence_needed(self, clip: ClipResult) -> None:
        if abs(clip.prob_baseline - clip.target_prob) <= BIASED_WITHIN:
            log.warning(
                "Clip %s: target %s has probability %.3f on the clean clip and %.3f on the fully perturbed one "
                "(prob_baseline): the model predicts this target without visible evidence, so a preserve mask can "
                "show little for it (real classifiers have such biases too).",
                clip.name, self._label_of(clip.target), clip.target_prob, clip.prob_baseline,
            )  # fmt: skip

    def _warn_if_objective_missed(self, rows: list[dict]) -> None:
        """One warning per mask that missed its objective (the fit diagnostics), with what to try."""
        for row in rows:
            if row.get("objective_met") is False:
                log.warning("Clip %s, area %g: the mask missed its objective: %s.", row["clip"], row["area"],
                            advice(row, self._variant()))  # fmt: skip

    def _variant(self) -> str:
        return self.cfg.method.get("variant", "preserve")

    def _write_figures(self, clip: ClipResult) -> list[Path]:
        """The clip's PNG figure and GIF animation; returns their paths."""
        shown, row_names = figure_rows(clip, self.method)
        title = figure_title(clip, self.spec.name, self.method, self._label_of)
        png, gif = self.store.figure_path(clip.name, ".png"), self.store.figure_path(clip.name, ".gif")
        atomic_write(png, lambda tmp: save_figure(tmp, clip.frames, shown, row_names, title))
        atomic_write(gif, lambda tmp: save_animation(tmp, clip.frames, shown))
        return [png, gif]

    def _metrics(self, item: dict, clip: ClipResult) -> tuple[list[dict], dict[str, np.ndarray]]:
        """One metric dict per scored map of ``clip`` (empty when no metrics are configured) and, with the
        faithfulness group, the deletion and insertion curves of the maps (``curve_deletion``,
        ``curve_insertion``: one row of steps + 1 probabilities per map, in the order of the rows)."""
        maps = clip.scored_maps()
        if not self.cfg.get("metrics"):
            return [{} for _ in maps], {}
        from videoattr.metrics import clip_metrics

        options = OmegaConf.to_container(self.cfg.metrics, resolve=True)
        gt = item.get("gt_mask")
        scored = [
            clip_metrics(self.net, item["clip"], clip.target, torch.from_numpy(m), gt, return_curves=True, **options)
            for m in maps
        ]
        curves = {
            f"curve_{mode}": np.stack([c[mode] for _, c in scored])
            for mode in ("deletion", "insertion")
            if all(mode in c for _, c in scored)
        }
        return [row for row, _ in scored], curves

    def _summary(self) -> dict:
        rows = self.store.rows()
        combined = [r for r in rows if r.get("map") == "combined"]
        summary = {
            "model": self.spec.name,
            "method": self.method,
            "areas": self.areas,
            "seed": int(self.cfg.seed),
            "clips_done": len({r["clip"] for r in rows}),
            "clips_failed": len(self.errors),
            "config_hash": self.store.config_hash,
            "mean": means([r for r in rows if r.get("map") != "combined"]),
        }
        if combined:
            summary["mean_combined"] = means(combined)
        if self.check is not None:
            summary["sanity"] = self.check.finish(sorted({r["clip"] for r in rows}))
        if any("objective_met" in r for r in rows):
            summary["objective_missed"] = [
                {"clip": r["clip"], "area": r["area"], "advice": advice(r, self._variant())}
                for r in rows
                if r.get("objective_met") is False
            ]
        return summary


def batch_size_of(cfg: DictConfig) -> int:
    """``dataset.batch_size``, or when null 1 on a CPU (a real backbone's batch costs more per clip there
    than single fits) and 8 on a GPU."""
    return cfg.dataset.batch_size or (8 if torch.cuda.is_available() else 1)


def run(cfg: DictConfig) -> Path:
    """Run the job of a composed config; returns the run directory."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    validate(cfg)
    if cfg.method.name in PERTURBATION_METHODS:
        check_trainer(OmegaConf.to_container(cfg.trainer, resolve=True))
    job = Job(cfg, run_dir)
    job.run()
    if job.writes:
        done = len({r["clip"] for r in job.store.rows()})
        print(f"Explained {done} clip(s) with {job.method} on {job.spec.name}; {len(job.errors)} failed.")
        print(f"Results: {run_dir} (results.csv, summary.json, figures/*.png|gif, clips/*.npz)")
        missed = [r for r in job.store.rows() if r.get("objective_met") is False]
        if missed:
            clips = ", ".join(dict.fromkeys(f"{r['clip']} (area {r['area']:g})" for r in missed))
            print(
                f"{len(missed)} mask(s) missed their objective: {clips}; see the log or summary.json's objective_missed."
            )
    return run_dir
