"""Registries: the rules a scenario chooses by name (dispatch, travel, patrol, demand).

Each kind of rule has one :class:`Registry` (``DISPATCH_POLICIES`` in
:mod:`twin.model.dispatch`, ``TRAVEL_MODELS`` in :mod:`twin.model.travel`, ``PATROL_POLICIES``
in :mod:`twin.model.patrol`, ``DEMAND_SOURCES`` in :mod:`twin.model.demand`): name -> the class
(or builder) the engine uses, plus the *theory* that reproduces the rule analytically, or None.
The engine asks a registry what to build; :func:`twin.analytics.analyze` asks it what theory
supports the scenario's rule, and refuses a rule without one by name (no silent fallback).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from twin.errors import ConfigError

__all__ = ["Entry", "Registry"]

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered rule.

    Attributes:
        name: The name a scenario uses.
        rule: The class or builder the engine uses.
        theory: The analytic model that reproduces the rule (None: no theory does).

    """

    name: str
    rule: T
    theory: str | None


class Registry(Generic[T]):
    """Rules of one kind by name.

    Args:
        kind: What the rules are (``dispatch policy``), for messages.
        field: The scenario field that names one (``dispatch.policy``), for messages.

    """

    def __init__(self, kind: str, field: str) -> None:
        self.kind = kind
        self.field = field
        self._entries: dict[str, Entry[T]] = {}

    def register(self, name: str, rule: T, theory: str | None = None) -> T:
        """Register *rule* under *name* (``theory`` defaults to the rule's ``theory`` attribute).

        Raises:
            ValueError: When *name* is taken.

        """
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if theory is None:
            theory = getattr(rule, "theory", None)
        self._entries[name] = Entry(name, rule, theory)
        return rule

    def unregister(self, name: str) -> None:
        """Remove *name* (tests and plug-ins that register temporary rules)."""
        del self._entries[name]

    def entry(self, name: str) -> Entry[T]:
        """Return the entry of *name*.

        Raises:
            ConfigError: When no rule has that name (the message lists the known ones).

        """
        try:
            return self._entries[name]
        except KeyError:
            raise ConfigError(
                f"{self.field}: unknown {self.kind} {name!r}; known: {', '.join(self._entries)}"
            ) from None

    def get(self, name: str) -> T:
        """Return the rule registered as *name* (ConfigError when unknown)."""
        return self.entry(name).rule

    def theory(self, name: str) -> str | None:
        """Return the analytic theory behind *name* (None: none; ConfigError when unknown)."""
        return self.entry(name).theory

    def names(self) -> tuple[str, ...]:
        """Return the registered names in registration order."""
        return tuple(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
