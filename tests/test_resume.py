"""A run killed midway (SIGKILL, as a preempted cluster job) resumes: finished clips are skipped,
half-written files never count as results, the rest is computed."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers import ROOT
from videoattr import ASSETS

CLIPS = ("down-100_0", "up-100_0")  # explained in this (sorted) order


@pytest.fixture
def two_clips(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for clip in CLIPS:
        for suffix in (".mp4", ".npz"):
            shutil.copy(ASSETS / "synthetic" / "clips" / f"{clip}{suffix}", folder)
    return folder


def command(clips: Path, run_dir: Path) -> list[str]:
    return [
        sys.executable,
        "run.py",
        "method=step",
        "method.iterations=8",
        f"dataset.root={clips}",
        "metrics.groups=[localisation]",
        "trainer.enable_progress_bar=false",
        f"hydra.run.dir={run_dir}",
    ]


@pytest.mark.slow
def test_a_killed_run_resumes_where_it_stopped(two_clips, tmp_path):
    run_dir = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    first, second = (run_dir / "clips" / f"{clip}.npz" for clip in CLIPS)
    job = subprocess.Popen(
        command(two_clips, run_dir), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while not first.exists() and job.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        job.send_signal(signal.SIGKILL)
        job.wait()
    assert first.exists(), "the run never finished its first clip"
    assert not second.exists() and not (run_dir / "results.csv").exists(), "the run ended before the kill"
    finished = first.read_bytes()
    # What a kill during the second clip's write leaves: atomic_write's temporary file, half written.
    partial = run_dir / "clips" / f".{second.name}.k1ll3d.npz"
    partial.write_bytes(finished[: len(finished) // 2])

    rerun = subprocess.run(command(two_clips, run_dir), cwd=ROOT, env=env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    log = rerun.stdout + rerun.stderr
    assert f"skipping {CLIPS[0]}: results exist" in log
    assert f"skipping {CLIPS[1]}" not in log
    assert first.read_bytes() == finished  # not recomputed
    with np.load(second) as data:
        assert data["maps"].shape == (1, 16, 112, 112)
    results = pd.read_csv(run_dir / "results.csv")
    assert sorted(results["clip"]) == list(CLIPS)
    assert (results["method"] == "step").all() and (results["area"] == 0.1).all()


@pytest.mark.slow
def test_runs_started_together_get_their_own_directories(tmp_path):
    """Two runs started back to back (the same second) with the default run directory: both succeed,
    each in its own directory with its own complete results, neither skipping the other's clip."""
    overrides = ["method=grad", "dataset.limit=1", "metrics.groups=[]", "figures=false"]
    env = dict(os.environ, OMP_NUM_THREADS="1", VIDEOATTR_OFFLINE="1")
    runs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), *overrides, f"seed={seed}"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for seed in (0, 1)
    ]
    outputs = [run.communicate(timeout=600)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    run_dirs = sorted((tmp_path / "outputs" / "runs").iterdir())
    assert len(run_dirs) == 2, outputs
    for run_dir in run_dirs:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d-\d{6}_synthetic_grad", run_dir.name)
        results = pd.read_csv(run_dir / "results.csv")
        assert results["clip"].tolist() == ["down-100_0"]
        assert sorted(p.name for p in (run_dir / "clips").iterdir()) == ["down-100_0.npz"]
    seeds = sorted(int(pd.read_csv(d / "results.csv")["seed"][0]) for d in run_dirs)
    assert seeds == [0, 1]  # one directory per run, not one run's results twice
    assert not any("skipping" in output for output in outputs), outputs
