"""Cities: one package per city behind one small protocol (:class:`City`), and their registry.

Each package under ``twin/cities/`` is a city: its ``__init__`` declares the facts
(``CITY``: name, time zone, bounding box, the sync sources that feed it, its agencies, how its
real calls are traced and scored); its ``build`` module holds the calibration recipe, a
function ``calibrate(request) -> Calibration`` that :func:`twin.calibrate.calibrate` imports
only when that city is calibrated. Everything else asks the registry (:func:`get_city`,
:func:`city_of_scenario`) and never branches on a city's name: the sync config takes the time
zone and bounding box from here, the calibration and replay read the time zone and the
priority mapping, fidelity and the nightly loop read the scoring method, the dashboards read the
time zone.

Adding a city (say ``mycity``, a police CAD export dropped as CSV files):

1. ``twin/cities/mycity/__init__.py`` declares the facts::

       CITY = City(name="mycity", title="My City", tz="Europe/Paris",
                   bbox=(2.22, 48.81, 2.47, 48.91), sources=("mycity_beats", "mycity_cad"),
                   agencies=("police",), scoring="replay", nightly_agency="police")

   A city whose priorities need mapping (Seattle's 1-9 onto four classes) passes
   ``priority_levels``; one scored against a published table of average responses sets
   ``scoring="published_means"`` and ``response_means``.
2. ``twin/cities/mycity/build.py`` defines ``calibrate(request)``: it calls
   :func:`twin.calibrate.assemble.prepare` (lake, hold-out, fit report), the city-agnostic
   fitters of :mod:`twin.calibrate` (demand, service, travel, fleet, refine), and
   :func:`twin.calibrate.assemble.finish` (validation, YAML). ``sanfrancisco/build.py`` is the
   template for a city with a per-call life cycle; ``seattle/`` for mean-response tables and
   several agencies in one scenario; ``jiaxing/`` for a city built from public facts.
3. The sync config (``twin/data/sources.yaml``) lists ``- {name: mycity}`` under ``cities``
   (time zone and box come from ``CITY``) and its sources with ``city: mycity`` (a zone file
   and, e.g., a ``csv_drop`` source with a column mapping: no adapter code).

Then ``twin sync``, ``twin calibrate --city mycity``, ``twin replay``, ``twin fidelity`` and
the nightly loop work for it; no other file names the city.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from twin.cities.base import City, Scoring, numeric_priorities
from twin.errors import DataError, TwinError
from twin.scenario import Scenario

__all__ = [
    "CITIES",
    "City",
    "Scoring",
    "city_of_scenario",
    "get_city",
    "numeric_priorities",
    "scenario_agency",
]


def _discover() -> dict[str, City]:
    """Import every city package under ``twin/cities`` and collect its ``CITY``."""
    found: dict[str, City] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not info.ispkg:
            continue  # plain modules here are the protocol, not cities
        city = importlib.import_module(f"{__name__}.{info.name}").CITY
        if not isinstance(city, City) or city.name != info.name:
            raise TwinError(f"twin/cities/{info.name}: CITY must be a City named {info.name!r}")
        found[city.name] = city
    return found


CITIES: dict[str, City] = _discover()
"""Every city of the twin, by name."""


def get_city(name: str) -> City:
    """Return the city called *name*.

    Raises:
        DataError: For an unknown city; the message lists the known ones.

    """
    try:
        return CITIES[name]
    except KeyError:
        raise DataError(f"city {name!r}: unknown; choose one of {sorted(CITIES)}") from None


def _calibration_block(scenario: Scenario) -> dict[str, Any]:
    cal = scenario.calibration
    return cal if isinstance(cal, dict) else {}


def city_of_scenario(scenario: Scenario) -> City:
    """Return the city a scenario models: its ``calibration.city``, else its zone ids' prefix.

    Args:
        scenario: A :class:`~twin.scenario.Scenario`.

    Raises:
        TwinError: When neither names a known city.

    """
    name = _calibration_block(scenario).get("city")
    if not name:
        prefix = scenario.zone_ids[0].split(":", 1)[0]
        name = prefix if prefix in CITIES else None
    if not name or name not in CITIES:
        raise TwinError(
            f"scenario {scenario.name!r}: cannot tell its city (no calibration.city and zone ids "
            "are not '<city>:...'); calibrate it with `twin calibrate` first"
        )
    return CITIES[str(name)]


def scenario_agency(scenario: Scenario) -> str:
    """Return the agency a scenario models (``calibration.agency``, else its city's first)."""
    cal = _calibration_block(scenario)
    if cal.get("city"):
        return str(cal.get("agency") or "")
    return city_of_scenario(scenario).agencies[0]
