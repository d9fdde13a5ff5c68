"""Failures during a run: bad clips are recorded and skipped (or stop the run with fail_fast), a
non-finite perturbation energy stops that fit, and SIGINT / SIGTERM stop a run cleanly so that a
rerun resumes it."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from helpers import cli_command, cli_env, run_cli, write_video_file
from videoattr import cli
from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation import fit_masks
from videoattr.methods.perturbation.pyramid import fused_perturb, perturb

FLAKY_MODEL = '''
import torch
from torch import nn


class Flaky(nn.Module):
    """Logits scaled by sqrt(brightest value + 1.5): NaN for an all-black clip (-2 after normalisation)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        brightest = x.flatten(1).amax(dim=1, keepdim=True)
        return self.fc(x.mean(dim=(2, 3, 4))) * torch.sqrt(brightest + 1.5)
'''


def hidden_files(run_dir: Path) -> list[Path]:
    """Files a run left half written (atomic writes use hidden temporary names); Hydra's .hydra aside."""
    return [p for p in run_dir.rglob(".*") if p.name != ".hydra"]


# ---------------------------------------------------------------- non-finite energy, in process


class NaNLater(nn.Module):
    """Finite logits for the first ``finite`` forward passes, NaN afterwards; counts its passes."""

    def __init__(self, finite: int):
        super().__init__()
        self.fc, self.finite, self.calls = nn.Linear(3, 4), finite, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        logits = self.fc(x.mean(dim=(2, 3, 4)))
        return logits if self.calls <= self.finite else logits * float("nan")


def frozen(model: nn.Module) -> nn.Module:
    return model.eval().requires_grad_(False)


def test_nan_energy_stops_the_fit_at_that_iteration():
    clip = torch.randn(1, 3, 4, 24, 24, generator=torch.Generator().manual_seed(0))
    model = frozen(NaNLater(finite=3))
    with pytest.raises(VideoAttrError, match=r"energy became NaN or infinite at iteration 3: .*check the model"):
        fit_masks("3d_ep", model, clip, torch.tensor([2]), [0.1], iterations=50, sigma=11)
    assert model.calls == 4  # one forward pass per iteration, none after the NaN


def test_infinite_logits_stop_the_fit_at_once():
    clip = torch.randn(2, 3, 8, 24, 24, generator=torch.Generator().manual_seed(1))
    model = frozen(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 24 * 24, 4)))
    model[1].bias.fill_(float("inf"))
    with pytest.raises(VideoAttrError, match=r"NaN or infinite at iteration 0"):
        fit_masks("step", model, clip, torch.tensor([0, 1]), [0.1], iterations=5, sigma=11)


class Scaled(nn.Module):
    """Linear logits times ``scale``: NaN or infinite from the first forward pass for scale nan / inf."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.fc, self.scale = nn.Linear(3, 4), scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.mean(dim=(2, 3, 4))) * self.scale


class NanGradient(Scaled):
    """Finite logits whose gradient is NaN: 0 x sqrt(0) has the derivative 0 x inf."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x) + 0 * (x - x).sum().sqrt()


@pytest.mark.parametrize("compile", [True, False], ids=["compiled", "eager"])
@pytest.mark.parametrize(
    "model, iteration",
    [(NanGradient(), 1), (Scaled(float("nan")), 0), (Scaled(float("inf")), 0)],
    ids=["nan_gradient", "nan_logits", "inf_logits"],
)
def test_non_finite_masks_or_logits_stop_the_fit_without_a_bad_read(compile, model, iteration):
    """NaN masks (after a step along a NaN gradient) reach the pyramid read, compiled or not, without
    indexing out of range (a C++ abort before); the fit then stops with the one-line error."""
    clip = torch.randn(1, 3, 4, 24, 24, generator=torch.Generator().manual_seed(2))
    with pytest.raises(VideoAttrError, match=rf"energy became NaN or infinite at iteration {iteration}: "):
        fit_masks("3d_ep", frozen(model), clip, torch.tensor([1]), [0.1], iterations=4, sigma=11, compile=compile)


def test_the_pyramid_read_of_non_finite_masks_stays_in_range_and_non_finite():
    pyramid = torch.arange(2 * 8 * 3 * 2 * 4 * 4, dtype=torch.float32).reshape(2, 8, 3, 2, 4, 4)
    mask = torch.full((2, 2, 4, 4), 0.5)
    mask[0, 0, 0, :3] = torch.tensor([float("nan"), float("inf"), -float("inf")])
    for compile in (True, False):
        out = fused_perturb(pyramid, torch.tensor([1, 0]), mask, compile=compile)
        assert out.shape == (2, 3, 2, 4, 4)
        assert not out[0, :, 0, 0, :3].isfinite().any()
        finite = torch.ones_like(out, dtype=torch.bool)
        finite[0, :, 0, 0, :3] = False
        assert out[finite].isfinite().all()
        torch.testing.assert_close(out[1], perturb(pyramid, torch.tensor([0]), mask[1:])[0])


def test_lr_nan_on_the_command_line_is_refused_before_the_run(tmp_path):
    """The issue's command: ``python run.py method.lr=nan method.iterations=3 dataset.limit=1``; the
    schema refuses the learning rate before any clip (a NaN mask's path is tested above)."""
    run_dir = tmp_path / "run"
    overrides = ["method.lr=nan", "method.iterations=3", "dataset.limit=1", "figures=false", "metrics.groups=[]"]
    out = run_cli(
        *overrides, "trainer.enable_progress_bar=false", f"hydra.run.dir={run_dir}", cwd=tmp_path, check=False
    )
    assert out.returncode == 2, out.stderr[-3000:]
    assert out.stderr.strip() == "error: Invalid method.lr=nan: use a finite learning rate > 0 (the paper: 0.05)."
    assert not run_dir.exists()


# ---------------------------------------------------------------- bad clips in a run


@pytest.fixture(scope="module")
def flaky_dataset(tmp_path_factory):
    """Four clips: one good, one corrupt, one truncated, one that makes the model's scores NaN."""
    base = tmp_path_factory.mktemp("flaky")
    (base / "flaky.py").write_text(FLAKY_MODEL)
    (base / "classes.txt").write_text("up\ndown\nleft\nright\n")
    root = base / "clips"
    noise = np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    write_video_file(root / "up-bright.mp4", noise)
    write_video_file(root / "up-dark.mp4", np.zeros_like(noise))
    (root / "up-corrupt.mp4").write_bytes(b"\x00garbage" * 512)
    whole = write_video_file(base / "whole.mp4", noise).read_bytes()
    (root / "up-cut.mp4").write_bytes(whole[: len(whole) // 2])
    overrides = [
        "model=custom",
        "model.target=flaky.Flaky",
        f"model.classes={base / 'classes.txt'}",
        "model.num_frames=8",
        "model.resize=[32,32]",
        "model.crop=[32,32]",
        "model.mean=[0.5,0.5,0.5]",
        "model.std=[0.25,0.25,0.25]",
        "dataset=videos",
        f"dataset.root={root}",
        "method=3d_ep",
        "method.iterations=3",
        "method.sigma=11",
        "trainer.enable_progress_bar=false",
        "metrics.groups=[]",
        "figures=false",
    ]
    runs = {"default": [], "fail_fast": ["fail_fast=true"]}
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(
                run_cli,
                *overrides,
                *extra,
                f"hydra.run.dir={base / name}",
                cwd=base,
                env={"PYTHONPATH": str(base)},
                check=False,
            )
            for name, extra in runs.items()
        }
        return {name: (future.result(), base / name) for name, future in futures.items()}


@pytest.mark.slow
def test_bad_clips_are_recorded_and_the_run_goes_on(flaky_dataset):
    out, run_dir = flaky_dataset["default"]
    assert out.returncode == 0, out.stderr[-3000:]
    assert pd.read_csv(run_dir / "results.csv")["clip"].tolist() == ["up-bright"]
    table = pd.read_csv(run_dir / "errors.csv")
    errors = dict(zip(table["clip"], table["error"]))
    assert sorted(errors) == ["up-corrupt", "up-cut", "up-dark"]
    assert dict(zip(table["clip"], table["stage"])) == {"up-corrupt": "load", "up-cut": "load", "up-dark": "explain"}
    # decord's own reason (it printed it from C++) in the one line
    assert re.fullmatch(
        r".*up-corrupt\.mp4 could not be decoded \(.+\): re-encode it or remove it from the folder\.",
        errors["up-corrupt"],
    )
    assert re.fullmatch(
        r".*up-cut\.mp4 could not be decoded \(.+\): re-encode it or remove it from the folder\.", errors["up-cut"]
    )
    assert errors["up-dark"].startswith("The perturbation energy became NaN or infinite at iteration 0:")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["clips_done"], summary["clips_failed"]) == (1, 3)
    assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["up-bright.npz"]
    assert hidden_files(run_dir) == []


@pytest.mark.slow
def test_fail_fast_stops_at_the_first_bad_clip(flaky_dataset):
    out, run_dir = flaky_dataset["fail_fast"]
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        r"error: .*up-corrupt\.mp4 could not be decoded \(.+\): re-encode it or remove it from the folder\.", last
    ), last
    # the clip finished before the bad one is complete; no table was written
    assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["up-bright.npz"]
    with np.load(run_dir / "clips" / "up-bright.npz") as data:
        assert data["maps"].shape == (1, 8, 32, 32)
    assert not any((run_dir / name).exists() for name in ("results.csv", "errors.csv", "summary.json"))
    assert hidden_files(run_dir) == []


# ---------------------------------------------------------------- labels outside the class list

UNKNOWN_LABEL = (
    "Clip {file} has label '{label}', which is not in the class list ({hint}): rename the clip "
    "'<class>-<anything>', give its label in dataset.label_file or explain it with target=predicted."
)


@pytest.fixture(scope="module")
def unknown_labels(tmp_path_factory):
    """Three videos for the synthetic model (classes up, down, left, right): ``jumping-b`` and ``rigth-c``
    have labels outside the class list, ``up-a`` is fine; run with target=label, fail_fast, target=predicted,
    and on a folder of only the two bad clips."""
    base = tmp_path_factory.mktemp("labels")
    noise = np.random.default_rng(3).integers(0, 256, (16, 32, 32, 3), dtype=np.uint8)
    for name in ("up-a", "jumping-b", "rigth-c"):
        write_video_file(base / "clips" / f"{name}.mp4", noise)
        if name != "up-a":
            write_video_file(base / "bad" / f"{name}.mp4", noise)
    common = ["dataset=videos", "method=grad", "metrics.groups=[]", "figures=false"]
    runs = {
        "label": [f"dataset.root={base / 'clips'}"],
        "fail_fast": [f"dataset.root={base / 'clips'}", "fail_fast=true"],
        "predicted": [f"dataset.root={base / 'clips'}", "target=predicted"],
        "all_bad": [f"dataset.root={base / 'bad'}"],
    }
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(run_cli, *common, *extra, f"hydra.run.dir={base / name}", cwd=base, check=False)
            for name, extra in runs.items()
        }
        return {name: (future.result(), base / name) for name, future in futures.items()}


@pytest.mark.slow
def test_a_label_outside_the_class_list_fails_its_clip_only(unknown_labels):
    out, run_dir = unknown_labels["label"]
    assert out.returncode == 0, out.stderr[-3000:]
    assert pd.read_csv(run_dir / "results.csv")["clip"].tolist() == ["up-a"]
    table = pd.read_csv(run_dir / "errors.csv")
    assert set(table["stage"]) == {"label"}
    errors = dict(zip(table["clip"], table["error"]))
    assert errors == {
        "jumping-b": UNKNOWN_LABEL.format(file="jumping-b.mp4", label="jumping", hint="no class name is close"),
        "rigth-c": UNKNOWN_LABEL.format(file="rigth-c.mp4", label="rigth", hint="close class names are 'right'"),
    }
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["clips_done"], summary["clips_failed"]) == (1, 2)
    assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["up-a.npz"]


@pytest.mark.slow
def test_fail_fast_stops_at_the_first_label_outside_the_class_list(unknown_labels):
    out, run_dir = unknown_labels["fail_fast"]
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "error: " + UNKNOWN_LABEL.format(
        file="jumping-b.mp4", label="jumping", hint="no class name is close"
    )
    assert not run_dir.exists()  # the first clip in name order failed: nothing was done


@pytest.mark.slow
def test_another_target_explains_clips_whose_label_is_outside_the_class_list(unknown_labels):
    out, run_dir = unknown_labels["predicted"]
    assert out.returncode == 0, out.stderr[-3000:]
    results = pd.read_csv(run_dir / "results.csv", keep_default_na=False)
    assert sorted(zip(results["clip"], results["label"])) == [
        ("jumping-b", "jumping"),
        ("rigth-c", "rigth"),
        ("up-a", "up"),
    ]
    assert (results["target"] == results["predicted"]).all() and not (run_dir / "errors.csv").exists()
    assert "clip rigth-c: label 'rigth' is not in the class list; explaining target=predicted" in out.stdout


@pytest.mark.slow
def test_a_run_whose_every_label_is_outside_the_class_list_exits_2_with_the_first(unknown_labels):
    out, run_dir = unknown_labels["all_bad"]
    assert out.returncode == 2
    first = UNKNOWN_LABEL.format(file="jumping-b.mp4", label="jumping", hint="no class name is close")
    assert out.stderr.strip().splitlines()[-1] == f"error: All 2 clips failed, the first (jumping-b) with: {first}"
    assert "Traceback" not in out.stderr and not run_dir.exists()


# ---------------------------------------------------------------- interrupts


def test_an_interrupt_lost_in_a_finalizer_is_raised_again(monkeypatch):
    """Python drops exceptions raised in ``__del__`` / weakref callbacks; a KeyboardInterrupt must survive."""

    class Finalized:
        def __del__(self):
            raise KeyboardInterrupt

    monkeypatch.setattr(cli, "_received", [(signal.SIGINT, "Interrupted by SIGINT")])
    monkeypatch.setattr(sys, "unraisablehook", cli._keep_interrupts)
    alarm = signal.getsignal(signal.SIGALRM)
    try:
        with pytest.raises(KeyboardInterrupt):
            Finalized()  # dropped at once: its __del__ raises where nobody can catch it
            time.sleep(2)
    finally:
        signal.signal(signal.SIGALRM, alarm)


STALL_MODEL = """
import os
import time
from pathlib import Path

import torch
from torch import nn


class Stall(nn.Module):
    \"\"\"A linear classifier that, once the file STALL_AFTER exists (the first clip's results), stalls at
    its next forward pass (STALL_WHEN=between_fits: the next clip's prediction, outside any fit) or its
    next pass with autograd on (STALL_WHEN=in_fit: the next fit's first iteration): it writes STALL_MARK
    ('grad' or 'no_grad', the autograd mode of that pass) and waits a minute, for the test's signal.\"\"\"

    def __init__(self):
        super().__init__()
        self.fc, self.stalled = nn.Linear(3, 4), False

    def forward(self, x):
        after, when = os.environ.get("STALL_AFTER"), os.environ.get("STALL_WHEN")
        if after and not self.stalled and Path(after).exists() and (when == "between_fits" or torch.is_grad_enabled()):
            self.stalled = True
            mark = Path(os.environ["STALL_MARK"])
            mark.with_suffix(".tmp").write_text("grad" if torch.is_grad_enabled() else "no_grad")
            mark.with_suffix(".tmp").replace(mark)
            time.sleep(60)
        return self.fc(x.mean(dim=(2, 3, 4)))
"""

# Where each case stops the run and the autograd mode the model sees there.
STALLS = {"between_fits": "no_grad", "in_fit": "grad"}
INTERRUPTS = [("in_fit", signal.SIGINT), ("between_fits", signal.SIGTERM)]
INTERRUPT_IDS = [f"{when}-{signum.name}" for when, signum in INTERRUPTS]


def stall_overrides(base: Path, run_dir: Path) -> list[str]:
    return [
        "model=custom",
        "model.target=stall.Stall",
        f"model.classes={base / 'classes.txt'}",
        "model.num_frames=8",
        "model.resize=[32,32]",
        "model.crop=[32,32]",
        "method=3d_ep",
        "method.iterations=3",
        "method.sigma=11",
        "method.compile=false",
        "dataset.limit=2",
        "dataset.batch_size=1",
        "metrics.groups=[]",
        "figures=false",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]


def interrupt_run(signum: int, when: str, base: Path) -> dict:
    """Start a 2-clip run, wait until its model stalls at ``when`` (the mark file it writes), send
    ``signum`` and return the exit status, the output, the stall mark and the run directory."""
    run_dir, mark = base / f"{when}_{signum.name}", base / f"{when}_{signum.name}.mark"
    log = base / f"{when}_{signum.name}.log"
    first = run_dir / "clips" / "down-100_0.npz"
    env = {"PYTHONPATH": str(base), "STALL_AFTER": str(first), "STALL_WHEN": when, "STALL_MARK": str(mark)}
    with log.open("w") as sink:
        process = subprocess.Popen(
            cli_command(stall_overrides(base, run_dir)),
            cwd=base,
            env=cli_env(**env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not mark.exists():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the run did not reach its stall in 300 s"
            time.sleep(0.05)
        process.send_signal(signum)
        status = process.wait(timeout=120)
    maps_shape = None
    if first.exists():
        with np.load(first) as data:
            maps_shape = data["maps"].shape
    return {
        "status": status,
        "output": log.read_text(),
        "mark": mark.read_text(),
        "run_dir": run_dir,
        # what the run left (before any rerun): files, and the first clip's time of writing
        "files": sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if ".hydra" not in p.parts),
        "first_written": first.stat().st_mtime_ns if first.exists() else None,
        "maps_shape": maps_shape,
    }


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """SIGINT sent inside the second clip's fit and SIGTERM between the two fits (both signals take the
    same path; each place gets one); then both runs are run again (no stall)."""
    base = tmp_path_factory.mktemp("interrupts")
    (base / "stall.py").write_text(STALL_MODEL)
    (base / "classes.txt").write_text("up\ndown\nleft\nright\n")
    with ThreadPoolExecutor(2) as pool:
        runs = dict(zip(INTERRUPTS, pool.map(lambda case: interrupt_run(case[1], case[0], base), INTERRUPTS)))
        reruns = pool.map(
            lambda case: run_cli(
                *stall_overrides(base, runs[case]["run_dir"]), cwd=base, env={"PYTHONPATH": str(base)}, check=False
            ),
            INTERRUPTS,
        )
        for case, rerun in zip(INTERRUPTS, reruns):
            runs[case]["rerun"] = rerun
    return runs


@pytest.mark.slow
@pytest.mark.parametrize("when, signum", INTERRUPTS, ids=INTERRUPT_IDS)
def test_a_signal_stops_the_run_cleanly(interrupted, when, signum):
    """Wherever the signal lands (in Lightning's fit or in our loop between fits): status 128 + signal,
    our resume line last, the first clip complete and nothing half written."""
    run = interrupted[(when, signum)]
    output, run_dir = run["output"], run["run_dir"]
    assert run["mark"] == STALLS[when]  # the signal reached the run where this case meant it to
    assert run["status"] == 128 + signum, output[-3000:]
    assert output.strip().splitlines()[-1] == (
        f"error: Interrupted by {signum.name}: the clips finished so far are saved in {run_dir}; "
        f"rerun the same command with hydra.run.dir={run_dir} to resume."
    ), output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    # only the first clip, complete; no tables, no half-written (hidden temporary) files
    assert run["files"] == ["clips", "clips/down-100_0.npz", "run.log"]
    assert run["maps_shape"] == (1, 8, 32, 32)


@pytest.mark.slow
@pytest.mark.parametrize("case", INTERRUPTS, ids=INTERRUPT_IDS)
def test_a_rerun_resumes_an_interrupted_run(interrupted, case):
    run = interrupted[case]
    rerun, run_dir = run["rerun"], run["run_dir"]
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "skipping down-100_0" in rerun.stdout + rerun.stderr
    assert (run_dir / "clips" / "down-100_0.npz").stat().st_mtime_ns == run["first_written"]
    results = pd.read_csv(run_dir / "results.csv")
    assert sorted(results["clip"]) == ["down-100_0", "down-100_1"]
    assert hidden_files(run_dir) == []
