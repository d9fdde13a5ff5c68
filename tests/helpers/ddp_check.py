"""Fit STEP masks with Lightning DDP on CPU (gloo processes) and save what every rank ends with.

    python tests/helpers/ddp_check.py OUT_DIR PROCESSES CASE [CASE ...]
        ->  OUT_DIR/<case>_rank<r>.npz for every case and rank

A CASE is ``<clips>x<areas>``, e.g. ``7x1`` (7 clips, one area: 7 (clip, area) pairs) or ``1x2``; the
cases are fitted one after the other by the same processes, as ``run.py`` fits its batches.
tests/test_perturbation_ddp.py compares every file with a one-process fit of ``problem(case)``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

from videoattr.methods.perturbation import step

# Tiny sizes: 4 frames of 16 x 16 pixels, a 4-pixel mask grid, a 3 x 5 x 5 core from iteration 4.
OPTIONS = {
    "iterations": 12,
    "grid_step": 4,
    "sigma": 3,
    "core_shape": [3, 5, 5],
    "core_stride": [1, 5, 5],
    "core_start": 4,
    "seed": 3,
    "compile": False,
}
AREAS = [0.1, 0.2, 0.05]


def problem(case: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor, list[float]]:
    """A tiny frozen 3D CNN, the clips, their targets and the areas of ``case`` (``<clips>x<areas>``)."""
    clips, areas = (int(n) for n in case.split("x"))
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 5)
    )
    inputs = torch.randn(clips, 3, 4, 16, 16)
    return net.eval().requires_grad_(False), inputs, torch.arange(clips) % 5, AREAS[:areas]


def fit(case: str, trainer: dict | None = None):
    """The STEP fit of ``case``, on ``trainer`` (None: one process)."""
    net, clips, target, areas = problem(case)
    return step(net, clips, target, areas=areas, trainer=trainer, **OPTIONS)


def main(out: Path, processes: int, cases: list[str]) -> None:
    ddp = {
        "accelerator": "cpu",
        "devices": processes,
        "strategy": "ddp",
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    rank = os.environ.get("LOCAL_RANK", "0")
    for case in cases:
        result = fit(case, ddp)
        history = {f"history_{k}": v for k, v in result.extras["history"].items()}
        np.savez(
            out / f"{case}_rank{rank}.npz",
            maps=result.maps.numpy(),
            prob_preserved=result.extras["prob_preserved"],
            prob_deleted=result.extras["prob_deleted"],
            **history,
        )


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
