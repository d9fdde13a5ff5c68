"""What a run records of one explained clip: its result rows (``results.csv``), the arrays of its
``.npz``, its figure and animation; and the means of a run's rows (``summary.json``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from videoattr.methods import PERTURBATION_METHODS, Explanation
from videoattr.methods.polarity import display_normalize
from videoattr.temporal import frame_kept, frame_relevance, summary
from videoattr.viz import probability_line

# Identities, not quantities: left out of the means.
# Identities and the temporal view's frame positions (per clip: a mean peak frame over clips says nothing).
NOT_AVERAGED = ("target", "predicted", "seed", "peak_frame", "half_mass_start", "half_mass_frames")


@dataclass
class ClipResult:
    """One clip of an explained batch.

    maps: A x T x H x W raw relevance; areas: the A areas (NaN for a method without areas); extras:
    the method's per-clip arrays (e.g. ``prob_preserved`` A); history: per loss term A x iterations;
    combined: the 1 x T x H x W map combined from the areas (``method.combine=sum``) or None;
    probabilities: softmax over every class on the clean clip.
    """

    name: str
    label: str
    target: int
    maps: np.ndarray
    areas: list[float]
    probabilities: np.ndarray
    prob_baseline: float
    seconds: float
    frames: np.ndarray
    frame_indices: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)
    combined: np.ndarray | None = None

    @property
    def predicted(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def target_prob(self) -> float:
        return float(self.probabilities[self.target])

    def scored_maps(self) -> np.ndarray:
        """The maps that get result rows and metrics: one per area, then the combined one if any."""
        return self.maps if self.combined is None else np.concatenate([self.maps, self.combined])

    def frame_relevance(self) -> np.ndarray:
        """M x T: the share of each scored map's mass in each frame (``videoattr.temporal``)."""
        return frame_relevance(self.scored_maps())


def clip_result(
    result: Explanation, i: int, item: dict, logits: torch.Tensor, target: int, seconds: float, prob_baseline: float
) -> ClipResult:
    """Clip ``i`` of a batch's ``Explanation``, with its dataset ``item`` and clean ``logits``."""
    extras = {k: as_numpy(v[i]) for k, v in result.extras.items() if not isinstance(v, dict)}
    return ClipResult(
        name=item["name"],
        label=item["label"],
        target=target,
        maps=result.maps[i].detach().float().cpu().numpy(),
        areas=result.areas or [float("nan")],
        probabilities=torch.softmax(logits.float(), dim=0).cpu().numpy(),
        prob_baseline=prob_baseline,
        seconds=seconds,
        frames=item["frames"].numpy(),
        frame_indices=item["frame_indices"].numpy(),
        extras={k: v for k, v in extras.items() if k != "combined"},
        history={k: as_numpy(v[i]) for k, v in result.extras.get("history", {}).items()},
        combined=extras.get("combined"),
    )


def as_numpy(value) -> np.ndarray:
    """A tensor (on any device) or array-like as a NumPy array."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def result_rows(clip: ClipResult, model: str, method: str, seed: int, metrics: list[dict], label_of) -> list[dict]:
    """One ``results.csv`` row per map of ``clip.scored_maps()``, with that map's ``metrics``.
    ``label_of`` names a class index."""
    base = {
        "clip": clip.name,
        "label": clip.label,
        "target": clip.target,
        "target_name": label_of(clip.target),
        "predicted": clip.predicted,
        "predicted_name": label_of(clip.predicted),
        "target_prob": clip.target_prob,
        "prob_baseline": clip.prob_baseline,
        "model": model,
        "method": method,
    }
    per_area = {k: v for k, v in clip.extras.items() if v.ndim == 1 and len(v) == len(clip.areas)}
    when = [summary(curve) for curve in clip.frame_relevance()]
    rows = []
    for a, area in enumerate(clip.areas):
        row = dict(base, area=area, map="single", seed=seed, seconds=clip.seconds)
        row.update({k: float(v[a]) for k, v in per_area.items()})
        if "objective_met" in row:  # the fit diagnostics' flag: True, False, or None (not judged)
            row["objective_met"] = None if np.isnan(row["objective_met"]) else bool(row["objective_met"])
        rows.append(dict(row, **when[a], **metrics[a]))
    if clip.combined is not None:
        combined = dict(base, area=float("nan"), map="combined", seed=seed, seconds=clip.seconds, **when[-1])
        rows.append(dict(combined, **metrics[-1]))
    return rows


def clip_arrays(
    clip: ClipResult, model: str, method: str, seed: int, curves: dict[str, np.ndarray], maps_dtype: str = "float32"
) -> dict:
    """The arrays of the clip's ``.npz`` (besides its rows and the config hash, added by the store), with
    ``frame_relevance`` (M x T, the scored maps' mass per frame) and for perturbation masks ``frame_kept``
    (M x T, the fraction of each frame kept). ``maps`` and ``combined`` are stored as ``maps_dtype``; every
    number of the rows is computed from the full-precision maps before."""
    arrays = dict(
        maps=clip.maps.astype(maps_dtype),
        areas=np.asarray(clip.areas, dtype=np.float64),
        target=clip.target,
        predicted=clip.predicted,
        probabilities=clip.probabilities,
        prob_baseline=clip.prob_baseline,
        label=clip.label,
        method=method,
        model=model,
        seed=seed,
        frame_indices=clip.frame_indices,
        frame_relevance=clip.frame_relevance(),
        **clip.extras,
        **{f"history_{k}": v for k, v in clip.history.items()},
        **curves,
    )
    if clip.combined is not None:
        arrays["combined"] = clip.combined.astype(maps_dtype)
    if method in PERTURBATION_METHODS:
        arrays["frame_kept"] = frame_kept(clip.scored_maps())
    return arrays


def display_maps(maps: np.ndarray, method: str) -> np.ndarray:
    """A x T x H x W raw maps -> [0, 1] for figures (masks and Grad-CAM are already in [0, 1])."""
    if method in PERTURBATION_METHODS + ("grad_cam",):
        return np.clip(maps, 0.0, 1.0)
    return np.stack([display_normalize(torch.from_numpy(m)).numpy() for m in maps])


def figure_rows(clip: ClipResult, method: str) -> tuple[np.ndarray, list[str]]:
    """The maps a clip's figure shows, in [0, 1], and the name of each row."""
    names = [f"area {a:g}" for a in clip.areas] if not np.isnan(clip.areas[0]) else [method]
    names += ["combined"] if clip.combined is not None else []
    return display_maps(clip.scored_maps(), method), names


def figure_curves(clip: ClipResult, method: str) -> tuple[np.ndarray, str]:
    """The per-frame curves a clip's figure draws under its frames (M x T) and their axis label: the kept
    fraction of each frame for perturbation masks, else the share of each map's mass."""
    if method in PERTURBATION_METHODS:
        return frame_kept(clip.scored_maps()), "kept fraction"
    return clip.frame_relevance(), "share of mass"


def figure_title(clip: ClipResult, model: str, method: str, label_of) -> str:
    return f"{clip.name}: {method} on {model}, target {label_of(clip.target)}\n" + probability_line(
        clip.target_prob, clip.prob_baseline, clip.extras.get("prob_preserved"), clip.extras.get("prob_deleted")
    )


def means(rows: list[dict]) -> dict:
    """Mean of every numeric key of ``rows`` over its finite values (identities left out)."""
    numeric = {}
    for key in dict.fromkeys(k for r in rows for k in r):
        values = [r[key] for r in rows if isinstance(r.get(key), int | float) and not np.isnan(r[key])]
        if values and key not in NOT_AVERAGED:
            numeric[key] = float(np.nanmean(values))
    return numeric
