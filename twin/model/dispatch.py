"""Dispatch policies: which free unit answers a call, chosen by name in the scenario.

A policy is a small strategy object with one method, :meth:`DispatchPolicy.choose`, called only
when at least one unit is free. It reads unit positions from the engine's :class:`UnitBoard`
(plain lists, cheap to index in the hot path). Policies: ``closest`` (least driving time from
where the unit is now, including units on their way back to post) and ``preference`` (a fixed
ordered list of units per zone, as in Larson's hypercube model).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from enum import IntEnum
from typing import Protocol

from twin.model.travel import TravelModel
from twin.scenario import Scenario

__all__ = [
    "DISPATCH_POLICIES",
    "Closest",
    "DispatchPolicy",
    "Mode",
    "Preference",
    "UnitBoard",
    "build_policy",
]


class Mode(IntEnum):
    """What a unit is doing, as far as dispatch cares."""

    OFF = 0
    IDLE = 1
    BUSY = 2
    RETURNING = 3


class UnitBoard:
    """The engine's unit table: plain lists indexed by unit number.

    Attributes:
        n: Number of units.
        post: Post zone index per unit.
        zone: Current zone (idle: where it patrols; busy: the incident's zone).
        mode: :class:`Mode` value per unit (stored as ``int`` for speed).
        ret_from / ret_t0 / ret_end: For a returning unit, the zone it left, when, and when it
            reaches its post.
        free: Units that can take a call now (idle or returning, on duty).
        is_free: ``is_free[u]`` mirrors membership of ``free``.
        away: The free units that are not at their post (returning, or patrolling elsewhere);
            ``is_away`` mirrors it.
        factor: Per-unit multiplier of driving times (scenario speed / the unit's own speed).
        tt: Per-unit zone-to-zone driving minutes (shared unless a unit has its own speed).
        on_duty: Whether the unit is on shift.

    """

    def __init__(
        self, posts: list[int], travel: TravelModel, speed_factor: list[float] | None = None
    ) -> None:
        n = len(posts)
        self.n = n
        self.travel = travel
        self.post = list(posts)
        self.zone = list(posts)
        self.mode = [int(Mode.IDLE)] * n
        self.ret_from = list(posts)
        self.ret_t0 = [0.0] * n
        self.ret_end = [0.0] * n
        self.free: list[int] = list(range(n))
        self.is_free = [True] * n
        self.away: list[int] = []  # free units not at their post (returning or patrolling)
        self.is_away = [False] * n
        self.factor = list(speed_factor) if speed_factor else [1.0] * n
        shared = travel.times
        self.tt: list[list[list[float]]] = [
            shared if f == 1.0 else [[t * f for t in row] for row in shared] for f in self.factor
        ]
        self.on_duty = [True] * n
        self.units: list[int] | None = None  # an agency's view lists its units
        self._manhattan = travel.name == "manhattan"
        self._loc = travel.locations
        self._mpk = [travel.min_per_km * f for f in self.factor]
        # straight-line return geometry (plane coordinates): position = p0 + v * (now - t0)
        self.ret_x0 = [0.0] * n
        self.ret_y0 = [0.0] * n
        self.ret_vx = [0.0] * n
        self.ret_vy = [0.0] * n

    def take(self, u: int) -> None:
        """Remove unit *u* from the free lists (it has been dispatched or went off duty)."""
        self.free.remove(u)
        self.is_free[u] = False
        if self.is_away[u]:
            self.away.remove(u)
            self.is_away[u] = False

    def release(self, u: int) -> None:
        """Add unit *u* to the free lists (idle or returning, on duty)."""
        self.free.append(u)
        self.is_free[u] = True
        if self.mode[u] == 3 or self.zone[u] != self.post[u]:
            self.away.append(u)
            self.is_away[u] = True

    def refresh_away(self) -> None:
        """Recompute which free units are away from their post (after patrol moves)."""
        mode, zone, post = self.mode, self.zone, self.post
        is_away = self.is_away
        if self.units is None:
            is_away[:] = [False] * self.n  # in place: the engine holds these lists
        else:  # an agency's view: only its own units
            for u in self.units:
                is_away[u] = False
        self.away[:] = [u for u in self.free if mode[u] == 3 or zone[u] != post[u]]
        for u in self.away:
            is_away[u] = True

    def view(self, units: list[int]) -> UnitBoard:
        """Return a board of *units* only (one agency) sharing this board's per-unit lists.

        The view has its own ``free`` and ``away`` lists (the agency's free units); every
        per-unit list (mode, zone, is_free, travel times, ...) is shared with this board.
        """
        v = copy.copy(self)
        v.units = list(units)
        v.free = [u for u in self.free if u in set(units)]
        v.away = [u for u in self.away if u in set(units)]
        return v

    def start_return(self, u: int, zone: int, now: float, minutes: float) -> None:
        """Send unit *u* from *zone* back to its post, arriving *minutes* from *now*."""
        self.mode[u] = 3
        self.ret_from[u] = zone
        self.ret_t0[u] = now
        self.ret_end[u] = now + minutes
        ax, ay = self._loc[zone]
        px, py = self._loc[self.post[u]]
        self.ret_x0[u] = ax
        self.ret_y0[u] = ay
        self.ret_vx[u] = (px - ax) / minutes
        self.ret_vy[u] = (py - ay) / minutes

    def travel_to(self, u: int, zone: int, now: float) -> float:
        """Return driving minutes (without turnout) for unit *u* to reach *zone* from now."""
        if self.mode[u] == 3:
            end = self.ret_end[u]
            if now >= end:
                return self.tt[u][self.post[u]][zone]
            t0 = self.ret_t0[u]
            frac = (now - t0) / (end - t0)
            a, p = self.ret_from[u], self.post[u]
            if self._manhattan:
                ax, ay = self._loc[a]
                px, py = self._loc[p]
                zx, zy = self._loc[zone]
                dist = abs(ax + frac * (px - ax) - zx) + abs(ay + frac * (py - ay) - zy)
                return dist * self._mpk[u]
            return self.travel.en_route_back(a, p, frac, zone) * self.factor[u]
        return self.tt[u][self.zone[u]][zone]


class DispatchPolicy(Protocol):
    """A dispatch rule: pick one of the free units for a call in *zone*."""

    name: str

    def choose(self, zone: int, now: float) -> int:
        """Return the unit to send (``board.free`` is not empty)."""
        ...

    def first_choice(self, zone: int) -> int:
        """Return the unit this policy sends to *zone* when every unit is at its post."""
        ...


class Closest:
    """Send the free unit with the least driving time from where it is now.

    Ties go to the lowest unit index. Free units at their post are found by scanning the
    zone's units in order of post distance (precomputed) up to the first free one; only units
    away from their post (on their way back, or patrolling elsewhere) are timed one by one.
    """

    name = "closest"

    def __init__(self, board: UnitBoard) -> None:
        self.board = board
        b = board
        n_z = len(b.travel.times)
        units = b.units if b.units is not None else list(range(b.n))

        def by_post_time(z: int) -> list[int]:
            return sorted(units, key=lambda u: (b.tt[u][b.post[u]][z], u))

        self.order = [by_post_time(z) for z in range(n_z)]

    def choose(self, zone: int, now: float) -> int:
        """Return the closest free unit."""
        b = self.board
        tt = b.tt
        post = b.post
        is_free = b.is_free
        is_away = b.is_away
        best = -1
        best_t = float("inf")
        for u in self.order[zone]:
            if is_free[u] and not is_away[u]:
                best = u
                best_t = tt[u][post[u]][zone]
                break
        away = b.away
        if not away:
            return best
        mode = b.mode
        cur = b.zone
        ret_end = b.ret_end
        if b._manhattan:
            zx, zy = b._loc[zone]
            t0, x0, y0, vx, vy, mpk = b.ret_t0, b.ret_x0, b.ret_y0, b.ret_vx, b.ret_vy, b._mpk
            for u in away:
                if mode[u] == 1:
                    t = tt[u][cur[u]][zone]
                elif now >= ret_end[u]:
                    t = tt[u][post[u]][zone]
                else:
                    el = now - t0[u]
                    t = (abs(x0[u] + vx[u] * el - zx) + abs(y0[u] + vy[u] * el - zy)) * mpk[u]
                if t < best_t or (t == best_t and u < best):
                    best_t = t
                    best = u
            return best
        for u in away:
            if mode[u] == 1:
                t = tt[u][cur[u]][zone]
            elif now >= ret_end[u]:
                t = tt[u][post[u]][zone]
            else:
                t = b.travel_to(u, zone, now)
            if t < best_t or (t == best_t and u < best):
                best_t = t
                best = u
        return best

    def first_choice(self, zone: int) -> int:
        """Return the unit whose post is closest to *zone* (lowest index on ties)."""
        return self.order[zone][0]


class Preference:
    """Send the first free unit on the zone's fixed preference list."""

    name = "preference"

    def __init__(self, board: UnitBoard, order: list[list[int]]) -> None:
        self.board = board
        self.order = order

    def choose(self, zone: int, now: float) -> int:
        """Return the most preferred free unit."""
        is_free = self.board.is_free
        for u in self.order[zone]:
            if is_free[u]:
                return u
        raise RuntimeError("choose() called with no free unit")  # pragma: no cover

    def first_choice(self, zone: int) -> int:
        """Return the head of the zone's preference list."""
        return self.order[zone][0]


def _closest(scenario: Scenario, board: UnitBoard, agency: str) -> DispatchPolicy:
    return Closest(board)


def _preference(scenario: Scenario, board: UnitBoard, agency: str) -> DispatchPolicy:
    prefs = scenario.agency_dispatch(agency).preferences or {}
    uidx = {u: i for i, u in enumerate(scenario.unit_ids)}
    mine = set(board.units) if board.units is not None else set(range(board.n))
    order = [[uidx[u] for u in prefs[z] if uidx[u] in mine] for z in scenario.zone_ids]
    return Preference(board, order)


DISPATCH_POLICIES: dict[str, Callable[[Scenario, UnitBoard, str], DispatchPolicy]] = {
    "closest": _closest,
    "preference": _preference,
}
"""Registry: policy name -> builder ``(scenario, board, agency) -> policy``."""


def build_policy(scenario: Scenario, board: UnitBoard, agency: str | None = None) -> DispatchPolicy:
    """Build the dispatch policy the scenario names for *agency* (``dispatch.policy``).

    Args:
        scenario: The scenario.
        board: The unit board (an agency's view with several agencies).
        agency: The agency (default: the scenario's first); its own ``agencies[].dispatch``
            when it has one, else the top-level ``dispatch``.

    """
    agency = agency if agency is not None else scenario.agency_ids[0]
    policy = scenario.agency_dispatch(agency).policy
    return DISPATCH_POLICIES[policy](scenario, board, agency)
