"""End-to-end runs of ``python run.py`` on real video files, read back from disk."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from helpers import ROOT
from helpers import run_cli as run

BACKPROP = ["grad", "grad_x_input", "integrated_grad", "smooth_grad", "grad_cam", "random", "centre"]
FAST = ["metrics.groups=[localisation,smoothness]", "dataset.limit=1"]


def job_dir(prefix: Path) -> Path:
    """The one job directory of a sweep under ``prefix`` (<sweep>/<model>/<method>/<overrides>)."""
    (results,) = prefix.rglob("results.csv")
    return results.parent


def read_npz(path: Path) -> dict:
    with np.load(path) as data:
        return {key: data[key] for key in data.files}


def test_help_lists_every_group_with_its_choices_and_the_top_level_keys():
    out = run("--help").stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("  ") and line.split()}
    for group in (ROOT / "conf").iterdir():
        if group.is_dir() and group.name != "hydra":
            choices = lines[group.name].split(maxsplit=1)[1].split(", ")
            assert sorted(c.rstrip("*") for c in choices) == sorted(f.stem for f in group.glob("*.yaml"))
    assert "synthetic*" in lines["model"] and "step*" in lines["method"] and "none*" in lines["logger"]
    assert lines["area=0.1"].split(maxsplit=1)[1].startswith("Perturbation area(s)")
    assert {"target=label", "seed=0", "overwrite=false", "fail_fast=false", "objective=null"} <= set(lines)


def test_cfg_job_prints_the_composed_config():
    out = run("model=r3d", "method=grad_cam", "area=[0.05,0.1]", "--cfg", "job")
    assert "name: r3d" in out.stdout and "name: grad_cam" in out.stdout
    assert "- 0.05" in out.stdout and "- 0.1" in out.stdout


@pytest.mark.slow  # a full-size R(2+1)D on the CPU
def test_torchvision_model_on_kinetics_demo_video(tmp_path):
    out = run(
        "model=r2plus1d",
        "model.weights=none",
        "dataset=kinetics_demo",
        "dataset.limit=1",
        "method=grad_cam",
        "target=predicted",
        "metrics.groups=[smoothness]",
        f"hydra.run.dir={tmp_path}",
    )
    assert str(tmp_path) in out.stdout.splitlines()[-1]
    data = read_npz(tmp_path / "clips" / "abseiling-4lFmhj4x43c_66_10.npz")
    assert data["maps"].shape == (1, 16, 112, 112)
    assert data["maps"].min() >= 0 and data["maps"].max() == pytest.approx(1.0)
    assert data["probabilities"].shape == (400,)
    assert int(data["predicted"]) == int(data["target"]) == int(data["probabilities"].argmax())
    assert str(data["method"]) == "grad_cam" and str(data["model"]) == "r2plus1d"
    assert data["frame_indices"].tolist() == list(range(16))
    row = pd.read_csv(tmp_path / "results.csv").iloc[0]
    assert row["clip"] == "abseiling-4lFmhj4x43c_66_10" and row["label"] == "abseiling"
    assert (
        row["predicted_name"]
        == json.loads((ROOT / "videoattr/assets/demo/kinetics/classes.json").read_text())[row["predicted"]]
    )
    assert {"tv_space", "tv_time"} <= set(row.index)
    with Image.open(tmp_path / "figures" / "abseiling-4lFmhj4x43c_66_10.png") as png:
        assert png.format == "PNG"
    with Image.open(tmp_path / "figures" / "abseiling-4lFmhj4x43c_66_10.gif") as gif:
        assert gif.n_frames == 16 and gif.size == (2 * 112, 112)
    assert (tmp_path / ".hydra" / "config.yaml").is_file()
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["clips_done"] == 1 and summary["method"] == "grad_cam"


@pytest.mark.slow
@pytest.mark.parametrize(
    "model, dataset, label",
    [
        ("r3d", "kinetics_demo", "abseiling"),
        ("mc3", "kinetics_demo", "abseiling"),
        ("tsm_epic_noun", "epic_noun_demo", "cloth"),
        ("tsm_epic_verb", "epic_verb_demo", "open"),
    ],
)
def test_more_models_and_demo_datasets(tmp_path, model, dataset, label):
    run(f"model={model}", "model.weights=none", f"dataset={dataset}", "method=grad", *FAST, f"hydra.run.dir={tmp_path}")
    row = pd.read_csv(tmp_path / "results.csv").iloc[0]
    assert row["label"] == label and row["target_name"] == label and row["model"] == model


@pytest.mark.slow
def test_every_backprop_method_in_one_sweep_under_debug_fast(tmp_path):
    """Every method without a fit, under debug=fast (its short loops; test_presets checks what it composes
    to), the metrics turned back on."""
    run("-m", f"method={','.join(BACKPROP)}", "debug=fast", *FAST, f"hydra.sweep.dir={tmp_path}")
    assert {p.parent.parent.name for p in tmp_path.rglob("results.csv")} == set(BACKPROP)
    for method in BACKPROP:
        job = job_dir(tmp_path / "synthetic" / method)
        assert "debug=fast" in job.name
        data = read_npz(next((job / "clips").glob("*.npz")))
        assert data["maps"].shape == (1, 16, 112, 112) and data["maps"].min() >= 0
        row = pd.read_csv(job / "results.csv").iloc[0]
        assert row["method"] == method and 0 <= row["pointing_game"] <= 1 and 0 <= row["energy_in_mask"] <= 1
    assert (tmp_path / "summary.csv").is_file()


@pytest.mark.slow
def test_perturbation_methods_with_several_areas(tmp_path):
    """The synthetic preset's sweep of 2D-EP, 3D-EP and STEP under debug=fast (what both compose to:
    test_presets), the areas, iterations and metrics set on the command line."""
    out = run(
        "-m",
        "experiment=ep_methods_synthetic",
        "debug=fast",
        "method.iterations=3",
        "area=[0.05,0.1]",
        "metrics.groups=[localisation,smoothness]",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert {p.parent.parent.name for p in tmp_path.rglob("results.csv")} == {"2d_ep", "3d_ep", "step"}
    for method in ("2d_ep", "3d_ep", "step"):
        job = job_dir(tmp_path / "synthetic" / method)
        assert "area=[0.05,0.1],debug=fast,experiment=ep_methods_synthetic" in str(job.relative_to(tmp_path))
        assert not (job / "figures").exists()  # debug=fast
        data = read_npz(next((job / "clips").glob("*.npz")))
        assert data["maps"].shape == (2, 16, 112, 112)
        assert data["areas"].tolist() == [0.05, 0.1]
        assert 0 <= data["maps"].min() and data["maps"].max() <= 1
        assert data["prob_preserved"].shape == (2,)
        assert data["history_reward"].shape == (2, 3)
        table = pd.read_csv(job / "results.csv")
        assert table[["method", "model", "area", "iterations"]].values.tolist() == [
            [method, "synthetic", 0.05, 3],
            [method, "synthetic", 0.1, 3],
        ]
        assert np.allclose(table["prob_preserved"], data["prob_preserved"])
        assert table["pointing_game"].between(0, 1).all()
    assert sorted(pd.read_csv(tmp_path / "summary.csv")["method"].unique()) == ["2d_ep", "3d_ep", "step"]
    assert f"Sweep summary: {tmp_path / 'summary.csv'}" in out.stdout


@pytest.mark.slow
def test_frame_folders_and_explicit_targets(tmp_path, write_frames):
    """One sweep over the forms of target (one process; figures: test_torchvision_model_on_kinetics_demo_video)."""
    rng = np.random.default_rng(0)
    for name in ("up-a", "left-b"):
        write_frames(tmp_path / "clips" / name, rng.integers(0, 255, (16, 112, 112, 3), dtype=np.uint8), "png")
    targets = ("label", "2", "right", "predicted")
    run(
        "-m",
        "dataset=frames",
        f"dataset.root={tmp_path / 'clips'}",
        "dataset.classes=${asset:synthetic/classes.json}",
        "method=grad",
        f"target={','.join(targets)}",
        "metrics.groups=[smoothness]",
        "figures=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        "hydra.sweep.subdir=${target}",
    )
    runs = {target: pd.read_csv(tmp_path / "sweep" / target / "results.csv").set_index("clip") for target in targets}
    classes = json.loads((ROOT / "videoattr/assets/synthetic/classes.json").read_text())
    assert runs["label"].loc["up-a", "target_name"] == "up"
    assert runs["label"].loc["left-b", "target"] == classes.index("left")
    assert (runs["2"]["target"] == 2).all()
    assert (runs["right"]["target"] == classes.index("right")).all()
    assert (runs["predicted"]["target"] == runs["predicted"]["predicted"]).all()


def test_trainer_args_are_lightnings():
    import inspect

    import pytorch_lightning as pl

    from videoattr.trainer_keys import TRAINER_ARGS

    assert list(TRAINER_ARGS) == [p for p in inspect.signature(pl.Trainer.__init__).parameters if p != "self"]


def test_a_config_is_composed_and_checked_without_torch():
    """What the command line does before a run starts imports neither torch, Lightning, torchvision nor
    the method code, so a config error or --help answers at once."""
    code = (
        "import sys; from hydra import compose, initialize_config_dir; from videoattr.schema import validate\n"
        f"with initialize_config_dir(config_dir={str(ROOT / 'conf')!r}, version_base='1.3'):\n"
        "    cfg = compose(config_name='config', overrides=['method=step', 'area=[0.05,0.1]'])\n"
        "validate(cfg)\n"
        "heavy = [m for m in ('torch', 'pytorch_lightning', 'torchvision', 'videoattr.methods.perturbation.fit')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
