"""The command-line job: explain every clip of a dataset with one model and one method.

One bad clip never stops a run: what fails for one clip is recorded in errors.csv (its name, the
stage, a one-line reason, its path) and the run goes on; ``fail_fast=true`` stops at the first
instead. A failure of one clip (``videoattr.errors.is_clip_error``) is a ``VideoAttrError`` (a frame
folder of mixed sizes, a label outside the class list, a clip too short, ...) or what a decoder or the
model raises for it (a file decord cannot read, a RuntimeError or ValueError in the model's forward,
out of memory); a batch that fails is explained again clip by clip, so that only the bad clip fails.
A bug (TypeError, AttributeError, KeyError, IndexError, AssertionError, NotImplementedError, ...) in
videoattr or in the model stops the run with its traceback, as do a broken process group or device.
A result file that cannot be written (a full disk, no permission) stops the run with one line
(``OutputError``): its clip is not done, and a rerun resumes from there.

With several processes (``trainer.strategy=ddp``, ``videoattr.distributed``) every rank runs this job
on the same clips in the same order, agreeing on each clip's outcome; only rank 0 writes results.
"""

from __future__ import annotations

import errno
import inspect
import logging
import os
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from videoattr.api import explain
from videoattr.cli import resume_hint
from videoattr.data.datasets import build_dataset, name_of
from videoattr.data.loader import load_clips, workers_of
from videoattr.distributed import EXIT_WAIT_S, World, current, start_world
from videoattr.errors import Failure, OutputError, VideoAttrError, is_clip_error, one_line, reason
from videoattr.methods import PERTURBATION_METHODS, get_method
from videoattr.methods.perturbation.baseline import baseline_probability
from videoattr.methods.perturbation.diagnostics import advice
from videoattr.methods.perturbation.fit import check_trainer
from videoattr.methods.perturbation.kind import model_kind
from videoattr.methods.perturbation.options import MODEL_SETTINGS, PerturbationOptions, check_areas, model_settings
from videoattr.models import load_model
from videoattr.outputs import RunStore, atomic_write, config_hash
from videoattr.results import (
    ClipResult,
    clip_arrays,
    clip_result,
    figure_curves,
    figure_rows,
    figure_title,
    means,
    result_rows,
)
from videoattr.sanity import randomisation_check
from videoattr.schema import validate
from videoattr.terminal import clip_progress, is_verbose, set_verbose
from videoattr.timeline import write_timelines
from videoattr.tracking import Tracker
from videoattr.viz import save_animation, save_figure

log = logging.getLogger(__name__)

# prob_baseline this close to the clean clip's target probability: the model needs no visible evidence.
BIASED_WITHIN = 0.1


def areas_of(cfg: DictConfig) -> list[float]:
    """The configured area(s) as a list of floats (validated by ``videoattr.schema``)."""
    return check_areas(OmegaConf.to_container(cfg.area) if isinstance(cfg.area, ListConfig) else cfg.area)


def method_options(cfg: DictConfig, net, spec, areas: list[float], logger) -> dict:
    """The method's config keys, completed with what the model (its class and spec) and the run know."""
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
        # variant and perturbation left null: the model's own, by class (as the fit would resolve them)
        settings = model_settings(cfg.method.name, model_kind(net))
        options.update({k: v for k, v in settings.items() if options.get(k) is None})
    for key, value in known.items():
        if key in accepted and options.get(key) is None:
            options[key] = value
    # (methods branch) No error here for a null layer: grad_cam finds torchvision's MViT and Swin3D by class
    # and names the candidate layers of any other model itself.
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
    raise unknown_target(target)


def unknown_target(target) -> VideoAttrError:
    return VideoAttrError(
        f"Unknown target class '{target}': use label, predicted, a class index or a name from the class list."
    )


def check_target_name(target, class_names: list[str] | None) -> None:
    """A target given as a class name that the class list lacks fails the run before any clip is read."""
    named = isinstance(target, str) and target not in ("label", "predicted") and not target.lstrip("-").isdigit()
    if named and target not in (class_names or []):
        raise unknown_target(target)


def baseline_settings(method: str, options: dict) -> dict:
    """How prob_baseline perturbs a clip: the perturbation method's own ``perturbation`` and
    ``max_blur`` (its ``method_options``), for any other method the paper's blur (sigma 20)."""
    defaults = {**MODEL_SETTINGS["paper"], "max_blur": PerturbationOptions().max_blur}
    if method not in PERTURBATION_METHODS:
        return {"perturbation": defaults["perturbation"], "max_blur": defaults["max_blur"]}
    return {
        "perturbation": options.get("perturbation") or defaults["perturbation"],
        "max_blur": float(options.get("max_blur", defaults["max_blur"])),
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
        # The class names targets and labels are named by: the model's, else the dataset's class list.
        self.class_names = self.spec.class_names or getattr(self.dataset, "class_names", None)
        check_target_name(cfg.target, self.class_names)
        self.tracker = Tracker(cfg, run_dir)
        self.options = method_options(cfg, self.net, self.spec, self.areas, self.tracker.fit_logger)
        if self.method == "grad_cam":
            check_gradcam_layer(self.net, self.spec.name, self.options.get("layer"))
        self.baseline = baseline_settings(self.method, self.options)
        self.store = RunStore(run_dir, config_hash(cfg))
        self.check = randomisation_check(cfg, run_dir, self.options, self.areas, self.store.config_hash)
        self.errors: list[dict] = []
        self.seconds: list[float] = []
        # After what can go wrong for the user: the other ranks start once this one has loaded everything.
        trainer = OmegaConf.to_container(cfg.trainer, resolve=True)
        self.world: World = start_world(trainer) if self.method in PERTURBATION_METHODS else current()
        self.device = run_device(cfg, self.world.size)
        self.net.to(self.device)
        self.writes = self.world.rank == 0
        if not self.writes:
            quiet_rank(self.world.rank)

    def run(self) -> None:
        """Explain every clip not done yet; then (rank 0) write the tables."""
        try:
            self._explain_all()
        except BaseException as err:
            # a collective that failed on this rank: another rank probably stopped; give it time to exit
            broken = isinstance(err, torch.distributed.DistError) or "Connection closed by peer" in str(err)
            failed = self.world.worker_error(wait=EXIT_WAIT_S if broken else 0.0)
            self.world.close(ok=False)
            if failed is not None and not isinstance(err, KeyboardInterrupt | SystemExit):
                raise failed from err
            raise
        self.world.close(ok=True)
        if self.writes:
            self._check_any_done()
            summary = self._summary()
            with self.writing():
                self.store.write_tables(self.errors, summary)
                self.tracker.finish(self.store.rows(), summary)

    def _explain_all(self) -> None:
        """Explain the clips not done yet (rank 0's list: only it writes results) in batches."""
        if self.writes:
            self.store.remove_temporary()
        pending = self.world.broadcast(self._pending() if self.writes else None)
        batch_size = batch_size_of(self.cfg)
        show = self.writes and self.cfg.trainer.get("enable_progress_bar", True) is not False
        batch: list[dict] = []
        with clip_progress(len(self.dataset), len(self.dataset) - len(pending), show) as progress:
            for index, item, failure in self._outcomes(pending, batch_size):
                failure = self._agree([failure])[0]
                if failure is not None:
                    self._fail(self.dataset.clip_name(index), failure, str(self.dataset.paths[index]))
                    progress.update(1)
                    continue
                batch.append(item)
                if len(batch) == batch_size:
                    self._explain_batch(batch)
                    progress.update(len(batch))
                    batch = []
            if batch:
                self._explain_batch(batch)
                progress.update(len(batch))

    def _outcomes(self, pending: list[int], prefetch: int) -> Iterator[tuple[int, dict | None, Failure | None]]:
        """``(index, item, failure)`` of each pending clip, in order: its label checked here (a clip whose
        label fails is not read), then read by worker processes ahead of the model (``videoattr.data.loader``)."""
        unlabelled = {i: f for i in pending if (f := self._attempt("label", self._check_label, i)[1]) is not None}
        workers = workers_of(self.cfg.dataset.num_workers, self.world.size)
        loaded = load_clips(self.dataset, [i for i in pending if i not in unlabelled], workers, prefetch)
        for index in pending:
            yield (index, None, unlabelled[index]) if index in unlabelled else next(loaded)

    def _pending(self) -> list[int]:
        """The indices of the clips without results of this config (all of them with overwrite)."""
        pending = []
        for index in range(len(self.dataset)):
            name = self.dataset.clip_name(index)
            if not self.cfg.overwrite and self.store.is_done(name):
                log.info("skipping %s: results exist (overwrite=true recomputes)", name)
                continue
            pending.append(index)
        return pending

    def _check_label(self, index: int) -> None:
        if self.cfg.target == "label":
            self.dataset.check_label(index)
        elif self.dataset.label_errors[index] is not None and self.writes:
            label = self.dataset.labels[index][0]
            log.warning(
                "clip %s: label '%s' is not in the class list; explaining target=%s",
                self.dataset.clip_name(index),
                label,
                self.cfg.target,
            )

    def _attempt(self, stage: str, work, *args):
        """``(work(*args), None)``, or ``(None, Failure)`` when it fails for this clip; other errors raise."""
        try:
            return work(*args), None
        except Exception as err:
            if not self._is_clip_failure(err):
                raise
            return None, Failure(stage, reason(err), err)

    def _is_clip_failure(self, err: BaseException) -> bool:
        """Whether ``err`` fails one clip only; an ``OSError`` of the run directory (or a full disk) stops
        the run as an ``OutputError``."""
        if isinstance(err, OSError) and is_output_error(err, self.run_dir):
            raise output_error(err, self.run_dir) from err
        return is_clip_error(err)

    def _agree(self, failures: list[Failure | None]) -> list[Failure | None]:
        """Every rank's view of some clips' outcomes made one: a clip fails if it failed on any rank (with
        the reason of the first such rank)."""
        if self.world.size == 1:
            return failures
        views = self.world.gather([None if f is None else (f.stage, f.reason) for f in failures])
        agreed = []
        for i, mine in enumerate(failures):
            rank = next((r for r, view in enumerate(views) if view[i] is not None), None)
            if rank is None or rank == self.world.rank:
                agreed.append(mine)
            else:
                stage, why = views[rank][i]
                agreed.append(Failure(stage, why if rank == 0 else f"on rank {rank}: {why}"))
        return agreed

    def _fail(self, name: str, failure: Failure, path: str = "") -> None:
        """Record that clip ``name`` failed (rank 0 logs and writes it), or with fail_fast stop the run."""
        if self.cfg.fail_fast:
            raise failure.error if failure.error is not None else VideoAttrError(failure.reason)
        if self.writes:
            traceback = failure.error if is_verbose() and not isinstance(failure.error, VideoAttrError) else None
            log.error("clip %s failed: %s", name, failure.reason, exc_info=traceback)
        self.errors.append({"clip": name, "stage": failure.stage, "error": failure.reason, "path": path})

    def _check_any_done(self) -> None:
        """Raise when every clip failed: the run has no result to write."""
        if not self.errors or self.store.rows():
            return
        first = self.errors[0]["error"]
        if len(self.errors) == 1:
            raise VideoAttrError(first)
        raise VideoAttrError(f"All {len(self.errors)} clips failed, the first ({self.errors[0]['clip']}) with: {first}")

    def _explain_batch(self, items: list[dict]) -> None:
        """The model's scores and the targets of a batch's clips, then their explanations."""
        scores = self._scores(items)
        outcomes: list[int | Failure] = []
        for item, row in zip(items, scores):
            if isinstance(row, Failure):
                outcomes.append(row)
                continue
            target, failure = self._attempt("target", resolve_target, self.cfg.target, item, row, self.class_names)
            outcomes.append(target if failure is None else failure)
        # One target per clip for every rank: rank 0's (a near tie could go either way on another device).
        agreed = self._agree([o if isinstance(o, Failure) else None for o in outcomes])
        targets = self.world.broadcast([None if isinstance(o, Failure) else o for o in outcomes])
        jobs = []
        for item, row, failure, target in zip(items, scores, agreed, targets):
            if failure is not None:
                self._fail(item["name"], failure, item["path"])
            else:
                jobs.append((item, row, target))
        if jobs:
            self._explain_jobs(jobs)

    def _scores(self, items: list[dict]) -> list[torch.Tensor | Failure]:
        """The model's scores for each clip (one forward pass of the batch; if that fails, one per clip,
        so that only the clip the model fails on fails)."""
        rows: list[torch.Tensor | Failure]
        with torch.no_grad():
            logits, failure = self._attempt("model", self.net, self._clips(items))
            if failure is None:
                rows = list(logits)
            elif len(items) == 1:
                rows = [failure]
            else:
                rows = []
                for item in items:
                    logits, failure = self._attempt("model", self.net, self._clips([item]))
                    rows.append(logits[0] if failure is None else failure)
        scored = [row for row in rows if not isinstance(row, Failure)]
        if scored:
            self._check_classes(torch.stack(scored))
        return rows

    def _explain_jobs(self, jobs: list[tuple[dict, torch.Tensor, int]]) -> None:
        """Explain clips (item, clean scores, target) in one call of the method; if that fails for a
        clip's reason, again one by one, so that only the bad clip fails. Rank 0 records the results."""
        clips = self._clips([item for item, _, _ in jobs])
        targets = [t for _, _, t in jobs]
        start = time.perf_counter()
        try:
            result = explain(self.net, clips, targets, method=self.method, return_details=True, **self.options)
            baseline = baseline_probability(self.net, clips, torch.tensor(targets), **self.baseline).cpu().numpy()
        except Exception as err:
            # With several ranks, only what every rank raises together (VideoAttrError, PairFailure) is
            # the clips'; anything else may have left the other ranks in a collective: it stops the run.
            if not self._is_clip_failure(err) or (self.world.size > 1 and not isinstance(err, VideoAttrError)):
                raise
            if len(jobs) > 1:
                if self.writes:
                    log.warning("a batch of %d clips failed (%s): explaining them one by one", len(jobs), reason(err))
                for job in jobs:
                    self._explain_jobs([job])
                return
            self._fail(jobs[0][0]["name"], Failure("explain", reason(err), err), jobs[0][0]["path"])
            return
        seconds = (time.perf_counter() - start) / len(jobs)
        self.seconds.extend([seconds] * len(jobs))
        sanity = None
        if self.check is not None:  # check=randomisation: the maps of the randomised copies (every rank)
            names = [item["name"] for item, _, _ in jobs]
            sanity, failure = self._attempt("check", self.check.explain_batch, self.net, clips, targets, result, names)
            if failure is not None:
                for item, _, _ in jobs:
                    self._fail(item["name"], failure, item["path"])
                return
        if self.writes:
            for i, (item, row, target) in enumerate(jobs):
                clip = clip_result(result, i, item, row, target, seconds, float(baseline[i]))
                if sanity is not None:
                    self.check.write_clip(item["name"], *sanity, item["frames"].numpy(), i)
                self._record(clip, item, clips[i])

    def _clips(self, items: list[dict]) -> torch.Tensor:
        """The items' clips as one N x 3 x T x H x W batch on the run's device."""
        return torch.stack([item["clip"] for item in items]).to(self.device)

    def _check_classes(self, logits: torch.Tensor) -> None:
        names = self.spec.class_names
        classes = getattr(self.dataset, "class_names", None) or names
        if classes is not None and len(classes) != logits.shape[1]:
            raise VideoAttrError(
                f"The class list has {len(classes)} classes but model '{self.spec.name}' outputs {logits.shape[1]}: "
                "give the dataset the class list the model was trained with (dataset.classes=...)."
            )

    def _label_of(self, index: int) -> str:
        return self.class_names[index] if self.class_names else str(index)

    def _record(self, clip: ClipResult, item: dict, on_device: torch.Tensor) -> None:
        """Score the clip's maps and write its figures, its ``.npz`` (rows included) and its tracking; the
        ``.npz``, written last, makes the clip done."""
        scored, failure = self._attempt("metrics", self._metrics, item, clip, on_device)
        if failure is not None:
            self._fail(clip.name, failure, item["path"])
            return
        metrics, curves = scored
        self._warn_if_no_evidence_needed(clip)
        seed = int(self.cfg.seed)
        rows = result_rows(clip, self.spec.name, self.method, seed, metrics, self._label_of)
        self._warn_if_objective_missed(rows)
        media: list[Path] = []
        with self.writing():
            try:
                media = self._write_figures(clip) if self.cfg.figures else []
                arrays = clip_arrays(clip, self.spec.name, self.method, seed, curves, self.cfg.maps_dtype)
                self.store.save_clip(clip.name, arrays, rows)
            except BaseException:
                for path in (self.store.figure_path(clip.name, s) for s in (".png", ".gif")):
                    path.unlink(missing_ok=True)  # the figures of a clip that is not done
                raise
            self.tracker.log_clip(clip.name, rows, media, clip.history)

    @contextmanager
    def writing(self):
        """Result files: one that cannot be written stops the run with an ``OutputError``."""
        try:
            yield
        except OSError as err:
            raise output_error(err, self.run_dir) from err

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
        return self.options.get("variant") or "preserve"

    def _write_figures(self, clip: ClipResult) -> list[Path]:
        """The clip's PNG figure and GIF animation; returns their paths."""
        shown, row_names = figure_rows(clip, self.method)
        title = figure_title(clip, self.spec.name, self.method, self._label_of)
        png, gif = self.store.figure_path(clip.name, ".png"), self.store.figure_path(clip.name, ".gif")
        curves = figure_curves(clip, self.method)
        atomic_write(png, lambda tmp: save_figure(tmp, clip.frames, shown, row_names, title, *curves))
        atomic_write(gif, lambda tmp: save_animation(tmp, clip.frames, shown))
        return [png, gif]

    def _metrics(
        self, item: dict, clip: ClipResult, on_device: torch.Tensor
    ) -> tuple[list[dict], dict[str, np.ndarray]]:
        """One metric dict per scored map of ``clip`` (empty when no metrics are configured) and, with the
        faithfulness group, the deletion and insertion curves of the maps (``curve_deletion``,
        ``curve_insertion``: one row of steps + 1 probabilities per map, in the order of the rows).
        ``on_device``: the item's clip as the method saw it, on the run's device."""
        maps = clip.scored_maps()
        if not self.cfg.get("metrics"):
            return [{} for _ in maps], {}
        from videoattr.metrics import clip_metrics

        options = OmegaConf.to_container(self.cfg.metrics, resolve=True)
        gt = item.get("gt_mask")
        scored = [
            clip_metrics(self.net, on_device, clip.target, torch.from_numpy(m), gt, return_curves=True, **options)
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
            "clips_failed_by_stage": {
                stage: sum(e["stage"] == stage for e in self.errors)
                for stage in dict.fromkeys(e["stage"] for e in self.errors)
            },
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


def run_device(cfg: DictConfig, processes: int = 1) -> torch.device:
    """The device a run explains its clips on: a GPU when ``trainer.accelerator`` is auto, gpu or cuda and
    torch sees one (the first of ``trainer.devices`` when they are a list), else the CPU. A run of
    several processes (DDP) keeps its clips on the CPU: Lightning's strategy gives each rank its GPU."""
    trainer = cfg.trainer
    accelerator = str(trainer.get("accelerator", "auto"))
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise VideoAttrError(
            f"trainer.accelerator={accelerator} but torch sees no CUDA device: run on a GPU machine, check "
            "CUDA_VISIBLE_DEVICES and torch.cuda.is_available(), or set trainer.accelerator=cpu."
        )
    if processes > 1 or accelerator not in ("auto", "gpu", "cuda") or not torch.cuda.is_available():
        return torch.device("cpu")
    devices = trainer.get("devices", 1)
    first = devices[0] if isinstance(devices, ListConfig | list) and len(devices) else 0
    return torch.device("cuda", int(first))


def run(cfg: DictConfig) -> Path | None:
    """Run the job of a composed config; returns the run directory (None on the ranks > 0 of a
    multi-process run, which write nothing)."""
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    validate(cfg)
    set_verbose(bool(cfg.get("verbose", False)))
    if cfg.method.name in PERTURBATION_METHODS:
        check_trainer(OmegaConf.to_container(cfg.trainer, resolve=True))
    run_device(cfg)  # a GPU asked for on a machine without one: one line before anything is written
    job = Job(cfg, run_dir)
    try:
        job.run()
    except OSError as err:
        if is_output_error(err, run_dir):
            raise output_error(err, run_dir) from err
        raise
    if not job.writes:
        return None
    if cfg.dataset.get("windows"):  # after every window is explained: one timeline per video
        with job.writing():
            write_timelines(run_dir, job.store.rows(), {name_of(p): p for p in dict.fromkeys(job.dataset.paths)})
    done = len({r["clip"] for r in job.store.rows()})
    failed = f"{len(job.errors)} failed (errors.csv)" if job.errors else "0 failed"
    print(f"Explained {done} clip(s) with {job.method} on {job.spec.name}; {failed}.")
    print(f"Results: {run_dir} (results.csv, summary.json, figures/*.png|gif, clips/*.npz)")
    if cfg.dataset.get("windows"):
        print(f"Timelines: {run_dir / 'timelines'} (one plot and .npz per video, timelines.csv)")
    missed = [r for r in job.store.rows() if r.get("objective_met") is False]
    if missed:
        clips = ", ".join(dict.fromkeys(f"{r['clip']} (area {r['area']:g})" for r in missed))
        print(f"{len(missed)} mask(s) missed their objective: {clips}; see the log or summary.json's objective_missed.")
    print(f"One page to read them: videoattr-report {run_dir}")
    return run_dir


def check_gradcam_layer(net, model_name: str, layer: str | None) -> None:
    """A model without a Grad-CAM layer fails the run up front, not each clip."""
    from videoattr.methods.gradcam import default_layer

    if layer is None and default_layer(net) is None:
        children = ", ".join(name for name, _ in net.named_children())
        raise VideoAttrError(
            f"Model '{model_name}' has no Grad-CAM layer: set model.gradcam_layer to one of its modules "
            f"({children}, or a submodule's dotted name), or use another method."
        )


def is_output_error(err: OSError, run_dir: Path) -> bool:
    """Whether ``err`` is about the run's outputs: a full disk (or quota, or a read-only file system), or a
    file of the run directory."""
    if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
        return True
    name = err.filename or ""
    return bool(name) and Path(os.path.abspath(name)).is_relative_to(Path(os.path.abspath(run_dir)))


def output_error(err: OSError, run_dir: Path) -> OutputError:
    """The one sentence for a result file the run could not write."""
    where = err.filename or run_dir
    why = err.strerror or one_line(err)
    return OutputError(
        f"Could not write {where} ({why}): free space on its disk or fix its permissions, then {resume_hint()}."
    )


def quiet_rank(rank: int) -> None:
    """A rank > 0 prints only its errors (rank 0 reports the run) and writes no log file of its own."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, logging.FileHandler):
            root.removeHandler(handler)
            handler.close()
    root.setLevel(logging.ERROR)
    for handler in root.handlers:
        handler.setFormatter(logging.Formatter(f"[rank {rank}] %(levelname)s %(name)s: %(message)s"))
    warnings.simplefilter("ignore")
