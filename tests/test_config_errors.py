"""Bad settings on the command line, table-driven: each ``python run.py <overrides>`` exits with status 2,
writes exactly one line on stderr (``error: <one sentence>``) that names the key and what it accepts,
and leaves no run directory. Types and unknown keys are refused while Hydra composes the config (the
schemas of ``videoattr/schema.py``), ranges before the run loads a model or a clip.

The cases run in subprocesses, two at a time, in one module fixture.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from helpers import run_cli

QUICK = ["dataset.limit=1", "metrics.groups=[]", "figures=false"]

# name -> (overrides, fragments of the one stderr line, in order: the key first, then what it accepts)
CASES: dict[str, tuple[list[str], list[str]]] = {
    # types, refused at composition
    "seed_text": (["seed=abc"], ["Invalid seed=abc", "seed takes an integer"]),
    "iterations_text": (["method.iterations=abc"], ["Invalid method.iterations=abc", "takes an integer"]),
    "lr_text": (["method.lr=fast"], ["Invalid method.lr=fast", "method.lr takes a number"]),
    "figures_text": (["figures=maybe"], ["Invalid figures=maybe", "figures takes true or false"]),
    "batch_size_text": (["dataset.batch_size=two"], ["Invalid dataset.batch_size=two", "takes an integer"]),
    "num_frames_float": (["model.num_frames=1.5"], ["Invalid model.num_frames=1.5", "takes an integer"]),
    "core_shape_text": (["method.core_shape=[a,11,11]"], ["method.core_shape[0]", "takes an integer"]),
    "limit_text": (["dataset.limit=some"], ["Invalid dataset.limit=some", "takes an integer"]),
    # ranges, refused before the run starts
    "area_above_one": (["area=1.5"], ["Invalid area=1.5", "strictly between 0 and 1", "area=0.05"]),
    "area_zero": (["area=0"], ["Invalid area=0", "strictly between 0 and 1"]),
    "area_negative_in_list": (["area=[0.05,-0.1]"], ["Invalid area=[0.05,-0.1]", "strictly between 0 and 1"]),
    "area_text": (["area=big"], ["Invalid area=big", "strictly between 0 and 1"]),
    "area_empty": (["area=[]"], ["Invalid area=[]", "one or more fractions"]),
    "zero_iterations": (["method.iterations=0"], ["Invalid method.iterations=0", "an integer >= 1"]),
    "lr_nan": (["method.lr=nan"], ["Invalid method.lr=nan", "a finite learning rate > 0"]),
    "lr_negative": (["method.lr=-0.1"], ["Invalid method.lr=-0.1", "a finite learning rate > 0"]),
    "sigma_zero": (["method.sigma=0"], ["Invalid method.sigma=0", "a number > 0, or null"]),
    "momentum_one": (["method.momentum=1.0"], ["Invalid method.momentum=1.0", "in [0, 1)"]),
    "variant": (["method.variant=keep"], ["Invalid method.variant=keep", "preserve, delete, dual"]),
    "perturbation": (["method.perturbation=noise"], ["Invalid method.perturbation=noise", "blur, fade"]),
    "tolerance_negative": (["method.early_stop_tol=-1"], ["Invalid method.early_stop_tol=-1", ">= 0, or null"]),
    "levels_one": (["method.levels=1"], ["Invalid method.levels=1", "an integer >= 2"]),
    "core_shape_short": (["method.core_shape=[7,11]"], ["Invalid method.core_shape=[7,11]", "3 integers >= 1"]),
    "lr_milestones_order": (
        ["method.lr_milestones=[400,300]"],
        ["Invalid method.lr_milestones=[400,300]", "increasing iterations"],
    ),
    "lr_gamma_zero": (["method.lr_gamma=0"], ["Invalid method.lr_gamma=0", "a factor > 0"]),
    "combine_one_area": (["method.combine=sum"], ["combine=sum needs at least 2 areas", "area=[0.05,0.1,0.15,0.5]"]),
    "batch_size_zero": (["dataset.batch_size=0"], ["Invalid dataset.batch_size=0", ">= 1"]),
    "limit_zero": (["dataset.limit=0"], ["Invalid dataset.limit=0", ">= 1, or null"]),
    "sampling": (["dataset.sampling=middle"], ["Invalid dataset.sampling=middle", "first, last, random"]),
    "short_clips": (["dataset.short_clips=crop"], ["Invalid dataset.short_clips=crop", "error, loop, pad"]),
    "metric_steps": (["metrics.steps=0"], ["Invalid metrics.steps=0", ">= 1"]),
    "metric_ties": (["metrics.pointing_ties=-1"], ["Invalid metrics.pointing_ties=-1", "a number >= 0"]),
    "metric_baseline": (["metrics.baseline=noise"], ["Invalid metrics.baseline=noise", "blur, zero"]),
    "metric_groups": (["metrics.groups=[speed]"], ["Invalid metrics.groups=[speed]", "localisation, faithfulness"]),
    "target_negative": (["target=-3"], ["Invalid target=-3", "label, predicted, a class index >= 0"]),
    "polarity": (["method=grad", "method.polarity=up"], ["Invalid method.polarity=up", "positive, negative, both"]),
    "ig_steps": (["method=integrated_grad", "method.steps=1"], ["Invalid method.steps=1", "an integer >= 2"]),
    "smoothgrad_stdev": (["method=smooth_grad", "method.stdev=-1"], ["Invalid method.stdev=-1", ">= 0"]),
    "centre_sigma": (["method=centre", "method.sigma_frac=0"], ["Invalid method.sigma_frac=0", "a fraction > 0"]),
    "model_std": (["model.std=[0.2,0.2,0]"], ["Invalid model.std=[0.2,0.2,0.0]", "3 numbers > 0"]),
    "model_crop": (["model.crop=[112]"], ["Invalid model.crop=[112]", "[height,width]"]),
    "trainer_devices": (["trainer.devices=abc"], ["Invalid trainer.devices=abc", "a list of indices"]),
    "trainer_precision": (["trainer.precision=8"], ["Invalid trainer.precision=8", "bf16-mixed"]),
    "trainer_unknown_key": (
        ["+trainer.max_step=3"],
        ["Unknown key trainer.max_step", "arguments of Lightning's Trainer"],
    ),
    "trainer_refused": (["trainer.accelerator=tpu"], ["Lightning refuses the trainer settings", "trainer.accelerator"]),
    # unknown keys
    "unknown_method_key": (["method.colness=20"], ["Unknown key method.colness", "method takes name, iterations"]),
    "added_method_key": (["+method.colness=20"], ["Unknown key method.colness", "method takes name, iterations"]),
    "added_dataset_key": (["+dataset.fps=8"], ["Unknown key dataset.fps", "dataset takes name, root"]),
    "key_of_another_method": (
        ["method=grad", "method.iterations=5"],
        ["Unknown key method.iterations", "method takes name, polarity"],
    ),
    "unknown_top_key": (["are=0.1"], ["Unknown key are", "takes model, dataset, method"]),
    # unknown group choices
    "unknown_model": (["model=resnet99"], ["Unknown model 'resnet99'", "r2plus1d, r3d", "conf/model/"]),
    "unknown_method": (["method=lime"], ["Unknown method 'lime'", "grad_cam", "step"]),
    "unknown_dataset": (["dataset=ucf101"], ["Unknown dataset 'ucf101'", "kinetics_demo", "synthetic"]),
    "unknown_logger": (["logger=tensorboard"], ["Unknown logger 'tensorboard'", "csv", "wandb"]),
    # bad paths
    "root_unset": (["dataset=videos"], ["dataset.root is not set", "dataset.root=<value>"]),
    "root_missing": (["dataset=videos", "dataset.root=/nonexistent/clips"], ["/nonexistent/clips", "does not exist"]),
    "custom_target_unset": (
        ["model=custom", "model.classes=x.txt"],
        ["model.target is not set", "model.target=<value>"],
    ),
    "checkpoint_missing": (["model.checkpoint=/nonexistent/model.pt"], ["/nonexistent/model.pt", "model.checkpoint"]),
    "label_file_missing": (
        ["dataset.label_file=/nonexistent/labels.csv"],
        ["/nonexistent/labels.csv", "dataset.label_file"],
    ),
    # bad class lists
    "classes_missing": (
        ["dataset.classes=/nonexistent/classes.json"],
        ["/nonexistent/classes.json", "dataset.classes"],
    ),
    "classes_unknown_weights": (
        ["dataset.classes=torchvision:NoSuchWeights.X"],
        ["Unknown torchvision weights 'NoSuchWeights.X'", "R2Plus1D_18_Weights.KINETICS400_V1"],
    ),
    "target_out_of_range": (["method=grad", "target=9"], ["Target class 9 is out of range", "0..3"]),
}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    base = tmp_path_factory.mktemp("config_errors")

    def run(name: str):
        overrides = [*QUICK, *CASES[name][0], f"hydra.run.dir={base / name}"]
        return run_cli(*overrides, check=False)

    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(CASES, pool.map(run, CASES)))
    return base, results


def test_the_table_is_large():
    assert len(CASES) >= 30


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_setting_ends_in_one_line_naming_the_key(outcomes, case):
    base, results = outcomes
    out, fragments = results[case], CASES[case][1]
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and lines[0].endswith("."), out.stderr[-2000:]
    message = lines[0].removeprefix("error: ")
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {message}"
    positions = [message.find(fragment) for fragment in fragments]
    assert all(i >= 0 for i in positions), (fragments, message)
    assert positions == sorted(positions), f"the key must come before what it accepts: {message}"
    assert not (base / case).exists(), sorted(str(p) for p in (base / case).rglob("*"))
