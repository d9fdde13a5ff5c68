"""``python run.py ... plan=true``: what a run will cost, printed before anything is explained.

The plan lists the clips (no clip is decoded but one, to time the decoder), counts those already done in
the run directory, takes the passes per clip from the method's config (``videoattr.methods.cost``) plus
the run's own (the clean scores, ``prob_baseline``, the faithfulness curves), times one pass of the model
on random clips of its input size on the device the run would use, and estimates the wall time for one
process, for the DDP world the trainer asks for and for the ``dataset.num_shards`` jobs of a sharded run.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from videoattr.data.datasets import VideoDataset, build_dataset
from videoattr.data.loader import workers_of
from videoattr.methods import PERTURBATION_METHODS
from videoattr.methods.cost import planned_passes
from videoattr.methods.perturbation.kind import model_kind
from videoattr.models import load_model
from videoattr.outputs import RunStore, config_hash
from videoattr.runner import areas_of, batch_size_of, run_device

OVERNIGHT_S = 12 * 3600.0


@dataclass
class PassTimes:
    """Seconds per clip of one forward pass without gradients and of one forward + backward pass."""

    forward: float
    backward: float
    device: str


def time_passes(
    net: torch.nn.Module, shape: tuple[int, ...], batch: int, device: torch.device, repeats: int = 3
) -> PassTimes:
    """The median per-clip time of ``repeats`` passes of a batch of ``batch`` random clips of ``shape``
    (after one warm-up pass each)."""
    net = net.to(device)
    clips = torch.randn(batch, *shape, device=device)

    def timed(work) -> float:
        work()
        seconds = []
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            work()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            seconds.append((time.perf_counter() - start) / batch)
        return statistics.median(seconds)

    def forward() -> None:
        with torch.no_grad():
            net(clips)

    def backward() -> None:
        inputs = clips.clone().requires_grad_(True)
        net(inputs).sum().backward()

    return PassTimes(timed(forward), timed(backward), str(device))


def run_passes(cfg: DictConfig, maps: int) -> int:
    """The forward passes the run adds to the method's per clip: its clean scores, ``prob_baseline`` and
    with the faithfulness metrics 2 x (steps + 1) per map."""
    passes = 2
    metrics = cfg.get("metrics")
    if metrics and "faithfulness" in metrics.groups:
        passes += 2 * (int(metrics.steps) + 1) * maps
    return passes


def world_size(trainer: dict) -> int:
    """The processes a perturbation fit runs in (``trainer.devices`` x ``num_nodes`` under DDP, else 1)."""
    if "ddp" not in str(trainer.get("strategy", "auto")):
        return 1
    devices = trainer.get("devices", "auto")
    if isinstance(devices, list):
        count = len(devices)
    elif str(devices).lstrip("-").isdigit() and int(devices) > 0:
        count = int(devices)
    else:
        count = max(1, torch.cuda.device_count())
    return count * int(trainer.get("num_nodes", 1))


def decode_seconds(dataset: VideoDataset, indices: list[int]) -> float | None:
    """Seconds to read the first of ``indices`` that can be read (None when none of the first 3 can)."""
    for index in indices[:3]:
        start = time.perf_counter()
        try:
            dataset[index]
        except Exception:
            continue
        return time.perf_counter() - start
    return None


def duration(seconds: float) -> str:
    """``3 h 20 min``, ``4 min 10 s``, ``12.5 s``."""
    if seconds >= 3600:
        return f"{int(seconds // 3600)} h {round(seconds % 3600 / 60):d} min"
    if seconds >= 60:
        return f"{int(seconds // 60)} min {round(seconds % 60):d} s"
    return f"{seconds:.1f} s"


@dataclass
class Clips:
    """The clips of a plan: ``total`` in the data set, the run's ``dataset`` (a shard of it, or all) and
    the indices of those still ``todo`` in the run directory."""

    total: int
    dataset: VideoDataset
    todo: list[int]


def find_clips(cfg: DictConfig, spec, store: RunStore) -> Clips:
    """The clips of the run of ``cfg``, listed without decoding any; those done are those of ``store``."""
    dataset = build_dataset(cfg.dataset, spec, seed=cfg.seed)
    total = len(dataset)
    if cfg.dataset.shard is not None:
        total = len(build_dataset(OmegaConf.merge(cfg.dataset, {"shard": None, "num_shards": 1}), spec, cfg.seed))
    todo = [i for i in range(len(dataset)) if cfg.overwrite or not store.is_done(dataset.clip_name(i))]
    return Clips(total, dataset, todo)


def clip_seconds(model_s: float, decode_s: float | None, workers: int) -> float:
    """A clip's wall time: decoding by ``workers`` processes overlaps the model (0: it adds to it)."""
    if decode_s is None:
        return model_s
    return max(model_s, decode_s / workers) if workers else model_s + decode_s


def plan(cfg: DictConfig, run_dir: Path) -> str:
    """The plan of the run of ``cfg`` in ``run_dir``, as the lines to print."""
    net, spec = load_model(cfg.model)
    store = RunStore(run_dir, config_hash(cfg))
    clips = find_clips(cfg, spec, store)
    method, areas, frames = cfg.method.name, areas_of(cfg), (spec.num_frames, *spec.crop)
    fit = method in PERTURBATION_METHODS
    forward, backward = planned_passes(method, cfg.method, len(areas), frames, model_kind(net))
    extra = run_passes(cfg, len(areas) + (cfg.method.get("combine") == "sum") if fit else 1)
    batch = batch_size_of(cfg)
    times = time_passes(net, (3, *frames), batch, run_device(cfg))
    model_s = backward * times.backward + (forward - backward + extra) * times.forward
    decode_s, workers = decode_seconds(clips.dataset, clips.todo), workers_of(cfg.dataset.num_workers)
    clip_s = clip_seconds(model_s, decode_s, workers)
    world = world_size(OmegaConf.to_container(cfg.trainer, resolve=True)) if fit else 1
    shards, todo = int(cfg.dataset.num_shards), len(clips.todo)
    in_shard = (
        f", {len(clips.dataset)} in shard {cfg.dataset.shard} of {shards}" if cfg.dataset.shard is not None else ""
    )
    decoded = (
        "no clip could be read" if decode_s is None else f"{decode_s:.2f} s per clip, {workers} worker process(es)"
    )
    lines = [
        f"Plan for {method} on {spec.name} (config hash {store.config_hash}), nothing explained:",
        f"  clips: {clips.total} in the data set{in_shard}; {len(clips.dataset) - todo} done in {run_dir}, {todo} to do",
        f"  passes per clip: {forward} forward + {backward} backward ({method}, {len(areas)} area(s)), "
        f"+ {extra} forward of the run (scores, prob_baseline, metrics) = {forward + extra} forward, {backward} backward",
        f"  one pass of {spec.name} on {times.device} ({batch} x 3 x {frames[0]} x {frames[1]} x {frames[2]}): "
        f"{times.forward * 1e3:.1f} ms forward, {times.backward * 1e3:.1f} ms forward + backward per clip",
        f"  decoding: {decoded}",
        f"  per clip: {duration(model_s)} of the model, {duration(clip_s)} with decoding",
        f"  estimated wall time, 1 process: {duration(todo * clip_s)} for the {todo} clip(s) to do",
    ]
    if world > 1:  # the ranks share a fit's (clip, area) pairs; the rest each rank does in full
        working = min(world, batch * len(areas))
        ddp_s = clip_s - backward * times.backward * (1 - 1 / working)
        lines.append(
            f"  with the DDP world asked for ({world} processes, {working} with pairs of a batch): {duration(todo * ddp_s)}"
        )
    whole_s = clips.total * clip_s
    if shards > 1:
        lines.append(
            f"  {shards} shards in parallel, one device each: {duration(whole_s / shards)} per shard, "
            f"{whole_s / 3600:.1f} device-hours in all"
        )
    needed = max(1, math.ceil(whole_s / OVERNIGHT_S))
    lines.append(f"  to explain all {clips.total} clips in 12 h: dataset.num_shards={needed} (jobs of one device each)")
    return "\n".join(lines)


def print_plan(cfg: DictConfig) -> None:
    """Print the plan of the run of ``cfg`` (``plan=true``) for its Hydra run directory."""
    from hydra.core.hydra_config import HydraConfig

    print(plan(cfg, Path(HydraConfig.get().runtime.output_dir)))
