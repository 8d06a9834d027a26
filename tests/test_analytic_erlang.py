"""Erlang B / C, M/M/c and M/M/c/K: textbook values, exact rationals and identities."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.analytics.erlang import (
    MMc,
    MMcK,
    erlang_b,
    erlang_b_distribution,
    erlang_c,
    mmc_distribution,
)


def _erlang_b_exact(load: Fraction, c: int) -> Fraction:
    """Erlang B from its definition, E^c/c! / sum_k E^k/k!, in exact rationals."""
    terms = [load**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.exact
def test_erlang_b_textbook_value() -> None:
    # B(E=2, c=3) = (8/6) / (1 + 2 + 2 + 8/6) = 4/19
    assert erlang_b(2.0, 3) == pytest.approx(4 / 19, rel=1e-14)
    assert erlang_b(2.0, 3) == pytest.approx(0.2105263157894737, rel=1e-14)
    assert erlang_b(1.0, 1) == pytest.approx(0.5, rel=1e-15)


@pytest.mark.exact
@pytest.mark.parametrize(
    ("load", "c"),
    [(Fraction(1, 2), 1), (Fraction(5), 10), (Fraction(10), 10), (Fraction(47, 2), 30)],
)
def test_erlang_b_matches_exact_rationals(load: Fraction, c: int) -> None:
    assert erlang_b(float(load), c) == pytest.approx(float(_erlang_b_exact(load, c)), rel=1e-12)


@pytest.mark.exact
def test_erlang_b_table_values() -> None:
    # Standard Erlang B table entries (e.g. Kleinrock vol. 1, Table; telephony handbooks).
    assert erlang_b(5.0, 10) == pytest.approx(0.018385, abs=5e-7)
    assert erlang_b(10.0, 15) == pytest.approx(0.036497, abs=5e-7)
    assert erlang_b(10.0, 10) == pytest.approx(0.214582, abs=5e-7)


@pytest.mark.exact
def test_erlang_b_large_fleet_is_stable() -> None:
    # Factorial formulas overflow here; the recursion must not.
    b = erlang_b(950.0, 1000)
    assert 0.0 < b < 0.02
    assert np.isfinite(erlang_c(950.0, 1000))


@pytest.mark.exact
def test_erlang_b_vectorised_matches_scalar() -> None:
    loads = np.array([0.0, 0.5, 2.0, 7.5, 30.0])
    vec = erlang_b(loads, 8)
    assert isinstance(vec, np.ndarray)
    assert vec.shape == loads.shape
    for x, v in zip(loads, vec, strict=True):
        assert v == pytest.approx(erlang_b(float(x), 8), rel=1e-14)
    assert vec[0] == 0.0


@pytest.mark.exact
def test_erlang_c_textbook_values() -> None:
    # M/M/3 with E = 2: C = 3B / (3 - 2(1 - B)) with B = 4/19 -> 4/9.
    assert erlang_c(2.0, 3) == pytest.approx(4 / 9, rel=1e-14)
    # M/M/1: C = rho.
    assert erlang_c(0.7, 1) == pytest.approx(0.7, rel=1e-14)
    # M/M/2 with E = 1: C = 1/3.
    assert erlang_c(1.0, 2) == pytest.approx(1 / 3, rel=1e-14)
    # unstable loads wait with probability 1
    assert erlang_c(5.0, 5) == 1.0


@pytest.mark.exact
def test_mmc_measures_mm1_and_mm2() -> None:
    q = MMc(arrival_rate=0.5, service_rate=1.0, servers=1)
    assert q.wq == pytest.approx(0.5 / (1.0 - 0.5), rel=1e-14)  # rho / (mu - lam)
    assert q.lq == pytest.approx(0.5**2 / 0.5, rel=1e-14)
    assert q.l == pytest.approx(0.5 / 0.5, rel=1e-14)
    q2 = MMc(arrival_rate=1.0, service_rate=1.0, servers=2)
    assert q2.p_wait == pytest.approx(1 / 3)
    assert q2.wq == pytest.approx(1 / 3)  # C / (c mu - lam)
    assert q2.w == pytest.approx(4 / 3)
    assert q2.utilization == pytest.approx(0.5)


@pytest.mark.exact
def test_mmc_wait_distribution() -> None:
    q = MMc(arrival_rate=0.1, service_rate=1 / 30, servers=4)
    c = q.p_wait
    assert q.wait_survival(0.0) == pytest.approx(c)
    assert q.wait_quantile(0.3) == 0.0  # 1 - C = 0.49 > 0.3
    t90 = q.wait_quantile(0.9)
    assert q.wait_survival(t90) == pytest.approx(0.1, rel=1e-12)
    # the mean of the distribution is Wq: integral of the survival function
    ts = np.linspace(0, 2000, 200_001)
    assert np.trapezoid(q.wait_survival(ts), ts) == pytest.approx(q.wq, rel=1e-6)


@pytest.mark.exact
def test_mmc_rejects_unstable_and_bad_inputs() -> None:
    with pytest.raises(ValueError, match="unstable"):
        MMc(arrival_rate=3.0, service_rate=1.0, servers=3)
    with pytest.raises(ValueError, match="servers"):
        erlang_b(1.0, 0)
    with pytest.raises(ValueError, match="offered_load"):
        erlang_b(-1.0, 2)


@pytest.mark.exact
def test_mmck_limits() -> None:
    loss = MMcK(arrival_rate=2.0, service_rate=1.0, servers=3, capacity=3)
    assert loss.p_lost == pytest.approx(4 / 19, rel=1e-13)
    assert loss.p_wait == 0.0
    big = MMcK(arrival_rate=2.0, service_rate=1.0, servers=3, capacity=400)
    ref = MMc(2.0, 1.0, 3)
    assert big.p_wait == pytest.approx(ref.p_wait, rel=1e-12)
    assert big.wq == pytest.approx(ref.wq, rel=1e-10)
    assert big.lq == pytest.approx(ref.lq, rel=1e-10)
    # M/M/1/2 by hand: p_n proportional to 1, r, r^2 with r = 1/2
    small = MMcK(arrival_rate=0.5, service_rate=1.0, servers=1, capacity=2)
    assert small.p_lost == pytest.approx(0.25 / 1.75)
    assert small.p_wait == pytest.approx(0.5 / 1.75)
    assert small.l == pytest.approx((0.5 + 2 * 0.25) / 1.75)


@pytest.mark.exact
def test_busy_distributions() -> None:
    pb = erlang_b_distribution(2.0, 3)
    assert pb.sum() == pytest.approx(1.0)
    assert pb[-1] == pytest.approx(4 / 19)
    pc = mmc_distribution(2.0, 3)
    assert pc.sum() == pytest.approx(1.0)
    assert pc[-1] == pytest.approx(4 / 9)
    assert (np.arange(4) * pc).sum() == pytest.approx(2.0)  # mean busy = offered load


@pytest.mark.property
@settings(max_examples=200, deadline=None)
@given(
    load=st.floats(min_value=1e-3, max_value=200.0),
    c=st.integers(min_value=1, max_value=250),
)
def test_erlang_identities(load: float, c: int) -> None:
    b = float(erlang_b(load, c))
    assert 0.0 <= b <= 1.0
    # recursion identity B(c) = E B(c-1) / (c + E B(c-1))
    if c > 1:
        prev = float(erlang_b(load, c - 1))
        assert b == pytest.approx(load * prev / (c + load * prev), rel=1e-9)
    if load < c:
        cc = float(erlang_c(load, c))
        rho = load / c
        assert cc >= b - 1e-15
        assert cc == pytest.approx(b / (1.0 - rho * (1.0 - b)), rel=1e-9)
        q = MMc(load, 1.0, c)
        assert q.l == pytest.approx(q.arrival_rate * q.w, rel=1e-9)  # Little's law
    # more servers never block more
    assert float(erlang_b(load, c + 1)) <= b + 1e-15


@pytest.mark.exact
def test_mmck_wait_distribution() -> None:
    big = MMcK(0.1, 1 / 30, 4, 3000)
    ref = MMc(0.1, 1 / 30, 4)
    assert big.wait_quantile(0.9) == pytest.approx(ref.wait_quantile(0.9), rel=1e-9)
    small = MMcK(0.1, 1 / 30, 4, 7)
    t90 = small.wait_quantile(0.9)
    assert small.wait_survival(t90) == pytest.approx(0.1, rel=1e-9)
    assert small.wait_survival(0.0) == pytest.approx(small.p_wait / (1 - small.p_lost))
    ts = np.linspace(0, 600, 12_001)
    surv = np.array([small.wait_survival(float(t)) for t in ts])
    assert np.trapezoid(surv, ts) == pytest.approx(small.wq, rel=1e-5)
    assert MMcK(1.0, 1.0, 2, 2).wait_quantile(0.99) == 0.0
