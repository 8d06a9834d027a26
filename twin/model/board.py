"""The unit board: the one owner of every unit's state, position and state-minutes.

Every change of a unit's state goes through a method of :class:`UnitBoard`, which checks that
the change is allowed (:data:`TRANSITIONS`) and accounts the minutes the unit spent in the state
it leaves, clipped to the statistics window. Everyone else (the engine, dispatch policies,
patrol policies, the mesa agents) asks the board through its public methods.

States (:class:`UnitState`, one vocabulary for the whole twin; ``units.parquet`` reports
minutes per state in this order)::

    OFF_DUTY --go_on--> PATROL --dispatch--> DISPATCHED --finish--> RETURNING --settle--> PATROL
       ^                  ^  |                 |   ^  |                 |
       |                  |  +----go_off-------|---|--|-----------------+--> OFF_DUTY
       |                  +----finish (at post)+   |  +--finish (off shift)--> OFF_DUTY
       |                                           +-- dispatch (next waiting call, or from
       |                                               RETURNING on the way back)
       |
       |   PATROL / RETURNING --start_self--> SELF_INITIATED --end_self--> PATROL (where it is)
       +------------------------go_off-------------+  +--dispatch (pre-empted, or the next
                                                          waiting call when the work ends)

The board *stores* five states: ``OFF_DUTY``, ``PATROL``, ``DISPATCHED`` (on a call),
``RETURNING`` and ``SELF_INITIATED`` (officer-initiated work: on duty, in a zone, not free;
only the engine's pre-empting call classes may take such a unit, see
:meth:`UnitBoard.nearest_free_or_self`). The phases of a call (dispatched -> en route -> on
scene) follow the clock: the turnout, driving and on-scene minutes are all known at
dispatch, so :meth:`UnitBoard.state_at` resolves them from the trip's times without an
event; likewise a returning unit whose arrival
time has passed is patrolling at its post (:meth:`UnitBoard.settle` makes that stored).

Positions: an idle unit is in a zone (its post, or where patrol took it); a returning unit is
on the straight line from the zone it left to its post, computed when a dispatcher asks
(:meth:`UnitBoard.travel_to`), never simulated. The board keeps, per group of units (one
agency), the list of *free* units (on duty, patrolling or returning) and of the free units
*away* from their post, so dispatch decisions touch only the units that matter.

Storage is plain Python lists indexed by unit number: the dispatch hot path reads single
elements, where lists beat numpy arrays. Bulk readers (patrol and presence at mesa steps) take
numpy copies with :meth:`UnitBoard.state_codes` / :meth:`UnitBoard.zones`.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from enum import IntEnum
from heapq import heappop, heappush

import numpy as np
from numpy.typing import NDArray

from twin.model.travel import TravelModel

__all__ = [
    "STATE_NAMES",
    "TRANSITIONS",
    "TransitionError",
    "UnitBoard",
    "UnitState",
]


class UnitState(IntEnum):
    """What a unit is doing (the code is the column order of ``units.parquet``)."""

    OFF_DUTY = 0
    PATROL = 1
    DISPATCHED = 2
    EN_ROUTE = 3
    ON_SCENE = 4
    RETURNING = 5
    SELF_INITIATED = 6

    @property
    def label(self) -> str:
        """Return the lower-case name used in output columns (``on_scene``)."""
        return self.name.lower()


STATE_NAMES = tuple(s.label for s in UnitState)
"""Unit states whose minutes ``units.parquet`` reports (index = state code)."""

_OFF, _PATROL, _DISP, _ENR, _SCENE, _RET, _SELF = (int(s) for s in UnitState)
_FEW_MOVES = 8
"""Up to this many units given as lists, :meth:`UnitBoard.move` moves them one by one."""

TRANSITIONS: dict[str, tuple[frozenset[UnitState], str]] = {
    "dispatch": (
        frozenset(
            {
                UnitState.PATROL,
                UnitState.RETURNING,
                UnitState.DISPATCHED,
                UnitState.SELF_INITIATED,
            }
        ),
        "on a call (DISPATCHED); a unit on a call takes its next call only when it clears; "
        "a unit on self-initiated work abandons it",
    ),
    "finish": (frozenset({UnitState.DISPATCHED}), "RETURNING, PATROL at its post, or OFF_DUTY"),
    "go_off": (frozenset(UnitState) - {UnitState.EN_ROUTE, UnitState.ON_SCENE}, "OFF_DUTY"),
    "go_on": (frozenset(UnitState) - {UnitState.EN_ROUTE, UnitState.ON_SCENE}, "PATROL"),
    "move": (frozenset({UnitState.PATROL}), "PATROL in another zone"),
    "start_self": (
        frozenset({UnitState.PATROL, UnitState.RETURNING}),
        "SELF_INITIATED in its zone (free and on duty only)",
    ),
    "end_self": (frozenset({UnitState.SELF_INITIATED}), "PATROL in its zone (free again)"),
}
"""Transition name -> (stored states it may start from, what it leads to)."""


class TransitionError(RuntimeError):
    """A state change the board refuses (a bug in the caller, never the user's input)."""


class UnitBoard:
    """The units' state, position, trips and state-minutes; transitions only via methods.

    Args:
        posts: Post zone index per unit.
        travel: The travel model (zone-to-zone minutes, locations).
        speed_factor: Per-unit multiplier of driving times (scenario speed / the unit's own).
        groups: Group (agency) index per unit; dispatch looks at one group's free units.
        window: ``(warmup, end)``: state minutes are clipped to this window.
        districts: District index per unit (its post's), for district-scoped choices
            (:meth:`nearest_free_in`); default all 0.

    """

    def __init__(
        self,
        posts: Sequence[int],
        travel: TravelModel,
        speed_factor: Sequence[float] | None = None,
        groups: Sequence[int] | None = None,
        window: tuple[float, float] = (0.0, math.inf),
        districts: Sequence[int] | None = None,
    ) -> None:
        n = len(posts)
        self._district = list(districts) if districts is not None else [0] * n
        self.n = n
        self.travel = travel
        self._post = list(posts)
        self._zone = list(posts)
        self._state = [_PATROL] * n
        # mirrors of state and zone for bulk readers: array.array stores written alongside the
        # lists (cheap scalar writes) and seen by numpy without a copy (no per-step conversion)
        self._state_m = array("q", self._state)
        self._zone_m = array("q", self._zone)
        self._state_np = np.frombuffer(self._state_m, dtype=np.int64)
        self._zone_np = np.frombuffer(self._zone_m, dtype=np.int64)
        self._state_ro = self._state_np.view()
        self._state_ro.flags.writeable = False
        self._zone_ro = self._zone_np.view()
        self._zone_ro.flags.writeable = False
        self._post_np = np.asarray(posts, dtype=np.int64)
        self._on_duty = [True] * n
        self._group = list(groups) if groups is not None else [0] * n
        self.n_groups = max(self._group) + 1 if n else 1
        self._members = [[u for u in range(n) if self._group[u] == g] for g in range(self.n_groups)]
        # free units per group, and the free units away from their post: insertion-ordered
        # dicts used as sets (constant-time removal, stable iteration)
        self._free: list[dict[int, None]] = [dict.fromkeys(m) for m in self._members]
        self._is_free = [True] * n
        self._away: list[dict[int, None]] = [{} for _ in range(self.n_groups)]
        self._is_away = [False] * n
        # units on self-initiated work per group (only pre-empting calls may take them)
        self._self: list[dict[int, None]] = [{} for _ in range(self.n_groups)]
        self._factor = list(speed_factor) if speed_factor else [1.0] * n
        shared = travel.times
        self._tt: list[list[list[float]]] = [
            shared if f == 1.0 else [[t * f for t in row] for row in shared] for f in self._factor
        ]
        self._turnout = travel.turnout
        self._manhattan = travel.name == "manhattan"
        self._loc = travel.locations
        self._mpk = [travel.min_per_km * f for f in self._factor]
        # a returning unit: the zone it left, when, when it reaches its post, and its
        # straight-line position p0 + v * (now - t0) in plane coordinates (kept for the
        # manhattan travel model only, whose positions nearest_free computes inline)
        self._ret_from = list(posts)
        self._ret_t0 = [0.0] * n
        self._ret_end = [0.0] * n
        self._ret_x0 = [0.0] * n
        self._ret_y0 = [0.0] * n
        self._ret_vx = [0.0] * n
        self._ret_vy = [0.0] * n
        self._returns: list[tuple[float, int]] = []  # (arrival at post, unit), settled lazily
        # the current call: en route, on scene and clear times
        self._enroute = [0.0] * n
        self._onscene = [0.0] * n
        self._clear = [0.0] * n
        # state-minutes clipped to the window, and when the open interval started
        self._warmup, self._end = float(window[0]), float(window[1])
        self._since = [0.0] * n
        self._minutes = [[0.0] * len(UnitState) for _ in range(n)]

    # ------------------------------------------------------------------ queries
    def state(self, u: int) -> UnitState:
        """Return the stored state of unit *u* (a call's phases are not resolved)."""
        return UnitState(self._state[u])

    def state_at(self, u: int, now: float) -> UnitState:
        """Return what unit *u* is doing at *now* (call phases and arrivals resolved)."""
        m = self._state[u]
        if m == _DISP:
            if now < self._enroute[u]:
                return UnitState.DISPATCHED
            if now < self._onscene[u]:
                return UnitState.EN_ROUTE
            return UnitState.ON_SCENE
        if m == _RET and now >= self._ret_end[u]:
            return UnitState.PATROL
        return UnitState(m)

    def count(self, state: UnitState) -> int:
        """Return how many units are stored in *state* (returns are settled at mesa steps)."""
        return self._state.count(int(state))

    def state_codes(self) -> NDArray[np.int64]:
        """Return the stored state codes of all units (a numpy copy)."""
        return self._state_np.copy()

    def zones(self) -> NDArray[np.int64]:
        """Return every unit's current zone (a numpy copy)."""
        return self._zone_np.copy()

    def state_view(self) -> NDArray[np.int64]:
        """Return the stored state codes as a read-only live view (no copy; bulk readers)."""
        return self._state_ro

    def zone_view(self) -> NDArray[np.int64]:
        """Return every unit's zone as a read-only live view (no copy; bulk readers)."""
        return self._zone_ro

    def zone_of(self, u: int) -> int:
        """Return unit *u*'s zone (idle: where it patrols; on a call: the incident's zone)."""
        return self._zone[u]

    def post_of(self, u: int) -> int:
        """Return unit *u*'s post zone."""
        return self._post[u]

    def group_of(self, u: int) -> int:
        """Return unit *u*'s group (agency index)."""
        return self._group[u]

    def members(self, group: int) -> list[int]:
        """Return the units of *group* in index order (a copy)."""
        return list(self._members[group])

    def is_on_duty(self, u: int) -> bool:
        """Return whether unit *u* is on shift."""
        return self._on_duty[u]

    def is_free(self, u: int) -> bool:
        """Return whether unit *u* can take a call now (on duty, patrolling or returning)."""
        return self._is_free[u]

    def has_free(self, group: int = 0) -> bool:
        """Return whether *group* has a free unit."""
        return bool(self._free[group])

    def is_self(self, u: int) -> bool:
        """Return whether unit *u* is on self-initiated work."""
        return self._state[u] == _SELF

    def has_self(self, group: int = 0) -> bool:
        """Return whether *group* has a unit on self-initiated work."""
        return bool(self._self[group])

    def self_units(self, group: int = 0) -> list[int]:
        """Return *group*'s units on self-initiated work (a copy, in the order they started)."""
        return list(self._self[group])

    def live_lists(self) -> tuple[list[bool], list[int], list[bool], list[int], list[int]]:
        """Return the board's own per-unit lists: free, state, on duty, zone and group.

        For the engine's officer-initiated settle loop, which reads them hundreds of thousands
        of times a year; read-only for the caller (changes go through the transitions).
        """
        return self._is_free, self._state, self._on_duty, self._zone, self._group

    def self_view(self, group: int = 0) -> dict[int, None]:
        """Return *group*'s units on self-initiated work (the board's own set; read only)."""
        return self._self[group]

    def available(self, group: int, now: float) -> bool:
        """Settle the returns due by *now* (:meth:`settle`); return whether *group* has a free unit.

        The dispatcher's one question before it chooses a unit for a call at *now*.
        """
        if self._returns and self._returns[0][0] <= now:
            self.settle(now)
        return bool(self._free[group])

    def free_units(self, group: int = 0) -> list[int]:
        """Return *group*'s free units (a copy, in the order they became free)."""
        return list(self._free[group])

    def post_time(self, u: int, zone: int) -> float:
        """Return unit *u*'s driving minutes from its post to *zone*."""
        return self._tt[u][self._post[u]][zone]

    def trip(self, u: int) -> tuple[float, float, float]:
        """Return the current (or last) call's en route, on scene and clear times of *u*."""
        return self._enroute[u], self._onscene[u], self._clear[u]

    def minutes(self) -> NDArray[np.float64]:
        """Return minutes per unit (rows) and state (columns, :class:`UnitState` order)."""
        return np.asarray(self._minutes, dtype=np.float64).reshape(self.n, len(UnitState))

    def travel_to(self, u: int, zone: int, now: float) -> float:
        """Return driving minutes (without turnout) for unit *u* to reach *zone* from now."""
        if self._state[u] == _RET:
            end = self._ret_end[u]
            if now >= end:
                return self._tt[u][self._post[u]][zone]
            t0 = self._ret_t0[u]
            frac = (now - t0) / (end - t0)
            a, p = self._ret_from[u], self._post[u]
            if self._manhattan:
                ax, ay = self._loc[a]
                px, py = self._loc[p]
                zx, zy = self._loc[zone]
                dist = abs(ax + frac * (px - ax) - zx) + abs(ay + frac * (py - ay) - zy)
                return dist * self._mpk[u]
            return self.travel.en_route_back(a, p, frac, zone) * self._factor[u]
        return self._tt[u][self._zone[u]][zone]

    def nearest_free(self, zone: int, now: float, by_post: list[int], group: int = 0) -> int:
        """Return the free unit of *group* with the least driving time to *zone* from now.

        Ties go to the lowest unit index. *by_post* lists the group's units by driving time
        from their post to *zone* (lowest index first on ties): free units at their post are
        found by scanning it up to the first free one; only free units away from their post
        (on their way back, or patrolling elsewhere) are timed one by one. Returns -1 when
        the group has no free unit.
        """
        tt = self._tt
        post = self._post
        is_free = self._is_free
        is_away = self._is_away
        best = -1
        best_t = math.inf
        for u in by_post:
            if is_free[u] and not is_away[u]:
                best = u
                best_t = tt[u][post[u]][zone]
                break
        away = self._away[group]
        if not away:
            return best
        state = self._state
        cur = self._zone
        ret_end = self._ret_end
        if self._manhattan:
            zx, zy = self._loc[zone]
            t0, x0, y0 = self._ret_t0, self._ret_x0, self._ret_y0
            vx, vy, mpk = self._ret_vx, self._ret_vy, self._mpk
            for u in away:
                if state[u] == _PATROL:
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
            if state[u] == _PATROL:
                t = tt[u][cur[u]][zone]
            elif now >= ret_end[u]:
                t = tt[u][post[u]][zone]
            else:
                t = self.travel_to(u, zone, now)
            if t < best_t or (t == best_t and u < best):
                best_t = t
                best = u
        return best

    def district_of(self, u: int) -> int:
        """Return unit *u*'s district index (its post's)."""
        return self._district[u]

    def nearest_free_in(
        self, zone: int, now: float, by_post: list[int], group: int, district: int
    ) -> int:
        """Return *group*'s free unit of *district* with the least driving time to *zone*.

        As :meth:`nearest_free`, over the units posted in *district* only (*by_post* lists
        them by driving time from their post); -1 when none of them is free.
        """
        tt = self._tt
        post = self._post
        is_free = self._is_free
        is_away = self._is_away
        best = -1
        best_t = math.inf
        for u in by_post:
            if is_free[u] and not is_away[u]:
                best = u
                best_t = tt[u][post[u]][zone]
                break
        dist = self._district
        state = self._state
        cur = self._zone
        for u in self._away[group]:
            if dist[u] != district:
                continue
            t = tt[u][cur[u]][zone] if state[u] == _PATROL else self.travel_to(u, zone, now)
            if t < best_t or (t == best_t and u < best):
                best_t = t
                best = u
        return best

    def nearest_free_or_self(
        self, zone: int, now: float, by_post: list[int], group: int = 0
    ) -> int:
        """Return the unit of *group* nearest to *zone*: free, or on self-initiated work.

        A pre-empting call's choice: :meth:`nearest_free` over the free units, then every unit
        on self-initiated work timed from the zone it works in; the least driving time wins
        (ties to the lowest unit index). Returns -1 when none is free or self-initiated.
        """
        best = self.nearest_free(zone, now, by_post, group) if self._free[group] else -1
        best_t = self.travel_to(best, zone, now) if best >= 0 else math.inf
        tt = self._tt
        cur = self._zone
        for u in self._self[group]:
            t = tt[u][cur[u]][zone]
            if t < best_t or (t == best_t and u < best):
                best_t = t
                best = u
        return best

    def first_free_or_self(self, order: list[int]) -> int:
        """Return the first unit of *order* that is free or on self-initiated work (or -1)."""
        is_free = self._is_free
        state = self._state
        for u in order:
            if is_free[u] or state[u] == _SELF:
                return u
        return -1

    def first_free(self, order: list[int]) -> int:
        """Return the first free unit of *order* (-1 when none is free)."""
        is_free = self._is_free
        for u in order:
            if is_free[u]:
                return u
        return -1

    def returns_due(self, now: float) -> bool:
        """Return whether a returning unit has reached its post by *now* (see :meth:`settle`)."""
        rq = self._returns
        return bool(rq) and rq[0][0] <= now

    # ------------------------------------------------------------------ transitions
    def _refuse(self, what: str, u: int) -> TransitionError:
        allowed, leads = TRANSITIONS[what]
        names = ", ".join(sorted(s.name for s in allowed))
        return TransitionError(
            f"unit {u}: cannot {what} from {UnitState(self._state[u]).name} "
            f"(on duty: {self._on_duty[u]}); {what} starts from {names} and leads to {leads}"
        )

    def dispatch(
        self, u: int, zone: int, now: float, start: float, service: float, mult: float = 1.0
    ) -> tuple[float, float]:
        """Send unit *u* to a call in *zone*: it becomes DISPATCHED.

        The trip's phases follow from the travel model's turnout, the driving time from where
        the unit is now (times *mult*) and *service*.

        Args:
            u: The unit (free, or on a call it has just cleared).
            zone: The call's zone.
            now: The clock (closes the state the unit leaves).
            start: When the trip starts (``now``, or the call's dispatchable time when the
                clock is an ulp behind it).
            service: On-scene minutes.
            mult: Multiplier of the driving time (class factor x noise).

        Returns:
            ``(driving minutes, clear time)``.

        Raises:
            TransitionError: When the unit is off duty or off shift.

        """
        state = self._state
        m = state[u]
        if m == _OFF or not self._on_duty[u]:
            raise self._refuse("dispatch", u)
        if self._is_free[u]:  # leaves the free lists
            g = self._group[u]
            del self._free[g][u]
            self._is_free[u] = False
            if self._is_away[u]:
                del self._away[g][u]
                self._is_away[u] = False
        since = self._since[u]
        acc = self._minutes[u]
        warmup, end = self._warmup, self._end
        if m == _RET:
            tr = self.travel_to(u, zone, now)
            if since >= warmup and now <= end and now <= self._ret_end[u]:
                acc[_RET] += now - since
                self._since[u] = now
            else:
                self._close_open(u, now)
        else:
            tr = self._tt[u][self._zone[u]][zone]
            if m == _PATROL and since >= warmup and now <= end:
                acc[_PATROL] += now - since
                self._since[u] = now
            elif m != _DISP:
                self._close_open(u, now)
        state[u] = _DISP
        self._zone[u] = zone
        self._state_m[u] = _DISP
        self._zone_m[u] = zone
        if mult != 1.0:
            tr *= mult
        turnout = self._turnout
        enr = start + turnout
        ons = enr + tr
        clr = ons + service
        self._enroute[u] = enr
        self._onscene[u] = ons
        self._clear[u] = clr
        if start >= warmup and clr <= end:
            acc[_DISP] += turnout
            acc[_ENR] += tr
            acc[_SCENE] += service
        else:
            self._clip_add(u, _DISP, start, enr)
            self._clip_add(u, _ENR, enr, ons)
            self._clip_add(u, _SCENE, ons, clr)
        return tr, clr

    def finish(self, u: int, now: float) -> None:
        """Clear unit *u*'s call when nothing waits for it.

        Off shift, it goes OFF_DUTY at its post; otherwise it is free again: PATROL when it
        is at its post (no driving back), else RETURNING along the straight line to its post.
        """
        state = self._state
        if state[u] != _DISP:
            raise self._refuse("finish", u)
        self._since[u] = now  # the call's minutes were accounted at dispatch
        post = self._post[u]
        if not self._on_duty[u]:
            state[u] = _OFF
            self._zone[u] = post
            self._state_m[u] = _OFF
            self._zone_m[u] = post
            return
        z = self._zone[u]
        back = self._tt[u][z][post]
        g = self._group[u]
        self._free[g][u] = None
        self._is_free[u] = True
        if back <= 0.0:
            state[u] = _PATROL
            self._zone[u] = post
            self._state_m[u] = _PATROL
            self._zone_m[u] = post
            return
        state[u] = _RET
        self._state_m[u] = _RET
        self._ret_from[u] = z
        self._ret_t0[u] = now
        end = now + back
        self._ret_end[u] = end
        if self._manhattan:  # the straight line, for nearest_free's inlined positions
            loc = self._loc
            ax, ay = loc[z]
            px, py = loc[post]
            self._ret_x0[u] = ax
            self._ret_y0[u] = ay
            self._ret_vx[u] = (px - ax) / back
            self._ret_vy[u] = (py - ay) / back
        heappush(self._returns, (end, u))
        self._away[g][u] = None
        self._is_away[u] = True

    def start_self(self, u: int, now: float) -> None:
        """Put free unit *u* on self-initiated work: it leaves the free lists.

        A patrolling unit works in the zone it patrols; a unit driving back to its post works
        in the zone it is nearer to on that line (the zone it left, or its post), where a
        pre-empting call times it from and where it patrols again afterwards.
        """
        m = self._state[u]
        if m == _PATROL and self._is_free[u]:  # the common case, inlined
            s = self._since[u]
            if s >= self._warmup and now <= self._end:
                self._minutes[u][_PATROL] += now - s
            else:
                self._clip_add(u, _PATROL, s, now)
            self._since[u] = now
            g = self._group[u]
            del self._free[g][u]
            self._is_free[u] = False
            if self._is_away[u]:
                del self._away[g][u]
                self._is_away[u] = False
            self._state[u] = _SELF
            self._state_m[u] = _SELF
            self._self[g][u] = None
            return
        if not self._is_free[u] or m not in (_PATROL, _RET):
            raise self._refuse("start_self", u)
        if m == _RET:
            end = self._ret_end[u]
            if now < end:
                t0 = self._ret_t0[u]
                frac = (now - t0) / (end - t0) if end > t0 else 1.0
                z = self._ret_from[u] if frac < 0.5 else self._post[u]
            else:
                z = self._post[u]
            self._close_open(u, now)
            self._zone[u] = z
            self._zone_m[u] = z
        else:
            self._close_open(u, now)
        self._take(u)
        self._state[u] = _SELF
        self._state_m[u] = _SELF
        self._self[self._group[u]][u] = None

    def self_again(self, u: int, end: float, start: float) -> None:
        """End *u*'s work at *end*, patrol where it is, and start again at *start*.

        One transition for a free spell nobody looked at (the engine calls it only when no
        dispatch decision fell between *end* and *start*): the minutes are those of
        :meth:`end_self` at *end* then :meth:`start_self` at *start*, without passing through
        the free lists.
        """
        if self._state[u] != _SELF or start < end:
            raise self._refuse("end_self", u)
        s = self._since[u]
        if s >= self._warmup and start <= self._end:
            acc = self._minutes[u]
            acc[_SELF] += end - s
            acc[_PATROL] += start - end
        else:
            self._clip_add(u, _SELF, s, end)
            self._clip_add(u, _PATROL, end, start)
        self._since[u] = start

    def end_self(self, u: int, now: float) -> None:
        """End unit *u*'s self-initiated work: it patrols again, free, in the zone it is in."""
        if self._state[u] != _SELF:
            raise self._refuse("end_self", u)
        s = self._since[u]
        if s >= self._warmup and now <= self._end:
            self._minutes[u][_SELF] += now - s
        else:
            self._clip_add(u, _SELF, s, now)
        self._since[u] = now
        g = self._group[u]
        del self._self[g][u]
        self._state[u] = _PATROL
        self._state_m[u] = _PATROL
        self._free[g][u] = None
        self._is_free[u] = True
        if self._zone[u] != self._post[u]:
            self._away[g][u] = None
            self._is_away[u] = True

    def go_off(self, u: int, now: float) -> None:
        """End unit *u*'s shift: it leaves the free lists; a unit on a call finishes it first."""
        self._on_duty[u] = False
        if self._is_free[u]:
            self._take(u)
        if self._state[u] != _DISP:
            self._close_open(u, now)
            self._state[u] = _OFF
            self._zone[u] = self._post[u]
            self._state_m[u] = _OFF
            self._zone_m[u] = self._post[u]

    def go_on(self, u: int, now: float) -> bool:
        """Start unit *u*'s shift; return whether it became free (False: still on a call)."""
        self._on_duty[u] = True
        if self._state[u] != _OFF:
            return False
        self._close_open(u, now)
        self._state[u] = _PATROL
        self._zone[u] = self._post[u]
        self._state_m[u] = _PATROL
        self._zone_m[u] = self._post[u]
        self._free[self._group[u]][u] = None
        self._is_free[u] = True
        return True

    def settle(self, now: float) -> None:
        """Make returning units that have reached their post by *now* PATROL at their post.

        Arrivals at the post are not simulated as events: they sit in a heap and are settled
        lazily, before each dispatch decision and at each mesa step.
        """
        rq = self._returns
        state, ret_end = self._state, self._ret_end
        while rq and rq[0][0] <= now:
            e, u = heappop(rq)
            if state[u] == _RET and ret_end[u] == e:
                self._clip_add(u, _RET, self._since[u], e)
                self._since[u] = e
                state[u] = _PATROL
                self._zone[u] = self._post[u]
                self._state_m[u] = _PATROL
                self._zone_m[u] = self._post[u]
                if self._is_away[u]:
                    del self._away[self._group[u]][u]
                    self._is_away[u] = False

    def move(
        self, units: NDArray[np.int64] | list[int], zones: NDArray[np.int64] | list[int]
    ) -> None:
        """Move patrolling *units* to *zones* (one patrol step each; arrays of equal length).

        A patrolling unit is free; it is *away* exactly when its zone is not its post, so
        only the units that leave or reach their post change the away lists. *units* are
        distinct; a few of them given as lists are moved one by one (no array overhead).
        """
        if type(units) is list and len(units) <= _FEW_MOVES:
            self._move_few(units, list(zones))
            return
        units = np.asarray(units, dtype=np.int64)
        zones = np.asarray(zones, dtype=np.int64)
        if not units.size:
            return
        bad = self._state_np[units] != _PATROL
        if bad.any():
            raise self._refuse("move", int(units[np.argmax(bad)]))
        post = self._post_np[units]
        flip = (self._zone_np[units] != post) != (zones != post)
        self._zone_np[units] = zones
        self._zone[:] = self._zone_m.tolist()
        for u in units[flip].tolist():
            self._toggle_away(u)

    def _move_few(self, units: list[int], zones: list[int]) -> None:
        """:meth:`move` unit by unit: the same checks, zones and away-list changes."""
        state = self._state
        for u in units:
            if state[u] != _PATROL:
                raise self._refuse("move", u)
        cur, cur_m, post = self._zone, self._zone_m, self._post
        for u, z in zip(units, zones, strict=True):
            p = post[u]
            if (cur[u] != p) != (z != p):
                self._toggle_away(u)
            cur[u] = z
            cur_m[u] = z

    def _toggle_away(self, u: int) -> None:
        """Move unit *u* into its group's away list, or out of it (it crossed its post)."""
        away = self._away[self._group[u]]
        if self._is_away[u]:
            del away[u]
            self._is_away[u] = False
        else:
            away[u] = None
            self._is_away[u] = True

    def close(self, now: float) -> None:
        """Account every unit's open interval up to *now* (end of the run)."""
        for u in range(self.n):
            if self._state[u] != _DISP:
                self._close_open(u, now)

    # ------------------------------------------------------------------ internals
    def _take(self, u: int) -> None:
        del self._free[self._group[u]][u]
        self._is_free[u] = False
        if self._is_away[u]:
            del self._away[self._group[u]][u]
            self._is_away[u] = False

    def _clip_add(self, u: int, state: int, a: float, b: float) -> None:
        lo = a if a > self._warmup else self._warmup
        hi = b if b < self._end else self._end
        if hi > lo:
            self._minutes[u][state] += hi - lo

    def _close_open(self, u: int, now: float) -> None:
        """Account the open patrol / returning / off-duty / self-initiated interval up to *now*.

        A unit on self-initiated work leaves the group's self-initiated list here.
        """
        m = self._state[u]
        s = self._since[u]
        if m == _PATROL:
            self._clip_add(u, _PATROL, s, now)
        elif m == _RET:
            e = self._ret_end[u]
            if now <= e:
                self._clip_add(u, _RET, s, now)
            else:
                self._clip_add(u, _RET, s, e)
                self._clip_add(u, _PATROL, e, now)
        elif m == _OFF:
            self._clip_add(u, _OFF, s, now)
        elif m == _SELF:
            # the work ends here (finished, pre-empted, off shift or end of run)
            self._clip_add(u, _SELF, s, now)
            self._self[self._group[u]].pop(u, None)
        self._since[u] = now
