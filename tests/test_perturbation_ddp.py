"""Lightning DDP (2 CPU processes, gloo) gives every rank the masks of a one-process fit."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, ddp_check

SCRIPT = ROOT / "tests" / "helpers" / "ddp_check.py"


@pytest.mark.slow
def test_ddp_ranks_end_with_the_single_process_masks(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    # A subprocess: Lightning's DDP launcher re-runs the script (not pytest) for rank 1.
    command = [sys.executable, str(SCRIPT), str(tmp_path)]
    run = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr[-3000:]
    check = ddp_check
    net, clips, target = check.problem()
    single = check.step(net, clips, target, **check.OPTIONS)
    for rank in (0, 1):
        saved = np.load(tmp_path / f"rank{rank}.npz")
        np.testing.assert_allclose(saved["maps"], single.maps.numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(saved["prob_preserved"], single.extras["prob_preserved"], atol=1e-6)
        np.testing.assert_allclose(saved["prob_deleted"], single.extras["prob_deleted"], atol=1e-6)
        for key, values in single.extras["history"].items():
            np.testing.assert_allclose(saved[f"history_{key}"], values, atol=1e-5, rtol=1e-5)
    assert np.all(single.extras["history"]["core"][:, :, check.OPTIONS["core_start"] :] > 0)
