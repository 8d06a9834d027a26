"""Larson's hypercube queueing model of a fleet of distinguishable response units.

The city is split into atoms (the twin's zones) with Poisson call rates ``lam_j``. Each atom has
an ordered preference list of units; a call goes to the first free unit on its atom's list
(closest dispatch = the list ordered by travel time). Service times are exponential with a rate
``mu_n`` per unit that does not depend on the atom (the hypercube's key assumption: travel time
is either negligible against on-scene time or folded into the service time).

Three line disciplines are modelled:

* ``queue=True``: infinite FCFS queue. When all units are busy, calls wait and the first unit
  to become free takes the oldest call (Larson 1974, "infinite line capacity"). The all-busy
  tail is a birth-death chain with birth rate ``lam`` and death rate ``sum(mu)``, which is
  exactly the M/M/N tail (Erlang C) when the rates are equal.
* ``queue=False``: loss system; a call that finds every unit busy is lost (Erlang B when the
  rates are equal).
* ``queue=True, capacity=K``: at most ``K`` calls wait; a call that finds ``K`` waiting is
  lost (M/M/N/N+K aggregate).

The relative probabilities of the ``2^N`` busy/free states are the same in all disciplines
(the queue states only hang off the all-busy state and their flow balances across the cut), so
the exact model solves one sparse linear system of size ``2^N`` and normalises differently:
the state "all busy, ``k`` waiting" has probability ``P(all busy, 0 waiting) r^k`` with
``r = lam / sum(mu)``.

Two solvers:

* :func:`hypercube_exact`: builds the sparse generator of the ``2^N`` chain with
  :mod:`scipy.sparse` and solves the balance equations: SuperLU up to ``N = 9``; above, a
  level-by-level Gauss-Seidel iteration with aggregation-disaggregation (SuperLU's fill-in on
  the hypercube graph explodes: ``N = 14`` did not finish in 10 minutes, the iteration takes
  0.6 s at ``N = 15``). Practical up to :data:`MAX_EXACT_UNITS` units.
* :func:`hypercube_approx`: Larson's (1975) approximation: ``N`` fixed-point equations for the
  workloads ``rho_n`` with the correction factors ``Q(N, rho, j)``. Here ``Q`` is computed from
  its definition, ``Q(j) = sum_{k=j}^{N-1} P_k C(N-j-1, k-j) / C(N, k) / (rho^j (1-rho))``,
  where ``P_k`` is the distribution of the number of busy units. With the M/M/N distribution
  this is exactly Larson's closed form for the infinite queue; with the truncated-Poisson
  (Erlang loss) distribution it is the loss-system correction of Jarvis (1985); with a finite
  queue the M/M/N/N+K distribution is used the same way. Queued calls are
  shared equally among units (``lam P_Q / N`` each), which adds ``lam P_Q / (N mu)`` to every
  workload. The approximation requires a common service rate.

References:
    R. C. Larson, "A hypercube queuing model for facility location and redistricting in urban
    emergency services", Computers & OR 1(1), 1974. R. C. Larson, "Approximating the
    performance of urban emergency service systems", Operations Research 23(5), 1975.
    J. P. Jarvis, "Approximating the equilibrium behavior of multi-server loss systems",
    Management Science 31(2), 1985. Larson & Odoni, *Urban Operations Research* (1981), ch. 5.

"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numpy.typing import ArrayLike, NDArray

from twin.analytics.erlang import MMcK, mmc_distribution

__all__ = [
    "MAX_EXACT_UNITS",
    "HypercubeResult",
    "correction_factors",
    "hypercube",
    "hypercube_approx",
    "hypercube_exact",
]

MAX_EXACT_UNITS = 16
"""Largest fleet the exact model accepts (``2^16`` states)."""

_DIRECT_SOLVER_MAX_UNITS = 9


@dataclass(frozen=True)
class HypercubeResult:
    """Steady-state performance of a hypercube model.

    Rates and times are in the units of the inputs (the twin uses per minute and minutes).

    Attributes:
        method: ``"hypercube_exact"`` or ``"hypercube_approx"``.
        queue: True when calls may wait, False for the loss system.
        capacity: Waiting places (None: unlimited; 0 for the loss system).
        arrival_rate: Total call rate ``lam``.
        utilizations: Workload of each unit (fraction of time busy), shape ``(N,)``.
        p_all_busy: Probability an arriving call finds every unit busy (PASTA).
        p_wait: Probability a call is admitted and waits.
        p_lost: Probability a call is lost (finds every unit busy and the queue full).
        mean_wait: Mean queueing delay over all dispatched (not lost) calls.
        tail: ``P(arrival finds all busy and k waiting)``, ``k = 0..capacity`` (finite capacity
            only; None otherwise).
        dispatch_fractions: ``f[n, j]``: fraction of all dispatches that send unit ``n`` to
            atom ``j`` (sums to 1), shape ``(N, J)``.
        out_of_area_fraction: Fraction of dispatches to an atom outside the unit's home area.
        mean_travel: Mean travel time of a dispatch when a travel matrix was given (queued
            calls are assumed served from the unit's home location, as in Larson 1974).
        state_probabilities: Probabilities of the ``2^N`` busy/free states (bit ``n`` = unit
            ``n`` busy; the all-busy entry includes the queue states), exact model only.
        iterations: Fixed-point iterations used (approximation only).

    """

    method: str
    queue: bool
    capacity: int | None
    arrival_rate: float
    utilizations: NDArray[np.float64]
    p_all_busy: float
    p_wait: float
    p_lost: float
    mean_wait: float
    dispatch_fractions: NDArray[np.float64]
    out_of_area_fraction: float
    tail: NDArray[np.float64] | None = field(default=None, repr=False)
    mean_travel: float | None = None
    state_probabilities: NDArray[np.float64] | None = field(default=None, repr=False)
    iterations: int = 0


@dataclass(frozen=True)
class _Inputs:
    rates: NDArray[np.float64]  # (J,)
    prefs: NDArray[np.intp]  # (J, N)
    mu: NDArray[np.float64]  # (N,)
    areas: NDArray[np.bool_]  # (N, J)
    travel: NDArray[np.float64] | None  # (N, J)

    @property
    def n_units(self) -> int:
        return int(self.prefs.shape[1])


def _prepare(
    arrival_rates: ArrayLike,
    preferences: Sequence[Sequence[int]],
    service_rate: ArrayLike,
    home_areas: Sequence[Sequence[int]] | None,
    travel: ArrayLike | None,
) -> _Inputs:
    rates = np.asarray(arrival_rates, dtype=float)
    if rates.ndim != 1 or rates.size == 0:
        raise ValueError("arrival_rates must be a non-empty 1-D array (one rate per atom)")
    if np.any(rates < 0) or not np.all(np.isfinite(rates)) or rates.sum() <= 0:
        raise ValueError("arrival_rates must be finite, >= 0 and not all zero")
    n_atoms = rates.size
    if len(preferences) != n_atoms:
        raise ValueError(f"need one preference list per atom: {len(preferences)} != {n_atoms}")
    prefs = np.asarray([list(p) for p in preferences], dtype=np.intp)
    if prefs.ndim != 2:
        raise ValueError("every preference list must rank all units")
    n_units = prefs.shape[1]
    expected = np.arange(n_units)
    for j, row in enumerate(prefs):
        if not np.array_equal(np.sort(row), expected):
            raise ValueError(
                f"preference list of atom {j} must be a permutation of units 0..{n_units - 1}"
            )
    mu = np.broadcast_to(np.asarray(service_rate, dtype=float), (n_units,)).copy()
    if np.any(mu <= 0) or not np.all(np.isfinite(mu)):
        raise ValueError("service_rate must be finite and > 0")
    areas = np.zeros((n_units, n_atoms), dtype=bool)
    if home_areas is None:
        areas[prefs[:, 0], np.arange(n_atoms)] = True
    else:
        if len(home_areas) != n_units:
            raise ValueError("home_areas needs one list of atoms per unit")
        for n, atoms in enumerate(home_areas):
            for j in atoms:
                if not 0 <= j < n_atoms:
                    raise ValueError(f"home area of unit {n} names unknown atom {j}")
                areas[n, j] = True
    tmat: NDArray[np.float64] | None = None
    if travel is not None:
        tmat = np.asarray(travel, dtype=float)
        if tmat.shape != (n_units, n_atoms):
            raise ValueError(f"travel must have shape (units, atoms) = {(n_units, n_atoms)}")
    return _Inputs(rates, prefs, mu, areas, tmat)


def _finish(
    method: str,
    capacity: int | None,
    inp: _Inputs,
    util: NDArray[np.float64],
    tail: _Tail,
    frac: NDArray[np.float64],
    states: NDArray[np.float64] | None = None,
    iterations: int = 0,
) -> HypercubeResult:
    frac = frac / frac.sum()
    mean_travel = None if inp.travel is None else float((frac * inp.travel).sum())
    return HypercubeResult(
        method=method,
        queue=capacity != 0,
        capacity=capacity,
        arrival_rate=float(inp.rates.sum()),
        utilizations=util,
        p_all_busy=tail.p_all_busy,
        p_wait=tail.p_wait,
        p_lost=tail.p_lost,
        mean_wait=tail.mean_wait,
        dispatch_fractions=frac,
        out_of_area_fraction=float(frac[~inp.areas].sum()),
        tail=tail.probabilities,
        mean_travel=mean_travel,
        state_probabilities=states,
        iterations=iterations,
    )


@dataclass(frozen=True)
class _Tail:
    """The all-busy tail: probabilities seen by arrivals and the resulting waits."""

    p_all_busy: float
    p_wait: float
    p_lost: float
    mean_wait: float
    probabilities: NDArray[np.float64] | None


def _capacity(queue: bool, capacity: int | None) -> int | None:
    if not queue:
        return 0
    if capacity is not None and (int(capacity) != capacity or capacity < 0):
        raise ValueError(f"capacity must be None (unlimited) or an integer >= 0, got {capacity}")
    return None if capacity is None else int(capacity)


def _tail(p_full0: float, lam: float, total_mu: float, capacity: int | None) -> _Tail:
    """Tail of a birth-death chain hanging off the all-busy state (birth lam, death sum mu).

    Args:
        p_full0: Probability of "all busy, nobody waiting" (already normalised).
        lam: Call rate.
        total_mu: Total service rate when all units are busy.
        capacity: Waiting places (None: unlimited).

    """
    r = lam / total_mu
    if capacity is None:
        p_all = p_full0 / (1.0 - r)
        return _Tail(p_all, p_all, 0.0, p_all / (total_mu - lam), None)
    k = np.arange(capacity + 1)
    probs = np.asarray(p_full0 * r**k, dtype=np.float64)
    p_lost = float(probs[-1])
    p_all = float(probs.sum())
    admitted = 1.0 - p_lost
    # an admitted call that finds k waiting waits k + 1 service completions of rate sum(mu)
    wait = float((probs[:-1] * (k[:-1] + 1)).sum() / total_mu / admitted) if capacity else 0.0
    return _Tail(p_all, p_all - p_lost, p_lost, wait, probs)


def _tail_mass(lam: float, total_mu: float, capacity: int | None) -> float:
    """Return sum_k r^k over the tail (the all-busy mass per unit of P(all busy, 0 waiting))."""
    r = lam / total_mu
    if capacity is None:
        return 1.0 / (1.0 - r)
    return float((r ** np.arange(capacity + 1)).sum())


def _first_free(prefs: NDArray[np.intp], n_units: int) -> NDArray[np.int8]:
    """For each atom and state, the first free unit on the atom's list (-1 if all busy)."""
    states = np.arange(1 << n_units, dtype=np.int64)
    busy = ((states[None, :] >> np.arange(n_units)[:, None]) & 1).astype(bool)  # (N, S)
    out = np.full((prefs.shape[0], states.size), -1, dtype=np.int8)
    for j, row in enumerate(prefs):
        assigned = np.zeros(states.size, dtype=bool)
        for unit in row:
            take = ~busy[unit] & ~assigned
            out[j, take] = unit
            assigned |= take
    return out


def _solve_direct(gen_t: sp.csr_matrix) -> NDArray[np.float64]:
    """Solve ``gen_t @ p = 0``, ``sum(p) = 1`` with SuperLU (one equation replaced)."""
    size = gen_t.shape[0]
    a = gen_t.tolil()
    a[size - 1, :] = np.ones(size)
    rhs = np.zeros(size)
    rhs[-1] = 1.0
    p = np.asarray(spla.spsolve(a.tocsc(), rhs), dtype=float)
    p = np.maximum(p, 0.0)
    return p / p.sum()


def _solve_levels(
    off_t: sp.csr_matrix,
    out_rate: NDArray[np.float64],
    n_units: int,
    lam: float,
    mu: NDArray[np.float64],
    tol: float = 1e-14,
    max_iter: int = 20_000,
) -> NDArray[np.float64]:
    """Solve the balance equations by Gauss-Seidel over levels with aggregation.

    States are grouped by the number of busy units (levels). Transitions only join adjacent
    levels, so a Gauss-Seidel sweep level by level is a block Gauss-Seidel step with diagonal
    blocks. After each sweep the level totals are reset to those of the aggregated
    birth-death chain (birth rate ``lam``, death rate the current mean of ``sum(mu_busy)``),
    an iterative aggregation-disaggregation step that makes convergence fast.

    Args:
        off_t: Off-diagonal transposed generator (row = destination state).
        out_rate: Total outflow rate of each state.
        n_units: Fleet size.
        lam: Total call rate (the birth rate of every level below N).
        mu: Service rate of each unit.
        tol: Convergence tolerance on the largest relative change.
        max_iter: Sweep limit.

    Returns:
        The stationary probabilities of the ``2^N`` states.

    """
    size = 1 << n_units
    states = np.arange(size, dtype=np.int64)
    busy = ((states[None, :] >> np.arange(n_units)[:, None]) & 1).astype(float)
    level = busy.sum(axis=0).astype(np.intp)
    death = mu @ busy  # total service rate of each state
    order = [np.flatnonzero(level == k) for k in range(n_units + 1)]
    blocks = [off_t[idx, :].tocsr() for idx in order]
    p = np.full(size, 1.0 / size)
    for _ in range(max_iter):
        old = p.copy()
        for idx, block in zip(order, blocks, strict=True):
            p[idx] = (block @ p) / out_rate[idx]
        sums = np.array([p[idx].sum() for idx in order])
        mean_death = np.array([death[idx] @ p[idx] for idx in order[1:]]) / sums[1:]
        totals = np.concatenate([[1.0], np.cumprod(lam / mean_death)])
        totals /= totals.sum()
        for k, idx in enumerate(order):
            p[idx] *= totals[k] / sums[k]
        if float(np.max(np.abs(p - old))) <= tol * float(p.max()):
            break
    else:  # pragma: no cover - the aggregated sweep converges in tens of iterations
        raise ValueError("hypercube balance equations did not converge")
    return p


def hypercube_exact(
    arrival_rates: ArrayLike,
    preferences: Sequence[Sequence[int]],
    service_rate: ArrayLike,
    *,
    queue: bool = True,
    capacity: int | None = None,
    home_areas: Sequence[Sequence[int]] | None = None,
    travel: ArrayLike | None = None,
    solver: str = "auto",
) -> HypercubeResult:
    """Solve the exact hypercube model (``2^N`` states).

    Args:
        arrival_rates: Call rate of each atom, shape ``(J,)``.
        preferences: For each atom, all unit indices ``0..N-1`` in dispatch order.
        service_rate: Service rate (1 / mean service time), scalar or one per unit.
        queue: True when calls may wait (FCFS), False for a loss system.
        capacity: Waiting places when ``queue`` (None: unlimited).
        home_areas: For each unit, the atoms of its home area (default: the atoms where it is
            first choice). Used for the out-of-area fraction.
        travel: Optional travel time matrix ``(N, J)`` for the mean travel time.
        solver: ``"direct"`` (SuperLU), ``"levels"`` (Gauss-Seidel over levels with
            aggregation, fast for large fleets) or ``"auto"`` (direct up to 9 units).

    Returns:
        The model's steady-state performance.

    Raises:
        ValueError: On malformed inputs, more than :data:`MAX_EXACT_UNITS` units, or an
            unstable queue (``lam >= sum(mu)``).

    """
    inp = _prepare(arrival_rates, preferences, service_rate, home_areas, travel)
    n_units = inp.n_units
    if n_units > MAX_EXACT_UNITS:
        raise ValueError(
            f"the exact hypercube has 2^{n_units} states; use hypercube_approx for more than "
            f"{MAX_EXACT_UNITS} units"
        )
    lam = float(inp.rates.sum())
    total_mu = float(inp.mu.sum())
    cap = _capacity(queue, capacity)
    if cap is None and lam >= total_mu:
        raise ValueError(
            f"unstable queue: call rate {lam:.4g} >= total service rate {total_mu:.4g}"
        )
    size = 1 << n_units
    states = np.arange(size, dtype=np.int64)
    first = _first_free(inp.prefs, n_units)  # (J, S)
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    up = np.zeros((size, n_units))
    for j, rate in enumerate(inp.rates):
        ok = first[j] >= 0
        np.add.at(up, (states[ok], first[j][ok].astype(np.intp)), rate)
    for n in range(n_units):
        bit = np.int64(1) << n
        free = (states & bit) == 0
        src = states[free]
        rate = up[free, n]
        keep = rate > 0
        rows.append(src[keep] | bit)  # transposed generator: row = destination
        cols.append(src[keep])
        vals.append(rate[keep])
        busy_src = states[~free]
        rows.append(busy_src ^ bit)
        cols.append(busy_src)
        vals.append(np.full(busy_src.size, inp.mu[n]))
    r = np.concatenate(rows)
    c = np.concatenate(cols)
    v = np.concatenate(vals)
    out_rate = np.asarray(np.bincount(c, weights=v, minlength=size), dtype=float)
    off_t = sp.csr_matrix((v, (r, c)), shape=(size, size))
    if solver == "auto":
        solver = "direct" if n_units <= _DIRECT_SOLVER_MAX_UNITS else "levels"
    if solver == "direct":
        p = _solve_direct((off_t - sp.diags(out_rate)).tocsr())
    elif solver == "levels":
        p = _solve_levels(off_t, out_rate, n_units, lam, inp.mu)
    else:
        raise ValueError(f"unknown solver {solver!r}: use auto, direct or levels")
    full = size - 1
    mass = _tail_mass(lam, total_mu, cap)
    p = p / (1.0 - p[full] + p[full] * mass)
    tail = _tail(float(p[full]), lam, total_mu, cap)
    p[full] = tail.p_all_busy  # all-busy mass including every queue length
    busy = ((states[None, :] >> np.arange(n_units)[:, None]) & 1).astype(bool)
    util = np.asarray((busy * p[None, :]).sum(axis=1), dtype=float)
    frac = np.zeros((n_units, inp.rates.size))
    for j, rate in enumerate(inp.rates):
        ok = first[j] >= 0
        frac[:, j] = rate * np.bincount(
            first[j][ok].astype(np.intp), weights=p[ok], minlength=n_units
        )
        # queued calls go to the unit that frees first: unit n with probability mu_n / sum(mu)
        frac[:, j] += rate * tail.p_wait * inp.mu / total_mu
    return _finish("hypercube_exact", cap, inp, util, tail, frac, states=p)


def correction_factors(n_units: int, busy_distribution: ArrayLike) -> NDArray[np.float64]:
    """Return Larson's correction factors ``Q(N, rho, j)`` for ``j = 0..N-1``.

    ``Q(j) rho^j (1 - rho)`` is the probability that ``j`` given units are busy and a given
    other unit is free, when the busy set is a uniformly random set of the current size.

    Args:
        n_units: Fleet size ``N``.
        busy_distribution: ``P_k`` for ``k = 0..N`` (number of busy units).

    Returns:
        Array of ``N`` factors; ``Q(0) = 1``.

    """
    pk = np.asarray(busy_distribution, dtype=float)
    if pk.shape != (n_units + 1,):
        raise ValueError("busy_distribution must have N + 1 entries")
    rho = float((np.arange(n_units + 1) * pk).sum()) / n_units
    q = np.zeros(n_units)
    lg = math.lgamma
    for j in range(n_units):
        total = 0.0
        for k in range(j, n_units):
            if pk[k] <= 0:
                continue
            log_ratio = (
                lg(n_units - j)
                - lg(k - j + 1)
                - lg(n_units - k)  # C(N-j-1, k-j)
                - (lg(n_units + 1) - lg(k + 1) - lg(n_units - k + 1))  # C(N, k)
            )
            total += math.exp(math.log(pk[k]) + log_ratio - j * math.log(rho))
        q[j] = total / (1.0 - rho)
    return q


def hypercube_approx(
    arrival_rates: ArrayLike,
    preferences: Sequence[Sequence[int]],
    service_rate: float,
    *,
    queue: bool = True,
    capacity: int | None = None,
    home_areas: Sequence[Sequence[int]] | None = None,
    travel: ArrayLike | None = None,
    tol: float = 1e-10,
    max_iter: int = 10_000,
) -> HypercubeResult:
    """Solve Larson's (1975) approximate hypercube model (any fleet size).

    Iterates ``rho_n = (V_n + q) / (1 + V_n)`` with
    ``V_n = sum_j (lam_j / mu) Q(k_jn - 1) prod_{l < k_jn} rho_{a_jl}``, where ``k_jn`` is the
    position of unit ``n`` on atom ``j``'s list, and ``q = lam P_Q / (N mu)`` the share of
    queued calls (0 in the loss system). The aggregate quantities (``p_wait``, ``p_lost``,
    ``mean_wait``) are exact, because the number of busy units is an M/M/N (or M/M/N/N)
    birth-death process whatever the preferences.

    Args:
        arrival_rates: Call rate of each atom, shape ``(J,)``.
        preferences: For each atom, all unit indices in dispatch order.
        service_rate: Common service rate of all units.
        queue: True when calls may wait (FCFS), False for a loss system.
        capacity: Waiting places when ``queue`` (None: unlimited).
        home_areas: For each unit, the atoms of its home area (default: first-choice atoms).
        travel: Optional travel time matrix ``(N, J)``.
        tol: Convergence tolerance on the largest workload change.
        max_iter: Iteration limit.

    Returns:
        The approximate steady-state performance.

    Raises:
        ValueError: On malformed inputs, unequal service rates, an unstable queue, or no
            convergence.

    """
    mu_arr = np.asarray(service_rate, dtype=float)
    if mu_arr.size > 1 and not np.allclose(mu_arr, mu_arr.flat[0]):
        raise ValueError("Larson's approximation needs one service rate for all units")
    mu = float(mu_arr.flat[0])
    inp = _prepare(arrival_rates, preferences, mu, home_areas, travel)
    n_units = inp.n_units
    lam = float(inp.rates.sum())
    load = lam / mu
    cap = _capacity(queue, capacity)
    if cap is None:
        if load >= n_units:
            raise ValueError(f"unstable queue: offered load {load:.4g} >= {n_units} units")
        pk = mmc_distribution(load, n_units)
    else:
        full = MMcK(lam, mu, n_units, n_units + cap).distribution()
        pk = np.append(full[:n_units], full[n_units:].sum())
    tail = _tail(float(pk[-1]) / _tail_mass(lam, n_units * mu, cap), lam, n_units * mu, cap)
    q_factors = correction_factors(n_units, pk)
    share = lam * tail.p_wait / (n_units * mu)
    rates_over_mu = inp.rates / mu
    prefs = inp.prefs
    rho = np.full(n_units, float((np.arange(n_units + 1) * pk).sum()) / n_units)

    def position_weights(r: NDArray[np.float64]) -> NDArray[np.float64]:
        before = np.ones_like(prefs, dtype=float)
        before[:, 1:] = np.cumprod(r[prefs][:, :-1], axis=1)
        return np.asarray(q_factors[None, :] * before, dtype=float)  # (J, N)

    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007
        w = position_weights(rho) * rates_over_mu[:, None]
        v = np.bincount(prefs.ravel(), weights=w.ravel(), minlength=n_units)
        new = (v + share) / (1.0 + v)
        delta = float(np.max(np.abs(new - rho)))
        rho = new
        if delta < tol:
            break
    else:
        raise ValueError(f"Larson's approximation did not converge in {max_iter} iterations")
    w = position_weights(rho) * (1.0 - rho[prefs]) * inp.rates[:, None]
    frac = np.zeros((n_units, inp.rates.size))
    np.add.at(frac, (prefs, np.broadcast_to(np.arange(inp.rates.size)[:, None], prefs.shape)), w)
    frac += np.outer(np.full(n_units, tail.p_wait / n_units), inp.rates)
    return _finish("hypercube_approx", cap, inp, rho, tail, frac, iterations=iterations)


def hypercube(
    arrival_rates: ArrayLike,
    preferences: Sequence[Sequence[int]],
    service_rate: float,
    *,
    queue: bool = True,
    capacity: int | None = None,
    home_areas: Sequence[Sequence[int]] | None = None,
    travel: ArrayLike | None = None,
    exact_max_units: int = 12,
) -> HypercubeResult:
    """Solve the hypercube model exactly for small fleets, by Larson's approximation otherwise.

    Args:
        arrival_rates: Call rate of each atom.
        preferences: For each atom, all unit indices in dispatch order.
        service_rate: Common service rate.
        queue: True when calls may wait (FCFS), False for a loss system.
        capacity: Waiting places when ``queue`` (None: unlimited).
        home_areas: For each unit, the atoms of its home area.
        travel: Optional travel time matrix ``(N, J)``.
        exact_max_units: Largest fleet solved exactly.

    Returns:
        The steady-state performance; ``method`` says which solver ran.

    """
    n_units = len(preferences[0]) if len(preferences) else 0
    if n_units <= min(exact_max_units, MAX_EXACT_UNITS):
        return hypercube_exact(
            arrival_rates,
            preferences,
            service_rate,
            queue=queue,
            capacity=capacity,
            home_areas=home_areas,
            travel=travel,
        )
    return hypercube_approx(
        arrival_rates,
        preferences,
        service_rate,
        queue=queue,
        capacity=capacity,
        home_areas=home_areas,
        travel=travel,
    )
