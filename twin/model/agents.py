"""The mesa side of the twin: units, devices and checkpoints as agents on a zone network.

mesa earns its place at a coarse interval (``patrol.interval_min``, default 15 simulated
minutes): idle units patrol between zones, patrol presence per zone and hour of week is
accumulated, device states follow their outage windows, and a ``DataCollector`` snapshots the
model. Nothing here runs per event: the simpy engine (:mod:`twin.model.engine`) owns the clock
and the hot path; the :class:`~twin.model.board.UnitBoard` owns unit state, and agents read and
move their unit only through its public methods. The model knows the engine only through the
small :class:`Host` protocol (no import of the engine).

Each step is array-based: the patrol policy (:mod:`twin.model.patrol`) moves all patrolling
units with one vectorised draw, and presence is added from the board's state and zone arrays.
Agents keep identity (unit id, area, cell on the zone network) and answer for their own unit
(:attr:`UnitAgent.state`); :meth:`UnitAgent.patrol` is the per-agent form of the same move,
kept as the reference the array step is tested against (``TwinModel(step_agents=True)``).

Patrol presence (the "police visible on the street" rate) is a time-weighted statistic: each
step counts the patrolling on-duty units in each zone for the step's interval, so
``presence[z, h] / exposure[h]`` is the mean number of units patrolling zone *z* during
hour-of-week *h*.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import mesa
import networkx as nx
import numpy as np
import simpy
from mesa.agent import AgentSet
from mesa.discrete_space import CellAgent, FixedAgent, Network
from numpy.typing import NDArray

from twin.model.board import UnitBoard, UnitState
from twin.model.checkpoints import CheckpointAgent
from twin.model.patrol import build_patrol
from twin.model.travel import distance_km, distance_matrix_km
from twin.scenario import HOURS_PER_WEEK, Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "SNAPSHOT_COLUMNS",
    "DeviceAgent",
    "DeviceState",
    "Host",
    "Snapshot",
    "SnapshotCollector",
    "TwinModel",
    "UnitAgent",
    "UnitState",
    "zone_network",
]


SNAPSHOT_COLUMNS = ("time_min", "patrolling", "busy", "returning", "off_duty", "queued")
"""Columns of the DataCollector snapshots (``timeseries.parquet``); a scenario with
``self_initiated`` adds ``self_initiated`` (units on officer-initiated work) after them."""


class Snapshot(NamedTuple):
    """One DataCollector row (:data:`SNAPSHOT_COLUMNS`): the model at a mesa step.

    Immutable, so the DataCollector's defensive deep copy is the row itself.
    """

    time_min: float
    patrolling: int
    busy: int
    returning: int
    off_duty: int
    queued: int
    self_initiated: int = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Snapshot:
        """Return the row itself (an immutable tuple of numbers)."""
        return self


_OFF, _PATROL, _DISP, _RET, _SELF = (
    int(UnitState.OFF_DUTY),
    int(UnitState.PATROL),
    int(UnitState.DISPATCHED),
    int(UnitState.RETURNING),
    int(UnitState.SELF_INITIATED),
)


_N_STATES = len(UnitState)


class SnapshotCollector(mesa.DataCollector):
    """mesa's ``DataCollector`` holding the twin's one model reporter, the snapshot row.

    The generic :meth:`mesa.DataCollector.collect` dispatches on each reporter's kind and
    deep-copies its value at every step; this one's only reporter returns an immutable
    :class:`Snapshot` (its deep copy is itself), so collecting is one append to the same
    ``model_vars["snapshot"]`` list (about 2 us less per mesa step; the rows are the same).
    """

    def __init__(self) -> None:
        super().__init__(model_reporters={"snapshot": _snapshot_row})

    def collect(self, model: mesa.Model) -> None:
        """Append the model's snapshot row."""
        self.model_vars["snapshot"].append(_snapshot_row(model))


class Host(Protocol):
    """What the mesa model needs from the engine that drives it."""

    scenario: Scenario
    board: UnitBoard
    env: simpy.Environment
    streams: dict[str, np.random.Generator]
    warmup: float
    end: float
    zone_index: dict[str, int]
    in_area: NDArray[np.bool_]

    def queued(self) -> int:
        """Return how many calls wait for a unit now."""
        ...

    def settle_work(self, now: float) -> None:
        """Play the clears and officer-initiated work due by *now* (before units are read)."""
        ...

    def inject_incident(
        self, time_min: float, zone: str, priority: int, origin: str = "injected"
    ) -> None:
        """Create an incident now (a checkpoint's watch-list hit)."""
        ...


class DeviceState(Enum):
    """Whether a device works."""

    ACTIVE = "active"
    OUTAGE = "outage"


def zone_network(
    locations: list[tuple[float, float]], crs: str, neighbour_km: float | None = None
) -> nx.Graph:
    """Build the zone network: zones closer than *neighbour_km* are neighbours.

    Args:
        locations: Zone locations in scenario order.
        crs: ``plane`` or ``wgs84``.
        neighbour_km: Link distance; default 1.5 x the smallest distance between two zones.

    Returns:
        An undirected graph on zone indices with ``km`` edge attributes.

    """
    n = len(locations)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    if n < 2:
        return g
    d = distance_matrix_km("haversine" if crs == "wgs84" else "euclidean", locations)
    off = d[~np.eye(n, dtype=bool)]
    positive = off[off > 0]
    limit = (
        neighbour_km
        if neighbour_km is not None
        else 1.5 * float(positive.min() if positive.size else 1.0)
    )
    for i in range(n):
        for j in range(i + 1, n):
            if d[i, j] <= limit:
                g.add_edge(i, j, km=float(d[i, j]))
    return g


class UnitAgent(CellAgent):
    """A patrol unit; its state and position live on the unit board.

    Args:
        model: The twin's mesa model.
        index: The unit's index on the board.
        unit_id: The scenario's unit id.
        area: Zone indices of its response area (where it patrols under ``policy: area``).

    """

    def __init__(self, model: TwinModel, index: int, unit_id: str, area: list[int]) -> None:
        super().__init__(model)
        self.index = index
        self.unit_id = unit_id
        self.area = area
        self._zone = model.board.post_of(index)
        self.cell = model.grid[self._zone]

    @property
    def state(self) -> UnitState:
        """Return the unit's state now."""
        model: TwinModel = self.model
        return model.board.state_at(self.index, model.host.env.now)

    def patrol(self) -> None:
        """Move the unit one hop if it patrols: the per-agent form of the patrol step.

        The array step (:meth:`~twin.model.patrol.PatrolPolicy.step`) does the same for all
        units at once; this form is the reference it is tested against.
        """
        model: TwinModel = self.model
        b = model.board
        u = self.index
        if b.state(u) is not UnitState.PATROL:
            return
        here = b.zone_of(u)
        options = model.patrol.options(u, here)
        nxt = options[int(model.rng_patrol.integers(len(options)))]
        if nxt != here:
            b.move(np.asarray([u]), np.asarray([nxt]))

    def sync_cell(self) -> None:
        """Place the agent on the cell of its zone if it patrols (else keep its last cell)."""
        model: TwinModel = self.model
        b = model.board
        if b.state(self.index) is not UnitState.PATROL:
            return
        z = b.zone_of(self.index)
        if z != self._zone:
            self._zone = z
            self.cell = model.grid[z]


class DeviceAgent(FixedAgent):
    """A sensing device (camera) fixed in a zone's cell.

    Args:
        model: The twin's mesa model.
        device_id: The scenario's device id.
        zone: Zone index of its cell.
        outages: ``(start, end)`` windows when it is down.

    """

    def __init__(
        self, model: TwinModel, device_id: str, zone: int, outages: list[tuple[float, float]]
    ) -> None:
        super().__init__(model)
        self.device_id = device_id
        self.outages = outages
        self.state = DeviceState.ACTIVE
        self.cell = model.grid[zone]

    def update(self, now: float) -> None:
        """Set the state from the outage windows."""
        down = any(a <= now < b for a, b in self.outages)
        self.state = DeviceState.OUTAGE if down else DeviceState.ACTIVE


class TwinModel(mesa.Model):
    """The mesa model of one simulation: a zone network with unit, device, checkpoint agents.

    Args:
        host: The engine that owns the clock (and, through its board, the unit state).
        collect: Whether the ``DataCollector`` keeps snapshots.
        step_agents: Move patrolling units agent by agent (:meth:`UnitAgent.patrol`, the
            reference) instead of the array step; same draws, same moves, slower.

    """

    def __init__(self, host: Host, collect: bool = True, step_agents: bool = False) -> None:
        patrol_rng = host.streams["patrol"]
        super().__init__(rng=int(patrol_rng.integers(2**63 - 1)))
        self.host = host
        self.board = host.board
        sc = host.scenario
        self.rng_patrol = patrol_rng
        self.interval = float(sc.patrol.interval_min)
        locs = [(float(z.location[0]), float(z.location[1])) for z in sc.zones]
        self.graph = zone_network(locs, sc.crs, sc.patrol.neighbour_km)
        self.grid = Network(self.graph, random=self.random)
        areas = [
            [int(z) for z in np.flatnonzero(host.in_area[u])] or [self.board.post_of(u)]
            for u in range(self.board.n)
        ]
        posts = [self.board.post_of(u) for u in range(self.board.n)]
        self.patrol = build_patrol(sc.patrol.policy, self.graph, areas, posts)
        self.step_agents = step_agents
        self.units = [UnitAgent(self, u, spec.id, areas[u]) for u, spec in enumerate(sc.units)]
        self.unit_set = AgentSet(self.units, random=self.random)
        self.devices = [
            DeviceAgent(
                self,
                d.id,
                self._device_zone(d.zone, d.location, locs),
                [(o.start, o.end) for o in d.outages],
            )
            for d in sc.devices
        ]
        self.checkpoint_agents = self._checkpoints()
        self.presence = np.zeros((len(locs), HOURS_PER_WEEK))
        self.exposure = np.zeros(HOURS_PER_WEEK)
        self.collect = collect
        self.self_initiated = sc.self_initiated is not None
        self._snap = Snapshot(0.0, 0, 0, 0, 0, 0)
        # one reporter holding the whole snapshot: mesa deep-copies each reporter's value
        self.datacollector = SnapshotCollector()

    def _device_zone(self, zone: str | None, location: Any, locs: list[tuple[float, float]]) -> int:
        if zone is not None:
            return self.host.zone_index[zone]
        dl = (float(location[0]), float(location[1]))
        return int(np.argmin([distance_km(self.host.scenario.crs, dl, zl) for zl in locs]))

    def _checkpoints(self) -> list[CheckpointAgent]:
        host = self.host
        specs = host.scenario.checkpoints
        if not specs:
            return []
        cp_seq = np.random.SeedSequence(int(host.streams["checkpoints"].integers(2**63 - 1)))
        out = []
        for cspec, child in zip(specs, cp_seq.spawn(len(specs)), strict=True):
            out.append(
                CheckpointAgent(
                    self,
                    cspec,
                    host.env,
                    rng=np.random.default_rng(child),
                    on_hit=_injector(host, f"checkpoint:{cspec.id}"),
                    warmup_min=host.warmup,
                )
            )
        return out

    def count_state(self, state: UnitState) -> int:
        """Return how many units are stored in *state* now (see :meth:`UnitBoard.count`)."""
        return self.board.count(state)

    def step(self) -> None:
        """One coarse step: settle returns, patrol, presence, devices, snapshot."""
        host = self.host
        now = host.env.now
        b = self.board
        host.settle_work(now)
        b.settle(now)
        states = b.state_view()  # live views: moves change zones, not states
        zones = b.zone_view()
        if self.patrol.moves:
            if self.step_agents:
                self.unit_set.do("patrol")  # the per-agent reference
            else:
                self.patrol.step(b, self.rng_patrol, states, zones)
        if host.warmup <= now < host.end:
            how = int(now // 60.0) % HOURS_PER_WEEK
            dt = min(self.interval, host.end - now)
            self.exposure[how] += dt
            # unit by unit in unit order, bit for bit the sums of a loop over the units
            np.add.at(self.presence[:, how], zones[states == _PATROL], dt)
        for d in self.devices:
            d.update(now)
        if self.collect:
            n = np.bincount(states, minlength=_N_STATES).tolist()
            self._snap = Snapshot(
                now, n[_PATROL], n[_DISP], n[_RET], n[_OFF], host.queued(), n[_SELF]
            )
            self.datacollector.collect(self)

    @property
    def snapshot_row(self) -> Snapshot:
        """Return the last step's snapshot (:data:`SNAPSHOT_COLUMNS`)."""
        return self._snap

    def sync_cells(self) -> None:
        """Place patrolling units' agents on the cell of their zone.

        Cells are synced on demand (here, and by :meth:`unit_states`), not at every step: a
        cell is where the unit patrolled when last synced.
        """
        for agent in self.units:
            agent.sync_cell()

    def snapshots(self) -> pd.DataFrame | None:
        """Return the DataCollector's model snapshots (None when collection is off)."""
        if not self.collect:
            return None
        import pandas as pd

        rows = self.datacollector.model_vars["snapshot"]
        if self.self_initiated:
            return pd.DataFrame(rows, columns=[*SNAPSHOT_COLUMNS, "self_initiated"])
        return pd.DataFrame([r[:-1] for r in rows], columns=list(SNAPSHOT_COLUMNS))

    def unit_states(self) -> dict[str, Any]:
        """Return ``{unit id: UnitState}`` now (and sync the agents' cells)."""
        self.sync_cells()
        return {a.unit_id: a.state for a in self.units}

    @property
    def presence_by_zone(self) -> NDArray[np.float64]:
        """Return the mean patrolling units per zone over the observed window."""
        total = self.exposure.sum()
        return self.presence.sum(axis=1) / total if total > 0 else np.zeros(len(self.presence))


def _snapshot_row(model: TwinModel) -> Snapshot:
    """Return the snapshot row (the DataCollector's one model reporter)."""
    return model.snapshot_row


def _injector(host: Host, origin: str) -> Callable[[float, str, int], None]:
    """Return a checkpoint's hit callback: inject an incident labelled *origin*."""

    def hit(t: float, zone: str, priority: int) -> None:
        host.inject_incident(t, zone, priority, origin=origin)

    return hit
