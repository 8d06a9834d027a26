"""Replication statistics: t intervals and batch means."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.statistics import batch_means, half_width, largest_remainder, mean_ci, t_quantile


@pytest.mark.exact
def test_mean_ci_hand_computed() -> None:
    # values 1..5: mean 3, s = sqrt(2.5), t_{0.975,4} = 2.776445105
    mean, half = mean_ci([1, 2, 3, 4, 5])
    assert mean == 3.0
    assert half == pytest.approx(2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5), rel=1e-12)
    assert t_quantile(0.99, 19) == pytest.approx(2.860934606, rel=1e-8)


@pytest.mark.exact
def test_mean_ci_edge_cases() -> None:
    m, h = mean_ci([4.0])
    assert m == 4.0
    assert math.isnan(h)
    assert mean_ci([1.0, float("nan"), 3.0])[0] == 2.0
    with pytest.raises(ValueError, match="at least one"):
        mean_ci([])
    with pytest.raises(ValueError, match="level"):
        mean_ci([1.0, 2.0], level=1.5)


@pytest.mark.exact
def test_batch_means() -> None:
    x = np.arange(103, dtype=float)  # the first 3 are dropped, 10 batches of 10
    mean, half = batch_means(x, batches=10)
    assert mean == pytest.approx(np.arange(3, 103).mean())
    ref = mean_ci(np.arange(3, 103, dtype=float).reshape(10, 10).mean(axis=1))
    assert half == pytest.approx(ref[1])
    with pytest.raises(ValueError, match="at least 10"):
        batch_means(np.ones(5), batches=10)


@pytest.mark.property
def test_ci_coverage_is_near_nominal() -> None:
    # 2000 intervals of 10 normal draws: about 95% must cover the true mean.
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(2000):
        m, h = mean_ci(rng.normal(5.0, 2.0, 10))
        hits += abs(m - 5.0) <= h
    assert 0.93 <= hits / 2000 <= 0.97


@pytest.mark.exact
def test_largest_remainder_by_hand() -> None:
    # quotas 4.6, 3.3, 2.1: floors 4, 3, 2 and the one seat left goes to the largest remainder
    assert largest_remainder(10, [46, 33, 21]) == [5, 3, 2]
    # a tie in remainders goes to the earlier key
    assert largest_remainder(1, [1, 1]) == [1, 0]
    # no weight at all: equal shares
    assert largest_remainder(4, [0, 0]) == [2, 2]
    # a minimum of one seat each takes the seat the largest remainder would have had
    assert largest_remainder(10, [5, 4.9, 0.1]) == [5, 5, 0]
    assert largest_remainder(10, [5, 4.9, 0.1], minimum=1) == [5, 4, 1]
    # the minimum overshoots: the seat comes back from the key furthest above its quota
    assert largest_remainder(4, [10, 0.1, 0.1], minimum=1) == [3, 0, 1]


@pytest.mark.exact
def test_half_width_is_the_t_formula() -> None:
    x = [1.0, 2.0, 4.0]
    expected = t_quantile(0.95, 2) * np.std(x, ddof=1) / math.sqrt(3)
    assert half_width(x) == pytest.approx(expected, rel=1e-15)
    assert mean_ci(x)[1] == half_width(x)
    with pytest.raises(ValueError, match="two values"):
        half_width([1.0])
