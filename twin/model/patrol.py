"""Patrol policies: where idle units go between calls, chosen by name (``patrol.policy``).

At each mesa step (every ``patrol.interval_min``) every patrolling unit hops to a zone drawn
uniformly from its *options*: its current zone plus the neighbouring zones the policy allows,
sorted by zone index. One draw per patrolling unit, in unit order, from the ``patrol`` stream.

* ``post``: units wait at their post (no moves, no draws).
* ``area``: a random walk inside the unit's response area; a unit outside it (it answered a
  call elsewhere and came back idle) may jump to any zone of its area.
* ``network``: a random walk over the whole zone network.

The options of every (area, zone) pair are tabulated once. Units with a single option at
their post never move and draw nothing (a bounded draw over one value consumes no randomness),
so only the others are stepped. The draws are :class:`BoundedDraws`: numpy's own bounded
integers (``Generator.integers(k)``: Lemire's method on the bit generator's 32-bit outputs,
low half of each 64-bit word first) computed in Python from ``random_raw``, the same numbers
in the same order. In a running twin, where numpy's code is cold between mesa steps, one
``integers`` call cost about 27 us against about 1 us for these; ``Generator.integers`` with
an array of bounds draws the same numbers too, so the per-agent step (:meth:`PatrolPolicy.options`
+ one ``integers`` call per agent, kept as the reference in
:class:`~twin.model.agents.UnitAgent`) gives the same moves for the same seed.
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
    "BoundedDraws",
    "NetworkPatrol",
    "PatrolPolicy",
    "PostPatrol",
    "build_patrol",
]

_PATROL = int(UnitState.PATROL)
_U32 = 0xFFFFFFFF
_SCAN = 32
"""Up to this many mobile units, a Python look at their states beats array indexing."""


class BoundedDraws:
    """numpy's ``Generator.integers(k)`` for the patrol stream, in Python (same numbers).

    numpy draws an integer in ``[0, k)`` (``1 <= k < 2**32``) with Lemire's method on the bit
    generator's 32-bit outputs, which split each 64-bit word low half first and keep the
    high half for the next draw; ``k == 1`` draws nothing. This does the same from
    ``random_raw`` (a plain call on the bit generator), keeping the high half itself: the
    stream must then be read only through this object (the patrol steps' only reader).

    Args:
        rng: The generator whose bit generator is read.

    """

    __slots__ = ("_half", "_has_half", "_raw")

    def __init__(self, rng: np.random.Generator) -> None:
        self._raw = rng.bit_generator.random_raw
        self._has_half = False
        self._half = 0

    def _next32(self) -> int:
        if self._has_half:
            self._has_half = False
            return self._half
        word: int = self._raw()
        self._has_half = True
        self._half = word >> 32
        return word & _U32

    def below(self, k: int) -> int:
        """Return an integer in ``[0, k)``, exactly as ``Generator.integers(k)`` would."""
        if k <= 1:
            return 0
        if k > _U32:
            raise ValueError(f"bound {k} out of range for 32-bit draws")
        m = self._next32() * k
        low = m & _U32
        if low < k:
            threshold = (_U32 - (k - 1)) % k
            while low < threshold:
                m = self._next32() * k
                low = m & _U32
        return m >> 32


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
        self._lists = tables
        # a unit with one option at its post never leaves it (and draws nothing: a bounded
        # draw over one value consumes no randomness), so only the others are stepped
        table_list = self._table_of.tolist()
        self._mobile = np.asarray(
            [u for u, p in enumerate(posts) if len(tables[table_list[u]][p]) > 1], dtype=np.int64
        )
        self._mobile_list: list[int] = self._mobile.tolist()
        self._draws: BoundedDraws | None = None
        self._draws_rng: np.random.Generator | None = None
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
            idle = [u for u in self._mobile_list if state[u] == _PATROL]
        else:
            idle = mobile[states[mobile] == _PATROL].tolist()
        if not idle:
            return
        if self._draws_rng is not rng:
            self._draws = BoundedDraws(rng)
            self._draws_rng = rng
        below = self._draws.below  # type: ignore[union-attr]
        zone = board.live_lists()[3]
        lists, table = self._lists, self._table_list
        units: list[int] = []
        dest: list[int] = []
        for u in idle:
            here = zone[u]
            opts = lists[table[u]][here]
            if len(opts) > 1:
                nxt = opts[below(len(opts))]
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
