"""Fit STEP masks with Lightning DDP on CPU (2 gloo processes) and save what every rank ends with.

    python tests/helpers/ddp_check.py OUT_DIR    ->  OUT_DIR/rank0.npz, OUT_DIR/rank1.npz

tests/test_perturbation_ddp.py compares both files with a one-process fit of ``problem()``.
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
    "areas": [0.1],
    "iterations": 12,
    "grid_step": 4,
    "sigma": 3,
    "core_shape": [3, 5, 5],
    "core_stride": [1, 5, 5],
    "core_start": 4,
    "seed": 3,
}


def problem() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny frozen 3D CNN, 3 clips (3 pairs: rank 0 owns two, rank 1 one) and their targets."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 5)
    )
    clips = torch.randn(3, 3, 4, 16, 16)
    return net.eval().requires_grad_(False), clips, torch.tensor([1, 2, 3])


def main(out: Path) -> None:
    net, clips, target = problem()
    ddp = {
        "accelerator": "cpu",
        "devices": 2,
        "strategy": "ddp",
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    result = step(net, clips, target, trainer=ddp, **OPTIONS)
    history = {f"history_{k}": v for k, v in result.extras["history"].items()}
    np.savez(
        out / f"rank{os.environ.get('LOCAL_RANK', '0')}.npz",
        maps=result.maps.numpy(),
        prob_preserved=result.extras["prob_preserved"],
        prob_deleted=result.extras["prob_deleted"],
        **history,
    )


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(Path(sys.argv[1]))
