"""benchmarks/area_ceiling.py: the best pointing game a flat mask of an area can reach."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import area_ceiling


def one_pixel_of_evidence() -> torch.Tensor:
    gt = torch.zeros(2, 21, 21)  # frame 0 holds no evidence and does not count
    gt[1, 10, 10] = 1.0
    return gt


def test_a_plateau_takes_the_pixels_nearest_the_evidence():
    plateau = area_ceiling.centred_plateau(one_pixel_of_evidence(), 9 / 441)
    assert plateau[0].sum() == 0 and plateau[1].sum() == 9
    assert plateau[1, 9:12, 9:12].sum() == 9  # the centre, its 4 neighbours at 1 and its 4 diagonals at sqrt(2)


@pytest.mark.parametrize("pixels, tolerance, expected", [(1, 0, 1.0), (9, 0, 1 / 9), (9, 1, 5 / 9), (5, 1, 1.0)])
def test_the_ceiling_is_the_share_of_the_plateau_near_the_evidence(pixels, tolerance, expected):
    assert area_ceiling.ceiling(one_pixel_of_evidence(), pixels / 441, tolerance) == pytest.approx(expected)


def test_the_script_prints_one_row_per_area_and_refuses_a_bad_one(tmp_path, capsys):
    np.savez(tmp_path / "a.npz", mask=one_pixel_of_evidence().numpy())
    area_ceiling.main(["--clips", str(tmp_path), "--areas", str(1 / 441), str(9 / 441), "--tolerance", "1"])
    rows = capsys.readouterr().out.splitlines()
    assert [row.split(" | ")[1:] for row in rows[2:]] == [["1", "1.000 |"], ["1", "0.556 |"]]
    with pytest.raises(SystemExit, match="area 1.5 is outside"):
        area_ceiling.main(["--clips", str(tmp_path), "--areas", "1.5"])
    with pytest.raises(SystemExit, match="holds no ground-truth masks"):
        area_ceiling.main(["--clips", str(tmp_path / "none")])
