"""Metric reliability: Krippendorff's alpha and Kendall's W against worked examples from the literature, the
tests against the random map, and the benchmark's reliability tables."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from benchmarks.reliability import write_reliability
from videoattr.errors import VideoAttrError
from videoattr.metrics.reliability import (
    agreement_table,
    better_is_higher,
    kendall_w,
    kendall_w_se,
    krippendorff_alpha,
    method_label,
    rank_within,
    versus_baseline,
    versus_random_table,
)

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers (rows) x 12
# units, missing values; alpha = 0.743 nominal, 0.815 ordinal, 0.849 interval, 0.797 ratio.
KRIPPENDORFF_C = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


@pytest.mark.parametrize(
    ("level", "alpha"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)]
)
def test_krippendorff_alpha_of_krippendorffs_worked_example(level, alpha):
    assert krippendorff_alpha(KRIPPENDORFF_C, level) == pytest.approx(alpha, abs=5e-4)


def test_krippendorff_alpha_limits():
    ranks = np.tile(np.arange(1.0, 6.0), (4, 1))  # 4 coders give 5 units the same values
    assert krippendorff_alpha(ranks, "ordinal") == 1.0 == krippendorff_alpha(ranks, "interval")
    assert math.isnan(krippendorff_alpha(np.ones((3, 4))))  # no variation: alpha is undefined
    # two coders in perfect inverse order disagree systematically
    assert krippendorff_alpha(np.array([[1.0, 2, 3, 4], [4, 3, 2, 1]]), "interval") < 0
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(ranks, "cardinal")


def test_kendall_w_of_worked_examples():
    # ProofWiki, "Kendall's Coefficient of Concordance/Examples/Arbitrary Example 1": 4 judges rank 3
    # competitors; W = 1/16
    judges = np.array([[1, 3, 2], [1, 2, 3], [2, 3, 1], [3, 1, 2]])
    assert kendall_w(judges)[0] == pytest.approx(1 / 16)
    # 4 judges rank 10 projects, sum of squared deviations of the rank sums 1048: W = 12 x 1048 / (16 x 990)
    projects = np.array(
        [
            [1, 3, 4, 5, 2, 8, 6, 7, 10, 9],
            [2, 1, 4, 5, 6, 3, 8, 7, 10, 9],
            [3, 2, 1, 5, 7, 4, 6, 8, 9, 10],
            [4, 2, 3, 1, 6, 7, 5, 9, 8, 10],
        ]
    )
    w, p = kendall_w(projects)
    assert w == pytest.approx(12 * 1048 / (16 * 10 * 99)) == pytest.approx(0.7939, abs=1e-4)
    assert p == pytest.approx(stats.chi2.sf(4 * 9 * w, 9))


def test_kendall_w_with_ties_is_friedmans_chi_square_over_m_n_minus_1():
    scores = np.random.default_rng(0).integers(0, 4, size=(6, 5)).astype(float)  # many ties
    w, p = kendall_w(scores)
    friedman = stats.friedmanchisquare(*scores.T)
    assert w == pytest.approx(friedman.statistic / (6 * 4)) and p == pytest.approx(friedman.pvalue)
    # a rater with a missing value is left out; one rater is no agreement to measure
    with_gap = np.vstack([scores, [1, NAN, 2, 3, 4]])
    assert kendall_w(with_gap) == pytest.approx((w, p))
    assert all(math.isnan(v) for v in kendall_w(scores[:1]))


def test_kendall_w_jackknife_standard_error_over_the_raters():
    scores = np.random.default_rng(1).random((8, 6)) + np.arange(6) * 0.3  # agreement plus noise
    leave_one_out = np.array([kendall_w(np.delete(scores, i, axis=0))[0] for i in range(8)])
    expected = math.sqrt(7 / 8 * ((leave_one_out - leave_one_out.mean()) ** 2).sum())
    assert kendall_w_se(scores) == pytest.approx(expected) and 0 < expected < 0.2
    assert kendall_w_se(np.tile(np.arange(5.0), (4, 1))) == 0.0  # every clip ranks alike: W is 1 without any clip
    assert math.isnan(kendall_w_se(scores[:2]))


def test_rank_within_averages_ties_and_keeps_missing_values():
    ranks = rank_within(np.array([[0.3, 0.1, 0.3, NAN]]))
    assert ranks[0, :3].tolist() == [2.5, 1.0, 2.5] and math.isnan(ranks[0, 3])


def test_versus_baseline_counts_wins_and_tests_them():
    method = np.array([0.2, 0.3, 0.1, 0.4, 0.5, 0.25, NAN, 0.6])
    random = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.4])
    # deletion: lower is better, so the method wins on 5 of 7 pairs, ties once, loses once
    row = versus_baseline(method, random, higher_is_better=False)
    assert (row["clips"], row["wins"], row["losses"], row["ties"]) == (7, 5, 1, 1)
    assert row["sign_p"] == pytest.approx(stats.binomtest(5, 6, 0.5, alternative="greater").pvalue)
    differences = (random - method)[[0, 1, 2, 3, 5, 7]]  # the pairs that are not tied or missing
    assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(differences, alternative="greater").pvalue)
    assert row["median_difference"] == pytest.approx(0.2)
    assert versus_baseline(np.ones(8), np.zeros(8))["sign_p"] == pytest.approx(1 / 256)
    tied = versus_baseline(np.ones(3), np.ones(3))
    assert tied["ties"] == 3 and math.isnan(tied["sign_p"]) and math.isnan(tied["wilcoxon_p"])


def results_table() -> pd.DataFrame:
    """4 clips; 'good' always beats 'bad', which always beats 'random'; a mask with two areas."""
    rows = []
    for c, clip in enumerate("abcd"):
        for method, area, score in (("good", NAN, 0.9), ("mask", 0.05, 0.6), ("mask", 0.1, 0.5), ("random", NAN, 0.1)):
            noise = 0.01 * c
            rows.append(
                {
                    "job": method,
                    "clip": clip,
                    "method": method,
                    "area": area,
                    "map": "single",
                    "energy_in_mask": score + noise,
                    "deletion_auc": 1 - score - noise,
                    "tv_space": [0.3, 0.1, 0.2, 0.4][c],
                }
            )
    return pd.DataFrame(rows)


def test_tables_on_a_results_table_with_perfect_agreement():
    results = results_table()
    assert [method_label(r) for r in results.to_dict("records")][:4] == ["good", "mask 0.05", "mask 0.1", "random"]
    assert (better_is_higher("deletion_auc_zero_supervoxels"), better_is_higher("tv_space")) == (False, None)
    agreement = agreement_table(results).set_index("metric")
    assert list(agreement.index) == ["energy_in_mask", "deletion_auc"]  # tv_space has no better direction
    assert (agreement["kendall_w"] == 1.0).all() and (agreement["alpha_ordinal"] == 1.0).all()
    assert (agreement["clips"] == 4).all() and (agreement["maps"] == 4).all()
    versus = versus_random_table(results)
    assert set(versus["map"]) == {"good", "mask 0.05", "mask 0.1"} and (versus["wins"] == 4).all()
    assert versus["sign_p"].tolist() == pytest.approx([1 / 16] * 6)


def test_reliability_files_of_a_benchmark_directory(tmp_path):
    results_table().to_csv(tmp_path / "all_results.csv", index=False)
    text = write_reliability(tmp_path)
    assert "| energy_in_mask | 4 | 4 | 1.000 ± 0.000 |" in text
    assert "| mask 0.05 | 4/4 (0.062) | 4/4 (0.062) |" in text
    assert len(pd.read_csv(tmp_path / "reliability.csv")) == 2
    assert len(pd.read_csv(tmp_path / "reliability_vs_random.csv")) == 6
    assert (tmp_path / "reliability.md").read_text() == text
    with pytest.raises(VideoAttrError, match="all_results.csv does not exist"):
        write_reliability(tmp_path / "missing")


def test_the_report_shows_the_reliability_tables_of_a_directory(tmp_path):
    from videoattr.report import fmt
    from videoattr.report_trust import reliability_view

    assert reliability_view(tmp_path, fmt) is None  # no tables: no section
    results_table().to_csv(tmp_path / "all_results.csv", index=False)
    write_reliability(tmp_path)
    view = reliability_view(tmp_path, fmt)
    agreement = dict(zip([row[0] for row in view["agreement"]["rows"]], view["agreement"]["rows"]))
    assert view["agreement"]["columns"][:4] == ["metric", "clips", "maps", "kendall_w"]
    assert agreement["energy_in_mask"][1:4] == ["4", "4", "1"]  # 4 clips, 4 maps, W = 1
    versus = view["versus"]
    assert versus["columns"] == ["map", "metric", "wins", "clips", "wilcoxon_p"] and len(versus["rows"]) == 6
    assert ["mask 0.05", "energy_in_mask", "4", "4", "0.0625"] in versus["rows"]
