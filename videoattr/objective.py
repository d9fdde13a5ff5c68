"""What a run returns to a Hydra sweeper (Optuna): one number computed from its summary means.

``objective`` (a top-level key, default null) is either one name of ``summary.json``'s ``mean``,
e.g. ``pointing_game``, or the difference of two, e.g. ``insertion_auc-deletion_auc``; nothing else.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from videoattr.errors import VideoAttrError, require

# The names an objective may use, with the metric group that computes each (None: every run has it).
NAMES = {
    "pointing_game": "localisation",
    "energy_in_mask": "localisation",
    "mass_in_evidence_frames": "localisation",
    "deletion_auc": "faithfulness",
    "insertion_auc": "faithfulness",
    "tv_space": "smoothness",
    "tv_time": "smoothness",
    "target_prob": None,
    "prob_baseline": None,
    "prob_preserved": None,
    "prob_deleted": None,
    "seconds": None,
}
ACCEPTED = (
    "use one name of summary.json's means or the difference of two, e.g. pointing_game or "
    f"insertion_auc-deletion_auc (names: {', '.join(NAMES)}), or null"
)


def parse_objective(objective: str) -> list[str]:
    """The names of ``objective``: ``[name]`` or ``[minuend, subtrahend]``; a ``VideoAttrError`` if the
    text is anything else."""
    names = objective.split("-") if isinstance(objective, str) else []
    require(1 <= len(names) <= 2 and all(n in NAMES for n in names), "objective", objective, ACCEPTED)
    return names


def check_objective(objective: str | None, groups: Sequence[str] | None = None) -> None:
    """Refuse an objective outside the grammar, or one whose metric group is not in ``groups`` (the
    run's ``metrics.groups``; None: not checked)."""
    if objective is None:
        return
    for name in parse_objective(objective):
        group = NAMES[name]
        require(
            groups is None or group is None or group in groups,
            "objective",
            objective,
            f"{name} is a {group} metric: add {group} to metrics.groups, or choose another objective",
        )


def objective_value(objective: str, summary: dict) -> float:
    """``objective`` computed from a run's summary (the contents of its ``summary.json``)."""
    means = summary.get("mean", {})
    values = []
    for name in parse_objective(objective):
        value = means.get(name)
        if value is None or not math.isfinite(value):
            have = ", ".join(k for k in means if k in NAMES) or "none"
            raise VideoAttrError(
                f"Objective {objective} needs the mean {name}, which this run's summary.json lacks (it has {have}): "
                "compute it (localisation needs a dataset with masks) or choose another objective."
            )
        values.append(float(value))
    return values[0] - values[1] if len(values) == 2 else values[0]


def run_objective(objective: str | None, run_dir: Path) -> float | None:
    """The objective of the run in ``run_dir`` (from its ``summary.json``); None when ``objective`` is
    None or the run wrote no summary (a DDP rank other than 0)."""
    path = Path(run_dir) / "summary.json"
    if objective is None or not path.is_file():
        return None
    return objective_value(objective, json.loads(path.read_text()))
