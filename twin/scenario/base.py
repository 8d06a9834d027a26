"""Building blocks of the scenario vocabulary: the strict base model, ids and bounded numbers.

Every section of a scenario file is a :class:`Spec`: unknown keys are refused (typos are
caught) and types are strict (``rate_per_hour: true`` or ``"2"`` is an error, not 1.0 or 2.0;
an integer is still accepted where a number is expected). Numbers are finite and bounded where
physics bounds them; the bounds are the named constants below, so the error a user sees and the
JSON Schema both carry them.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

__all__ = [
    "DEFAULT_AGENCY",
    "HOURS_PER_WEEK",
    "MAX_COORD_KM",
    "MAX_MINUTES",
    "MAX_RATE_PER_HOUR",
    "MAX_SPEED_KMH",
    "MIN_SPEED_KMH",
    "AgencyId",
    "Coord",
    "Duration",
    "Finite",
    "Location",
    "Minutes",
    "NonNegative",
    "Positive",
    "Probability",
    "Rate",
    "Spec",
    "Speed",
    "UnitId",
    "ZoneId",
]

HOURS_PER_WEEK = 168
"""Hours in a week: the length of an hour-of-week profile (Monday 00:00 first)."""

DEFAULT_AGENCY = "police"
"""The agency of units without ``agency`` and of zones' ``rate_per_hour``."""

MAX_MINUTES = 10 * 366 * 24 * 60.0
"""Longest duration or simulated time a scenario may name: ten years, in minutes."""

MAX_RATE_PER_HOUR = 100_000.0
"""Most calls (or checkpoint vehicles) per hour one zone (or checkpoint) may have."""

MIN_SPEED_KMH = 1.0
"""Slowest travel speed (km/h); slower than walking is a typo, and it makes every trip last days."""

MAX_SPEED_KMH = 300.0
"""Fastest travel speed (km/h); a helicopter, not a patrol car, is the limit."""

MAX_COORD_KM = 10_000.0
"""Largest coordinate magnitude: plane coordinates are km within 10,000 km of the origin."""

Minutes = float
"""A duration or a simulated time, in minutes."""


def _to_id(value: Any) -> Any:
    """Accept ``id: 1`` in YAML as the id ``"1"`` (planners write numeric ids)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    return value


ZoneId = Annotated[str, BeforeValidator(_to_id), Field(min_length=1)]
"""A zone id as written in the scenario (``"z1"``)."""
UnitId = Annotated[str, BeforeValidator(_to_id), Field(min_length=1)]
"""A unit id as written in the scenario (``"u1"``)."""
AgencyId = Annotated[str, BeforeValidator(_to_id), Field(min_length=1)]
"""An agency id (``police``, ``fire``)."""

Finite = Annotated[float, Field(allow_inf_nan=False)]
"""Any finite number."""
Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
"""A finite number > 0."""
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
"""A finite number >= 0."""
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
"""A probability or share in [0, 1]."""
Duration = Annotated[float, Field(ge=0, le=MAX_MINUTES, allow_inf_nan=False)]
"""Minutes in [0, :data:`MAX_MINUTES`]."""
Rate = Annotated[float, Field(ge=0, le=MAX_RATE_PER_HOUR, allow_inf_nan=False)]
"""Calls (or vehicles) per hour in [0, :data:`MAX_RATE_PER_HOUR`]."""
Speed = Annotated[float, Field(ge=MIN_SPEED_KMH, le=MAX_SPEED_KMH, allow_inf_nan=False)]
"""A travel speed in km/h within [:data:`MIN_SPEED_KMH`, :data:`MAX_SPEED_KMH`]."""
Coord = Annotated[float, Strict(), Field(ge=-MAX_COORD_KM, le=MAX_COORD_KM, allow_inf_nan=False)]
"""One coordinate (km on a plane, degrees on wgs84; the scenario checks the CRS's own range)."""
Location = Annotated[tuple[Coord, Coord], Field(strict=False)]
"""``[x, y]`` in km (``crs: plane``) or ``[lon, lat]`` in degrees (``crs: wgs84``)."""


class Spec(BaseModel):
    """Base of every scenario section: unknown keys are errors, types are strict.

    ``strict`` refuses a boolean or a string where a number is expected and a number where a
    string is expected; an integer is accepted where a float is expected (``horizon: 600``).
    """

    model_config = ConfigDict(extra="forbid", strict=True)
