"""The city protocol: what the twin must know about a city, as one small frozen dataclass.

A :class:`City` is facts and two hooks, nothing heavy: importing a city's descriptor loads no
fitter, engine or replay code (those live in the city's ``build`` module, which
:func:`twin.calibrate.calibrate` imports only when the city is calibrated).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

__all__ = ["City", "Scoring", "numeric_priorities"]

Scoring = Literal["replay", "published_means", "none"]
"""How a city's twin is scored against reality (:mod:`twin.fidelity`):

* ``replay``: per call. The held-out days are replayed through the twin and each call's
  simulated dispatch -> on scene is compared with the actual one (needs unit life cycles).
* ``published_means``: per zone x priority class. The twin is simulated with Poisson demand
  and its mean response per zone and class is compared with a published table of averages
  (:attr:`City.response_means` normalises it).
* ``none``: no observed response in the lake (a built city); nothing is scored.
"""


def numeric_priorities(agency: str, priority: pd.Series) -> pd.Series:
    """Return the lake's priorities as scenario levels unchanged (numbers; NaN where missing)."""
    del agency
    return pd.to_numeric(priority, errors="coerce")


@dataclass(frozen=True)
class City:
    """One city of the twin.

    Attributes:
        name: City key in the lake, the sync config and the scenarios (``seattle``).
        title: Display name (``Seattle``).
        tz: IANA time zone of the city's wall clock: the one place the twin reads it from
            (sync, calibration, replay, dashboards).
        bbox: ``(min_lon, min_lat, max_lon, max_lat)`` WGS84; the sync quarantines points
            outside it.
        sources: The sync sources that feed the city (names in the sync config).
        agencies: The agencies the calibration models one by one; the first is what a scenario
            without a ``calibration`` block is taken to be.
        combined: The calibration's default is every agency in one scenario (``agency: all``).
        scoring: How the twin is scored against reality (:data:`Scoring`).
        scored_agency: The agency with observed response (``published_means`` scoring).
        nightly_agency: The agency the nightly loop scores by default (None: not by default).
        priority_levels: ``(agency, lake priorities) -> scenario levels``: how a real call's
            priority becomes the twin's class when its real calls are traced (replay) and
            when demand is fitted.
        response_means: Normalises the city's published response table to ``year, zone_id,
            klass, mean_min`` (``published_means`` scoring), or None.
        models: Model variants its recipe accepts (``twin calibrate`` ``model``; the first is
            the default); the cross-validation compares them and names the one that
            generalises. Empty: one model.

    """

    name: str
    title: str
    tz: str
    bbox: tuple[float, float, float, float]
    sources: tuple[str, ...]
    agencies: tuple[str, ...]
    combined: bool = False
    scoring: Scoring = "replay"
    scored_agency: str | None = None
    nightly_agency: str | None = None
    priority_levels: Callable[[str, pd.Series], pd.Series] = numeric_priorities
    response_means: Callable[[pd.DataFrame], pd.DataFrame] | None = None
    models: tuple[str, ...] = ()

    @property
    def agency_choices(self) -> tuple[str, ...]:
        """Agencies ``twin calibrate --agency`` accepts; the first is the default."""
        return ("all", *self.agencies) if self.combined else self.agencies

    @property
    def default_agency(self) -> str:
        """The agency calibrated when none is asked for."""
        return self.agency_choices[0]

    @property
    def module(self) -> str:
        """The city's package (its calibration recipe is ``<module>.build``)."""
        return f"twin.cities.{self.name}"
