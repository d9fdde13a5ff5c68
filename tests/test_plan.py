"""plan=true: the passes a run will take (methods/cost.py planned_passes) and the plan of a large folder."""

from __future__ import annotations

import dataclasses
import os

import pytest
import torch

from helpers import run_cli, tiny_net, write_video_file
from videoattr import explain
from videoattr.methods.cost import planned_passes
from videoattr.schema import (
    BackpropConfig,
    GradCamConfig,
    IntegratedGradConfig,
    OcclusionConfig,
    RandomConfig,
    RiseConfig,
    SmoothGradConfig,
)

SHAPE = (4, 16, 16)  # T x H x W of the tiny clips


@pytest.mark.parametrize(
    ("method", "config"),
    [
        ("grad_x_input", BackpropConfig()),
        ("grad_cam", GradCamConfig(layer="0")),
        ("integrated_grad", IntegratedGradConfig(steps=3)),
        ("smooth_grad", SmoothGradConfig(samples=2)),
        ("occlusion", OcclusionConfig(window=[2, 8, 8], stride=[2, 4, 4], progress=False)),
        ("rise", RiseConfig(masks=6, grid=[2, 2, 2], progress=False)),
        ("random", RandomConfig()),
    ],
)
def test_planned_passes_are_what_the_method_reports(method, config):
    options = {k: v for k, v in dataclasses.asdict(config).items() if k != "name"}
    result = explain(tiny_net(), torch.randn(2, 3, *SHAPE), [0, 1], method=method, return_details=True, **options)
    reported = (int(result.extras["forward_passes"][0]), int(result.extras["backward_passes"][0]))
    assert planned_passes(method, options, 1, SHAPE) == reported


def test_a_fit_plans_its_iterations_for_every_area_and_sense():
    assert planned_passes("step", {"iterations": 2000, "variant": "preserve"}, 6, SHAPE) == (12000, 12000)
    assert planned_passes("3d_ep", {"iterations": 300, "variant": "dual"}, 1, SHAPE) == (600, 600)


@pytest.mark.slow
def test_plan_of_a_large_folder_counts_its_clips_and_explains_none(tmp_path, make_graded_frames):
    folder = tmp_path / "clips"
    folder.mkdir()
    source = write_video_file(tmp_path / "source.mp4", make_graded_frames(16, 32, 32))
    for i in range(2000):  # one file, many names: listed, not decoded
        os.link(source, folder / f"{('up', 'down', 'left', 'right')[i % 4]}-{i:05d}.mp4")
    run_dir = tmp_path / "run"
    out = run_cli(
        "dataset=videos", f"dataset.root={folder}", "dataset.classes=${asset:synthetic/classes.json}", "method=grad_cam",
        "dataset.shard=3", "dataset.num_shards=8", "plan=true", f"hydra.run.dir={run_dir}",
    )  # fmt: skip
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Plan for grad_cam on synthetic (config hash ")
    assert f"clips: 2000 in the data set, 250 in shard 3 of 8; 0 done in {run_dir}, 250 to do" in out.stdout
    assert "passes per clip: 1 forward + 1 backward (grad_cam, 1 area(s)), + 36 forward of the run" in out.stdout
    assert "one pass of synthetic on cpu (1 x 3 x 16 x 112 x 112): " in out.stdout
    assert "estimated wall time, 1 process: " in out.stdout and "8 shards in parallel, one device each: " in out.stdout
    assert not (run_dir / "clips").exists() and not (run_dir / "results.csv").exists()  # nothing explained
