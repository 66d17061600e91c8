"""Summary statistics for a report: mean, standard deviation and 95% intervals, also of differences.

A 95% interval is the Student t interval of the mean over test clips, ``mean ± t(0.975, n-1) s / sqrt(n)``
(``s`` the sample standard deviation). For a model against a baseline on the same clips the interval is
of the per-clip (paired) difference, which is much narrower than comparing two separate intervals; for
unpaired sets (unconditional samples against real clips) it is Welch's interval of the difference of
means. The t quantile is computed here (regularized incomplete beta by continued fraction, then
bisection) so the core needs no SciPy; a test checks it against ``scipy.stats.t.ppf``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, as in Numerical Recipes)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        step = d * c
        h *= step
        if abs(step - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def student_t_cdf(x: float, df: float) -> float:
    """P(T <= x) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + x * x))
    return 1.0 - tail if x >= 0 else tail


def student_t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on the CDF, to ~1e-12)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"quantile needs 0 < p < 1, got {p}")
    if p < 0.5:
        return -student_t_quantile(1.0 - p, df)
    lo, hi = 0.0, 1.0
    while student_t_cdf(hi, df) < p:
        hi *= 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        if student_t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2.0


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    return x[np.isfinite(x)]


def summarize(values: Sequence[float] | np.ndarray, level: float = 0.95) -> dict[str, Any]:
    """Mean, sample std and the t interval of the mean of the finite values (NaN/inf are left out).

    Returns ``{"mean", "std", "ci95": [lo, hi], "n", "n_missing"}``; entries that need more values than
    there are (std and interval with n < 2) are None.
    """
    raw = np.asarray(values, dtype=np.float64).ravel()
    x = _finite(raw)
    n = int(x.size)
    out: dict[str, Any] = {"mean": None, "std": None, "ci95": None, "n": n, "n_missing": int(raw.size - n)}
    if n == 0:
        return out
    out["mean"] = float(x.mean())
    if n >= 2:
        std = float(x.std(ddof=1))
        half = student_t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
        out["std"] = std
        out["ci95"] = [out["mean"] - half, out["mean"] + half]
    return out


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Mean of ``a[i] - b[i]`` over the pairs where both are finite, with its t interval."""
    a_, b_ = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if a_.shape != b_.shape:
        raise ValueError(f"paired difference of {a_.size} and {b_.size} values")
    out = summarize(a_ - b_, level)
    out["paired"] = True
    return out


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Difference of means ``mean(a) - mean(b)`` of two independent samples, with Welch's t interval."""
    x, y = _finite(a), _finite(b)
    out: dict[str, Any] = {"mean": None, "std": None, "ci95": None, "n": int(min(x.size, y.size)), "paired": False}
    if x.size == 0 or y.size == 0:
        return out
    out["mean"] = float(x.mean() - y.mean())
    if x.size >= 2 and y.size >= 2:
        vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
        se = math.sqrt(vx + vy)
        if se == 0:
            out["ci95"] = [out["mean"], out["mean"]]
        else:
            df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
            half = student_t_quantile(0.5 + level / 2, df) * se
            out["ci95"] = [out["mean"] - half, out["mean"] + half]
        out["se"] = se  # standard error of the difference; no per-pair std exists for unpaired sets
    return out


def verdict(difference: dict[str, Any], higher_is_better: bool | None) -> str | None:
    """'better', 'worse' or 'no clear difference' for a model-minus-baseline interval; None if undecidable."""
    ci = difference.get("ci95")
    if higher_is_better is None or ci is None:
        return None
    lo, hi = ci
    if lo > 0:
        return "better" if higher_is_better else "worse"
    if hi < 0:
        return "worse" if higher_is_better else "better"
    return "no clear difference"
