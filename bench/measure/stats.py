"""Small statistics for accuracy figures: Wilson intervals and the exact McNemar test (scipy)."""

from __future__ import annotations

import math


def wilson(correct: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """Wilson score 95% interval for a proportion, in percent (sane at n=5, unlike the normal one)."""
    if n == 0:
        return (math.nan, math.nan)
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (round(100 * max(0.0, centre - half), 4), round(100 * min(1.0, centre + half), 4))


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs: scipy's binomial test at p=1/2.

    (scipy sums the tail in floating point: 5,000 discordant pairs take well under a millisecond,
    where summing exact binomial coefficients was quadratic.)
    """
    n = b + c
    if n == 0:
        return 1.0
    from scipy.stats import binomtest

    return float(min(1.0, binomtest(min(b, c), n, 0.5, alternative="two-sided").pvalue))
