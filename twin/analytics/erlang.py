"""Erlang B, Erlang C (M/M/c) and M/M/c/K formulas.

Rates are in any consistent unit (the twin uses calls per minute and minutes). ``offered_load``
``E = lam / mu`` is in Erlangs. All formulas use numerically stable recursions (no factorials),
so fleets of thousands of servers and loads of thousands of Erlangs are fine.

References: Kleinrock, *Queueing Systems* vol. 1 (1975), sections 3.5-3.7; Gross & Harris,
*Fundamentals of Queueing Theory*, sections 2.3-2.5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

__all__ = [
    "MMc",
    "MMcK",
    "erlang_b",
    "erlang_b_distribution",
    "erlang_c",
    "mmc_distribution",
]


def _check_servers(servers: int) -> int:
    if int(servers) != servers or servers < 1:
        raise ValueError(f"servers must be a positive integer, got {servers!r}")
    return int(servers)


def erlang_b(offered_load: ArrayLike, servers: int) -> NDArray[np.float64] | float:
    """Return the Erlang B blocking probability of an M/M/c/c loss system.

    Uses the recursion ``B(0) = 1``, ``B(k) = E B(k-1) / (k + E B(k-1))``, which is stable for
    any load. Vectorised over ``offered_load``.

    Args:
        offered_load: Offered traffic ``E = lam / mu`` in Erlangs (>= 0), scalar or array.
        servers: Number of servers ``c`` (>= 1).

    Returns:
        The probability that an arriving call finds all ``c`` servers busy (a float for a scalar
        load, an array otherwise).

    Raises:
        ValueError: On a negative load or a non-positive server count.

    """
    c = _check_servers(servers)
    load = np.asarray(offered_load, dtype=float)
    if np.any(load < 0) or np.any(~np.isfinite(load)):
        raise ValueError("offered_load must be finite and >= 0")
    b = np.ones_like(load)
    for k in range(1, c + 1):
        b = load * b / (k + load * b)
    return float(b) if b.ndim == 0 else b


def erlang_c(offered_load: ArrayLike, servers: int) -> NDArray[np.float64] | float:
    """Return the Erlang C probability that an arriving call waits in an M/M/c queue.

    ``C = c B / (c - E (1 - B))`` with ``B`` the Erlang B value; 1 when ``E >= c`` (unstable).

    Args:
        offered_load: Offered traffic ``E = lam / mu`` in Erlangs (>= 0), scalar or array.
        servers: Number of servers ``c`` (>= 1).

    Returns:
        P(wait > 0) for an arriving call (float for a scalar load, array otherwise).

    """
    c = _check_servers(servers)
    load = np.asarray(offered_load, dtype=float)
    b = np.asarray(erlang_b(load, c), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(load < c, c * b / (c - load * (1.0 - b)), 1.0)
    return float(val) if val.ndim == 0 else val


def erlang_b_distribution(offered_load: float, servers: int) -> NDArray[np.float64]:
    """Return P(k busy), k = 0..c, in an M/M/c/c loss system (truncated Poisson).

    Args:
        offered_load: Offered traffic in Erlangs (>= 0).
        servers: Number of servers ``c``.

    Returns:
        Array of length ``c + 1`` summing to 1.

    """
    c = _check_servers(servers)
    if offered_load < 0:
        raise ValueError("offered_load must be >= 0")
    ks = np.arange(c + 1)
    if offered_load == 0:
        return np.where(ks == 0, 1.0, 0.0)
    logw = ks * math.log(offered_load) - np.array([math.lgamma(k + 1) for k in ks])
    w = np.exp(logw - np.max(logw))
    return np.asarray(w / w.sum(), dtype=float)


def mmc_distribution(offered_load: float, servers: int) -> NDArray[np.float64]:
    """Return P(k busy servers), k = 0..c, in a stable M/M/c queue.

    Entry ``c`` is P(all busy) including every state with a queue (it equals Erlang C).

    Args:
        offered_load: Offered traffic ``E = lam / mu`` (< servers).
        servers: Number of servers ``c``.

    Returns:
        Array of length ``c + 1`` summing to 1.

    """
    c = _check_servers(servers)
    if not 0 <= offered_load < c:
        raise ValueError(f"M/M/c needs 0 <= offered load < servers, got {offered_load} >= {c}")
    pc = float(erlang_c(offered_load, c))
    below = erlang_b_distribution(offered_load, c)[:c]
    below = below / below.sum() * (1.0 - pc)
    return np.append(below, pc)


@dataclass(frozen=True)
class MMc:
    """The M/M/c queue with infinite FCFS waiting room.

    Attributes:
        arrival_rate: Poisson arrival rate ``lam`` (> 0).
        service_rate: Service rate of one server ``mu`` (> 0).
        servers: Number of servers ``c`` (>= 1).

    """

    arrival_rate: float
    service_rate: float
    servers: int

    def __post_init__(self) -> None:
        _check_servers(self.servers)
        if not (self.arrival_rate > 0 and self.service_rate > 0):
            raise ValueError("arrival_rate and service_rate must be > 0")
        if self.offered_load >= self.servers:
            raise ValueError(
                f"unstable M/M/c: offered load {self.offered_load:.4g} Erlangs >= "
                f"{self.servers} servers; add servers or lower the demand"
            )

    @property
    def offered_load(self) -> float:
        """Offered load ``E = lam / mu`` in Erlangs."""
        return self.arrival_rate / self.service_rate

    @property
    def utilization(self) -> float:
        """Server utilisation ``rho = lam / (c mu)``."""
        return self.offered_load / self.servers

    @property
    def p_wait(self) -> float:
        """Erlang C: probability an arriving call must wait."""
        return float(erlang_c(self.offered_load, self.servers))

    @property
    def wq(self) -> float:
        """Mean wait in queue over all calls, ``C / (c mu - lam)``."""
        return self.p_wait / (self.servers * self.service_rate - self.arrival_rate)

    @property
    def w(self) -> float:
        """Mean time in system (wait plus service)."""
        return self.wq + 1.0 / self.service_rate

    @property
    def lq(self) -> float:
        """Mean number waiting (Little: ``lam Wq``)."""
        return self.arrival_rate * self.wq

    @property
    def l(self) -> float:  # noqa: E743
        """Mean number in system (``Lq + E``)."""
        return self.lq + self.offered_load

    def wait_survival(self, t: ArrayLike) -> NDArray[np.float64] | float:
        """Return P(Wq > t) = C exp(-(c mu - lam) t) for t >= 0."""
        tt = np.asarray(t, dtype=float)
        val = np.where(
            tt < 0,
            1.0,
            self.p_wait
            * np.exp(-(self.servers * self.service_rate - self.arrival_rate) * np.maximum(tt, 0.0)),
        )
        return float(val) if val.ndim == 0 else val

    def wait_quantile(self, q: float) -> float:
        """Return the q-quantile of the waiting time (0 when ``q <= 1 - C``).

        Args:
            q: Probability level in [0, 1).

        """
        if not 0 <= q < 1:
            raise ValueError("q must be in [0, 1)")
        c_prob = self.p_wait
        if q <= 1.0 - c_prob:
            return 0.0
        return -math.log((1.0 - q) / c_prob) / (
            self.servers * self.service_rate - self.arrival_rate
        )


@dataclass(frozen=True)
class MMcK:
    """The M/M/c/K queue: ``c`` servers, at most ``K >= c`` calls in the system.

    Arrivals that find ``K`` calls in the system are lost. ``K = c`` is the Erlang loss system.

    Attributes:
        arrival_rate: Poisson arrival rate ``lam`` (> 0).
        service_rate: Service rate of one server ``mu`` (> 0).
        servers: Number of servers ``c``.
        capacity: System capacity ``K`` (servers plus waiting places).

    """

    arrival_rate: float
    service_rate: float
    servers: int
    capacity: int

    def __post_init__(self) -> None:
        _check_servers(self.servers)
        if int(self.capacity) != self.capacity or self.capacity < self.servers:
            raise ValueError("capacity K must be an integer >= servers")
        if not (self.arrival_rate > 0 and self.service_rate > 0):
            raise ValueError("arrival_rate and service_rate must be > 0")

    def distribution(self) -> NDArray[np.float64]:
        """Return P(n in system), n = 0..K (computed in log space)."""
        lam, mu, c, k = self.arrival_rate, self.service_rate, self.servers, int(self.capacity)
        logp = np.empty(k + 1)
        logp[0] = 0.0
        for n in range(1, k + 1):
            logp[n] = logp[n - 1] + math.log(lam / (min(n, c) * mu))
        w = np.exp(logp - logp.max())
        return np.asarray(w / w.sum(), dtype=float)

    @property
    def p_lost(self) -> float:
        """Probability an arriving call is lost (finds K in system; PASTA)."""
        return float(self.distribution()[-1])

    @property
    def p_wait(self) -> float:
        """Probability an arriving call is admitted and has to wait."""
        p = self.distribution()
        return float(p[self.servers : int(self.capacity)].sum())

    @property
    def lq(self) -> float:
        """Mean number waiting."""
        p = self.distribution()
        n = np.arange(p.size)
        return float((np.maximum(n - self.servers, 0) * p).sum())

    @property
    def l(self) -> float:  # noqa: E743
        """Mean number in system."""
        p = self.distribution()
        return float((np.arange(p.size) * p).sum())

    @property
    def throughput(self) -> float:
        """Rate of admitted calls, ``lam (1 - p_lost)``."""
        return self.arrival_rate * (1.0 - self.p_lost)

    @property
    def utilization(self) -> float:
        """Server utilisation, ``throughput / (c mu)``."""
        return self.throughput / (self.servers * self.service_rate)

    @property
    def wq(self) -> float:
        """Mean wait of admitted calls (Little on admitted calls)."""
        return self.lq / self.throughput

    @property
    def w(self) -> float:
        """Mean time in system of admitted calls."""
        return self.l / self.throughput

    def wait_survival(self, t: float) -> float:
        """Return P(Wq > t) for an admitted call (t >= 0).

        An admitted call that finds ``c + k`` calls in the system waits for ``k + 1`` service
        completions at rate ``c mu``: an Erlang(k + 1, c mu) time.
        """
        if t < 0:
            return 1.0
        p = self.distribution()
        c, cap = self.servers, int(self.capacity)
        if cap == c:
            return 0.0
        found = p[c:cap] / (1.0 - p[-1])  # arrival finds all busy and k = 0..K-c-1 waiting
        shapes = np.arange(1, cap - c + 1)
        return float(
            (found * special.gammaincc(shapes, self.servers * self.service_rate * t)).sum()
        )

    def wait_quantile(self, q: float) -> float:
        """Return the q-quantile of an admitted call's wait (0 below the no-wait mass).

        Args:
            q: Probability level in [0, 1).

        """
        if not 0 <= q < 1:
            raise ValueError("q must be in [0, 1)")
        if self.wait_survival(0.0) <= 1.0 - q:
            return 0.0
        hi = 1.0 / (self.servers * self.service_rate)
        while self.wait_survival(hi) > 1.0 - q:
            hi *= 2.0
        return float(optimize.brentq(lambda x: self.wait_survival(x) - (1.0 - q), 0.0, hi))
