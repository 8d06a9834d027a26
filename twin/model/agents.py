"""The mesa side of the twin: units, devices and checkpoints as agents on a zone network.

mesa earns its place at a coarse interval (``patrol.interval_min``, default 15 simulated
minutes): idle units patrol between zones, patrol presence per zone and hour of week is
accumulated, device states follow their outage windows, and a ``DataCollector`` snapshots the
model. Nothing here runs per event: the simpy engine (:mod:`twin.model.engine`) owns the hot
path and the unit table; agents read and move their unit through it.

Patrol presence (the "police visible on the street" rate) is a time-weighted statistic: each
step counts the idle on-duty units in each zone for the step's interval, so ``presence[z, h] /
exposure[h]`` is the mean number of units patrolling zone *z* during hour-of-week *h*.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

import mesa
import networkx as nx
import numpy as np
from mesa.agent import AgentSet
from mesa.discrete_space import CellAgent, FixedAgent, Network
from numpy.typing import NDArray

from twin.model.dispatch import Mode
from twin.model.travel import distance_km, distance_matrix_km
from twin.scenario import HOURS_PER_WEEK

if TYPE_CHECKING:
    import pandas as pd

    from twin.model.checkpoints import CheckpointAgent
    from twin.model.engine import Simulation

__all__ = [
    "SNAPSHOT_COLUMNS",
    "DeviceAgent",
    "DeviceState",
    "TwinModel",
    "UnitAgent",
    "UnitState",
    "zone_network",
]


SNAPSHOT_COLUMNS = ("time_min", "patrolling", "busy", "returning", "off_duty", "queued")
"""Columns of the DataCollector snapshots (``timeseries.parquet``)."""


class UnitState(Enum):
    """What a unit is doing (derived from the engine's unit table at step time)."""

    OFF_DUTY = "off_duty"
    PATROL = "patrol"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    RETURNING = "returning"


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
    """A patrol unit; its state and position live in the engine's unit table.

    Args:
        model: The twin's mesa model.
        index: The unit's index in the engine.
        unit_id: The scenario's unit id.
        area: Zone indices of its response area (where it patrols under ``policy: area``).

    """

    def __init__(self, model: TwinModel, index: int, unit_id: str, area: list[int]) -> None:
        super().__init__(model)
        self.index = index
        self.unit_id = unit_id
        self.area = area
        self._area_set = set(area)
        self._zone = model.sim.board.post[index]
        self.cell = model.grid[self._zone]

    @property
    def state(self) -> UnitState:
        """Return the unit's state now."""
        sim = self.model.sim
        b = sim.board
        u = self.index
        m = b.mode[u]
        now = sim.env.now
        if m == Mode.OFF:
            return UnitState.OFF_DUTY
        if m == Mode.BUSY:
            if now < sim.u_enroute[u]:
                return UnitState.DISPATCHED
            if now < sim.u_onscene[u]:
                return UnitState.EN_ROUTE
            return UnitState.ON_SCENE
        if m == Mode.RETURNING and now < b.ret_end[u]:
            return UnitState.RETURNING
        return UnitState.PATROL

    def patrol(self, policy: str) -> None:
        """Move an idle unit one hop (``area``: inside its area; ``network``: anywhere)."""
        model: TwinModel = self.model
        b = model.sim.board
        u = self.index
        if b.mode[u] != Mode.IDLE or policy == "post":
            return
        here = b.zone[u]
        options = [c for c in model.graph.neighbors(here)]
        if policy == "area":
            options = [z for z in options if z in self._area_set]
            if here not in self._area_set:  # head back into the area
                options = sorted(self._area_set)
        options.append(here)
        options.sort()
        nxt = options[int(model.rng_patrol.integers(len(options)))]
        if nxt != here:
            b.zone[u] = nxt

    def sync_cell(self) -> None:
        """Place the agent on the cell of its current zone.

        Called at mesa steps for patrolling units only, so ``cell`` is where the unit last
        patrolled (a busy unit's position is the engine's business).
        """
        model: TwinModel = self.model
        z = model.sim.board.zone[self.index]
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
        sim: The engine that owns the clock and the unit table.
        collect: Whether the ``DataCollector`` keeps snapshots.

    """

    def __init__(self, sim: Simulation, collect: bool = True) -> None:
        patrol_rng = sim.streams["patrol"]
        super().__init__(rng=int(patrol_rng.integers(2**63 - 1)))
        self.sim = sim
        sc = sim.scenario
        self.rng_patrol = patrol_rng
        self.interval = float(sc.patrol.interval_min)
        self.policy = sc.patrol.policy
        locs = [(float(z.location[0]), float(z.location[1])) for z in sc.zones]
        self.graph = zone_network(locs, sc.crs, sc.patrol.neighbour_km)
        self.grid = Network(self.graph, random=self.random)
        n_z = len(locs)
        self.units: list[UnitAgent] = []
        for u, spec in enumerate(sc.units):
            area = [int(z) for z in np.flatnonzero(sim.in_area[u])] or [sim.board.post[u]]
            self.units.append(UnitAgent(self, u, spec.id, area))
        self.unit_set = AgentSet(self.units, random=self.random)
        self.devices: list[DeviceAgent] = []
        for d in sc.devices:
            if d.zone is not None:
                zi = sim.zone_index[d.zone]
            else:
                assert d.location is not None
                dl = (float(d.location[0]), float(d.location[1]))
                zi = int(np.argmin([distance_km(sc.crs, dl, zl) for zl in locs]))
            self.devices.append(DeviceAgent(self, d.id, zi, [(o.start, o.end) for o in d.outages]))
        self.checkpoint_agents: list[CheckpointAgent] = []
        if sc.checkpoints:
            from twin.model.checkpoints import CheckpointAgent

            cp_seq = np.random.SeedSequence(int(sim.streams["checkpoints"].integers(2**63 - 1)))
            for cspec, child in zip(sc.checkpoints, cp_seq.spawn(len(sc.checkpoints)), strict=True):
                origin = f"checkpoint:{cspec.id}"

                def _hit(t: float, zone: str, priority: int, _o: str = origin) -> None:
                    sim.inject_incident(t, zone, priority, origin=_o)

                self.checkpoint_agents.append(
                    CheckpointAgent(
                        self,
                        cspec,
                        sim.env,
                        rng=np.random.default_rng(child),
                        on_hit=_hit,
                        warmup_min=sim.warmup,
                    )
                )
        self.presence = np.zeros((n_z, HOURS_PER_WEEK))
        self.exposure = np.zeros(HOURS_PER_WEEK)
        self.collect = collect
        self._snap: tuple[float, int, int, int, int, int] = (0.0, 0, 0, 0, 0, 0)
        # one reporter holding the whole snapshot: mesa deep-copies each reporter's value
        self.datacollector = mesa.DataCollector(model_reporters={"snapshot": lambda m: m._snap})

    def count_mode(self, mode: Mode) -> int:
        """Return how many units are in *mode* now.

        Returning units that reached their post are settled at each step, so between steps
        some 'returning' units may already be at their post.
        """
        return self.sim.board.mode.count(int(mode))

    def step(self) -> None:
        """One coarse step: settle returns, patrol, presence, devices, snapshot."""
        sim = self.sim
        now = sim.env.now
        sim.settle_returns(now)
        b = sim.board
        moving = self.policy != "post"
        if moving:
            self.unit_set.do("patrol", self.policy)  # bulk work through an AgentSet
            sim.refresh_away()
        idle = int(Mode.IDLE)
        if sim.warmup <= now < sim.end:
            how = int(now // 60.0) % HOURS_PER_WEEK
            dt = min(self.interval, sim.end - now)
            self.exposure[how] += dt
            pres = self.presence
            for u in range(b.n):
                if b.mode[u] == idle:
                    pres[b.zone[u], how] += dt
        for d in self.devices:
            d.update(now)
        if self.collect:
            mode = b.mode
            if moving:
                for agent in self.units:
                    if mode[agent.index] == idle:
                        agent.sync_cell()
            self._snap = (
                now,
                mode.count(idle),
                mode.count(int(Mode.BUSY)),
                mode.count(int(Mode.RETURNING)),
                mode.count(int(Mode.OFF)),
                sim._q_len,
            )
            self.datacollector.collect(self)

    def snapshots(self) -> pd.DataFrame | None:
        """Return the DataCollector's model snapshots (None when collection is off)."""
        if not self.collect:
            return None
        import pandas as pd

        rows = self.datacollector.model_vars["snapshot"]
        return pd.DataFrame(rows, columns=list(SNAPSHOT_COLUMNS))

    def unit_states(self) -> dict[str, Any]:
        """Return ``{unit id: UnitState}`` now."""
        return {a.unit_id: a.state for a in self.units}

    @property
    def presence_by_zone(self) -> NDArray[np.float64]:
        """Return the mean patrolling units per zone over the observed window."""
        total = self.exposure.sum()
        return self.presence.sum(axis=1) / total if total > 0 else np.zeros(len(self.presence))
