"""The accuracy interval: Wilson's formula, its coverage, and when two accuracies tie."""

from __future__ import annotations

import numpy as np
import pytest

from dse.core.stats import accuracies_tie, accuracy_interval, wilson_interval


def test_wilson_matches_the_formula_and_its_edges() -> None:
    low, high = wilson_interval(342, 360)  # 95% on the digits evaluation split
    assert low == pytest.approx(0.92236, abs=1e-4) and high == pytest.approx(0.96814, abs=1e-4)
    assert wilson_interval(360, 360)[1] == 1.0 and wilson_interval(360, 360)[0] < 0.99
    assert wilson_interval(0, 5) == (0.0, pytest.approx(0.4345, abs=1e-3))
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("p", "n"), [(0.95, 360), (0.98, 360), (0.5, 40), (0.9, 1000)])
def test_wilson_covers_the_true_accuracy_about_95_percent_of_the_time(p: float, n: int) -> None:
    rng = np.random.default_rng(0)
    hits = rng.binomial(n, p, size=4000)
    covered = np.mean([lo <= p <= hi for lo, hi in (wilson_interval(int(k), n) for k in hits)])
    assert 0.935 <= covered <= 0.975, covered  # near 95%, never the 60-80% of a zero-width interval


def test_one_image_of_360_is_a_tie_ten_points_are_not() -> None:
    assert accuracies_tie(0.9500, 360, 0.9528, 360)
    assert not accuracies_tie(0.85, 360, 0.95, 360)
    low, high = accuracy_interval(0.95, 360)
    assert high - low > 0.04  # the width a user must read any difference against
