"""Fleet: the effective number of units per district when unit counts are not published.

Seattle publishes average response by beat and priority but not how many cars are on the
street. The twin infers an *effective* fleet per precinct from two facts:

* priority-1 calls jump the queue, so their response is mostly dispatch delay and travel (this
  fixes speed, see :mod:`twin.calibrate.travel`);
* the extra delay of priority-2 calls over priority-1 calls is mostly waiting for a free unit.

With the precinct's call rate per class and the mean busy time per call, a non-preemptive
priority M/M/c queue (Cobham's formula; all classes share one exponential service time) gives
the mean wait of each class for every fleet size ``c``; the fleet is the ``c`` whose predicted
priority-2 wait is closest to the observed extra delay. The same function also gives the fleet
for a target utilisation (used where no response data exist at all, e.g. Seattle Fire).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from twin.analytics.erlang import erlang_c
from twin.statistics import largest_remainder

__all__ = [
    "SPD_SHIFT_STARTS_H",
    "FleetFit",
    "ShiftFleet",
    "fleet_for_gap",
    "fleet_for_utilisation",
    "fleet_for_wait",
    "priority_waits",
    "shift_fleet",
]

#: Start hours (local) of Seattle Police's assumed three 8-hour watches.
SPD_SHIFT_STARTS_H: tuple[int, ...] = (7, 15, 23)


def priority_waits(rates_per_hour: Sequence[float], busy_min: float, servers: int) -> list[float]:
    """Return the mean queueing wait (minutes) of each class in a priority M/M/c queue.

    Classes are in priority order (first = most urgent); the queue is non-preemptive and every
    class has the same exponential busy time. Cobham's formula:
    ``W_k = C(c, a) / (c mu) / ((1 - s_{k-1}) (1 - s_k))`` with ``s_k`` the load of classes
    1..k divided by ``c``.

    Args:
        rates_per_hour: Call rate of each class per hour.
        busy_min: Mean time a unit is busy per call, in minutes.
        servers: Number of units ``c``.

    Returns:
        Mean wait per class in minutes (``inf`` when the queue is unstable).

    """
    lam = [r / 60.0 for r in rates_per_hour]
    mu = 1.0 / busy_min
    load = sum(lam) / mu
    if load >= servers:
        return [math.inf] * len(lam)
    pw = float(erlang_c(load, servers))
    w0 = pw / (servers * mu)
    out: list[float] = []
    sigma_prev = 0.0
    for lk in lam:
        sigma = sigma_prev + lk / (servers * mu)
        out.append(w0 / ((1.0 - sigma_prev) * (1.0 - sigma)))
        sigma_prev = sigma
    return out


@dataclass
class FleetFit:
    """The fleet inferred for one district.

    Attributes:
        district: District id.
        units: Effective number of units.
        method: ``"p2 wait"`` or ``"utilisation"``.
        offered_load: Erlangs (call rate x busy time).
        target: The observed quantity matched (minutes of wait, or utilisation).
        predicted: The model's value for the chosen fleet.
        utilisation: offered load / units.
        details: Per-candidate predictions, for the report.

    """

    district: str
    units: int
    method: str
    offered_load: float
    target: float
    predicted: float
    utilisation: float
    details: dict[str, Any] = field(default_factory=dict)


def fleet_for_wait(
    district: str,
    rates_per_hour: Sequence[float],
    busy_min: float,
    target_wait_min: float,
    *,
    wait_class: int = 1,
    max_units: int = 200,
) -> FleetFit:
    """Return the fleet whose predicted wait of class ``wait_class`` best matches a target.

    Args:
        district: District id (for the report).
        rates_per_hour: Call rate per class, most urgent first.
        busy_min: Mean busy time per call (minutes).
        target_wait_min: Observed mean extra delay of that class (minutes).
        wait_class: Index of the class whose wait is matched (1 = the second class).
        max_units: Upper bound of the search.

    Returns:
        The :class:`FleetFit`; the smallest stable fleet when the target is unreachable.

    """
    load = sum(rates_per_hour) / 60.0 * busy_min
    c_min = max(1, math.floor(load) + 1)
    best: tuple[float, int, float] | None = None
    table: dict[str, float] = {}
    for c in range(c_min, max(c_min + 1, max_units + 1)):
        w = priority_waits(rates_per_hour, busy_min, c)[wait_class]
        table[str(c)] = w
        # compare on a log scale: waits span orders of magnitude
        err = abs(math.log(max(w, 1e-3)) - math.log(max(target_wait_min, 1e-3)))
        if best is None or err < best[0]:
            best = (err, c, w)
        if w < target_wait_min * 0.5 and c > c_min + 1:
            break
    assert best is not None
    _, c, w = best
    return FleetFit(
        district=district,
        units=c,
        method="p2 wait",
        offered_load=load,
        target=target_wait_min,
        predicted=w,
        utilisation=load / c,
        details={"wait_by_units": table},
    )


def fleet_for_utilisation(
    district: str, rate_per_hour: float, busy_min: float, utilisation: float
) -> FleetFit:
    """Return the fleet that runs at a given mean utilisation.

    Args:
        district: District id.
        rate_per_hour: Calls per hour.
        busy_min: Mean busy time per call (minutes).
        utilisation: Target utilisation in (0, 1).

    Returns:
        The :class:`FleetFit` (at least one unit, and more than the offered load).

    """
    load = rate_per_hour / 60.0 * busy_min
    c = max(1, math.ceil(load / utilisation), math.floor(load) + 1)
    return FleetFit(
        district=district,
        units=c,
        method="utilisation",
        offered_load=load,
        target=utilisation,
        predicted=load / c,
        utilisation=load / c,
    )


def fleet_for_gap(
    district: str,
    rates_per_hour: Sequence[float],
    busy_min: float,
    gap_min: float,
    p1_cap_min: float,
    *,
    max_units: int = 200,
) -> FleetFit:
    """Return the fleet whose priority-2 minus priority-1 wait best matches an observed gap.

    In a non-preemptive priority queue ``W2 - W1 = W1 * s2 / (1 - s2)``: a large gap needs a
    large priority-1 wait too. The search keeps fleets whose priority-1 wait stays under
    ``p1_cap_min`` (priority-1 response is mostly travel) and, among those, takes the one whose
    gap is closest to ``gap_min`` (the smallest such fleet when the gap is out of reach).

    Args:
        district: District id.
        rates_per_hour: Call rate per class, most urgent first (at least two classes).
        busy_min: Mean busy time per call (minutes).
        gap_min: Observed mean priority-2 minus priority-1 response (minutes).
        p1_cap_min: Largest acceptable mean priority-1 wait (minutes).
        max_units: Upper bound of the search.

    Returns:
        The :class:`FleetFit` (``predicted`` is the model's gap).

    """
    load = sum(rates_per_hour) / 60.0 * busy_min
    c_min = max(1, math.floor(load) + 1)
    table: dict[str, list[float]] = {}
    best: tuple[float, int, float] | None = None
    for c in range(c_min, max(c_min + 1, max_units + 1)):
        w = priority_waits(rates_per_hour, busy_min, c)
        gap = w[1] - w[0]
        table[str(c)] = [w[0], w[1]]
        if w[0] > p1_cap_min:
            continue
        err = abs(gap - gap_min)
        if best is None or err < best[0]:
            best = (err, c, gap)
        if gap < gap_min:
            break
    if best is None:
        c = max_units
        w = priority_waits(rates_per_hour, busy_min, c)
        best = (0.0, c, w[1] - w[0])
    _, c, gap = best
    return FleetFit(
        district=district,
        units=c,
        method="p2 - p1 gap, p1 wait capped",
        offered_load=load,
        target=gap_min,
        predicted=gap,
        utilisation=load / c,
        details={"waits_by_units": table, "p1_cap_min": p1_cap_min},
    )


@dataclass
class ShiftFleet:
    """A district's fleet split over daily shifts by the demand in each shift.

    Attributes:
        district: District id.
        units_24h: The fleet fitted as if every unit were on duty 24 hours.
        hours: Length of each shift (hours).
        counts: Units on each shift, keyed by its start ``"HH:MM"`` (local).
        calls_per_hour: Mean calls per hour in each shift's hours (over the week).
        offered_load: Mean offered load in each shift (erlangs: calls/hour x busy time).

    """

    district: str
    units_24h: int
    hours: float
    counts: dict[str, int]
    calls_per_hour: dict[str, float]
    offered_load: dict[str, float]

    @property
    def unit_hours_per_day(self) -> float:
        """Return the on-duty unit-hours per day of the shifted fleet."""
        return float(sum(self.counts.values()) * self.hours)


def shift_fleet(
    district: str,
    hourly_calls: Sequence[float],
    busy_min: float,
    units_24h: int,
    starts_h: Sequence[int] = SPD_SHIFT_STARTS_H,
    hours: int = 8,
) -> ShiftFleet:
    """Split a 24-hour fleet over daily shifts in proportion to each shift's offered load.

    The shifts must tile the day (``len(starts_h) * hours == 24``), so keeping
    ``units_24h * 24`` unit-hours per day means ``units_24h * len(starts_h)`` shift slots,
    allocated by largest remainder over the shifts' offered loads (at least one unit each).

    Args:
        district: District id.
        hourly_calls: Expected calls in each hour of the week (168 values, Monday 00:00
            local first).
        busy_min: Mean busy time per call (minutes).
        units_24h: The fleet as fitted for round-the-clock duty.
        starts_h: Local start hour of each shift.
        hours: Shift length in hours.

    Returns:
        The :class:`ShiftFleet`.

    Raises:
        ValueError: When the shifts do not tile the day or the profile is not 168 hours.

    """
    if len(starts_h) * hours != 24 or len({h % 24 for h in starts_h}) != len(starts_h):
        raise ValueError(f"shifts starting at {list(starts_h)} of {hours} h do not tile the day")
    if len(hourly_calls) != 168:
        raise ValueError(f"hourly_calls has {len(hourly_calls)} values, expected 168")
    keys = [f"{h % 24:02d}:00" for h in starts_h]
    rate: dict[str, float] = {}
    for key, h0 in zip(keys, starts_h, strict=True):
        sel = [hourly_calls[h] for h in range(168) if (h % 24 - h0) % 24 < hours]
        rate[key] = float(sum(sel) / len(sel))
    load = {k: r * busy_min / 60.0 for k, r in rate.items()}
    slots = units_24h * len(starts_h)
    seats = largest_remainder(slots, [load[k] for k in keys], minimum=1)
    counts = dict(zip(keys, seats, strict=True))
    return ShiftFleet(
        district=district,
        units_24h=units_24h,
        hours=float(hours),
        counts=counts,
        calls_per_hour=rate,
        offered_load=load,
    )
