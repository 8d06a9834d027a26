"""Patrol policies: where idle units go between calls, chosen by name (``patrol.policy``).

At each mesa step (every ``patrol.interval_min``) every patrolling unit hops to a zone drawn
uniformly from its *options*: its current zone plus the neighbouring zones the policy allows,
sorted by zone index. One draw per patrolling unit, in unit order, from the ``patrol`` stream.

* ``post``: units wait at their post (no moves, no draws).
* ``area``: a random walk inside the unit's response area; a unit outside it (it answered a
  call elsewhere and came back idle) may jump to any zone of its area.
* ``network``: a random walk over the whole zone network.

The step is array-based: the options of every (area, zone) pair are tabulated once, so a step
is a handful of numpy operations over the units' state and zone arrays, whatever the fleet
size. Units with a single option at their post never move and draw nothing (a bounded draw
over one value consumes no randomness), so only the others are stepped; when only a few of
them patrol, scalar draws are cheaper than one array call. ``Generator.integers`` with an
array of bounds draws exactly what one scalar call per unit would, in the same order, so the
array step, the scalar step and the per-agent step (:meth:`PatrolPolicy.options` + one draw
per agent, kept as the reference in :class:`~twin.model.agents.UnitAgent`) give the same
moves for the same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

import networkx as nx
import numpy as np
from numpy.typing import NDArray

from twin.model.board import UnitBoard, UnitState
from twin.model.registry import Registry

__all__ = [
    "PATROL_POLICIES",
    "AreaPatrol",
    "NetworkPatrol",
    "PatrolPolicy",
    "PostPatrol",
    "build_patrol",
]

_PATROL = int(UnitState.PATROL)
_FEW = 6
"""Up to this many patrolling units, scalar draws beat one array draw (fixed overhead)."""
_SCAN = 32
"""Up to this many mobile units, a Python look at their states beats array indexing."""


class PatrolPolicy(Protocol):
    """A patrol rule over a zone network."""

    name: ClassVar[str]
    moves: ClassVar[bool]

    def options(self, u: int, here: int) -> list[int]:
        """Return the zones unit *u* may hop to from *here* (sorted; *here* included)."""
        ...

    def step(
        self,
        board: UnitBoard,
        rng: np.random.Generator,
        states: NDArray[np.int64],
        zones: NDArray[np.int64],
    ) -> None:
        """Move every patrolling unit one hop (*states*, *zones*: every unit's, e.g. live views)."""
        ...


class PostPatrol:
    """Idle units wait at their post."""

    name: ClassVar[str] = "post"
    moves: ClassVar[bool] = False

    def __init__(
        self, graph: nx.Graph, areas: Sequence[Sequence[int]], posts: Sequence[int]
    ) -> None:
        del graph, areas, posts

    def options(self, u: int, here: int) -> list[int]:
        """Return ``[here]``: a unit at its post stays there."""
        return [here]

    def step(
        self,
        board: UnitBoard,
        rng: np.random.Generator,
        states: NDArray[np.int64],
        zones: NDArray[np.int64],
    ) -> None:
        """Do nothing (no draws)."""


class _RandomWalk:
    """A lazy random walk with tabulated options per (walk table, zone)."""

    name: ClassVar[str] = ""
    moves: ClassVar[bool] = True

    def __init__(
        self, graph: nx.Graph, areas: Sequence[Sequence[int]], posts: Sequence[int]
    ) -> None:
        self._neighbours = [sorted(int(z) for z in graph.neighbors(i)) for i in range(len(graph))]
        self._n_zones = len(graph)
        keys = [self._table_key(a) for a in areas]
        index: dict[tuple[int, ...], int] = {}
        self._table_of = np.asarray([index.setdefault(k, len(index)) for k in keys], dtype=np.int64)
        tables = [[self._zone_options(k, z) for z in range(self._n_zones)] for k in index]
        width = max((len(o) for t in tables for o in t), default=1)
        self._count = np.ones((len(tables), self._n_zones), dtype=np.int64)
        self._opts = np.zeros((len(tables), self._n_zones, width), dtype=np.int64)
        for t, rows in enumerate(tables):
            for z, opts in enumerate(rows):
                self._count[t, z] = len(opts)
                self._opts[t, z, : len(opts)] = opts
        self._lists = tables
        # a unit with one option at its post never leaves it (and draws nothing: a bounded
        # draw over one value consumes no randomness), so only the others are stepped
        post = np.asarray(posts, dtype=np.int64)
        self._mobile = np.flatnonzero(self._count[self._table_of, post] > 1)
        self._mobile_list: list[int] = self._mobile.tolist()
        self._table_list: list[int] = self._table_of.tolist()

    def _table_key(self, area: Sequence[int]) -> tuple[int, ...]:
        return tuple(sorted(set(area)))

    def _zone_options(self, key: tuple[int, ...], here: int) -> list[int]:
        raise NotImplementedError

    def options(self, u: int, here: int) -> list[int]:
        """Return the zones unit *u* may hop to from *here* (sorted; *here* included)."""
        return list(self._lists[int(self._table_of[u])][here])

    def step(
        self,
        board: UnitBoard,
        rng: np.random.Generator,
        states: NDArray[np.int64],
        zones: NDArray[np.int64],
    ) -> None:
        """Move every patrolling unit one hop: one bounded draw each, in unit order.

        *states* and *zones* are the board's stored states and zones before the step (its live
        views); with a few mobile units their states are read from the board directly.
        """
        mobile = self._mobile
        if mobile.size <= _SCAN:  # a few mobile units: look at them one by one
            state = board.live_lists()[1]
            few = [u for u in self._mobile_list if state[u] == _PATROL]
            if not few:
                return
            if len(few) <= _FEW:
                self._step_few(board, rng, few)
                return
            idle = np.asarray(few, dtype=np.int64)
        else:
            idle = mobile[states[mobile] == _PATROL]
            if not idle.size:
                return
            if idle.size <= _FEW:
                self._step_few(board, rng, idle.tolist())
                return
        here = zones[idle]
        table = self._table_of[idle]
        pick = rng.integers(self._count[table, here])
        nxt = self._opts[table, here, pick]
        moved = nxt != here
        if moved.any():
            board.move(idle[moved], nxt[moved])

    def _step_few(self, board: UnitBoard, rng: np.random.Generator, idle: list[int]) -> None:
        """Step a few units with scalar draws (the same draws; cheaper than array calls)."""
        units: list[int] = []
        dest: list[int] = []
        for u in idle:
            here = board.zone_of(u)
            opts = self._lists[self._table_list[u]][here]
            if len(opts) > 1:
                nxt = opts[int(rng.integers(len(opts)))]
                if nxt != here:
                    units.append(u)
                    dest.append(nxt)
        if units:
            board.move(units, dest)


class AreaPatrol(_RandomWalk):
    """A random walk inside each unit's response area."""

    name: ClassVar[str] = "area"

    def _zone_options(self, key: tuple[int, ...], here: int) -> list[int]:
        area = set(key)
        if here not in area:  # head back into the area
            return sorted(area | {here})
        return sorted([z for z in self._neighbours[here] if z in area] + [here])


class NetworkPatrol(_RandomWalk):
    """A random walk over the whole zone network."""

    name: ClassVar[str] = "network"

    def _table_key(self, area: Sequence[int]) -> tuple[int, ...]:
        return ()  # one table for every unit

    def _zone_options(self, key: tuple[int, ...], here: int) -> list[int]:
        return sorted([*self._neighbours[here], here])


PatrolRule = type[PostPatrol] | type[AreaPatrol] | type[NetworkPatrol]

_NOT_MODELLED = "not modelled analytically: presence is null and dispatch is timed from the posts"

PATROL_POLICIES: Registry[PatrolRule] = Registry("patrol policy", "patrol.policy")
"""Registry: ``patrol.policy`` name -> policy class ``(graph, areas, posts)``."""
PATROL_POLICIES.register("post", PostPatrol, theory="exact: units wait at their posts")
PATROL_POLICIES.register("area", AreaPatrol, theory=_NOT_MODELLED)
PATROL_POLICIES.register("network", NetworkPatrol, theory=_NOT_MODELLED)


def build_patrol(
    name: str, graph: nx.Graph, areas: Sequence[Sequence[int]], posts: Sequence[int]
) -> PostPatrol | AreaPatrol | NetworkPatrol:
    """Build the patrol policy *name* over the zone *graph* (zones and post per unit)."""
    return PATROL_POLICIES.get(name)(graph, areas, posts)
