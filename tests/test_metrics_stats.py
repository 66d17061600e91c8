"""Means, intervals and differences, against SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from vidsynth.metrics import stats


@pytest.mark.parametrize("df", [1, 2, 4.5, 9, 29, 199])
def test_student_t_quantile_matches_scipy(df):
    for p in (0.975, 0.9, 0.5, 0.025):
        assert stats.student_t_quantile(p, df) == pytest.approx(sps.t.ppf(p, df), abs=1e-9)


def test_summary_is_mean_sample_std_and_the_t_interval():
    x = np.array([3.1, 2.7, 3.9, 4.2, 3.3, 2.8])
    s = stats.summarize(x)
    lo, hi = sps.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=sps.sem(x))
    assert s["mean"] == pytest.approx(x.mean()) and s["std"] == pytest.approx(x.std(ddof=1))
    assert s["ci95"] == pytest.approx([lo, hi]) and s["n"] == 6


def test_missing_values_are_left_out_and_counted():
    s = stats.summarize([1.0, float("nan"), 3.0, float("inf")])
    assert s["mean"] == 2.0 and s["n"] == 2 and s["n_missing"] == 2


def test_one_value_has_a_mean_but_no_interval():
    assert stats.summarize([5.0]) == {"mean": 5.0, "std": None, "ci95": None, "n": 1, "n_missing": 0}


def test_paired_difference_is_the_interval_of_per_clip_differences():
    a = np.array([20.1, 22.3, 19.8, 25.0, 21.7])
    b = a - np.array([0.5, 0.7, 0.4, 0.6, 0.5])
    d = stats.paired_difference(a, b)
    result = sps.ttest_rel(a, b)
    assert d["mean"] == pytest.approx(0.54)
    assert d["ci95"] == pytest.approx(list(result.confidence_interval(0.95)))


def test_welch_difference_matches_scipy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 1.0, 12), rng.normal(0.0, 2.0, 20)
    d = stats.welch_difference(a, b)
    expected = sps.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert d["mean"] == pytest.approx(a.mean() - b.mean()) and d["ci95"] == pytest.approx(list(expected))


def test_verdict_reads_the_interval_in_the_metrics_direction():
    up = {"ci95": [0.1, 0.3]}
    down = {"ci95": [-0.3, -0.1]}
    around = {"ci95": [-0.1, 0.2]}
    assert stats.verdict(up, higher_is_better=True) == "better"
    assert stats.verdict(up, higher_is_better=False) == "worse"
    assert stats.verdict(down, higher_is_better=False) == "better"
    assert stats.verdict(around, higher_is_better=True) == "no clear difference"
    assert stats.verdict(up, higher_is_better=None) is None
