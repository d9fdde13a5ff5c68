"""benchmarks/soak.py: a short soak passes (many broken clips, runs killed and resumed), and its checks
catch a lost, a duplicated and a rewritten clip."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from benchmarks import soak
from helpers import run_module


@pytest.mark.slow
def test_a_short_soak_loses_and_duplicates_nothing(tmp_path):
    out = run_module(
        "benchmarks.soak", "--clips", "24", "--kills", "1", "--no-figures", "--delay", "0.05", "--seed", "1",
        "--out", str(tmp_path / "soak"), check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    total = re.search(r"total: (\d+) clips, (\d+) broken \(\d+%\), (\d+) kills, (\d+) resumes", out.stdout)
    assert total is not None, out.stdout
    clips, broken, kills, resumes = (int(n) for n in total.groups())
    assert clips == 24 and broken >= 8 and kills == 2 and resumes == 2
    assert "killed by SIGKILL;" in out.stdout and "killed by SIGTERM;" in out.stdout  # one signal per part
    assert out.stdout.strip().splitlines()[-1] == "verdict: PASS: nothing lost, nothing duplicated"


def fake_run(tmp_path, rows: list[str], npz: list[str], errors: dict[str, str]) -> soak.Part:
    """A finished part of good clips a, b and a corrupt clip c, its run directory holding ``rows``
    (results.csv), ``npz`` (clips/) and ``errors`` (clip -> error)."""
    part = soak.Part("videos", tmp_path / "videos", tmp_path / "run", good=["a", "b"], bad={"c": "corrupt"})
    (part.run_dir / "clips").mkdir(parents=True)
    pd.DataFrame({"clip": rows}).to_csv(part.run_dir / "results.csv", index=False)
    for name in npz:
        np.savez(part.run_dir / "clips" / f"{name}.npz", rows=json.dumps([{"clip": name}]))
    table = pd.DataFrame({"clip": list(errors), "stage": "load", "error": list(errors.values()), "path": ""})
    table.to_csv(part.run_dir / "errors.csv", index=False)
    summary = {"clips_done": len(set(npz)), "clips_failed": len(errors)}
    (part.run_dir / "summary.json").write_text(json.dumps(summary))
    part.attempts = [{"signal": None, "status": 0, "rewritten": [], "output": "Explained"}]
    return part


def test_the_soak_checks_pass_a_complete_run(tmp_path):
    part = fake_run(tmp_path, ["a", "b"], ["a", "b"], {"c": "c.mp4 could not be decoded: re-encode it"})
    assert soak.check(part, figures=False, areas=1) == []


def test_the_soak_checks_catch_a_lost_a_duplicated_and_a_rewritten_clip(tmp_path):
    part = fake_run(tmp_path, ["a", "a"], ["a"], {"c": "something else"})
    part.attempts.insert(0, {"signal": "SIGKILL", "status": -9, "rewritten": ["a"], "output": ""})
    problems = soak.check(part, figures=False, areas=1)
    assert any("missing ['b']" in p for p in problems)
    assert any("without exactly 1 rows: ['a']" in p for p in problems)
    assert any("clips/: 1 files for 2 good clips" in p for p in problems)
    assert any("c (corrupt) has 'load': 'something else'" in p for p in problems)
    assert any("attempt 1 wrote again clips done before: ['a']" in p for p in problems)
