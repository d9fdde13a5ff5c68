"""Bad settings on the command line, table-driven: each bad override ends the run with exactly one
line, ``error: <one sentence>``, that names the key and what it accepts, and leaves no run directory.
Types and unknown keys are refused while Hydra composes the config (the schemas of
``videoattr/schema.py``), ranges before the run loads a model or a clip.

Every case is checked in-process (composed, validated and run as ``run.py`` does, the error turned into
its line by ``videoattr.cli.user_error_message``); three run as ``python run.py`` subprocesses for the exit
status and the single stderr line, and in the full tier one more case for each other place that raises
such an error (``THROUGH_RUN_PY``): the subprocess adds only how ``run.py`` reports the error, which
depends on where it is raised, not on its text.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from helpers import run_cli, run_in_process

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
    "gradcam_weights": (
        ["method=grad_cam", "method.channel_weights=mean"],
        ["Invalid method.channel_weights=mean", "per_time, global, elementwise"],
    ),
    "gradcam_grid": (["method=grad_cam", "method.token_grid=[8,7]"], ["Invalid method.token_grid=[8,7]", "[T',H',W']"]),
    "occlusion_window": (["method=occlusion", "method.window=[8,0,16]"], ["Invalid method.window=[8,0,16]", ">= 1"]),
    "rise_keep": (["method=rise", "method.keep=1"], ["Invalid method.keep=1", "a probability in (0, 1)"]),
    "shap_perturbation": (
        ["method=kernel_shap", "method.perturbation=noise"],
        ["Invalid method.perturbation=noise", "blur, fade, mean"],
    ),
    "model_std": (["model.std=[0.2,0.2,0]"], ["Invalid model.std=[0.2,0.2,0.0]", "3 numbers > 0"]),
    "model_crop": (["model.crop=[112]"], ["Invalid model.crop=[112]", "[height,width]"]),
    "trainer_devices": (["trainer.devices=abc"], ["Invalid trainer.devices=abc", "a list of indices"]),
    "trainer_precision": (["trainer.precision=8"], ["Invalid trainer.precision=8", "bf16-mixed"]),
    "trainer_unknown_key": (
        ["+trainer.max_step=3"],
        ["Unknown key trainer.max_step", "arguments of Lightning's Trainer"],
    ),
    "trainer_refused": (["trainer.accelerator=tpu"], ["Lightning refuses the trainer settings", "trainer.accelerator"]),
    "gpu_without_cuda": (
        ["method=grad", "trainer.accelerator=gpu"],
        ["trainer.accelerator=gpu but torch sees no CUDA device", "trainer.accelerator=cpu"],
    ),
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
    "target_unknown_name": (["method=grad", "target=sideways"], ["Unknown target class 'sideways'", "class list"]),
}


def check_message(message: str, fragments: list[str]) -> None:
    """One sentence ending in a period, holding ``fragments`` in their order (the key before what it accepts)."""
    assert "\n" not in message and message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {message}"
    positions = [message.find(fragment) for fragment in fragments]
    assert all(i >= 0 for i in positions), (fragments, message)
    assert positions == sorted(positions), f"the key must come before what it accepts: {message}"


def test_the_table_is_large():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_setting_is_one_sentence_naming_the_key(tmp_path, case):
    overrides, fragments = CASES[case]
    message = run_in_process([*QUICK, *overrides], tmp_path / "run")
    assert message is not None, f"{overrides} was accepted"
    check_message(message, fragments)
    assert not (tmp_path / "run").exists(), sorted(str(p) for p in (tmp_path / "run").rglob("*"))


def subprocess_outcome(case: str, base: Path):
    return run_cli(*QUICK, *CASES[case][0], f"hydra.run.dir={base / case}", check=False)


def check_subprocess(out, case: str, base: Path) -> None:
    assert out.returncode == 2, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr[-2000:]
    check_message(lines[0].removeprefix("error: "), CASES[case][1])
    assert not (base / case).exists(), sorted(str(p) for p in (base / case).rglob("*"))


# One case refused while composing, one by the schema's ranges, one once the run has started.
@pytest.mark.parametrize("case", ["unknown_model", "area_above_one", "root_missing"])
def test_run_py_exits_2_with_the_one_line(tmp_path, case):
    check_subprocess(subprocess_outcome(case, tmp_path), case, tmp_path)


# The full tier's subprocess cases beside the three above: one for each other place that raises, in
# order (composing: a value's type, an unknown key; validate: an added key, a cross-key check, the
# trainer's keys; the run: Lightning's Trainer, the model's checkpoint, the class list, a target that
# fails every clip, a target name checked up front).
THROUGH_RUN_PY = [
    "seed_text",
    "unknown_top_key",
    "added_method_key",
    "combine_one_area",
    "trainer_unknown_key",
    "trainer_refused",
    "checkpoint_missing",
    "classes_unknown_weights",
    "target_out_of_range",
    "target_unknown_name",
]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    base = tmp_path_factory.mktemp("config_errors")
    with ThreadPoolExecutor(2) as pool:
        results = dict(zip(THROUGH_RUN_PY, pool.map(lambda case: subprocess_outcome(case, base), THROUGH_RUN_PY)))
    return base, results


@pytest.mark.slow
@pytest.mark.parametrize("case", THROUGH_RUN_PY)
def test_each_place_that_raises_through_run_py(outcomes, case):
    base, results = outcomes
    check_subprocess(results[case], case, base)
