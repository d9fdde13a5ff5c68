"""How far to trust a metric: do its rankings of the methods agree across clips, and does each method beat
a random map?

Tomsett et al. ("Sanity Checks for Saliency Metrics", AAAI 2020) and the video study of Li et al. (TCSVT
2021) rank the methods on each clip (image, video) by a metric and ask whether the rankings agree from
one clip to the next: a metric whose ranking changes with every clip cannot tell the methods apart. The
clips are the raters and the methods the rated objects:

- ``kendall_w``: Kendall's coefficient of concordance W of the rankings (0: no agreement, 1: every
  clip ranks the methods alike), with the tie correction, and the p-value of Friedman's chi-square
  m (n - 1) W (n - 1 degrees of freedom; m clips, n methods) against "no agreement";
  ``kendall_w_se``: its jackknife standard error over the clips (how much W moves with the clips it was
  measured on: compare metrics by it, not by W alone);
- ``krippendorff_alpha``: Krippendorff's alpha of the ranks at the ordinal or interval level (1:
  perfect agreement, 0: chance level, negative: systematic disagreement); it also accepts missing
  values (NaN).

``versus_baseline`` tests one method against a baseline (the random map) clip by clip: wins, losses and
ties, the one-sided sign test and the one-sided Wilcoxon signed-rank test (scipy) of "the method is
better".

Torch-free (numpy, scipy): it runs on a results table (``all_results.csv``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

LEVELS = ("nominal", "ordinal", "interval", "ratio")


def rank_within(scores: np.ndarray) -> np.ndarray:
    """Rank each row of ``scores`` (raters x objects), 1 = lowest, ties averaged; NaN stays NaN."""
    scores = np.asarray(scores, np.float64)
    ranks = np.full_like(scores, np.nan)
    for r, row in enumerate(scores):
        known = ~np.isnan(row)
        ranks[r, known] = stats.rankdata(row[known])
    return ranks


def kendall_w(scores: np.ndarray) -> tuple[float, float]:
    """Kendall's W (tie-corrected) of ``scores`` (m raters x n objects; each row is ranked, ties averaged)
    and the p-value of chi-square = m (n - 1) W with n - 1 degrees of freedom. Raters with a missing
    value are left out; (NaN, NaN) with fewer than 2 raters or objects, or when every rater ties every
    object."""
    scores = np.asarray(scores, np.float64)
    scores = scores[~np.isnan(scores).any(axis=1)]
    m, n = scores.shape if scores.ndim == 2 else (0, 0)
    if m < 2 or n < 2:
        return math.nan, math.nan
    w = _w_of_ranks(rank_within(scores), _tie_terms(rank_within(scores)))
    if math.isnan(w):
        return math.nan, math.nan
    return w, float(stats.chi2.sf(m * (n - 1) * w, n - 1))


def _tie_terms(ranks: np.ndarray) -> np.ndarray:
    """Per rater, the sum of t^3 - t over its groups of t tied ranks."""
    return np.array(
        [((counts**3) - counts).sum() for counts in (np.unique(row, return_counts=True)[1] for row in ranks)]
    )


def _w_of_ranks(ranks: np.ndarray, ties: np.ndarray) -> float:
    m, n = ranks.shape
    sums = ranks.sum(axis=0)
    denominator = m**2 * (n**3 - n) - m * ties.sum()
    return float(12 * ((sums - sums.mean()) ** 2).sum() / denominator) if denominator > 0 else math.nan


def kendall_w_se(scores: np.ndarray) -> float:
    """The jackknife standard error of Kendall's W over the raters (clips): how much W moves with the
    clips it was measured on. (A bootstrap over raters is biased upwards for W: a rater drawn twice agrees
    with itself.) Raters with a missing value are left out, as in ``kendall_w``; NaN with fewer than 3."""
    scores = np.asarray(scores, np.float64)
    scores = scores[~np.isnan(scores).any(axis=1)]
    if scores.ndim != 2 or scores.shape[0] < 3 or scores.shape[1] < 2:
        return math.nan
    ranks = rank_within(scores)
    ties = _tie_terms(ranks)
    m = len(ranks)
    values = np.array([_w_of_ranks(np.delete(ranks, i, axis=0), np.delete(ties, i)) for i in range(m)])
    if np.isnan(values).any():
        return math.nan
    return float(np.sqrt((m - 1) / m * ((values - values.mean()) ** 2).sum()))


def krippendorff_alpha(data: np.ndarray, level: str = "ordinal") -> float:
    """Krippendorff's alpha of ``data`` (coders x units, NaN = missing) at ``level`` (nominal, ordinal,
    interval or ratio), from the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability"). Units with fewer than two values are left out; NaN when no two values differ."""
    if level not in LEVELS:
        raise ValueError(f"Unknown level '{level}': choose one of {', '.join(LEVELS)}.")
    data = np.asarray(data, np.float64)
    values = np.unique(data[~np.isnan(data)])
    if values.size < 2:
        return math.nan
    # counts[u, v]: how many coders gave unit u the value v
    counts = np.stack([(data == v).sum(axis=0) for v in values], axis=1).astype(np.float64)
    pairable = counts.sum(axis=1)
    counts, pairable = counts[pairable >= 2], pairable[pairable >= 2]
    if counts.size == 0:
        return math.nan
    coincidence = np.einsum("uc,uk->ck", counts / (pairable - 1)[:, None], counts)
    coincidence -= np.diag((counts / (pairable - 1)[:, None]).sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    delta = _distance(values, marginals, level)
    observed = (coincidence * delta).sum()
    expected = (np.outer(marginals, marginals) * delta).sum() / (total - 1)
    return float(1 - observed / expected) if expected > 0 else math.nan


def _distance(values: np.ndarray, marginals: np.ndarray, level: str) -> np.ndarray:
    """The squared difference function delta^2(c, k) of Krippendorff's alpha at ``level``."""
    c, k = np.meshgrid(values, values, indexing="ij")
    if level == "nominal":
        return (c != k).astype(np.float64)
    if level == "interval":
        return (c - k) ** 2
    if level == "ratio":
        total = c + k
        return np.where(total != 0, ((c - k) / np.where(total != 0, total, 1)) ** 2, 0.0)
    cumulative = np.cumsum(marginals)
    i, j = np.meshgrid(np.arange(values.size), np.arange(values.size), indexing="ij")
    low, high = np.minimum(i, j), np.maximum(i, j)
    between = cumulative[high] - np.where(low > 0, cumulative[low - 1], 0.0)
    return (between - (marginals[i] + marginals[j]) / 2) ** 2


def versus_baseline(method: np.ndarray, baseline: np.ndarray, higher_is_better: bool = True) -> dict[str, float]:
    """Paired comparison of a method's scores with a baseline's on the same clips (NaN pairs left out).

    Returns ``clips`` (pairs compared), ``wins``, ``losses``, ``ties`` (equal within 1e-12),
    ``median_difference`` (method - baseline, signed so that positive is better), ``sign_p`` (one-sided
    exact binomial test of wins against losses, ties dropped) and ``wilcoxon_p`` (one-sided Wilcoxon
    signed-rank test, zero differences dropped; exact for fewer than 50 pairs; NaN when every pair ties).
    """
    method, baseline = np.asarray(method, np.float64), np.asarray(baseline, np.float64)
    keep = ~(np.isnan(method) | np.isnan(baseline))
    diff = (method - baseline)[keep] * (1.0 if higher_is_better else -1.0)
    diff = np.where(np.abs(diff) <= 1e-12, 0.0, diff)
    wins, losses = int((diff > 0).sum()), int((diff < 0).sum())
    row = {
        "clips": int(keep.sum()),
        "wins": wins,
        "losses": losses,
        "ties": int(keep.sum()) - wins - losses,
        "median_difference": float(np.median(diff)) if diff.size else math.nan,
        "sign_p": float(stats.binomtest(wins, wins + losses, 0.5, alternative="greater").pvalue)
        if wins + losses
        else math.nan,
        "wilcoxon_p": math.nan,
    }
    if wins + losses:
        row["wilcoxon_p"] = float(stats.wilcoxon(diff[diff != 0], alternative="greater").pvalue)
    return row


# ------------------------------------------------------------------------------------- on a results table

# Metrics with a better direction (the others, e.g. smoothness, have none and are not tested against random).
HIGHER_IS_BETTER = {"pointing_game": True, "energy_in_mask": True, "mass_in_evidence_frames": True}


def better_is_higher(metric: str) -> bool | None:
    """True / False for a metric whose higher / lower values are better, None for one with no direction."""
    if metric.startswith("deletion_auc"):
        return False
    if metric.startswith("insertion_auc"):
        return True
    return HIGHER_IS_BETTER.get(metric)


def scored_metrics(results) -> list[str]:
    """The columns of ``results`` that are metrics with a direction, in the table's order."""
    return [c for c in results.columns if better_is_higher(c) is not None and results[c].notna().any()]


def method_label(row) -> str:
    """A map's name in the tables: the method, its area if any, ``(combined)`` for a combined map."""
    label = str(row["method"])
    if row.get("map") == "combined":
        return label if "combined" in label else f"{label} (combined)"
    area = row.get("area")
    return label if area is None or area != area else f"{label} {area:g}"


def by_clip(results, metric: str):
    """clips x maps table of ``metric`` (maps labelled by ``method_label``)."""
    labelled = results.assign(label=[method_label(r) for r in results.to_dict("records")])
    return labelled.pivot_table(index="clip", columns="label", values=metric, aggfunc="mean", dropna=False)


def agreement_table(results, metrics: list[str] | None = None):
    """One row per metric: how alike the clips rank the maps (``kendall_w``, its ``kendall_p`` and its
    jackknife standard error over the clips ``kendall_w_se``; ``alpha_ordinal`` and ``alpha_interval`` of
    the ranks), over ``clips`` clips and ``maps`` maps."""
    import pandas as pd

    rows = []
    for metric in metrics or scored_metrics(results):
        wide = by_clip(results, metric).dropna(axis=1, how="all")
        ranks = rank_within(wide.to_numpy())
        w, p = kendall_w(wide.to_numpy())
        se = kendall_w_se(wide.to_numpy())
        rows.append(
            {
                "metric": metric,
                "clips": int(wide.notna().any(axis=1).sum()),
                "maps": wide.shape[1],
                "kendall_w": w,
                "kendall_p": p,
                "kendall_w_se": se,
                "alpha_ordinal": krippendorff_alpha(ranks, "ordinal"),
                "alpha_interval": krippendorff_alpha(ranks, "interval"),
            }
        )
    return pd.DataFrame(rows)


def versus_random_table(results, baseline: str = "random", metrics: list[str] | None = None):
    """One row per metric and map other than ``baseline``'s: ``versus_baseline`` of its scores against the
    baseline's on the same clips (empty when the results hold no ``baseline`` map)."""
    import pandas as pd

    rows = []
    for metric in metrics or scored_metrics(results):
        wide = by_clip(results, metric)
        if baseline not in wide:
            continue
        for label in wide.columns:
            if label != baseline and wide[label].notna().any():
                test = versus_baseline(wide[label].to_numpy(), wide[baseline].to_numpy(), better_is_higher(metric))
                rows.append({"metric": metric, "map": label, **test})
    return pd.DataFrame(rows)
