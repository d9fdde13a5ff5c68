"""Real multiruns of run.py: Hydra's basic launcher over a product of choices and submitit_local,
each job in a directory named by its choices, and the automatic sweep summary."""

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml
from PIL import Image

from helpers import run_cli
from videoattr import ASSETS

CLIP = "up-100_0"


@pytest.fixture(scope="module")
def one_clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    for suffix in (".mp4", ".npz"):
        shutil.copy(ASSETS / "synthetic" / "clips" / f"{CLIP}{suffix}", folder)
    return folder


def multirun(sweep_dir: Path, *overrides: str) -> subprocess.CompletedProcess:
    return run_cli(
        "-m",
        *overrides,
        "metrics.groups=[localisation]",
        "trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={sweep_dir}",
    )


def job_results(sweep_dir: Path) -> dict[str, pd.DataFrame]:
    """results.csv of every job, keyed by the job's directory relative to the sweep."""
    return {str(p.parent.relative_to(sweep_dir)): pd.read_csv(p) for p in sweep_dir.rglob("results.csv")}


@pytest.mark.slow
def test_a_product_sweep_names_each_job_by_its_choices_and_is_summarised(one_clip, tmp_path):
    sweep = tmp_path / "sweep"
    out = multirun(sweep, "method=step,3d_ep", "area=0.05,0.1", "method.iterations=3", f"dataset.root={one_clip}")
    jobs = job_results(sweep)
    expected = {
        f"synthetic/{m}/area={a},method.iterations=3,metrics.groups=[localisation]": (m, a)
        for m in ("step", "3d_ep")
        for a in (0.05, 0.1)
    }
    assert set(jobs) == set(expected)
    for job, (method, area) in expected.items():
        assert jobs[job][["clip", "method", "area"]].values.tolist() == [[CLIP, method, area]]

    assert f"Sweep summary: {sweep / 'summary.csv'}" in out.stdout
    summary = pd.read_csv(sweep / "summary.csv")
    assert len(summary) == 4 and (summary["clips"] == 1).all()
    for job, (method, area) in expected.items():
        row = summary[(summary.method == method) & (summary.area == area)].iloc[0]
        for column in ("pointing_game", "energy_in_mask", "prob_preserved", "seconds"):
            assert row[column] == pytest.approx(jobs[job][column].iloc[0])
    assert len(pd.read_csv(sweep / "all_results.csv")) == 4
    for plot in ("plot_pointing_game.png", "plot_energy_in_mask.png", "plot_seconds.png"):
        with Image.open(sweep / plot) as image:
            assert image.format == "PNG" and image.width > 100


@pytest.mark.slow
def test_submitit_local_runs_each_job_in_its_own_process(one_clip, tmp_path):
    sweep = tmp_path / "sweep"
    multirun(sweep, "hydra/launcher=local", "method=grad,grad_x_input", f"dataset.root={one_clip}")
    jobs = job_results(sweep)
    assert set(jobs) == {f"synthetic/{m}/metrics.groups=[localisation]" for m in ("grad", "grad_x_input")}
    for job, results in jobs.items():
        assert results[["clip", "method"]].values.tolist() == [[CLIP, job.split("/")[1]]]
        assert (sweep / job / "clips" / f"{CLIP}.npz").is_file()
        assert (sweep / job / "figures" / f"{CLIP}.gif").is_file()
    # submitit ran two jobs, each with its own logs and pickled result.
    assert len(list((sweep / ".submitit").glob("*/*_result.pkl"))) == 2
    assert sorted(pd.read_csv(sweep / "summary.csv")["method"]) == ["grad", "grad_x_input"]


@pytest.mark.parametrize("preset, gpus, tasks", [("slurm_gpu", 1, 1), ("slurm_ddp", 4, 4)])
def test_slurm_presets_compose_to_submitit_slurm_with_their_resources(preset, gpus, tasks):
    out = run_cli(
        f"hydra/launcher={preset}", "hydra.launcher.partition=gpu", "--cfg", "hydra", "--package", "hydra.launcher"
    )
    launcher = yaml.safe_load(out.stdout)
    assert launcher["_target_"].endswith("submitit_launcher.SlurmLauncher")
    assert (launcher["partition"], launcher["gpus_per_node"], launcher["tasks_per_node"]) == (
        "gpu",
        gpus,
        tasks,
    )
    assert launcher["max_num_timeout"] > 0 and launcher["mem_gb"] > 0 and launcher["timeout_min"] > 0
