"""Statistics every floor shares: the interval on a measured accuracy.

An accuracy over N labelled images is a binomial proportion: 360 images at 95% carry a
standard error near 1.1 points, so two builds whose intervals overlap are not told apart by
the data. Wilson's score interval keeps its coverage near 95% even at accuracies close to 1
and for small N, where the normal approximation collapses to a zero-width interval.
"""

from __future__ import annotations

import math

#: Two-sided 95% normal quantile.
Z_95 = 1.959963984540054


def wilson_interval(correct: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval of ``correct / total`` (``(0, 1)`` when ``total`` is 0)."""
    if total <= 0:
        return 0.0, 1.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    low = 0.0 if correct <= 0 else max(0.0, centre - half)
    high = 1.0 if correct >= total else min(1.0, centre + half)
    return low, high


def accuracy_interval(accuracy: float, eval_size: int) -> tuple[float, float]:
    """The 95% interval of an accuracy measured on ``eval_size`` images."""
    return wilson_interval(round(accuracy * eval_size), eval_size)


def accuracies_tie(a: float, n_a: int, b: float, n_b: int) -> bool:
    """Whether two accuracies cannot be told apart: each lies inside the other's 95% interval."""
    low_a, high_a = accuracy_interval(a, n_a)
    low_b, high_b = accuracy_interval(b, n_b)
    return low_a <= b <= high_a or low_b <= a <= high_b
