"""Lightning DDP (gloo processes on the CPU) gives every rank the masks of a one-process fit, whatever the number of processes against the number of (clip, area) pairs: fewer pairs than processes
(ranks that own no pair), and pair counts that the processes do not divide."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT, ddp_check

SCRIPT = ROOT / "tests" / "helpers" / "ddp_check.py"
# processes -> cases (<clips>x<areas>) fitted one after the other by the same processes
RUNS = {3: ["1x2", "7x1"], 4: ["5x1", "1x1", "2x2"]}


@pytest.fixture(scope="module")
def ddp_fits(tmp_path_factory):
    """Both launches, one after the other (each has as many processes as the machine can take)."""
    out = tmp_path_factory.mktemp("ddp")
    # PYTHONPATH: this checkout's videoattr, also where another one is installed.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for name in ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    for processes, cases in RUNS.items():
        # A subprocess: Lightning's DDP launcher re-runs the script (not pytest) for ranks > 0.
        command = [sys.executable, str(SCRIPT), str(out), str(processes), *cases]
        run = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-3000:]
    return out


@pytest.mark.slow
@pytest.mark.parametrize(
    "processes, case",
    [(p, c) for p, cases in RUNS.items() for c in cases],
    ids=lambda v: f"{v}proc" if isinstance(v, int) else v,
)
def test_ddp_ranks_end_with_the_single_process_masks(ddp_fits, processes, case):
    single = ddp_check.fit(case)
    for rank in range(processes):
        saved = np.load(ddp_fits / f"{case}_rank{rank}.npz")
        # The gradients are summed exactly; what is left is the float rounding of a forward pass over
        # fewer clips than the one-process batch (1 ulp of a probability, none measured in the masks).
        np.testing.assert_allclose(saved["maps"], single.maps.numpy(), atol=1e-6, rtol=0)
        np.testing.assert_allclose(saved["prob_preserved"], single.extras["prob_preserved"], atol=1e-6, rtol=0)
        np.testing.assert_allclose(saved["prob_deleted"], single.extras["prob_deleted"], atol=1e-6, rtol=0)
        for key, values in single.extras["history"].items():
            np.testing.assert_allclose(saved[f"history_{key}"], values, atol=0, rtol=1e-6)
    assert np.all(single.extras["history"]["core"][..., ddp_check.OPTIONS["core_start"] :] > 0)


def test_owned_pairs_cover_every_pair_once_for_any_world_size():
    from videoattr.methods.perturbation.module import owned_pairs

    for total in range(0, 9):
        for world in range(1, 10):
            owned = [owned_pairs(total, rank, world).tolist() for rank in range(world)]
            assert sorted(q for pairs in owned for q in pairs) == list(range(total))
            assert all(q % world == rank for rank, pairs in enumerate(owned) for q in pairs)
