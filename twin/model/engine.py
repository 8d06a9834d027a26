"""The discrete-event engine: simpy is the clock; the engine merges its own moments into it.

One :class:`Simulation` is one replication of one scenario. What happens, in time order:

* the **arrivals**: the demand source's blocks are walked; each incident is received at its
  dispatchable time;
* each **unit** clears the call it was sent to at a moment known at dispatch (dispatch,
  turnout, driving and on-scene time are all drawn then), then takes the next waiting call or
  finishes (back to its post). Every change of a unit's state goes through the
  :class:`~twin.model.board.UnitBoard`, which owns unit state, positions and state-minutes; a
  unit on its way back is free and its position is computed only when a dispatcher asks
  (:meth:`~twin.model.board.UnitBoard.travel_to`), never simulated;
* the **shifts**: one simpy wake-up per moment of change (not per unit; see
  :meth:`Simulation._shifts`) taking the units due then on or off duty;
* one **mesa step** every ``patrol.interval_min`` (array-based idle patrol moves and patrol
  presence, ``DataCollector`` snapshots; see :mod:`twin.model.agents`); no mesa work happens
  per event;
* the checkpoints' own simpy processes (:mod:`twin.model.checkpoints`); a watch-list hit
  becomes an interception incident through :meth:`Simulation.inject_incident`;
* with ``self_initiated`` (officer-initiated work): each time a unit of a listed district
  becomes free (clears a call with nothing waiting, comes on duty, ends a piece of work) it
  draws an exponential time to its next start at its district's rate; the start is void when
  the unit is no longer free by then (memoryless, so the starts are a Poisson process in each
  unit's free time). A started piece holds the unit (``SELF_INITIATED`` on the board) for a
  drawn duration; a call of a pre-empting class (``self_initiated.preempted_by``) may take it
  (:meth:`DispatchPolicy.choose_preempting`); when the work ends the unit takes the head of
  its queue or patrols again. Other classes never see these units, so they queue behind calls
  *and* self-initiated work;
* with ``overflow_after_min``, the moment a call waiting in its sector's queue opens to its
  district (:meth:`Simulation._overflow`).

Simpy events are the mesa steps, the shifts, the checkpoints, an injected call's dispatch delay
and the start. The clears and the
officer-initiated starts and ends are **due entries** (a sorted list of floats, the next one
last); the arrivals and the overflows are each a stream in time order. One run loop
(:meth:`Simulation._advance`) takes whichever comes first, simpy's next event, the next
arrival or the next overflow (simpy's on a tie), and plays every due entry up to that moment
before it (:meth:`Simulation._settle`), so a unit that clears or ends its work takes a waiting
call at that very moment. The order of moments is the time order; on exact ties: due entries
first, then simpy's events, overflows and arrivals; due entries among themselves in the order
they were made (as simpy orders events of the same moment).

Departure from the house style (``../shared/STYLE.md``: one long-lived simpy process per unit),
written down as it asks. simpy stays the clock and holds the coarse events, but the per-call
moments are not simpy events: a year of the Seattle twin made 451,716 simpy events (a clear and
an arrival per call, an overflow timer per sector-queued call, wake-ups watching the ends of
officer-initiated work while calls waited) and now makes 36,277 (the mesa steps, the shift
moments, the start). Scheduling, stepping and calling back an event cost a few microseconds in
pure Python, as much as the work it carries. Measured (``bench/bench_city_year.py``, CPU s,
twin / plain simpy in the same run, medians of 3, ``scenarios/seattle_baseline.yaml``, beats
model): 6.16 / 2.57 = 2.40x with events, 4.78 / 2.57 = 1.86x without. The change reorders
officer-initiated work (settled in time order rather than when someone looked), so a run with
it is not the same bit for bit; its statistics are (``bench/engine_equivalence.py``: paired
seeds, no 95 % interval of 13 statistics excludes 0 over seeds 1-20 and 21-40, 30 days).
Runs without officer-initiated work keep their records but for exact ties between a clear or
an arrival and a simpy event (the golden test passes unchanged). The
earlier steps of the same kind: the shift wake-ups (151k per-unit timeouts became 1,099) and
the callbacks of reusable events (:class:`_Wake`) where simpy would resume a generator.

The rules come from registries by name: dispatch policies (:mod:`twin.model.dispatch`), travel
models (:mod:`twin.model.travel`), patrol policies (:mod:`twin.model.patrol`) and demand
sources (:mod:`twin.model.demand`). Each agency has its own dispatch policy, its own group of
units on the board and its own queue.

Waiting calls sit in a simpy ``PriorityStore`` per agency (key ``(priority rank, incident)`` for
``discipline: priority``, ``incident`` for ``fcfs``; the engine pushes and pops its heap, as a
put or a get would be a simpy event with nothing to do); the first unit to become free takes
the head of the queue. A call that finds every unit busy and ``queue.capacity`` calls already
waiting is lost. With ``self_initiated.dispatch_scope: district`` the classes that may not
pre-empt officer-initiated work wait in their dispatch area's own queue (a heap per area);
with ``overflow_after_min`` the call opens to the district's other areas once it has
waited that long (:meth:`Simulation._overflow`).

Randomness: one ``numpy.random.SeedSequence(seed, spawn_key=(replication,))`` spawns named
streams (:data:`STREAMS`). Incidents (times, zones, priorities, on-scene times, detection
delays) only use the incident streams, so two scenarios that differ in fleet or dispatch see
the same incidents with the same seed (common random numbers). Same seed, same records, bit
for bit; nothing reads the wall clock except the reported run time.

Statistics window: ``[warmup, warmup + horizon)``. Incidents *received* in the window are
recorded and followed to completion (arrivals stop at the end, the run drains the calls in
hand); unit state times are clipped to the window (by the board).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from numpy.typing import NDArray
from simpy.events import NORMAL, PENDING, URGENT, Event

from twin.errors import ConfigError
from twin.model.agents import TwinModel
from twin.model.board import STATE_NAMES, UnitBoard, UnitState
from twin.model.demand import (
    ArrivalBlock,
    DemandSource,
    IncidentExtras,
    build_demand,
    service_distributions,
)
from twin.model.dispatch import build_policy
from twin.model.distributions import from_spec
from twin.model.travel import build_travel, distance_km
from twin.scenario import DEFAULT_AGENCY, Scenario

if TYPE_CHECKING:
    import pandas as pd

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
    "self_initiated",
)
"""Named random streams spawned from the seed, in this fixed order (new ones go last, so the
existing streams keep their numbers)."""

_OFF, _DISP, _ENR, _SCENE, _SELF = (
    int(UnitState.OFF_DUTY),
    int(UnitState.DISPATCHED),
    int(UnitState.EN_ROUTE),
    int(UnitState.ON_SCENE),
    int(UnitState.SELF_INITIATED),
)
_NAN = math.nan
_START, _END, _CLEAR = 0, 1, 2  # kinds of due entries (:meth:`Simulation._settle`)


class _Clock(simpy.Environment):
    """simpy's environment, whose event order the engine merges with its own due entries.

    ``heap`` is simpy's event queue (``(time, priority, id, event)``, the next one first):
    the engine reads the next event's time from it before each step. :meth:`jump` moves the
    clock to a moment before that event, where the engine receives an arrival or opens a
    waiting call to its district (an overflow) due before anything simpy holds (see
    :meth:`Simulation._advance`).
    """

    def __init__(self) -> None:
        super().__init__()
        self.heap = self._queue

    def jump(self, t: float) -> None:
        """Set the clock to *t*; the caller checks ``now <= t < `` the next event's time."""
        self._now = t


class _Wake(Event):
    """A reusable timeout: an event scheduled *delay* minutes ahead, re-armed after each wake.

    ``fire_in(delay)`` triggers the event *delay* minutes from now, exactly as
    :class:`simpy.events.Timeout` does internally (same priority, same place in the event
    order), without allocating an event per wait; ``rearm_with()`` makes it pending again once
    its process has woken. The shift moments, the mesa steps and the starts at time 0 use it.
    """

    __slots__ = ()

    def rearm_with(self, callback: Callable[[Event], None]) -> None:
        """Make a processed wake-up pending again with *callback* as its only callback."""
        self.callbacks = [callback]
        self._value = PENDING

    def fire_first(self) -> None:
        """Trigger this event now, ahead of this moment's normal events (a new process's start)."""
        self._ok = True
        self._value = None
        self.env.schedule(self, URGENT)

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
        zone_districts: District of each zone (for per-district KPIs).
        unit_agency: Agency index (into ``agencies``) of each unit.
        unit_post: Zone index of each unit's post.
        checkpoint_records: Per-vehicle records of each checkpoint (for the hourly table).

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
    zone_districts: list[str] = field(default_factory=list)
    unit_agency: list[int] = field(default_factory=list)
    unit_post: list[int] = field(default_factory=list)
    checkpoint_records: dict[str, Any] = field(default_factory=dict)


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
        patrol_agents: Step patrol agent by agent (the reference form of the array step:
            same draws, same moves, slower; see :mod:`twin.model.agents`).

    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        replication: int = 0,
        demand: pd.DataFrame | str | Path | None = None,
        collect: bool = True,
        patrol_agents: bool = False,
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
        self._clock = _Clock()  # the engine reads its heap and moves it (see _advance)
        self.env: simpy.Environment = self._clock
        self.warmup = float(scenario.warmup)
        self.end = self.warmup + float(scenario.horizon)
        self.zone_ids = scenario.zone_ids
        self.unit_ids = scenario.unit_ids
        self.zone_index = {z: i for i, z in enumerate(self.zone_ids)}
        self._call_classes(scenario)
        self._fleet(scenario)
        self._device_setup()
        self.demand: DemandSource = build_demand(
            scenario, self.streams, self._detection_factor if self._cams else None, demand
        )
        self._queues(scenario)
        # optional per-incident features: dispatch delay, trip multipliers (class factor, noise)
        self._extras = IncidentExtras(scenario)
        self._tmult: dict[int, float] | None = {} if self._extras.has_tmult else None
        self._record_buffers(scenario)
        self._self_initiated(scenario)
        live = self.board.live_lists()  # the board's stored lists (read only)
        self._is_free, self._on_duty = live[0], live[2]
        self._outstanding = 0
        self._arrivals_done = False
        self._arr_t = math.inf  # the next arrival's time (set by the arrival walk)
        # mesa model (units, devices, checkpoints as agents; coarse steps only)
        self.model = TwinModel(self, collect=collect, step_agents=patrol_agents)
        self._start_processes(scenario)

    # ------------------------------------------------------------------ setup
    def _call_classes(self, scenario: Scenario) -> None:
        """Call classes (agency, level); with one agency these are its priority levels."""
        self.agencies = scenario.agency_ids
        classes = scenario.class_keys()
        self.levels = [lvl for _, lvl in classes]
        self.class_agency = [self.agencies.index(a) for a, _ in classes]
        inj_agency = DEFAULT_AGENCY if DEFAULT_AGENCY in self.agencies else self.agencies[0]
        self.level_index = {
            lvl: i for i, (a, lvl) in reversed(list(enumerate(classes))) if a == inj_agency
        }

    def _fleet(self, scenario: Scenario) -> None:
        """Build the unit board (a group per agency), a dispatch policy per agency, the areas."""
        self.travel = build_travel(scenario)
        self.turnout = self.travel.turnout
        posts = [self.zone_index[u.post] for u in scenario.units]
        base_speed = scenario.travel.speed_kmh
        factors = [base_speed / u.speed_kmh if u.speed_kmh else 1.0 for u in scenario.units]
        self.unit_agency = [self.agencies.index(u.agency) for u in scenario.units]
        # dispatch areas: (district, sector) of each zone; without sectors, the districts
        areas = [(z.district, z.sector or "") for z in scenario.zones]
        aindex = {a: i for i, a in enumerate(sorted(set(areas)))}
        self.zone_area = [aindex[a] for a in areas]
        self.n_areas = len(aindex)
        self.board = UnitBoard(
            posts,
            self.travel,
            factors,
            groups=self.unit_agency,
            window=(self.warmup, self.end),
            districts=[self.zone_area[p] for p in posts],
        )
        self.policies = [build_policy(scenario, self.board, a) for a in range(len(self.agencies))]
        # response areas: the scenario's, else the zones where the unit is the first choice
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

    def _queues(self, scenario: Scenario) -> None:
        """One priority store of waiting calls per agency, and the queue-length integral."""
        self.capacity = scenario.queue.max_waiting
        self.priority_queue = scenario.queue.discipline == "priority"
        self.queues = [simpy.PriorityStore(self.env) for _ in self.agencies]
        self._q_lens = [0] * len(self.agencies)
        self._q_len = 0
        self._q_last = 0.0
        self.queue_area = 0.0

    def _self_initiated(self, scenario: Scenario) -> None:
        """Officer-initiated work: per-unit start rate, duration per district, pre-empting classes.

        ``self._preempt`` is None without ``self_initiated`` (the hot path then checks one
        attribute); else one flag per call class.
        """
        si = scenario.self_initiated
        n = self.board.n
        # the due entries: -time in ascending order (the next one last, so it pops in O(1);
        # equal times pop in the order they were made) and, aligned, (unit, token, kind): a
        # unit's clear (every run) and its officer-initiated starts and ends; a sorted list of
        # floats beats a heap of tuples here
        self._due_keys: list[float] = []
        self._due_vals: list[tuple[int, int, int]] = []
        self._preempt: list[bool] | None = None
        self._si_on = si is not None
        self._in_district: list[bool] = []  # per class: answered within the zone's district
        self._unit_local = [False] * n  # per unit: takes its district's queue too
        self._dq: list[list[tuple[Any, tuple[int, int, float, float]]]] = []
        self._staffed: list[bool] = []
        # overflow (``overflow_after_min``): per waiting call of a sector queue, its entry and
        # the areas whose queues hold it (its own first); the staffed areas of each district
        self._ov_after: float | None = None
        self._ov_entry: dict[int, tuple[Any, list[int]]] = {}
        # (moment, call) of each overflow, in time order (a fixed wait after queueing)
        self._ov_due: deque[tuple[float, int]] = deque()
        self._ov_areas: list[list[int]] = []
        if si is None:
            return
        ag = self.agencies.index(si.agency)
        pre = set(scenario.preempting_levels())
        self._preempt = [
            self.class_agency[c] == ag and self.levels[c] in pre for c in range(len(self.levels))
        ]
        if si.dispatch_scope == "district":
            self._in_district = [
                self.class_agency[c] == ag and not self._preempt[c] for c in range(len(self.levels))
            ]
            self._unit_local = [a == ag for a in self.unit_agency]
            self._dq = [[] for _ in range(self.n_areas)]
            # a district without units of the agency: its calls go to the agency as a whole
            self._staffed = [False] * self.n_areas
            for u in range(n):
                if self._unit_local[u]:
                    self._staffed[self.board.district_of(u)] = True
            if si.overflow_after_min is not None:
                self._ov_after = float(si.overflow_after_min)
                names = sorted({(z.district, z.sector or "") for z in scenario.zones})
                self._ov_areas = [
                    [j for j, (dj, _) in enumerate(names) if dj == d and self._staffed[j]]
                    for d, _ in names
                ]
        else:
            self._in_district = [False] * len(self.levels)
        self.si_districts = list(si.districts)
        kind = {d: i for i, d in enumerate(self.si_districts)}
        district = [z.district for z in scenario.zones]
        # an entry "DISTRICT/SECTOR" (zones[].sector) comes before its district's entry
        area = [z.area for z in scenario.zones]
        self._si_kind = [-1] * n
        self._si_rate = [0.0] * n  # starts per free minute
        for u, spec in enumerate(scenario.units):
            zi = self.zone_index[spec.post]
            k = kind.get(area[zi], kind.get(district[zi], -1))
            if self.unit_agency[u] == ag and k >= 0:
                self._si_kind[u] = k
                self._si_rate[u] = si.districts[self.si_districts[k]].rate_per_hour / 60.0
        self._si_dist = [from_spec(si.districts[d].duration) for d in self.si_districts]
        # weight zone_calls: a unit's rate times its zone's weight (the zone's call rate over
        # the mean of its district's zones), taken where the unit is when it becomes free
        self._si_weighted = si.weight == "zone_calls"
        self._si_w: list[float] = []
        if self._si_weighted:
            rate = [z.agency_rates().get(si.agency, 0.0) for z in scenario.zones]
            by_d: dict[str, list[float]] = {}
            for r, dz in zip(rate, district, strict=True):
                by_d.setdefault(dz, []).append(r)
            mean = {d: float(np.mean(v)) for d, v in by_d.items()}
            self._si_w = [
                r / mean[dz] if mean[dz] > 0 else 0.0 for r, dz in zip(rate, district, strict=True)
            ]
        self._si_rng = self.streams["self_initiated"]
        self._si_exp: list[float] = []
        self._si_dur: list[list[float]] = [[] for _ in self.si_districts]
        self._si_ag = ag
        self._si_end_t = [0.0] * n  # end of each unit's current piece
        self._si_tok = [0] * n  # starts: valid while the unit stays free
        self._si_seq = [0] * n  # ends: valid for the piece of work they end
        self._si_t0 = [0.0] * n  # start of the unit's current (or last) piece
        self._si_starts = [0] * n  # pieces started in the window
        self._si_preempted = [0] * n  # of those, pieces abandoned for a pre-empting call
        b = self.board
        self._si_state = b.live_lists()[1]  # the board's stored states (read only)
        self._si_zone = b.live_lists()[3]  # the board's unit zones (read only)
        # per unit, the calls it would take when its work ends: its agency's queue and, for
        # a unit answering its district's calls too, that district's queue (else none)
        none: list[Any] = []
        waiting_of = [self.queues[self.unit_agency[u]].items for u in range(n)]
        local_waiting_of = [
            self._dq[b.district_of(u)] if self._unit_local[u] else none for u in range(n)
        ]
        # what the settle loop reads, in its order (one unpack per settle)
        self._si_ctx = (
            self._si_tok, self._si_seq, *b.live_lists(),
            b.start_self, b.end_self, b.self_again, self._si_kind, self._si_dur, self._si_dist,
            self._si_rate, self._si_weighted, self._si_w, self._si_exp, self._si_rng,
            self._si_t0, self._si_starts, self._si_end_t,
            self.warmup, self.end, waiting_of, local_waiting_of,
        )  # fmt: skip

    def _si_arm(self, u: int, now: float) -> None:
        """Draw free unit *u*'s next self-initiated start (a due entry, see :meth:`_settle`).

        With ``weight: zone_calls`` the rate is weighted by the zone the unit is in now (when
        it becomes free); a patrol move before the start does not redraw it.
        """
        r = self._si_rate[u]
        if r <= 0.0:
            return
        if self._si_weighted:
            r *= self._si_w[self._si_zone[u]]
            if r <= 0.0:
                return
        tok = self._si_tok[u] + 1
        self._si_tok[u] = tok
        buf = self._si_exp
        if not buf:
            buf.extend(self._si_rng.standard_exponential(4096)[::-1].tolist())
        self._push_due(now + buf.pop() / r, u, tok, _START)

    def _push_due(self, at: float, u: int, tok: int, kind: int) -> None:
        """Put a due entry at *at* (after the entries already due then)."""
        keys = self._due_keys
        i = bisect_left(keys, -at)
        keys.insert(i, -at)
        self._due_vals.insert(i, (u, tok, kind))

    def _settle(self, now: float) -> None:
        """Play every due entry by *now* in time order: clears, officer-initiated starts and ends.

        These are not simulation events: they sit in the due list, and the run loop
        (:meth:`_advance`) plays them up to each simpy event, arrival and overflow before it.
        A unit's clear takes the next call it may take, else the unit finishes (back to its
        post) and, with officer-initiated work, draws its next start. A unit whose free spell
        and next piece of work both fall before *now* goes through them without the due list
        (a chain). That is exact because calls join queues only outside this method (arrivals,
        overflows, injections), so inside it queues only shrink, and a chained piece starts
        only when the unit's queues were empty (a free unit never sits beside a call it may
        take): a chained end finds no call waiting, as no earlier entry could hand it one.

        The hot loop of a run with ``self_initiated``: the start of a piece (drawing its end)
        and the end of one without a waiting call are written out here, not called.
        """
        keys = self._due_keys
        mnow = -now
        if not keys or keys[-1] < mnow:
            return
        vals = self._due_vals
        clear = self._clear
        if not self._si_on:
            while keys and keys[-1] >= mnow:
                t = -keys.pop()
                clear(vals.pop()[0], t)
            return
        (
            tok_of, seq_of, is_free_l, state_l, on_duty, zone_l, _group_l,
            start_self, end_self, self_again, kind_of, dur_bufs, dists,
            rate_of, weighted, w_of, exp_buf, rng, t0_of, starts, end_t,
            warm, stop, waiting_of, local_waiting_of,
        ) = self._si_ctx  # fmt: skip
        while keys and keys[-1] >= mnow:
            t = -keys.pop()
            u, tok, kind = vals.pop()
            if kind == _CLEAR:
                clear(u, t)
                continue
            if kind == _START:
                if tok != tok_of[u] or not is_free_l[u]:
                    continue  # dispatched (or off duty) since it was drawn
                start_self(u, t)
                ending = False
            elif tok != seq_of[u] or state_l[u] != _SELF:
                continue  # pre-empted or off shift meanwhile
            else:
                ending = True
            while True:
                if ending:
                    # u's piece ends at t (<= now): take a waiting call, or draw its next
                    # start; chain while that is past too
                    e = t
                    if on_duty[u] and (waiting_of[u] or local_waiting_of[u]):
                        self._si_take(u, e)
                        break
                    else:
                        r = rate_of[u]
                        if weighted:
                            r *= w_of[zone_l[u]]
                        if r <= 0.0:
                            end_self(u, e)
                            break
                        if not exp_buf:
                            exp_buf.extend(rng.standard_exponential(4096)[::-1].tolist())
                        t = e + exp_buf.pop() / r
                        if t > now:
                            end_self(u, e)
                            tok = tok_of[u] + 1
                            tok_of[u] = tok
                            k = -t
                            i = bisect_left(keys, k)
                            keys.insert(i, k)
                            vals.insert(i, (u, tok, _START))
                            break
                        self_again(u, e, t)
                # a piece starts at t: draw its end
                seq = seq_of[u] + 1
                seq_of[u] = seq
                k = kind_of[u]
                buf = dur_bufs[k]
                if not buf:
                    buf.extend(dists[k].sample_many(rng, 1024)[::-1].tolist())
                t0_of[u] = t
                if warm <= t < stop:
                    starts[u] += 1
                t += buf.pop()
                end_t[u] = t
                if t > now:
                    k = -t
                    i = bisect_left(keys, k)
                    keys.insert(i, k)
                    vals.insert(i, (u, seq, _END))
                    break
                ending = True

    def _si_take(self, u: int, e: float) -> None:
        """End *u*'s piece at *e* by taking the call waiting for it (the caller saw one)."""
        job = self._next_job(u, self.unit_agency[u], e)
        assert job is not None
        inc, zone, recv, svc = job
        start = recv if e < recv else e
        self._due_clear(u, start + self._start(u, inc, zone, recv, svc, e))

    def _due_clear(self, u: int, at: float) -> None:
        """Make unit *u*'s clear of the call it was just sent to due at *at*."""
        self._push_due(at, u, 0, _CLEAR)

    def _clear(self, u: int, t: float) -> None:
        """Clear unit *u*'s call at *t*: it takes the next call it may take, or finishes.

        A unit answering its dispatch area's calls too (``dispatch_scope: district``) takes
        the more urgent head of its area's queue and its agency's; a unit of a shift that
        ended meanwhile takes none. A unit that finishes is free (driving back to its post),
        and with officer-initiated work draws its next start.
        """
        self._outstanding -= 1
        job = self._next_job(u, self.unit_agency[u], t) if self._on_duty[u] else None
        if job is not None:
            inc, zone, recv, svc = job
            self._due_clear(u, t + self._start(u, inc, zone, recv, svc, t))
            return
        self.board.finish(u, t)
        if self._si_on and self._is_free[u]:
            self._si_arm(u, t)

    def _next_job(self, u: int, a: int, now: float) -> tuple[int, int, float, float] | None:
        """Return the call free unit *u* of agency *a* takes now (None: nothing waits for it).

        The head of the agency's queue, or, for a unit whose district keeps its own queue
        (``dispatch_scope: district``), the head of that queue when it is more urgent.
        """
        items = self.queues[a].items
        if self._unit_local[u]:
            dq = self._dq[self.board.district_of(u)]
            if dq and (not items or dq[0][0] < items[0].priority):
                self._q_touch(now)
                self._q_len -= 1
                self._q_lens[a] -= 1
                job: tuple[int, int, float, float] = heappop(dq)[1]
                if self._ov_entry:
                    self._ov_taken(job[0])
                return job
        if items:
            return self._pop(now, a)
        return None

    def _ov_taken(self, inc: int) -> None:
        """Call *inc* left a sector queue: take its copies out of the other queues holding it."""
        rec = self._ov_entry.pop(inc, None)
        if rec is None:
            return
        entry, areas = rec
        for d in areas:
            dq = self._dq[d]
            if entry in dq:  # not the queue it was just popped from
                dq.remove(entry)
                heapify(dq)

    def _overflow(self, inc: int) -> None:
        """Open a call that waited ``overflow_after_min`` in its sector's queue to its district.

        The closest free unit posted in the district takes it now; with none free, the call
        joins the queue of every other staffed sector of the district (its units take it as
        they become free, in the order of their queues). Units on self-initiated work are not
        pulled off it.
        """
        rec = self._ov_entry.get(inc)
        if rec is None:
            return  # dispatched meanwhile
        entry, areas = rec
        own = areas[0]
        now = self.env.now
        _, zone, recv, svc = entry[1]
        a = self._si_ag
        b = self.board
        pol = self.policies[a]
        best, best_t = -1, math.inf
        if b.available(a, now):
            for d in self._ov_areas[own]:
                u = pol.choose_in(zone, now, d)
                if u >= 0:
                    t = b.travel_to(u, zone, now)
                    if t < best_t or (t == best_t and u < best):
                        best, best_t = u, t
        if best >= 0:
            self._ov_taken(inc)
            self._q_touch(now)
            self._q_len -= 1
            self._q_lens[a] -= 1
            self._due_clear(best, now + self._start(best, inc, zone, recv, svc, now))
            return
        for d in self._ov_areas[own]:
            if d != own:
                heappush(self._dq[d], entry)
                areas.append(d)

    def _record_buffers(self, scenario: Scenario) -> None:
        """Plain lists per record column, flushed to numpy per demand block."""
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

    def queued(self) -> int:
        """Return how many calls wait for a unit now (all agencies)."""
        return self._q_len

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
        shifts: list[tuple[int, float, float]] = []
        for u, spec in enumerate(scenario.units):
            if spec.shift is not None and spec.shift.hours < 24:
                start = spec.shift.start_min
                length = spec.shift.hours * 60.0
                if (0.0 - start) % 1440.0 >= length:  # off duty at time 0
                    self.board.go_off(u, 0.0)
                shifts.append((u, start, length))
        if shifts:
            self._at_start(self._shifts(shifts))
        if self._si_on:
            for u in range(self.board.n):
                if self.board.is_free(u):
                    self._si_arm(u, 0.0)
        self._at_start(self._arrivals())
        self._at_start(self._mesa_steps(scenario.patrol.interval_min))

    # ------------------------------------------------------------------ queue
    def _q_touch(self, now: float) -> None:
        lo = self._q_last if self._q_last > self.warmup else self.warmup
        hi = now if now < self.end else self.end
        if hi > lo and self._q_len:
            self.queue_area += self._q_len * (hi - lo)
        self._q_last = now

    # ------------------------------------------------------------------ hot path
    def _start(self, u: int, inc: int, zone: int, recv: float, svc: float, now: float) -> float:
        """Send unit *u* to incident *inc*; return minutes until it clears."""
        tm = self._tmult
        mult = tm.pop(inc, 1.0) if tm is not None else 1.0
        start = recv if now < recv else now  # float rounding of a ready time (an ulp)
        tr, clr = self.board.dispatch(u, zone, now, start, svc, mult)
        self._d_inc.append(inc)
        self._d_time.append(start)
        self._d_unit.append(u)
        self._d_travel.append(tr)
        return clr - start

    def _receive(self, inc: int, zone: int, prio: int, recv: float, svc: float) -> None:
        """Receive a call now: dispatch a free unit of its agency, queue the call, or lose it."""
        a = self.class_agency[prio]
        b = self.board
        pre = self._preempt
        if pre is not None:
            if pre[prio]:
                if b.has_self(a):
                    b.available(a, recv)  # settle returns before timing the units
                    u = self.policies[a].choose_preempting(zone, recv)
                    t0 = self._si_t0[u]
                    if b.state(u) is UnitState.SELF_INITIATED and self.warmup <= t0 < self.end:
                        self._si_preempted[u] += 1
                    self._outstanding += 1
                    now = self.env.now
                    self._due_clear(u, now + self._start(u, inc, zone, recv, svc, now))
                    return
            elif self._in_district[prio] and self._staffed[self.zone_area[zone]]:
                self._receive_in_district(inc, zone, prio, recv, svc, a)
                return
        if b.available(a, recv):
            u = self.policies[a].choose(zone, recv)
            self._outstanding += 1
            now = self.env.now
            self._due_clear(u, now + self._start(u, inc, zone, recv, svc, now))
        else:
            self._queue(inc, zone, prio, recv, svc, a, -1)

    def settle_work(self, now: float) -> None:
        """Play the clears and officer-initiated starts and ends due by *now*.

        The run loop has played them before the event now handled; a caller that moves the
        clock itself asks again (cheap when nothing is due).
        """
        if self._due_keys and self._due_keys[-1] >= -now:
            self._settle(now)

    def _receive_in_district(
        self, inc: int, zone: int, prio: int, recv: float, svc: float, a: int
    ) -> None:
        """Dispatch the closest free unit of the zone's dispatch area, or queue the call there.

        The area is the zone's district, or its ``sector`` within the district when zones give one.
        """
        b = self.board
        d = self.zone_area[zone]
        b.available(a, recv)  # settle returns before timing the units
        u = self.policies[a].choose_in(zone, recv, d)
        if u >= 0:
            self._outstanding += 1
            now = self.env.now
            self._due_clear(u, now + self._start(u, inc, zone, recv, svc, now))
        else:
            self._queue(inc, zone, prio, recv, svc, a, d)

    def _queue(
        self, inc: int, zone: int, prio: int, recv: float, svc: float, a: int, area: int
    ) -> None:
        """Queue a call no unit can take now, or lose it when agency *a*'s queue is full.

        *area* >= 0: the dispatch area's own queue (``dispatch_scope: district``), else the
        agency's. The first unit of the queue's area (or agency) to clear or end its
        officer-initiated work takes it (:meth:`_clear`, :meth:`_settle`).
        """
        if self._q_lens[a] >= self.capacity:
            self._l_inc.append(inc)
            return
        self._outstanding += 1
        self._q_touch(self.env.now)
        self._q_len += 1
        self._q_lens[a] += 1
        key = (prio, inc) if self.priority_queue else inc
        if area >= 0:
            entry = (key, (inc, zone, recv, svc))
            heappush(self._dq[area], entry)
            self._q_inc.append(inc)
            if self._ov_after is not None:
                self._ov_entry[inc] = (entry, [area])
                self._ov_due.append((self.env.now + self._ov_after, inc))
            return
        # the store's own heap: a put or get event would be a simpy event with nothing to do
        heappush(self.queues[a].items, simpy.PriorityItem(key, (inc, zone, recv, svc)))
        self._q_inc.append(inc)

    def _pop(self, now: float, a: int = 0) -> tuple[int, int, float, float]:
        self._q_touch(now)
        self._q_len -= 1
        self._q_lens[a] -= 1
        item: Any = heappop(self.queues[a].items)
        job: tuple[int, int, float, float] = item.item
        return job

    def _arrivals(self) -> Callable[[], None]:
        """Return the arrival stream's walk: receive the pending arrival and all due by now.

        Walks the demand source's blocks; each incident is received at its dispatchable time.
        The walk leaves the next incident's time in ``_arr_t``: the run loop
        (:meth:`_advance`) moves the clock there and walks on when nothing else comes first,
        so an arrival costs no simpy event. The first walk runs at time 0 where a process
        would start.
        """
        env = self.env
        receive = self._receive
        warm = self.warmup
        tmult = self._tmult
        blocks = self.demand.blocks(self.end)
        rows: Any = None  # the current block's incidents (an iterator), None between blocks
        pending: tuple[int, float, int, int, float] | None = None

        def walk() -> None:
            nonlocal rows, pending
            if pending is not None:
                inc, t, zone, prio, svc = pending
                pending = None
                receive(inc, zone, prio, t, svc)
            while True:
                if rows is None:
                    blk = next(blocks, None)
                    if blk is None:
                        self._arrivals_done = True
                        self._arr_t = math.inf
                        return
                    keep = blk.received >= warm
                    if keep.any():
                        self._blocks.append(blk.take(keep) if not keep.all() else blk)
                    if tmult is not None and blk.tmult is not None:
                        tmult.update(zip(blk.incident.tolist(), blk.tmult.tolist(), strict=True))
                    rows = zip(
                        blk.incident.tolist(),
                        blk.ready_times.tolist(),
                        blk.zone.tolist(),
                        blk.priority.tolist(),
                        blk.service.tolist(),
                        strict=True,
                    )
                for inc, t, zone, prio, svc in rows:
                    if t > env.now:
                        pending = (inc, t, zone, prio, svc)
                        self._arr_t = t
                        return
                    receive(inc, zone, prio, t, svc)
                self._flush()
                rows = None

        self._arrive = walk
        return walk

    def _at_start(self, first: Callable[[], None]) -> None:
        """Run *first* at time 0 exactly where a new process would start (an urgent event)."""
        ev = _Wake(self.env)
        ev.callbacks.append(lambda _ev: first())
        ev.fire_first()

    def _go_on(self, u: int, now: float) -> None:
        if self.board.go_on(u, now):
            a = self.unit_agency[u]
            waiting = self.queues[a].items or (
                self._unit_local[u] and self._dq[self.board.district_of(u)]
            )
            job = self._next_job(u, a, now) if waiting else None
            if job is not None:
                inc, zone, recv, svc = job
                self._due_clear(u, now + self._start(u, inc, zone, recv, svc, now))
            elif self._si_on:
                self._si_arm(u, now)

    def _shifts(self, shifts: list[tuple[int, float, float]]) -> Callable[[], None]:
        """Return every unit's shifts as callbacks: on and off duty each day.

        *shifts* holds ``(unit, start, length)`` in unit order. One reusable wake-up per moment
        of change, not per unit: a unit's next change is appended to the list of units due at
        that moment, and the moment's wake-up is scheduled when its first unit is (so it sits
        where that unit's own timeout would in the event order); it then takes its units in
        the order they were armed, which is the order their own timeouts would have fired (a
        city's ~400 unit changes a day become a few events). The only difference from a
        timeout per unit would be an event of another kind scheduled *for the very same
        moment* between two of its units' arms: the mesa steps are scheduled one interval
        ahead, and the other simpy events (checkpoints, injected calls) at drawn times.
        """
        env = self.env
        on_duty = self.board.live_lists()[2]
        go_off = self.board.go_off
        go_on = self._go_on
        start_of = {u: start for u, start, _ in shifts}
        length_of = {u: length for u, _, length in shifts}
        due: dict[float, list[int]] = {}  # moment -> units changing then, in arm order
        spare: list[_Wake] = []  # processed wake-ups, reused for later moments

        def arm(u: int, now: float) -> None:
            phase = (now - start_of[u]) % 1440.0
            length = length_of[u]
            if on_duty[u]:
                delay = length - phase if phase < length else 0.0
            else:
                delay = (1440.0 - phase) % 1440.0
            at = now + delay  # the float simpy schedules the timeout at
            units = due.get(at)
            if units is not None:
                units.append(u)
                return
            due[at] = [u]
            wake = spare.pop() if spare else _Wake(env)
            wake.rearm_with(on_wake)
            wake.fire_in(delay)

        def on_wake(ev: Event) -> None:
            now = env.now
            spare.append(ev)  # type: ignore[arg-type]
            for u in due.pop(now):
                if on_duty[u]:
                    go_off(u, now)
                else:
                    go_on(u, now)
                arm(u, now)

        def first() -> None:
            for u, _, _ in shifts:
                arm(u, 0.0)

        return first

    def _mesa_steps(self, interval: float) -> Callable[[], None]:
        """Return the mesa steps as a callback: a step now and every *interval* minutes."""
        step = self.model.step
        wake = _Wake(self.env)  # one reusable timeout

        def on_wake(_ev: Event | None = None) -> None:
            wake.rearm_with(on_wake)
            step()
            wake.fire_in(interval)

        return on_wake

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

    def _advance(self, until: float, drain: bool = False) -> float:
        """Play every event, arrival and overflow before *until*, in time order.

        Due entries are played up to each of them (those after the last one stay for the
        next call, or for :meth:`_drain` and the final settle). Returns the last moment
        played.

        The next thing is simpy's next event (mesa steps, shifts, checkpoints), the next
        arrival, or the next overflow of a waiting call, whichever comes first (simpy's on a
        tie, then the overflow); the due entries up to its moment are played before it
        (:meth:`_settle`). With *drain*, stop instead once every call received is cleared.
        """
        env = self.env
        heap = self._clock.heap
        jump = self._clock.jump
        step = env.step
        keys = self._due_keys
        settle = self._settle
        ovq = self._ov_due
        last = env.now
        while True:
            t = heap[0][0] if heap else math.inf
            a = self._arr_t
            o = ovq[0][0] if ovq else math.inf
            m = t
            if a < m or o < m:
                m = o if o <= a else a
            if m == math.inf:  # nothing more will come (no mesa steps: not in a real run)
                if not (drain and keys):
                    break
                far = -keys[0]  # the clears still due end the run
                settle(far)
                last = far
                if self._outstanding == 0 and self._arrivals_done:
                    break
                continue
            if m >= until:
                break
            if keys and keys[-1] >= -m:
                settle(m)
                last = m
                if drain and self._outstanding == 0 and self._arrivals_done:
                    break
            if m < t:
                jump(m)
                if o == m:
                    self._overflow(ovq.popleft()[1])
                else:
                    self._arrive()
            else:
                step()
            if drain and self._outstanding == 0 and self._arrivals_done:
                break
        return max(last, env.now)

    def _drain(self) -> float:
        """Go on until every call received is cleared; return the moment everything stops.

        Calls received in the window (and, with dispatch delays, reaching the dispatcher after
        it) are followed to completion; simpy's events due meanwhile (mesa steps, shifts) still
        happen in their order.
        """
        if self._outstanding == 0 and self._arrivals_done:
            return self.env.now
        return self._advance(math.inf, drain=True)

    def run_until(self, at: float) -> None:
        """Play the simulation up to *at* (events before it; due entries up to it); for tests.

        :meth:`run` is the whole replication; this leaves the clock at *at*, as
        ``env.run(until=at)`` would for a pure simpy model. With officer-initiated work,
        stopping in between changes which draws of its stream go to which unit (a chain in
        :meth:`_settle` draws ahead), so the records differ from an uninterrupted run's.
        """
        self._advance(at)
        self._settle(at)
        if at > self.env.now:
            self.env.run(until=at)

    def run(self) -> RunResult:
        """Simulate the warm-up and the horizon, drain calls in hand, and collect results."""
        t0 = time.perf_counter()
        self._advance(self.end)
        final = max(self._drain(), self.end)
        self._flush()
        self._settle(final)
        self.board.close(final)
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
            checkpoint_records={a.checkpoint_id: a.records for a in self.model.checkpoint_agents},
            timeseries=self.model.snapshots(),
            window=(self.warmup, self.end),
            queue_area=self.queue_area,
            wall_seconds=time.perf_counter() - t0,
            zone_ids=self.zone_ids,
            unit_ids=self.unit_ids,
            levels=self.levels,
            agencies=self.agencies,
            zone_districts=[str(z.district) for z in self.scenario.zones],
            unit_agency=list(self.unit_agency),
            unit_post=[self.zone_index[u.post] for u in self.scenario.units],
            origins=[self.demand.name, *sorted(set(self._inj["origin"]))],
        )

    def _cat(self, key: str, dtype: Any) -> NDArray[Any]:
        parts = self._chunks[key]
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype=dtype)

    def _received(self) -> tuple[ArrivalBlock, NDArray[np.int32]]:
        """Return every incident received in the window (by id) and its origin code."""
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
        return allb, origin_code

    def _incident_columns(self) -> dict[str, NDArray[Any]]:
        allb, origin_code = self._received()
        n = len(allb)
        ids = allb.incident
        names = [self.demand.name, *sorted(set(self._inj["origin"]))]
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
        acc = self.board.minutes()
        busy = acc[:, _DISP] + acc[:, _ENR] + acc[:, _SCENE]
        window = self.end - self.warmup
        on_duty = window - acc[:, _OFF]
        util = np.where(on_duty > 0, busy / np.where(on_duty > 0, on_duty, 1.0), 0.0)
        util = np.clip(util, 0.0, 1.0)
        served = inc["unit"][inc["unit"] >= 0]
        dispatches = np.bincount(served, minlength=n_u) if n_u else np.zeros(0, dtype=np.int64)
        cols: dict[str, Any] = {"unit": np.arange(n_u)}
        for k, name in enumerate(STATE_NAMES):
            if k == _SELF and not self._si_on:
                continue  # without self_initiated the columns are those of before it
            cols[f"{name}_min"] = acc[:, k]
        cols["busy_min"] = busy
        cols["on_duty_min"] = on_duty
        cols["utilization"] = util
        cols["dispatches"] = dispatches.astype(np.int64)
        if self._si_on:
            cols["self_initiated"] = np.asarray(self._si_starts, dtype=np.int64)
            cols["self_initiated_preempted"] = np.asarray(self._si_preempted, dtype=np.int64)
        return cols
