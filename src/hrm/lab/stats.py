"""Statistics over seeds: Student's t distribution (closed form, no SciPy) and the mean ± sd with a t-interval."""

from __future__ import annotations

import math
from collections.abc import Sequence


def t_cdf(t: float, df: int) -> float:
    """Student's t CDF for an integer number of degrees of freedom (closed form, Abramowitz & Stegun 26.7.3-4)."""
    if df < 1:
        raise ValueError("df must be >= 1")
    theta = math.atan(t / math.sqrt(df))
    if df == 1:
        a = 2 * theta / math.pi
    elif df % 2 == 1:
        total, term = math.cos(theta), math.cos(theta)
        for k in range(3, df, 2):
            term *= (k - 1) / k * math.cos(theta) ** 2
            total += term
        a = 2 / math.pi * (theta + math.sin(theta) * total)
    else:
        total, term = 1.0, 1.0
        for k in range(2, df, 2):
            term *= (k - 1) / k * math.cos(theta) ** 2
            total += term
        a = math.sin(theta) * total
    return 0.5 + 0.5 * a


def t_quantile(p: float, df: int) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on :func:`t_cdf`)."""
    lo, hi = -1e3, 1e3
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def mean_sd_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float | None, float | None]:
    """Mean, sample standard deviation and the half-width of the ``level`` t-interval (None with one value)."""
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, sd, t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
