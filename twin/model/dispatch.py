"""Dispatch policies: which free unit answers a call, chosen by name (``dispatch.policy``).

A policy is a small strategy object: :meth:`DispatchPolicy.choose` is called only when the
policy's group (agency) has a free unit and asks the :class:`~twin.model.board.UnitBoard`, which
owns unit state and positions, through its public queries. Policies are registered in
:data:`DISPATCH_POLICIES` with the analytic theory that reproduces them (the hypercube model
with the preference lists :meth:`DispatchPolicy.hypercube_preferences` gives); a policy
without one has ``theory = None`` and :func:`twin.analytics.analyze` refuses it.

* ``closest``: least driving time from where the unit is now (including units on their way
  back to post, and units patrolling away from it); ties to the lowest unit index.
* ``preference``: a fixed ordered list of units per zone, as in Larson's hypercube model.

A call of a class that may pre-empt officer-initiated work (``self_initiated.preempted_by``)
is answered by :meth:`DispatchPolicy.choose_preempting`: the same rule over the free units and
the units on self-initiated work together.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

import numpy as np
from numpy.typing import NDArray

from twin.model.board import UnitBoard
from twin.model.registry import Registry
from twin.scenario import Scenario

__all__ = [
    "DISPATCH_POLICIES",
    "Closest",
    "DispatchPolicy",
    "Preference",
    "build_policy",
]


class DispatchPolicy(Protocol):
    """A dispatch rule: pick one of a group's free units for a call in *zone*."""

    name: ClassVar[str]
    theory: ClassVar[str | None]

    def choose(self, zone: int, now: float) -> int:
        """Return the unit to send (the group has a free unit)."""
        ...

    def choose_preempting(self, zone: int, now: float) -> int:
        """Return the unit to send among free units and units on self-initiated work (-1: none)."""
        ...

    def choose_in(self, zone: int, now: float, district: int) -> int:
        """Return the unit to send among the free units posted in *district* (-1: none)."""
        ...

    def first_choice(self, zone: int) -> int:
        """Return the unit this policy sends to *zone* when every unit is at its post."""
        ...


class DispatchRule(Protocol):
    """What the registry holds: a policy class that builds itself and knows its theory."""

    name: ClassVar[str]
    theory: ClassVar[str | None]

    @classmethod
    def build(cls, scenario: Scenario, board: UnitBoard, group: int) -> DispatchPolicy:
        """Build the policy for *group* (index into ``scenario.agency_ids``)."""
        ...

    @staticmethod
    def hypercube_preferences(scenario: Scenario, travel: NDArray[np.float64]) -> list[list[int]]:
        """Return the preference list per zone the hypercube model uses for this rule."""
        ...


class Closest:
    """Send the free unit with the least driving time from where it is now.

    Args:
        board: The unit board.
        group: The agency whose units this policy sends.

    """

    name: ClassVar[str] = "closest"
    theory: ClassVar[str | None] = (
        "hypercube model, preference lists ordered by driving time from the posts"
    )

    def __init__(self, board: UnitBoard, group: int = 0) -> None:
        self.board = board
        self.group = group
        units = board.members(group)
        n_z = len(board.travel.times)
        self.order = [sorted(units, key=lambda u: (board.post_time(u, z), u)) for z in range(n_z)]
        self._local: dict[tuple[int, int], list[int]] = {}

    @classmethod
    def build(cls, scenario: Scenario, board: UnitBoard, group: int) -> Closest:
        """Build the policy for *group*."""
        return cls(board, group)

    @staticmethod
    def hypercube_preferences(scenario: Scenario, travel: NDArray[np.float64]) -> list[list[int]]:
        """Order units by driving time from their post (stable: ties to the lower index)."""
        return [
            [int(n) for n in np.argsort(travel[:, j], kind="stable")]
            for j in range(travel.shape[1])
        ]

    def choose(self, zone: int, now: float) -> int:
        """Return the closest free unit."""
        return self.board.nearest_free(zone, now, self.order[zone], self.group)

    def choose_preempting(self, zone: int, now: float) -> int:
        """Return the closest unit that is free or on self-initiated work (-1: none)."""
        return self.board.nearest_free_or_self(zone, now, self.order[zone], self.group)

    def choose_in(self, zone: int, now: float, district: int) -> int:
        """Return the closest free unit posted in *district* (-1: none)."""
        key = (zone, district)
        order = self._local.get(key)
        if order is None:
            b = self.board
            order = [u for u in self.order[zone] if b.district_of(u) == district]
            self._local[key] = order
        return self.board.nearest_free_in(zone, now, order, self.group, district)

    def first_choice(self, zone: int) -> int:
        """Return the unit whose post is closest to *zone* (lowest index on ties)."""
        return self.order[zone][0]


class Preference:
    """Send the first free unit on the zone's fixed preference list.

    Args:
        board: The unit board.
        order: Unit indices per zone, most preferred first.

    """

    name: ClassVar[str] = "preference"
    theory: ClassVar[str | None] = "hypercube model with the scenario's preference lists"

    def __init__(self, board: UnitBoard, order: list[list[int]]) -> None:
        self.board = board
        self.order = order

    @classmethod
    def build(cls, scenario: Scenario, board: UnitBoard, group: int) -> Preference:
        """Build the policy for *group* from its agency's ``dispatch.preferences``."""
        agency = scenario.agency_ids[group]
        prefs = scenario.agency_dispatch(agency).preferences or {}
        uidx = {u: i for i, u in enumerate(scenario.unit_ids)}
        mine = set(board.members(group))
        order = [[uidx[u] for u in prefs[z] if uidx[u] in mine] for z in scenario.zone_ids]
        return cls(board, order)

    @staticmethod
    def hypercube_preferences(scenario: Scenario, travel: NDArray[np.float64]) -> list[list[int]]:
        """Return the scenario's preference lists as unit indices."""
        prefs = scenario.dispatch.preferences or {}
        uidx = {u: n for n, u in enumerate(scenario.unit_ids)}
        return [[uidx[u] for u in prefs[z]] for z in scenario.zone_ids]

    def choose(self, zone: int, now: float) -> int:
        """Return the most preferred free unit."""
        u = self.board.first_free(self.order[zone])
        if u < 0:
            raise RuntimeError("choose() called with no free unit")  # pragma: no cover
        return u

    def choose_preempting(self, zone: int, now: float) -> int:
        """Return the most preferred unit that is free or on self-initiated work (-1: none)."""
        return self.board.first_free_or_self(self.order[zone])

    def choose_in(self, zone: int, now: float, district: int) -> int:
        """Return the most preferred free unit posted in *district* (-1: none)."""
        b = self.board
        return b.first_free([u for u in self.order[zone] if b.district_of(u) == district])

    def first_choice(self, zone: int) -> int:
        """Return the head of the zone's preference list."""
        return self.order[zone][0]


DISPATCH_POLICIES: Registry[type[DispatchRule]] = Registry("dispatch policy", "dispatch.policy")
"""Registry: ``dispatch.policy`` name -> policy class (``build``, ``theory``)."""
DISPATCH_POLICIES.register("closest", Closest)
DISPATCH_POLICIES.register("preference", Preference)


def build_policy(scenario: Scenario, board: UnitBoard, group: int = 0) -> DispatchPolicy:
    """Build the dispatch policy the scenario names for agency number *group*.

    The agency's own ``agencies[].dispatch`` applies when it has one, else the top-level
    ``dispatch``.
    """
    agency = scenario.agency_ids[group]
    name = scenario.agency_dispatch(agency).policy
    return DISPATCH_POLICIES.get(name).build(scenario, board, group)
