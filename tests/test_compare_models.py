"""benchmarks.compare_models: several models' benchmark.csv side by side, a method one model lacks left empty."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmarks import compare_models


def run(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr(sys, "argv", ["compare_models", *args])
    compare_models.main()


def write_run(directory: Path, rows: list[dict]) -> Path:
    directory.mkdir(parents=True)
    pd.DataFrame(rows).to_csv(directory / "benchmark.csv", index=False)
    return directory


def row(method: str, pointing: float, energy: float, area: float | None = None, **more) -> dict:
    return {"method": method, "area": area, "clips": 8, "pointing_game": pointing, "energy_in_mask": energy, **more}


def test_the_models_scores_side_by_side(tmp_path, monkeypatch, capsys):
    cnn = write_run(
        tmp_path / "cnn", [row("grad", 0.9271, 0.114), row("3d_ep_fast", 0.5, 0.09, 0.02, objective_met=1.0)]
    )
    vit = write_run(tmp_path / "vit", [row("grad_rollout", 0.79, 0.101), row("grad", 0.774, 0.0306)])
    out = tmp_path / "compare.md"
    run(monkeypatch, "--runs", f"cnn={cnn}", f"vit={vit}", "--out", str(out))
    text = out.read_text()
    assert capsys.readouterr().out.strip() == text.strip()
    assert "| method | area | cnn | vit |" in text
    lines = text.splitlines()
    assert "| grad |  | 0.93 / 0.114 | 0.77 / 0.031 |" in lines
    assert "| grad_rollout |  |  | 0.79 / 0.101 |" in lines  # no rollout on the CNN: empty
    assert "| 3d_ep_fast | 0.02 | 0.50 / 0.090 |  |" in lines
    assert "| 3d_ep_fast | 0.02 | cnn | 0.5 | 0.09 | 1 |" in lines  # the long table: objective_met
    assert lines.index("| grad |  | 0.93 / 0.114 | 0.77 / 0.031 |") < lines.index(
        "| grad_rollout |  |  | 0.79 / 0.101 |"
    )
    assert "When:" not in text  # no run has all_results.csv


def test_when_in_the_clip_comes_from_each_runs_clips(tmp_path, monkeypatch):
    cnn = write_run(tmp_path / "cnn", [row("grad", 0.9, 0.1), row("3d_ep_fast", 0.5, 0.09, 0.02)])
    clips = [("grad", None, 1.0, 0.5), ("grad", None, 0.0, 0.25), ("3d_ep_fast", 0.02, 1.0, 1.0)]
    pd.DataFrame(
        [{"method": m, "area": a, "map": "single", "temporal_pointing": p, "temporal_iou": i} for m, a, p, i in clips]
        + [{"method": "3d_ep_fast", "area": None, "map": "combined", "temporal_pointing": 0.0, "temporal_iou": 0.0}]
    ).to_csv(cnn / "all_results.csv", index=False)
    run(monkeypatch, "--runs", f"cnn={cnn}", "--out", str(tmp_path / "compare.md"))
    when = (tmp_path / "compare.md").read_text().split("When: temporal pointing / temporal IoU")[1].splitlines()
    assert "| grad |  | 0.50 / 0.38 |" in when and "| 3d_ep_fast | 0.02 | 1.00 / 1.00 |" in when


def test_a_missing_run_names_the_file_and_the_command(tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as exit:
        run(monkeypatch, "--runs", f"synthetic={tmp_path / 'none'}", "--out", str(tmp_path / "compare.md"))
    assert str(exit.value) == (
        f"{tmp_path / 'none' / 'benchmark.csv'} is missing: run python -m benchmarks.benchmark --model synthetic "
        f"--out {tmp_path / 'none'}"
    )
    assert not (tmp_path / "compare.md").exists()
