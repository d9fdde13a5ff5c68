"""Speed of the perturbation fit: seconds per iteration against the classifier's bare forward + backward.

One process, one run: the floor (forward + backward of the classifier on the same batch), our
Lightning fit and the literal baseline of docs/REFERENCE.md (``videoattr.methods.perturbation.reference``) are
measured interleaved, ``--repeats`` times, and summarised by their medians; then the split of our
iteration (mask generation, pyramid read, regularisers, optimiser, the rest: Lightning loop and
logging), a whole clip at the default iterations (extrapolated from the per-iteration time unless
``--full``), six areas in one fit against six fits, and, with ``--early-stop-tol`` (one or more
tolerances), the iterations early stopping saves and how close its result is to the full fit's.
The clips come from the synthetic world (``--clip random``: noise); ``--no-compile`` times the
plain-PyTorch path instead of the fused kernels. Prints a table and writes JSON.

    OMP_NUM_THREADS=2 python -m benchmarks.bench_speed --method step --json outputs/bench_speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf

import videoattr  # noqa: F401  (registers the ${asset:} resolver the model configs use)
from benchmarks.reference import reference_fit
from videoattr.methods.perturbation import fit_masks
from videoattr.methods.perturbation.losses import area_loss, core_loss
from videoattr.methods.perturbation.module import PerturbationFit
from videoattr.methods.perturbation.options import DEFAULTS, check_areas, resolve_options
from videoattr.methods.perturbation.pyramid import blur_pyramid, fused_perturb
from videoattr.models import load_model
from videoattr.synthetic.generator import SyntheticClips, World

CONF = Path(__file__).resolve().parents[1] / "conf" / "model"
SIX_AREAS = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2]


class IterationTimer(pl.Callback):
    """Wall seconds of every training step (forward, backward, optimiser step and the module's hooks)."""

    def __init__(self, device: torch.device):
        self.device, self.seconds, self.start = device, [], 0.0

    def on_train_batch_start(self, *args) -> None:
        synchronize(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, *args) -> None:
        synchronize(self.device)
        self.seconds.append(time.perf_counter() - self.start)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def floor_step(model: torch.nn.Module, clips: torch.Tensor, target: torch.Tensor) -> None:
    """The bare forward + backward of the classifier with respect to its input."""
    x = clips.detach().requires_grad_(True)
    torch.nn.functional.cross_entropy(model(x), target).backward()


def fit(args, model, clips, target, areas, iterations, **extra) -> tuple[list[float], float]:
    """Our fit: the seconds of each iteration and the wall seconds of the whole call."""
    timer = IterationTimer(clips.device)
    start = time.perf_counter()
    fit_masks(
        args.method,
        model,
        clips,
        target,
        areas,
        callbacks=[timer],
        iterations=iterations,
        **args.options,
        **extra,
    )
    synchronize(clips.device)
    return timer.seconds, time.perf_counter() - start


def split(args, model, clips, target, areas, repeats: int) -> dict[str, float]:
    """Median seconds of each part of one iteration, each run alone on the fit's own tensors."""
    opts = resolve_options(args.method, {"iterations": 2, **args.options})
    module = PerturbationFit(model, clips, target, areas, opts).to(clips.device)
    module.pyramid = blur_pyramid(clips, opts.levels, opts.max_blur)
    pairs = torch.arange(module.masks.shape[0], device=clips.device)
    optimizer = module.configure_optimizers()["optimizer"]
    padded = module.padded_masks(pairs).detach().requires_grad_(True)
    mask = module.generator.crop(padded).detach().requires_grad_(True)

    def generate():
        module.padded_masks(pairs).sum().backward()

    def read_pyramid():
        fused_perturb(module.pyramid, module.pair_clip[pairs], mask, compile=opts.compile).sum().backward()

    def regularise():
        loss = area_loss(padded, module.zeros[pairs], opts.per_frame)
        if opts.core_weight:
            order = torch.randperm(module.core_positions, device=clips.device)
            loss = loss + core_loss(padded, module.core_kernel, opts.core_stride, module.core_counts[pairs], order)
        loss.sum().backward()

    def optimise():
        optimizer.step()
        with torch.no_grad():
            module.masks.clamp_(0, 1)

    parts = {
        "mask generation": generate,
        "pyramid read": read_pyramid,
        "regularisers": regularise,
        "optimiser": optimise,
    }
    module.masks.grad = torch.zeros_like(module.masks)
    for part in parts.values():  # warm-up: the fused kernels compile on their first call
        part()
    samples = {name: [] for name in parts}
    for _ in range(repeats):
        for name, part in parts.items():
            samples[name].append(timed(part, clips.device))
    result = {name: statistics.median(s) for name, s in samples.items()}
    result["pyramid build (once per fit)"] = statistics.median(
        timed(lambda: blur_pyramid(clips, opts.levels, opts.max_blur), clips.device) for _ in range(3)
    )
    return result


def early_stopping(args, model, clips, target) -> dict:
    """A fit of --early-stop-iterations against the same fit with early stopping at each tolerance:
    iterations run and the fit's results (target probability of the preserved and of the deleted
    clip, and how far the final masks are apart)."""
    full = fit_masks(
        args.method, model, clips, target, [args.area], iterations=args.early_stop_iterations, **args.fit_options
    )
    report = {
        "patience": args.early_stop_patience,
        "iterations_full": int(full.extras["iterations"][0, 0]),
        "prob_preserved_full": float(full.extras["prob_preserved"][0, 0]),
        "prob_deleted_full": float(full.extras["prob_deleted"][0, 0]),
    }
    for tol in args.early_stop_tol:
        early = fit_masks(
            args.method,
            model,
            clips,
            target,
            [args.area],
            iterations=args.early_stop_iterations,
            early_stop_tol=tol,
            early_stop_patience=args.early_stop_patience,
            **args.fit_options,
        )
        report[f"tol {tol:g}"] = {
            "iterations": int(early.extras["iterations"][0, 0]),
            "prob_preserved": float(early.extras["prob_preserved"][0, 0]),
            "prob_deleted": float(early.extras["prob_deleted"][0, 0]),
            "mask_max_abs_diff": float((full.maps - early.maps).abs().max()),
            "mask_mean_abs_diff": float((full.maps - early.maps).abs().mean()),
        }
    return report


def benchmark_clips(args, device: torch.device) -> torch.Tensor:
    """--batch clips of --frames x --size^2: the synthetic world's (what its model was trained on;
    the early-stopping comparison needs a clip the model recognises) or Gaussian noise."""
    if args.clip == "random":
        return torch.randn(args.batch, 3, args.frames, args.size, args.size, device=device)
    present = {k: min(getattr(World, k), args.frames) for k in ("min_present", "max_present")}
    world = World(num_frames=args.frames, size=args.size, **present)
    return torch.stack([SyntheticClips(args.batch, seed=0, world=world)[i]["clip"] for i in range(args.batch)]).to(
        device
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="synthetic", help="a conf/model/<name>.yaml (synthetic, r2plus1d, r3d, ...)")
    parser.add_argument("--random-weights", action="store_true", help="random init instead of the config's weights")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=1, help="clips per fit (one area each)")
    parser.add_argument("--method", default="step", choices=sorted(DEFAULTS))
    parser.add_argument("--area", type=float, default=0.1)
    parser.add_argument("--iterations", type=int, default=6, help="timed iterations of our fit per repeat")
    parser.add_argument(
        "--baseline-iterations", type=int, default=2, help="timed iterations of the baseline per repeat"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="measure whole clips at the default iterations")
    parser.add_argument(
        "--clip", default="synthetic", choices=["synthetic", "random"], help="synthetic-world clips or noise"
    )
    parser.add_argument(
        "--no-compile",
        action="store_true",
        help="mask generator and pyramid read in plain PyTorch (method option compile=false)",
    )
    parser.add_argument(
        "--early-stop-tol", type=float, nargs="+", default=None, help="compare early stopping at these tolerances"
    )
    parser.add_argument("--early-stop-patience", type=int, default=20)
    parser.add_argument(
        "--early-stop-iterations", type=int, default=None, help="iterations of those fits (default: the method's)"
    )
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--json", default="outputs/bench_speed.json")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    cfg = OmegaConf.load(CONF / f"{args.model}.yaml")
    if args.random_weights:
        cfg.weights, cfg.checkpoint = "none", None
    model = load_model(cfg)[0].to(device)
    clips = benchmark_clips(args, device)
    with torch.no_grad():
        target = model(clips).argmax(dim=1)
    areas = check_areas(args.area)
    # Every timed STEP iteration carries the core loss, as 1900 of the paper's 2000 do.
    # The early-stopping comparison runs the method as configured (STEP's core from iteration 100).
    args.fit_options = {"compile": False} if args.no_compile else {}
    args.options = {**args.fit_options, "core_start": 0} if args.method == "step" else args.fit_options
    default_iterations = DEFAULTS[args.method].iterations
    six = check_areas(SIX_AREAS)

    samples: dict[str, list[float]] = {
        "floor": [],
        "ours": [],
        "baseline": [],
        "six areas": [],
        "floor six": [],
    }
    walls: dict[str, list[float]] = {"ours": [], "six areas": []}
    six_clips, six_target = clips.repeat_interleave(6, 0), target.repeat_interleave(6)
    for _ in range(args.repeats):
        samples["floor"] += [timed(lambda: floor_step(model, clips, target), device) for _ in range(3)]
        # The first iteration of each fit warms up: timed in the setup, not in the iteration samples.
        seconds, wall = fit(args, model, clips, target, areas, args.iterations + 1)
        samples["ours"] += seconds[1:]
        walls["ours"].append(wall - sum(seconds[1:]))
        baseline = timed(
            lambda: [
                reference_fit(
                    args.method,
                    model,
                    clip,
                    int(t),
                    args.area,
                    iterations=args.baseline_iterations,
                    **args.options,
                )
                for clip, t in zip(clips, target)
            ],
            device,
        )
        samples["baseline"].append(baseline / args.baseline_iterations)
        seconds, wall = fit(args, model, clips, target, six, args.iterations + 1)
        samples["six areas"] += seconds[1:]
        walls["six areas"].append(wall - sum(seconds[1:]))
        samples["floor six"] += [timed(lambda: floor_step(model, six_clips, six_target), device) for _ in range(3)]

    med = {k: statistics.median(v) for k, v in samples.items()}
    setup = {k: statistics.median(v) for k, v in walls.items()}
    parts = split(args, model, clips, target, areas, args.repeats)
    rest = med["ours"] - med["floor"] - sum(v for k, v in parts.items() if "once" not in k)

    if args.full:
        one = fit(args, model, clips, target, areas, default_iterations)[1]
        separate = sum(fit(args, model, clips, target, [a], default_iterations)[1] for a in six)
        batched = fit(args, model, clips, target, six, default_iterations)[1]
        how = "measured"
    else:
        one = setup["ours"] + default_iterations * med["ours"]
        separate = 6 * one
        batched = setup["six areas"] + default_iterations * med["six areas"]
        how = f"extrapolated: setup + {default_iterations} x median iteration"

    report = {
        "command": "OMP_NUM_THREADS={} python -m benchmarks.bench_speed {}".format(
            torch.get_num_threads(), " ".join(__import__("sys").argv[1:])
        ),
        "model": args.model,
        "clip": [args.batch, 3, args.frames, args.size, args.size],
        "method": args.method,
        "device": str(device),
        "threads": torch.get_num_threads(),
        "seconds_per_iteration": {
            "floor (forward + backward)": med["floor"],
            "ours": med["ours"],
            "baseline (reference.py)": med["baseline"],
        },
        "ratio_ours_to_floor": med["ours"] / med["floor"],
        "speedup_over_baseline": med["baseline"] / med["ours"],
        "split_of_ours": {**parts, "Lightning loop + logging (rest)": rest},
        "whole_clip_seconds": {
            "how": how,
            "ours": one,
            "baseline": setup["ours"] + default_iterations * med["baseline"],
        },
        "six_areas": {
            "how": how,
            "batched_seconds": batched,
            "six_fits_seconds": separate,
            "ratio": batched / separate,
            "iteration_batched": med["six areas"],
            "floor_batch_of_six": med["floor six"],
        },
    }
    if args.early_stop_tol is not None:
        args.early_stop_iterations = args.early_stop_iterations or default_iterations
        report["early_stopping"] = early_stopping(args, model, clips, target)
    print_table(report)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.json}")


def print_table(report: dict) -> None:
    ms = lambda s: f"{1000 * s:9.1f} ms"
    print(f"\n{report['command']}")
    print(
        f"{report['method']} on {report['model']} {report['clip']} ({report['device']}, {report['threads']} threads)\n"
    )
    rows = [(k, ms(v)) for k, v in report["seconds_per_iteration"].items()]
    rows += [
        ("ours / floor", f"{report['ratio_ours_to_floor']:9.2f} x"),
        ("baseline / ours", f"{report['speedup_over_baseline']:9.2f} x"),
    ]
    rows += [(f"  {k}", ms(v)) for k, v in report["split_of_ours"].items()]
    whole = report["whole_clip_seconds"]
    rows += [(f"whole clip, ours ({whole['how']})", f"{whole['ours']:9.1f} s")]
    rows += [(f"whole clip, baseline ({whole['how']})", f"{whole['baseline']:9.1f} s")]
    six = report["six_areas"]
    rows += [
        ("six areas, one fit", f"{six['batched_seconds']:9.1f} s"),
        ("six areas, six fits", f"{six['six_fits_seconds']:9.1f} s"),
        ("one fit / six fits", f"{six['ratio']:9.2f} x"),
    ]
    for k, v in report.get("early_stopping", {}).items():
        if isinstance(v, dict):
            rows += [(f"early stop {k}: {name}", f"{value:9.4g}") for name, value in v.items()]
        else:
            rows.append((f"early stop: {k}", f"{v:9.4g}"))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v}")


if __name__ == "__main__":
    main()
