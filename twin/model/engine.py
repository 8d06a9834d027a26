"""The discrete-event engine: simpy is the clock and holds the call queue.

One :class:`Simulation` is one replication of one scenario. Its processes:

* one **arrival** process walking the demand source's blocks (one timeout per incident);
* one long-lived **process per unit**: it sleeps on a wake-up event that the dispatcher fires
  for the moment the unit clears its call (dispatch, turnout, driving and on-scene time are all
  known at dispatch, so a call costs the unit a single event), then takes the next waiting call
  or heads back to its post. A unit on its way back is free: its position is computed only
  when a dispatcher asks (:meth:`UnitBoard.travel_to`), never simulated;
* one **shift** process per unit with a shift (on and off duty);
* one **mesa step** process every ``patrol.interval_min`` (idle patrol moves, patrol presence,
  ``DataCollector`` snapshots; see :mod:`twin.model.agents`); no mesa work happens per event;
* the checkpoints' own processes (:mod:`twin.model.checkpoints`); a watch-list hit becomes an
  interception incident through :meth:`Simulation.inject_incident`.

Waiting calls sit in a simpy ``PriorityStore`` (key ``(priority rank, incident)`` for
``discipline: priority``, ``incident`` for ``fcfs``); the first unit to become free takes the
head of the queue. A call that finds every unit busy and ``queue.capacity`` calls already
waiting is lost.

Randomness: one ``numpy.random.SeedSequence(seed, spawn_key=(replication,))`` spawns named
streams (:data:`STREAMS`). Incidents (times, zones, priorities, on-scene times, detection
delays) only use the incident streams, so two scenarios that differ in fleet or dispatch see
the same incidents with the same seed (common random numbers). Same seed, same records, bit
for bit; nothing reads the wall clock except the reported run time.

Statistics window: ``[warmup, warmup + horizon)``. Incidents *received* in the window are
recorded and followed to completion (arrivals stop at the end, the run drains the calls in
hand); unit state times are clipped to the window.
"""

from __future__ import annotations

import math
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from heapq import heappop, heappush
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from numpy.typing import NDArray
from simpy.events import NORMAL, PENDING, Event

from twin.errors import ConfigError
from twin.model.demand import (
    ArrivalBlock,
    DemandSource,
    IncidentExtras,
    build_demand,
    service_distributions,
)
from twin.model.dispatch import Mode, UnitBoard, build_policy
from twin.model.travel import build_travel, distance_km
from twin.scenario import DEFAULT_AGENCY, Scenario

if TYPE_CHECKING:
    import pandas as pd

    from twin.model.agents import TwinModel

__all__ = [
    "STATE_NAMES",
    "STREAMS",
    "RunResult",
    "Simulation",
]

STREAMS = (
    "arrivals",
    "zones",
    "priorities",
    "service",
    "detection",
    "patrol",
    "checkpoints",
    "injected",
    "dispatch_delay",
    "travel_noise",
)
"""Named random streams spawned from the seed, in this fixed order (new ones go last, so the
existing streams keep their numbers)."""

STATE_NAMES = ("off_duty", "patrol", "dispatched", "en_route", "on_scene", "returning")
"""Unit states whose minutes ``units.parquet`` reports (index = state code)."""

_OFF, _PATROL, _DISP, _ENR, _SCENE, _RET = range(6)
_M_OFF, _M_IDLE, _M_BUSY, _M_RET = (
    int(Mode.OFF),
    int(Mode.IDLE),
    int(Mode.BUSY),
    int(Mode.RETURNING),
)
_NAN = math.nan


class _Wake(Event):
    """A unit's wake-up: an event the dispatcher schedules for the moment the unit clears.

    ``fire_in(delay)`` triggers the event *delay* minutes from now, exactly as
    :class:`simpy.events.Timeout` does internally, so a dispatch costs one event instead of
    a wake-up plus a timeout; ``rearm()`` makes it pending again once the unit has woken.
    """

    __slots__ = ()

    def rearm(self) -> None:
        """Make a processed wake-up pending again, so each unit reuses one event object."""
        self.callbacks = []
        self._value = PENDING

    def fire_in(self, delay: float) -> None:
        """Trigger this event *delay* minutes from now."""
        self._ok = True
        self._value = None
        self.env.schedule(self, NORMAL, delay)


@dataclass
class RunResult:
    """What one replication produced.

    Attributes:
        scenario: The scenario's name.
        seed: The seed.
        replication: The replication number.
        incidents: Columns of ``incidents.parquet`` (one entry per incident received in the
            window), numpy arrays keyed by column name.
        units: Columns of ``units.parquet`` (one entry per unit).
        presence: Patrolling unit-minutes per zone and hour of week (zones x 168).
        exposure: Window minutes observed per hour of week (168).
        checkpoints: KPIs per checkpoint id.
        timeseries: The mesa ``DataCollector`` model snapshots (a DataFrame).
        window: ``(warmup, end)`` in minutes.
        queue_area: Time integral of the number of waiting calls over the window.
        wall_seconds: Run time (informational, not part of the results' identity).

    """

    scenario: str
    seed: int
    replication: int
    incidents: dict[str, NDArray[Any]]
    units: dict[str, Any]
    presence: NDArray[np.float64]
    exposure: NDArray[np.float64]
    checkpoints: dict[str, dict[str, Any]]
    timeseries: pd.DataFrame | None
    window: tuple[float, float]
    queue_area: float
    wall_seconds: float = 0.0
    zone_ids: list[str] = field(default_factory=list)
    unit_ids: list[str] = field(default_factory=list)
    levels: list[int] = field(default_factory=list)
    origins: list[str] = field(default_factory=list)
    agencies: list[str] = field(default_factory=list)


class Simulation:
    """One replication of a scenario.

    Args:
        scenario: The validated scenario.
        seed: The seed of the run (written into every result).
        replication: Replication number; streams come from ``SeedSequence(seed,
            spawn_key=(replication,))`` so replication r is the same whatever R is.
        demand: A table (DataFrame, CSV or Parquet path) of arrivals with ``time_min``,
            ``zone``, ``priority`` and optional ``service_min``; overrides the scenario's
            demand source (used for replay).
        collect: Whether mesa's ``DataCollector`` keeps snapshots (the benchmark keeps it on).

    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        replication: int = 0,
        demand: pd.DataFrame | str | Path | None = None,
        collect: bool = True,
    ) -> None:
        if seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed}")
        self.scenario = scenario
        self.seed = int(seed)
        self.replication = int(replication)
        ss = np.random.SeedSequence(self.seed, spawn_key=(self.replication,))
        self.streams = {
            name: np.random.default_rng(child)
            for name, child in zip(STREAMS, ss.spawn(len(STREAMS)), strict=True)
        }
        self.env = simpy.Environment()
        self.warmup = float(scenario.warmup)
        self.end = self.warmup + float(scenario.horizon)
        self.zone_ids = scenario.zone_ids
        self.unit_ids = scenario.unit_ids
        self.zone_index = {z: i for i, z in enumerate(self.zone_ids)}
        # call classes (agency, level); with one agency these are its priority levels
        self.agencies = scenario.agency_ids
        classes = scenario.class_keys()
        self.levels = [lvl for _, lvl in classes]
        self.class_agency = [self.agencies.index(a) for a, _ in classes]
        inj_agency = DEFAULT_AGENCY if DEFAULT_AGENCY in self.agencies else self.agencies[0]
        self.level_index = {
            lvl: i for i, (a, lvl) in reversed(list(enumerate(classes))) if a == inj_agency
        }
        self.travel = build_travel(scenario)
        self.turnout = self.travel.turnout
        posts = [self.zone_index[u.post] for u in scenario.units]
        base_speed = scenario.travel.speed_kmh
        factors = [base_speed / u.speed_kmh if u.speed_kmh else 1.0 for u in scenario.units]
        self.board = UnitBoard(posts, self.travel, factors)
        self.unit_agency = [self.agencies.index(u.agency) for u in scenario.units]
        self.multi = len(self.agencies) > 1
        if self.multi:
            self.boards = [
                self.board.view([u for u, a in enumerate(self.unit_agency) if a == k])
                for k in range(len(self.agencies))
            ]
        else:
            self.boards = [self.board]
        self.policies = [
            build_policy(scenario, bd, a) for bd, a in zip(self.boards, self.agencies, strict=True)
        ]
        self.policy = self.policies[0]
        n_z, n_u = len(self.zone_ids), len(self.unit_ids)
        self.in_area = np.zeros((n_u, n_z), dtype=bool)
        for i, uspec in enumerate(scenario.units):
            if uspec.area is not None:
                for zid in uspec.area:
                    self.in_area[i, self.zone_index[zid]] = True
        for pol in self.policies:
            for zi in range(n_z):
                first = pol.first_choice(zi)
                if scenario.units[first].area is None:
                    self.in_area[first, zi] = True
        self._device_setup()
        self.demand: DemandSource = build_demand(
            scenario, self.streams, self._detection_factor if self._cams else None, demand
        )
        cap = scenario.queue.max_waiting
        self.capacity = cap
        self.priority_queue = scenario.queue.discipline == "priority"
        self.queues = [simpy.PriorityStore(self.env) for _ in self.agencies]
        self.queue = self.queues[0]
        self._q_lens = [0] * len(self.agencies)
        if self.multi:
            self._receive = self._receive_agency  # type: ignore[method-assign]
        # optional per-incident features: dispatch delay, trip multipliers (class factor, noise)
        self._extras = IncidentExtras(scenario)
        self._tmult: dict[int, float] | None = {} if self._extras.has_tmult else None
        # unit accounting: minutes per state per unit, clipped to the window
        self.acc = [[0.0] * len(STATE_NAMES) for _ in range(n_u)]
        self.since = [0.0] * n_u
        self.u_enroute = [0.0] * n_u
        self.u_onscene = [0.0] * n_u
        self.u_clear = [0.0] * n_u
        self._wake: list[_Wake] = [_Wake(self.env) for _ in range(n_u)]
        # record buffers (plain lists, flushed to numpy per demand block)
        self._d_inc: list[int] = []
        self._d_time: list[float] = []
        self._d_unit: list[int] = []
        self._d_travel: list[float] = []
        self._q_inc: list[int] = []
        self._l_inc: list[int] = []
        self._chunks: dict[str, list[NDArray[Any]]] = {
            k: [] for k in ("d_inc", "d_time", "d_unit", "d_travel", "q_inc", "l_inc")
        }
        self._blocks: list[ArrivalBlock] = []
        self._inj: dict[str, list[Any]] = {
            k: [] for k in ("incident", "time", "zone", "priority", "service", "origin", "ready")
        }
        self._inj_next = 1 << 40
        self._inj_service = service_distributions(scenario)
        self._inj_ready: list[float] = []
        self._inj_tmult: list[float] = []
        self._returns: list[tuple[float, int]] = []  # (arrival at post, unit), lazy
        self._away_of = [self.boards[a].away for a in self.unit_agency]
        self._outstanding = 0
        self._arrivals_done = False
        self._drain: Event | None = None
        self._q_len = 0
        self._q_last = 0.0
        self.queue_area = 0.0
        # mesa model (units, devices, checkpoints as agents; coarse steps only)
        from twin.model.agents import TwinModel

        self.model: TwinModel = TwinModel(self, collect=collect)
        self._start_processes(scenario)

    # ------------------------------------------------------------------ setup
    def _device_setup(self) -> None:
        sc = self.scenario
        zl = [tuple(z.location) for z in sc.zones]
        self._cams: list[tuple[NDArray[np.bool_], NDArray[np.float64], float]] = []
        for d in sc.devices:
            if d.kind != "camera":
                continue
            loc = d.location if d.location is not None else zl[self.zone_index[d.zone or ""]]
            covered = np.array(
                [distance_km(sc.crs, (loc[0], loc[1]), (z[0], z[1])) <= d.radius_km for z in zl]
            )
            windows = np.array([[o.start, o.end] for o in d.outages], dtype=np.float64).reshape(
                -1, 2
            )
            factor = (
                d.covered_factor if d.covered_factor is not None else sc.detection.covered_factor
            )
            self._cams.append((covered, windows, factor))

    def _detection_factor(
        self, zone: NDArray[np.int64], t: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        """Multiplier of the detection delay: a working camera covering the zone shortens it."""
        out = np.ones(zone.size)
        for covered, windows, factor in self._cams:
            active = covered[zone]
            for start, stop in windows:
                active &= ~((t >= start) & (t < stop))
            out = np.where(active, np.minimum(out, factor), out)
        return out

    def _start_processes(self, scenario: Scenario) -> None:
        env = self.env
        for u, spec in enumerate(scenario.units):
            if spec.shift is not None and spec.shift.hours < 24:
                start = spec.shift.start_min
                length = spec.shift.hours * 60.0
                if (0.0 - start) % 1440.0 >= length:  # off duty at time 0
                    self._go_off(u, 0.0)
                env.process(self._shift(u, start, length))
            env.process(self._unit(u))
        self._arrival_proc = env.process(self._arrivals())
        env.process(self._mesa_steps(scenario.patrol.interval_min))

    # ------------------------------------------------------------------ accounting
    def _clip_add(self, u: int, state: int, a: float, b: float) -> None:
        lo = a if a > self.warmup else self.warmup
        hi = b if b < self.end else self.end
        if hi > lo:
            self.acc[u][state] += hi - lo

    def _close_soft(self, u: int, now: float) -> None:
        """Account the open idle / returning / off-duty interval of unit *u* up to *now*."""
        m = self.board.mode[u]
        s = self.since[u]
        if m == _M_IDLE:
            self._clip_add(u, _PATROL, s, now)
        elif m == _M_RET:
            e = self.board.ret_end[u]
            if now <= e:
                self._clip_add(u, _RET, s, now)
            else:
                self._clip_add(u, _RET, s, e)
                self._clip_add(u, _PATROL, e, now)
        elif m == _M_OFF:
            self._clip_add(u, _OFF, s, now)
        self.since[u] = now

    def settle_returns(self, now: float) -> None:
        """Mark returning units that have reached their post by *now* as idle at their post.

        Arrivals at the post are not simulated as events: they sit in a heap and are settled
        lazily, before each dispatch decision and at each mesa step.
        """
        rq = self._returns
        b = self.board
        while rq and rq[0][0] <= now:
            e, u = heappop(rq)
            if b.mode[u] == _M_RET and b.ret_end[u] == e:
                self._clip_add(u, _RET, self.since[u], e)
                self.since[u] = e
                b.mode[u] = _M_IDLE
                b.zone[u] = b.post[u]
                if b.is_away[u]:
                    self._away_of[u].remove(u)
                    b.is_away[u] = False

    def refresh_away(self) -> None:
        """Recompute which free units are away from their post (after patrol moves)."""
        for b in self.boards:
            b.refresh_away()

    def _q_touch(self, now: float) -> None:
        lo = self._q_last if self._q_last > self.warmup else self.warmup
        hi = now if now < self.end else self.end
        if hi > lo and self._q_len:
            self.queue_area += self._q_len * (hi - lo)
        self._q_last = now

    # ------------------------------------------------------------------ hot path
    def _start(self, u: int, inc: int, zone: int, recv: float, svc: float, now: float) -> float:
        """Send unit *u* to incident *inc*; return minutes until it clears."""
        b = self.board
        mode = b.mode[u]
        if mode == _M_RET:
            tr = b.travel_to(u, zone, now)
            since = self.since[u]
            end = b.ret_end[u]
            if since >= self.warmup and now <= self.end and now <= end:
                self.acc[u][_RET] += now - since
                self.since[u] = now
            else:
                self._close_soft(u, now)
        else:
            tr = b.tt[u][b.zone[u]][zone]
            if mode == _M_IDLE and self.since[u] >= self.warmup and now <= self.end:
                self.acc[u][_PATROL] += now - self.since[u]
                self.since[u] = now
            elif mode != _M_BUSY:
                self._close_soft(u, now)
        b.mode[u] = _M_BUSY
        b.zone[u] = zone
        if now < recv:  # float rounding of the arrival timeout (an ulp)
            now = recv
        tm = self._tmult
        if tm is not None:
            tr *= tm.pop(inc, 1.0)
        to = self.turnout
        enr = now + to
        ons = enr + tr
        clr = ons + svc
        self.u_enroute[u] = enr
        self.u_onscene[u] = ons
        self.u_clear[u] = clr
        acc = self.acc[u]
        if now >= self.warmup and clr <= self.end:
            acc[_DISP] += to
            acc[_ENR] += tr
            acc[_SCENE] += svc
        else:
            self._clip_add(u, _DISP, now, enr)
            self._clip_add(u, _ENR, enr, ons)
            self._clip_add(u, _SCENE, ons, clr)
        self._d_inc.append(inc)
        self._d_time.append(now)
        self._d_unit.append(u)
        self._d_travel.append(tr)
        return clr - now

    def _receive(self, inc: int, zone: int, prio: int, recv: float, svc: float) -> None:
        """Receive a call now: dispatch a free unit, queue the call, or lose it."""
        b = self.board
        if b.free:
            rq = self._returns
            if rq and rq[0][0] <= recv:
                self.settle_returns(recv)
            u = self.policy.choose(zone, recv)
            b.free.remove(u)  # inlined UnitBoard.take (hot path)
            b.is_free[u] = False
            if b.is_away[u]:
                b.away.remove(u)
                b.is_away[u] = False
            self._outstanding += 1
            self._wake[u].fire_in(self._start(u, inc, zone, recv, svc, self.env.now))
        elif self._q_len < self.capacity:
            self._outstanding += 1
            now = self.env.now
            self._q_touch(now)
            self._q_len += 1
            key = (prio, inc) if self.priority_queue else inc
            self.queue.put(simpy.PriorityItem(key, (inc, zone, recv, svc)))
            self._q_inc.append(inc)
        else:
            self._l_inc.append(inc)

    def _receive_agency(self, inc: int, zone: int, prio: int, recv: float, svc: float) -> None:
        """:meth:`_receive` with several agencies: only the call's agency's units and queue."""
        a = self.class_agency[prio]
        b = self.boards[a]
        if b.free:
            rq = self._returns
            if rq and rq[0][0] <= recv:
                self.settle_returns(recv)
            u = self.policies[a].choose(zone, recv)
            b.take(u)
            self._outstanding += 1
            self._wake[u].fire_in(self._start(u, inc, zone, recv, svc, self.env.now))
        elif self._q_lens[a] < self.capacity:
            self._outstanding += 1
            now = self.env.now
            self._q_touch(now)
            self._q_len += 1
            self._q_lens[a] += 1
            key = (prio, inc) if self.priority_queue else inc
            self.queues[a].put(simpy.PriorityItem(key, (inc, zone, recv, svc)))
            self._q_inc.append(inc)
        else:
            self._l_inc.append(inc)

    def _pop(self, now: float, a: int = 0) -> tuple[int, int, float, float]:
        self._q_touch(now)
        self._q_len -= 1
        self._q_lens[a] -= 1
        item: Any = self.queues[a].get().value
        job: tuple[int, int, float, float] = item.item
        return job

    def _arrivals(self) -> Generator[Event, Any, None]:
        env = self.env
        timeout = env.timeout
        receive = self._receive
        warm = self.warmup
        tmult = self._tmult
        for blk in self.demand.blocks(self.end):
            keep = blk.received >= warm
            if keep.any():
                self._blocks.append(blk.take(keep) if not keep.all() else blk)
            if tmult is not None and blk.tmult is not None:
                tmult.update(zip(blk.incident.tolist(), blk.tmult.tolist(), strict=True))
            for inc, t, zone, prio, svc in zip(
                blk.incident.tolist(),
                blk.ready_times.tolist(),
                blk.zone.tolist(),
                blk.priority.tolist(),
                blk.service.tolist(),
                strict=True,
            ):
                now = env.now
                if t > now:
                    yield timeout(t - now)
                receive(inc, zone, prio, t, svc)
            self._flush()
        self._arrivals_done = True

    def _unit(self, u: int) -> Generator[Event, Any, None]:
        """Run the unit's life: wake at each clear, take the next waiting call or head back."""
        env = self.env
        agency = self.unit_agency[u]
        b = self.boards[agency]
        queue_items = self.queues[agency].items
        wake = self._wake[u]
        # lists whose identity never changes, bound once (this generator lives all run)
        mode, where, on_duty, since = b.mode, b.zone, b.on_duty, self.since
        free, is_free, away, is_away = b.free, b.is_free, b.away, b.is_away
        ret_from, ret_t0, ret_end = b.ret_from, b.ret_t0, b.ret_end
        rx0, ry0, rvx, rvy = b.ret_x0, b.ret_y0, b.ret_vx, b.ret_vy
        returns = self._returns
        post = b.post[u]
        px, py = b._loc[post]
        back_of = [row[post] for row in b.tt[u]]  # minutes from each zone back to the post
        loc = b._loc
        while True:
            yield wake
            now = env.now
            self._outstanding -= 1
            wake.rearm()
            if queue_items and on_duty[u]:
                inc, zone, recv, svc = self._pop(now, agency)
                wake.fire_in(self._start(u, inc, zone, recv, svc, now))
                continue
            since[u] = now
            if not on_duty[u]:
                mode[u] = _M_OFF
                where[u] = post
            else:
                z = where[u]
                back = back_of[z]
                free.append(u)  # UnitBoard.release, inlined
                is_free[u] = True
                if back > 0.0:  # UnitBoard.start_return, inlined
                    mode[u] = _M_RET
                    ret_from[u] = z
                    ret_t0[u] = now
                    end = now + back
                    ret_end[u] = end
                    ax, ay = loc[z]
                    rx0[u] = ax
                    ry0[u] = ay
                    rvx[u] = (px - ax) / back
                    rvy[u] = (py - ay) / back
                    heappush(returns, (end, u))
                    away.append(u)
                    is_away[u] = True
                else:
                    mode[u] = _M_IDLE
                    where[u] = post
            if self._drain is not None and self._outstanding == 0 and not self._drain.triggered:
                self._drain.succeed()

    def _go_off(self, u: int, now: float) -> None:
        b = self.boards[self.unit_agency[u]]
        b.on_duty[u] = False
        if b.is_free[u]:
            b.take(u)
        if b.mode[u] != _M_BUSY:
            self._close_soft(u, now)
            b.mode[u] = _M_OFF
            b.zone[u] = b.post[u]

    def _go_on(self, u: int, now: float) -> None:
        a = self.unit_agency[u]
        b = self.boards[a]
        b.on_duty[u] = True
        if b.mode[u] != _M_OFF:
            return
        self._close_soft(u, now)
        b.mode[u] = _M_IDLE
        b.zone[u] = b.post[u]
        if self.queues[a].items:
            inc, zone, recv, svc = self._pop(now, a)
            self._wake[u].fire_in(self._start(u, inc, zone, recv, svc, now))
        else:
            b.release(u)

    def _shift(self, u: int, start: float, length: float) -> Generator[Event, Any, None]:
        env = self.env
        while True:
            now = env.now
            phase = (now - start) % 1440.0
            if self.board.on_duty[u]:
                yield env.timeout(length - phase if phase < length else 0.0)
                self._go_off(u, env.now)
            else:
                wait = (1440.0 - phase) % 1440.0
                yield env.timeout(wait)
                self._go_on(u, env.now)

    def _mesa_steps(self, interval: float) -> Generator[Event, Any, None]:
        env = self.env
        step = self.model.step
        while True:
            step()
            yield env.timeout(interval)

    # ------------------------------------------------------------------ injection
    def inject_incident(
        self, time_min: float, zone: str, priority: int, origin: str = "injected"
    ) -> None:
        """Create an incident now (e.g. a checkpoint's watch-list hit).

        The class's dispatch delay and trip multiplier apply (drawn from the ``injected``
        stream): the call reaches the dispatcher after its delay.

        Args:
            time_min: The current simulated time (the call is received now).
            zone: Zone id.
            priority: Priority level (mapped to the single class when the scenario has none);
                the incident belongs to the ``police`` agency (else the first agency).
            origin: Label written to the incident's ``origin`` column.

        """
        now = self.env.now
        if now >= self.end:
            return
        z = self.zone_index[zone]
        p = self.level_index.get(priority, 0)
        rng = self.streams["injected"]
        svc = self._inj_service[p].sample(rng)
        inc = self._inj_next
        self._inj_next += 1
        ready = now
        ex = self._extras
        if ex.active:
            pa = np.asarray([p], dtype=np.int64)
            if ex.has_delay:
                ready = now + float(ex.delay(pa, rng)[0])
            if self._tmult is not None:
                self._tmult[inc] = float(ex.tmult(pa, rng)[0])
        if now >= self.warmup:
            for k, v in (
                ("incident", inc),
                ("time", now),
                ("zone", z),
                ("priority", p),
                ("service", svc),
                ("origin", origin),
                ("ready", ready),
            ):
                self._inj[k].append(v)
        if ready > now:
            self._outstanding += 1  # held until the dispatcher gets it
            ev = self.env.timeout(ready - now)
            ev.callbacks.append(lambda _e: self._receive_delayed(inc, z, p, ready, svc))
        else:
            self._receive(inc, z, p, now, svc)

    def _receive_delayed(self, inc: int, zone: int, prio: int, ready: float, svc: float) -> None:
        self._outstanding -= 1
        self._receive(inc, zone, prio, ready, svc)
        if self._drain is not None and self._outstanding == 0 and not self._drain.triggered:
            self._drain.succeed()

    # ------------------------------------------------------------------ run
    def _flush(self) -> None:
        for key, buf in (
            ("d_inc", self._d_inc),
            ("d_time", self._d_time),
            ("d_unit", self._d_unit),
            ("d_travel", self._d_travel),
            ("q_inc", self._q_inc),
            ("l_inc", self._l_inc),
        ):
            if buf:
                self._chunks[key].append(np.asarray(buf))
                buf.clear()

    def run(self) -> RunResult:
        """Simulate the warm-up and the horizon, drain calls in hand, and collect results."""
        t0 = time.perf_counter()
        env = self.env
        env.run(until=self.end)
        if not self._arrival_proc.triggered:
            # dispatch delays: calls received before the end reach the dispatcher after it
            env.run(until=self._arrival_proc)
        if self._outstanding > 0:
            self._drain = env.event()
            env.run(until=self._drain)
        self._flush()
        end_time = env.now
        for u in range(self.board.n):
            if self.board.mode[u] != _M_BUSY:
                self._close_soft(u, max(end_time, self.end))
        self._q_touch(self.end)
        incidents = self._incident_columns()
        units = self._unit_columns(incidents)
        cps = {a.checkpoint_id: a.kpis(end_min=self.end) for a in self.model.checkpoint_agents}
        return RunResult(
            scenario=self.scenario.name,
            seed=self.seed,
            replication=self.replication,
            incidents=incidents,
            units=units,
            presence=self.model.presence,
            exposure=self.model.exposure,
            checkpoints=cps,
            timeseries=self.model.snapshots(),
            window=(self.warmup, self.end),
            queue_area=self.queue_area,
            wall_seconds=time.perf_counter() - t0,
            zone_ids=self.zone_ids,
            unit_ids=self.unit_ids,
            levels=self.levels,
            agencies=self.agencies,
            origins=[self.demand.name, *sorted(set(self._inj["origin"]))],
        )

    def _cat(self, key: str, dtype: Any) -> NDArray[Any]:
        parts = self._chunks[key]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    def _incident_columns(self) -> dict[str, NDArray[Any]]:
        blocks = list(self._blocks)
        inj = self._inj
        if inj["incident"]:
            t = np.asarray(inj["time"], dtype=np.float64)
            blocks.append(
                ArrivalBlock(
                    np.asarray(inj["incident"], dtype=np.int64),
                    t,
                    t,
                    np.asarray(inj["zone"], dtype=np.int64),
                    np.asarray(inj["priority"], dtype=np.int64),
                    np.asarray(inj["service"], dtype=np.float64),
                    np.asarray(inj["ready"], dtype=np.float64),
                )
            )
        allb = ArrivalBlock.concat(blocks) if blocks else ArrivalBlock.empty()
        n = len(allb)
        if n and np.any(allb.incident[1:] < allb.incident[:-1]):
            allb = allb.take(np.argsort(allb.incident, kind="stable"))
        ids = allb.incident
        names = [self.demand.name, *sorted(set(inj["origin"]))]
        origin_code = np.zeros(n, dtype=np.int32)
        if inj["incident"]:
            pos = np.searchsorted(ids, np.asarray(inj["incident"], dtype=np.int64))
            origin_code[pos] = [names.index(o) for o in inj["origin"]]
        origin = np.asarray(names, dtype=object)[origin_code]
        # ids are usually one contiguous run (Poisson demand, no injections): index directly
        contiguous = bool(n) and int(ids[-1]) - int(ids[0]) + 1 == n
        first = int(ids[0]) if n else 0

        def _scatter(keys: NDArray[np.int64], vals: NDArray[Any], fill: Any, dt: Any) -> Any:
            out = np.full(n, fill, dtype=dt)
            if keys.size and n:
                if contiguous:
                    pos = keys - first
                    ok = (pos >= 0) & (pos < n)
                    out[pos[ok]] = vals[ok]
                else:
                    pos = np.searchsorted(ids, keys)
                    pos_c = np.minimum(pos, n - 1)
                    ok = (pos < n) & (ids[pos_c] == keys)
                    out[pos_c[ok]] = vals[ok]
            return out

        d_inc = self._cat("d_inc", np.int64)
        dispatched = _scatter(d_inc, self._cat("d_time", np.float64), _NAN, np.float64)
        unit = _scatter(d_inc, self._cat("d_unit", np.int64), -1, np.int64)
        travel = _scatter(d_inc, self._cat("d_travel", np.float64), _NAN, np.float64)
        q_inc = self._cat("q_inc", np.int64)
        queued_flag = _scatter(q_inc, np.ones(q_inc.size, dtype=bool), False, bool)
        l_inc = self._cat("l_inc", np.int64)
        lost = _scatter(l_inc, np.ones(l_inc.size, dtype=bool), False, bool)
        served = unit >= 0
        turnout = np.where(served, self.turnout, _NAN)
        enroute = dispatched + turnout
        onscene = enroute + travel
        service = np.where(served, allb.service, _NAN)
        cleared = onscene + service
        received = allb.received
        ready = allb.ready_times
        queued = np.where(queued_flag, ready, _NAN)
        z = allb.zone
        out_area = np.zeros(n, dtype=bool)
        if n:
            out_area[served] = ~self.in_area[unit[served], z[served]]
        return {
            "incident": ids,
            "origin": origin,
            "origin_code": origin_code,
            "zone": z,
            "priority": np.asarray(self.levels, dtype=np.int64)[allb.priority]
            if n
            else np.zeros(0, dtype=np.int64),
            "agency": np.asarray(self.class_agency, dtype=np.int64)[allb.priority]
            if n
            else np.zeros(0, dtype=np.int64),
            "occurred": allb.occurred,
            "received": received,
            "queued": queued,
            "dispatched": dispatched,
            "enroute": enroute,
            "onscene": onscene,
            "cleared": cleared,
            "unit": unit,
            "wait_min": dispatched - ready,
            "dispatch_delay_min": ready - received,
            "turnout_min": turnout,
            "travel_min": travel,
            "service_min": service,
            "response_min": onscene - received,
            "detection_min": received - allb.occurred,
            "waited": queued_flag,
            "lost": lost,
            "out_of_area": out_area,
        }

    def _unit_columns(self, inc: dict[str, NDArray[Any]]) -> dict[str, Any]:
        n_u = self.board.n
        acc = np.asarray(self.acc, dtype=np.float64).reshape(n_u, len(STATE_NAMES))
        busy = acc[:, _DISP] + acc[:, _ENR] + acc[:, _SCENE]
        window = self.end - self.warmup
        on_duty = window - acc[:, _OFF]
        util = np.where(on_duty > 0, busy / np.where(on_duty > 0, on_duty, 1.0), 0.0)
        util = np.clip(util, 0.0, 1.0)
        served = inc["unit"][inc["unit"] >= 0]
        dispatches = np.bincount(served, minlength=n_u) if n_u else np.zeros(0, dtype=np.int64)
        cols: dict[str, Any] = {"unit": np.arange(n_u)}
        for k, name in enumerate(STATE_NAMES):
            cols[f"{name}_min"] = acc[:, k]
        cols["busy_min"] = busy
        cols["on_duty_min"] = on_duty
        cols["utilization"] = util
        cols["dispatches"] = dispatches.astype(np.int64)
        return cols
