"""Decoding against the model: clips per second of a whole run with 0 and with N DataLoader workers.

Generates (once) ``--clips`` videos of realistic size, 10 s at 25 fps, 340 x 256 H.264 (a textured
background panning under a moving disk; names ``<up|down|left|right>-bench_<i>`` so that the synthetic
model's classes label them; ``--unique`` of them encoded, the others hard links to those, since encoding
is slow on a small machine and a link is decoded like any file), then measures, in this process, clips per second of

- decoding alone: the dataset's items (read, sampled, resized and cropped) in the main process, and
  through ``videoattr.data.loader`` with the workers asked for;
- the model alone: ``runner.Job`` (scores, the method, ``prob_baseline``, the ``.npz``) on clips
  decoded beforehand and held in memory;
- the pipeline: ``runner.Job.run()`` on the files, ``dataset.num_workers`` = 0 and each of ``--workers``.

The goal (issue 28): the pipeline with workers within 1.2 x the time of the slower of decoding alone and
the model alone. No figures and no metrics (``figures=false``, ``~metrics``): what is measured is
decoding against the explanation. The load average of the machine is printed with the table.

Usage: python -m benchmarks.bench_loader [--clips 200] [--unique 20] [--workers 2] [--method grad_cam] [--model synthetic]
           [--out outputs/bench_loader]
Writes OUT/loader.md and OUT/loader.json; the clips stay in OUT/clips for the next run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from videoattr import ASSETS
from videoattr.data.loader import load_clips
from videoattr.runner import Job

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
SECONDS, FPS, WIDTH, HEIGHT = 10, 25, 340, 256
DIRECTIONS = ("up", "down", "left", "right")


def frames_of(index: int) -> np.ndarray:
    """SECONDS x FPS frames, HEIGHT x WIDTH x 3 uint8: a random texture panning, a red disk crossing it."""
    rng = np.random.default_rng(index)
    texture = (rng.random(((HEIGHT + 64) // 8 + 1, (WIDTH + 64) // 8 + 1, 3)) * 255).astype(np.uint8)
    texture = texture.repeat(8, 0).repeat(8, 1)
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    frames = np.empty((SECONDS * FPS, HEIGHT, WIDTH, 3), np.uint8)
    for t in range(len(frames)):
        shift = t % 64
        frame = texture[shift // 2 : shift // 2 + HEIGHT, shift : shift + WIDTH].copy()
        cy, cx = HEIGHT / 2, WIDTH * t / len(frames)
        frame[(yy - cy) ** 2 + (xx - cx) ** 2 < 30**2] = (220, 30, 30)
        frames[t] = frame
    return frames


def generate(folder: Path, count: int, unique: int) -> list[Path]:
    """The ``count`` benchmark videos in ``folder``: ``unique`` of them encoded by PyAV (H.264) where
    missing, the others hard links to them (each a file of its own name, decoded in full like any other)."""
    import av

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{DIRECTIONS[i % 4]}-bench_{i:04d}.mp4"
        source = folder / f"{DIRECTIONS[i % unique % 4]}-bench_{i % unique:04d}.mp4"
        if not path.is_file() and i >= unique:
            os.link(source, path)
        elif not path.is_file():
            tmp = path.with_name(f".{path.name}")
            with av.open(str(tmp), "w", format="mp4") as container:
                stream = container.add_stream("libx264", rate=FPS)
                stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
                for frame in frames_of(i):
                    container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
                container.mux(stream.encode())
            tmp.rename(path)
        paths.append(path)
    return paths


def config(args: argparse.Namespace, workers: int) -> DictConfig:
    overrides = [
        f"model={args.model}",
        "dataset=videos",
        f"dataset.root={args.out / 'clips'}",
        f"dataset.classes={ASSETS / 'synthetic' / 'classes.json'}",
        f"dataset.limit={args.clips}",
        f"dataset.num_workers={workers}",
        f"method={args.method}",
        "figures=false",
        "~metrics",
        "overwrite=true",
    ]
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def rate(count: int, start: float) -> float:
    return count / (time.perf_counter() - start)


def decoding(job: Job, workers: int) -> float:
    """Clips per second of reading every clip of the job's dataset (``workers`` processes, 0: this one)."""
    start = time.perf_counter()
    outcomes = list(load_clips(job.dataset, range(len(job.dataset)), workers, prefetch=2 * max(1, workers)))
    failed = [i for i, _, f in outcomes if f is not None]
    assert not failed, f"clips failed to decode: {failed}"
    return rate(len(outcomes), start)


class Decoded:
    """A dataset's first ``count`` items, decoded once and served from memory (as the model alone sees them)."""

    def __init__(self, dataset, count: int):
        self.dataset, self.items = dataset, [dataset[i] for i in range(count)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        return self.items[index]

    def __getattr__(self, name: str):
        return getattr(self.dataset, name)


def model_alone(args: argparse.Namespace, count: int) -> float:
    """Clips per second of the job on clips decoded beforehand (the first ``count``)."""
    job = Job(config(args, 0), args.out / "run_model")
    job.dataset = Decoded(job.dataset, count)
    start = time.perf_counter()
    job.run()
    return rate(count, start)


def pipeline(args: argparse.Namespace, workers: int) -> float:
    """Clips per second of the job on the files, decoded by ``workers`` processes (0: in the main one)."""
    job = Job(config(args, workers), args.out / f"run_workers{workers}")
    start = time.perf_counter()
    job.run()
    return rate(len(job.dataset), start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--unique", type=int, default=20, help="clips encoded; the others are hard links to them")
    parser.add_argument("--workers", type=int, nargs="+", default=[2])
    parser.add_argument("--method", default="grad_cam")
    parser.add_argument("--model", default="synthetic")
    parser.add_argument("--model-clips", type=int, default=50, help="clips held in memory for the model alone")
    parser.add_argument("--out", type=Path, default=ROOT / "outputs" / "bench_loader")
    args = parser.parse_args()
    args.out = args.out.resolve()
    start = time.perf_counter()
    generate(args.out / "clips", args.clips, min(args.unique, args.clips))
    print(f"{args.clips} clips ({args.unique} encoded) of {SECONDS} s at {FPS} fps, {WIDTH} x {HEIGHT} in {args.out / 'clips'} "
          f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    load = os.getloadavg()
    probe = Job(config(args, 0), args.out / "run_probe")
    results = {"decode, 0 workers": decoding(probe, 0)}
    for workers in args.workers:
        results[f"decode, {workers} workers"] = decoding(probe, workers)
    results["model alone"] = model_alone(args, min(args.model_clips, args.clips))
    for workers in [0, *args.workers]:
        results[f"pipeline, {workers} workers"] = pipeline(args, workers)
        print(f"{workers} workers: {results[f'pipeline, {workers} workers']:.2f} clips/s", flush=True)
    slower = min(results["decode, 0 workers"], results["model alone"])
    lines = [
        f"{args.method} on {args.model}, {args.clips} clips of {SECONDS} s at {FPS} fps, {WIDTH} x {HEIGHT}; "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, {os.cpu_count()} cores, "
        f"load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        "",
        "| what | clips/s | time / slower of decoding and model |",
        "|---|---|---|",
        *(f"| {name} | {value:.2f} | {slower / value:.2f} x |" for name, value in results.items()),
    ]
    (args.out / "loader.md").write_text("\n".join(lines) + "\n")
    (args.out / "loader.json").write_text(json.dumps({"load": load, **results}, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
