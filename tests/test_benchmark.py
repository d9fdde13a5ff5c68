"""A short run of the ground-truth benchmark script."""

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_short_benchmark_writes_its_table(tmp_path):
    out = subprocess.run(
        [sys.executable, "scripts/benchmark.py", "--methods", "grad", "centre", "3d_ep", "--iterations", "3",
         "--clips", "2", "--areas", "0.02", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert sorted(summary["method"]) == ["3d_ep", "centre", "grad"]
    assert (summary["clips"] == 2).all()
    assert summary.loc[summary.method == "3d_ep", "area"].tolist() == [0.02]
    assert summary.loc[summary.method == "3d_ep", "iterations"].tolist() == [3.0]
    # the centre prior ignores the clip: its evidence is off-centre on these clips, so it never points at it
    assert summary.loc[summary.method == "centre", "pointing_game"].item() == 0.0
    table = (tmp_path / "benchmark.md").read_text().splitlines()
    assert table[0].startswith("| method | area | clips | iterations | pointing_game")
    assert len(table) == 2 + 3
    assert table[0] in out.stdout
