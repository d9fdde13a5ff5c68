"""Failures during a run: bad clips are recorded and skipped (or stop the run with fail_fast), a
non-finite perturbation energy stops that fit, and SIGINT / SIGTERM stop a run cleanly so that a
rerun resumes it."""

from __future__ import annotations

import json
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
from test_errors import cli_command, cli_env, run_cli
from torch import nn

from conftest import write_video_file
from videoattr import cli
from videoattr.errors import VideoAttrError
from videoattr.methods.perturbation import fit_masks

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
    with pytest.raises(
        VideoAttrError, match=r"energy became NaN or infinite at iteration 3: .*check the model"
    ):
        fit_masks("3d_ep", model, clip, torch.tensor([2]), [0.1], iterations=50, sigma=11)
    assert model.calls == 4  # one forward pass per iteration, none after the NaN


def test_infinite_logits_stop_the_fit_at_once():
    clip = torch.randn(2, 3, 8, 24, 24, generator=torch.Generator().manual_seed(1))
    model = frozen(nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 24 * 24, 4)))
    model[1].bias.fill_(float("inf"))
    with pytest.raises(VideoAttrError, match=r"NaN or infinite at iteration 0"):
        fit_masks("step", model, clip, torch.tensor([0, 1]), [0.1], iterations=5, sigma=11)


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
                [*overrides, *extra, f"hydra.run.dir={base / name}"],
                base,
                env={"PYTHONPATH": str(base)},
            )
            for name, extra in runs.items()
        }
        return {name: (future.result(), base / name) for name, future in futures.items()}


@pytest.mark.slow
def test_bad_clips_are_recorded_and_the_run_goes_on(flaky_dataset):
    out, run_dir = flaky_dataset["default"]
    assert out.returncode == 0, out.stderr[-3000:]
    assert pd.read_csv(run_dir / "results.csv")["clip"].tolist() == ["up-bright"]
    errors = dict(pd.read_csv(run_dir / "errors.csv").itertuples(index=False))
    assert sorted(errors) == ["up-corrupt", "up-cut", "up-dark"]
    assert errors["up-corrupt"].endswith(
        "up-corrupt.mp4 could not be decoded: re-encode it or remove it from the folder."
    )
    assert errors["up-cut"].endswith(
        "up-cut.mp4 could not be decoded: re-encode it or remove it from the folder."
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
    assert last.startswith("error: ") and last.endswith(
        "up-corrupt.mp4 could not be decoded: re-encode it or remove it from the folder."
    ), last
    # the clip finished before the bad one is complete; no table was written
    assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["up-bright.npz"]
    with np.load(run_dir / "clips" / "up-bright.npz") as data:
        assert data["maps"].shape == (1, 8, 32, 32)
    assert not any((run_dir / name).exists() for name in ("results.csv", "errors.csv", "summary.json"))
    assert hidden_files(run_dir) == []


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


def interrupt_during_fit(signum: int, run_dir: Path, cwd: Path) -> tuple[int, str, list[str]]:
    """Start a 2-clip 3D-EP run, send ``signum`` once the first clip is saved (the second clip's fit is
    then running) and return the exit status, the output and the overrides (to rerun)."""
    overrides = [
        "method=3d_ep",
        "method.iterations=20",
        "dataset.limit=2",
        "dataset.batch_size=1",
        "metrics.groups=[]",
        "figures=false",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]
    log = cwd / f"{signal.Signals(signum).name}.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            cli_command(overrides), cwd=cwd, env=cli_env(), stdout=sink, stderr=subprocess.STDOUT, text=True
        )
        first = run_dir / "clips" / "down-100_0.npz"
        deadline = time.monotonic() + 300
        while not first.exists():
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the first clip took too long"
            time.sleep(0.2)
        time.sleep(2.0)
        process.send_signal(signum)
        status = process.wait(timeout=120)
    return status, log.read_text(), overrides


@pytest.mark.slow
def test_sigint_and_sigterm_stop_cleanly_and_a_rerun_resumes(tmp_path):
    signals = (signal.SIGINT, signal.SIGTERM)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda s: interrupt_during_fit(s, tmp_path / s.name, tmp_path), signals))
    for signum, (status, output, _) in zip(signals, runs):
        run_dir = tmp_path / signum.name
        assert status == 128 + signum, output[-3000:]
        # Lightning caught the interrupt inside the second clip's fit, and the run stopped there
        assert "Detected KeyboardInterrupt" in output, output[-3000:]
        assert output.strip().splitlines()[-1] == (
            f"error: Interrupted by {signum.name}: the clips finished so far are saved in {run_dir}; "
            f"rerun the same command with hydra.run.dir={run_dir} to resume."
        )
        assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["down-100_0.npz"]
        assert not (run_dir / "results.csv").exists() and hidden_files(run_dir) == []

    overrides = runs[1][2]
    first = tmp_path / "SIGTERM" / "clips" / "down-100_0.npz"
    written = first.stat().st_mtime_ns
    rerun = run_cli(overrides, tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "skipping down-100_0" in rerun.stdout + rerun.stderr
    assert first.stat().st_mtime_ns == written
    results = pd.read_csv(tmp_path / "SIGTERM" / "results.csv")
    assert sorted(results["clip"]) == ["down-100_0", "down-100_1"]
