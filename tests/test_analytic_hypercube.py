"""Larson's hypercube model: a hand-solved 2-unit case, Erlang identities, the approximation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.analytics.erlang import erlang_b, erlang_c
from twin.analytics.hypercube import (
    correction_factors,
    hypercube,
    hypercube_approx,
    hypercube_exact,
)

# Two units, two atoms (Larson & Odoni ch. 5 style): atom 0 prefers unit 0 then 1, atom 1 the
# reverse. lam0 = 1, lam1 = 0.5, mu = 1. States (bit n = unit n busy): 00, 01 (unit 0 busy),
# 10 (unit 1 busy), 11. Balance of the loss chain, solved by hand:
#   level totals are Erlang-loss: P00 : P(one busy) : P11 = 1 : 1.5 : 1.125  -> x 8/29
#   (lam + mu)(P_u0 - P_u1) = (lam0 - lam1) P00  ->  P_u0 - P_u1 = 0.2 P00
#   P00 = 8/29, P_u0 = 6.8/29, P_u1 = 5.2/29, P11 = 9/29.
RATES = [1.0, 0.5]
PREFS = [[0, 1], [1, 0]]


@pytest.mark.exact
def test_two_unit_loss_by_hand() -> None:
    r = hypercube_exact(RATES, PREFS, 1.0, queue=False)
    p = r.state_probabilities
    assert p is not None
    assert p == pytest.approx(np.array([8.0, 6.8, 5.2, 9.0]) / 29, rel=1e-12)
    assert r.p_lost == pytest.approx(9 / 29)
    assert r.p_wait == 0.0
    assert r.utilizations == pytest.approx([15.8 / 29, 14.2 / 29])
    # dispatch rates: unit0<-atom0: lam0 (P00 + P_u1); unit1<-atom0: lam0 P_u0;
    # unit1<-atom1: lam1 (P00 + P_u0); unit0<-atom1: lam1 P_u1; served rate 1.5 * 20/29 = 30/29
    expected = np.array([[13.2, 2.6], [6.8, 7.4]]) / 30
    assert r.dispatch_fractions == pytest.approx(expected, rel=1e-12)
    assert r.out_of_area_fraction == pytest.approx((6.8 + 2.6) / 30)


@pytest.mark.exact
def test_two_unit_queue_by_hand() -> None:
    # Same chain; the queue states hang off 11 with ratio lam / (2 mu) = 0.75, so the all-busy
    # mass is 9 / 0.25 = 36 against 8 + 6.8 + 5.2: total 56.
    r = hypercube_exact(RATES, PREFS, 1.0, queue=True)
    p = r.state_probabilities
    assert p is not None
    assert p == pytest.approx(np.array([8.0, 6.8, 5.2, 36.0]) / 56, rel=1e-12)
    assert r.p_wait == pytest.approx(9 / 14)  # = Erlang C(E=1.5, c=2)
    assert r.p_wait == pytest.approx(erlang_c(1.5, 2))
    assert r.utilizations == pytest.approx([42.8 / 56, 41.2 / 56])
    # queued calls go to either unit with probability 1/2
    q = 36 / 56 / 2
    expected = (
        np.array(
            [
                [1.0 * (8 + 5.2) / 56 + 1.0 * q, 0.5 * 5.2 / 56 + 0.5 * q],
                [1.0 * 6.8 / 56 + 1.0 * q, 0.5 * (8 + 6.8) / 56 + 0.5 * q],
            ]
        )
        / 1.5
    )
    assert r.dispatch_fractions == pytest.approx(expected, rel=1e-12)
    assert r.mean_wait == pytest.approx((9 / 14) / (2 - 1.5))


def _random_layout(
    rng: np.random.Generator, n_units: int, n_atoms: int, load: float
) -> tuple[np.ndarray, list[list[int]]]:
    rates = rng.gamma(2.0, 1.0, n_atoms)
    rates *= load / rates.sum()
    prefs = [list(map(int, rng.permutation(n_units))) for _ in range(n_atoms)]
    return rates, prefs


@pytest.mark.exact
@pytest.mark.parametrize("queue", [True, False])
@pytest.mark.parametrize("n_units", [1, 3, 6, 9])
def test_symmetric_totals_equal_erlang(n_units: int, queue: bool) -> None:
    rng = np.random.default_rng(n_units)
    load = 0.7 * n_units
    rates, prefs = _random_layout(rng, n_units, 7, load)
    r = hypercube_exact(rates, prefs, 1.0, queue=queue)
    if queue:
        assert r.p_wait == pytest.approx(erlang_c(load, n_units), rel=1e-10)
        assert r.utilizations.sum() == pytest.approx(load, rel=1e-10)
    else:
        b = erlang_b(load, n_units)
        assert r.p_lost == pytest.approx(b, rel=1e-10)
        assert r.utilizations.sum() == pytest.approx(load * (1 - b), rel=1e-10)
    assert r.dispatch_fractions.sum() == pytest.approx(1.0)
    # workload of a unit = its dispatch rate x mean service (mu = 1)
    served = rates.sum() * (1.0 - r.p_lost)
    assert r.utilizations == pytest.approx(r.dispatch_fractions.sum(axis=1) * served, rel=1e-9)


@pytest.mark.exact
def test_identical_lists_give_ordered_hunt() -> None:
    # Every atom prefers 0, 1, 2: unit 0 sees an M/M/1/1 loss system, and the first k units
    # together an M/M/k/k system: utilisation of unit k = carried(k+1) - carried(k).
    load = 2.0
    r = hypercube_exact([0.5, 1.5], [[0, 1, 2], [0, 1, 2]], 1.0, queue=False)
    carried = [0.0] + [load * (1 - erlang_b(load, k)) for k in range(1, 4)]
    assert r.utilizations == pytest.approx(np.diff(carried), rel=1e-10)


@pytest.mark.exact
def test_solvers_agree_and_unequal_rates() -> None:
    rng = np.random.default_rng(7)
    rates, prefs = _random_layout(rng, 8, 12, 5.0)
    mu = rng.uniform(0.8, 1.3, 8)
    for queue in (True, False):
        a = hypercube_exact(rates, prefs, mu, queue=queue, solver="direct")
        b = hypercube_exact(rates, prefs, mu, queue=queue, solver="levels")
        assert a.state_probabilities is not None
        assert b.state_probabilities is not None
        assert np.abs(a.state_probabilities - b.state_probabilities).max() < 1e-12
        assert a.utilizations == pytest.approx(b.utilizations, rel=1e-10)
        served = rates.sum() * (1 - a.p_lost)
        # workload = dispatch rate / mu_n, unit by unit
        assert a.utilizations == pytest.approx(
            a.dispatch_fractions.sum(axis=1) * served / mu, rel=1e-9
        )


@pytest.mark.exact
def test_large_exact_fleet_matches_erlang() -> None:
    rng = np.random.default_rng(3)
    rates, prefs = _random_layout(rng, 13, 20, 8.0)
    r = hypercube_exact(rates, prefs, 1.0, queue=True)
    assert r.p_wait == pytest.approx(erlang_c(8.0, 13), rel=1e-9)
    assert r.utilizations.sum() == pytest.approx(8.0, rel=1e-9)


@pytest.mark.exact
def test_correction_factors() -> None:
    from twin.analytics.erlang import mmc_distribution

    n, load = 5, 3.0
    q = correction_factors(n, mmc_distribution(load, n))
    assert q[0] == pytest.approx(1.0)
    # Larson's closed form for the infinite queue
    import math

    rho = load / n
    p0 = mmc_distribution(load, n)[0]
    for j in range(n):
        closed = sum(
            math.factorial(n - j - 1)
            * (n - k)
            / math.factorial(k - j)
            * n**k
            / math.factorial(n)
            * rho ** (k - j)
            * p0
            / (1 - rho)
            for k in range(j, n)
        )
        assert q[j] == pytest.approx(closed, rel=1e-10)
    qb = correction_factors(n, np.array([1.0, 3.0, 4.5, 4.5, 3.375, 2.025]) / 18.4)
    assert qb[0] == pytest.approx(1.0)


@pytest.mark.exact
@pytest.mark.parametrize("queue", [True, False])
@pytest.mark.parametrize("n_units", [3, 5, 8, 10])
def test_approximation_close_to_exact(n_units: int, queue: bool) -> None:
    rng = np.random.default_rng(100 + n_units)
    rates, prefs = _random_layout(rng, n_units, 3 * n_units, 0.6 * n_units)
    ex = hypercube_exact(rates, prefs, 1.0, queue=queue)
    ap = hypercube_approx(rates, prefs, 1.0, queue=queue)
    rel = np.abs(ap.utilizations - ex.utilizations) / ex.utilizations
    assert rel.max() < 0.03  # Larson (1975) reports errors of about 1-2%
    assert np.abs(ap.dispatch_fractions - ex.dispatch_fractions).max() < 0.01
    assert ap.out_of_area_fraction == pytest.approx(ex.out_of_area_fraction, abs=0.02)
    assert ap.p_all_busy == pytest.approx(ex.p_all_busy, rel=1e-9)  # aggregate is exact
    assert ap.iterations > 1


@pytest.mark.exact
def test_hypercube_picks_solver_and_travel() -> None:
    rng = np.random.default_rng(5)
    rates, prefs = _random_layout(rng, 4, 6, 2.0)
    travel = rng.uniform(1, 10, (4, 6))
    r = hypercube(rates, prefs, 1.0, travel=travel)
    assert r.method == "hypercube_exact"
    assert r.mean_travel == pytest.approx(float((r.dispatch_fractions * travel).sum()))
    rates20, prefs20 = _random_layout(rng, 20, 30, 12.0)
    big = hypercube(rates20, prefs20, 1.0)
    assert big.method == "hypercube_approx"
    assert big.p_wait == pytest.approx(erlang_c(12.0, 20), rel=1e-9)


@pytest.mark.exact
def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="permutation"):
        hypercube_exact([1.0, 1.0], [[0, 1], [0, 0]], 1.0)
    with pytest.raises(ValueError, match="one preference list per atom"):
        hypercube_exact([1.0, 1.0], [[0, 1]], 1.0)
    with pytest.raises(ValueError, match="unstable"):
        hypercube_exact([1.0, 1.5], PREFS, 1.0, queue=True)
    with pytest.raises(ValueError, match="hypercube_approx"):
        hypercube_exact([1.0] * 3, [list(range(17))] * 3, 1.0)
    with pytest.raises(ValueError, match="one service rate"):
        hypercube_approx(RATES, PREFS, [1.0, 2.0])


@pytest.mark.property
@settings(max_examples=40, deadline=None)
@given(
    n_units=st.integers(min_value=1, max_value=6),
    n_atoms=st.integers(min_value=1, max_value=6),
    util=st.floats(min_value=0.05, max_value=0.95),
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    queue=st.booleans(),
)
def test_hypercube_properties(
    n_units: int, n_atoms: int, util: float, seed: int, queue: bool
) -> None:
    rng = np.random.default_rng(seed)
    rates, prefs = _random_layout(rng, n_units, n_atoms, util * n_units)
    r = hypercube_exact(rates, prefs, 1.0, queue=queue)
    assert np.all(r.utilizations >= 0)
    assert np.all(r.utilizations <= 1 + 1e-12)
    assert np.all(r.dispatch_fractions >= -1e-15)
    assert r.dispatch_fractions.sum() == pytest.approx(1.0)
    assert 0.0 <= r.out_of_area_fraction <= 1.0 + 1e-12
    p = r.state_probabilities
    assert p is not None
    assert p.sum() == pytest.approx(1.0)
    # with identical preference lists the workloads decrease along the list
    same = hypercube_exact(rates, [prefs[0]] * n_atoms, 1.0, queue=queue)
    ordered = same.utilizations[prefs[0]]
    assert np.all(np.diff(ordered) <= 1e-12)


@pytest.mark.exact
def test_two_unit_finite_queue_by_hand() -> None:
    # One waiting place: the tail is P(11, 0) = 9 and P(11, 1) = 9 x 0.75 = 6.75 against
    # 8 + 6.8 + 5.2 (loss-chain weights): total 35.75.
    r = hypercube_exact(RATES, PREFS, 1.0, queue=True, capacity=1)
    total = 35.75
    assert r.p_lost == pytest.approx(6.75 / total, rel=1e-12)
    assert r.p_wait == pytest.approx(9 / total, rel=1e-12)
    assert r.p_all_busy == pytest.approx(15.75 / total, rel=1e-12)
    # an admitted call that finds 11 with nobody waiting waits one completion at rate 2
    assert r.mean_wait == pytest.approx((9 / total) / 2 / (29 / total), rel=1e-12)
    assert r.utilizations == pytest.approx([(6.8 + 15.75) / total, (5.2 + 15.75) / total])
    assert r.tail is not None
    assert r.tail == pytest.approx(np.array([9.0, 6.75]) / total)


@pytest.mark.exact
@pytest.mark.parametrize("capacity", [0, 1, 4])
def test_finite_queue_matches_mmck(capacity: int) -> None:
    from twin.analytics.erlang import MMcK

    rng = np.random.default_rng(capacity)
    rates, prefs = _random_layout(rng, 5, 9, 4.5)
    ref = MMcK(4.5, 1.0, 5, 5 + capacity)
    ex = hypercube_exact(rates, prefs, 1.0, queue=True, capacity=capacity)
    assert ex.p_lost == pytest.approx(ref.p_lost, rel=1e-10)
    assert ex.p_wait == pytest.approx(ref.p_wait, rel=1e-10, abs=1e-15)
    assert ex.mean_wait == pytest.approx(ref.wq, rel=1e-10, abs=1e-15)
    assert ex.utilizations.sum() == pytest.approx(ref.throughput, rel=1e-10)
    ap = hypercube_approx(rates, prefs, 1.0, queue=True, capacity=capacity)
    assert ap.p_lost == pytest.approx(ref.p_lost, rel=1e-10)
    assert np.abs(ap.utilizations - ex.utilizations).max() < 0.03
    if capacity == 0:
        loss = hypercube_exact(rates, prefs, 1.0, queue=False)
        assert loss.utilizations == pytest.approx(ex.utilizations, rel=1e-12)


@pytest.mark.exact
def test_approximation_for_a_large_fleet() -> None:
    rng = np.random.default_rng(14)
    rates, prefs = _random_layout(rng, 14, 30, 0.65 * 14)
    ex = hypercube_exact(rates, prefs, 1.0, queue=True)
    ap = hypercube_approx(rates, prefs, 1.0, queue=True)
    assert np.abs(ap.utilizations - ex.utilizations).max() < 0.03
    assert ex.utilizations.sum() == pytest.approx(0.65 * 14, rel=1e-9)
