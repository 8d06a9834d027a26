"""Reading one city's canonical tables from the lake, and splitting off held-out days.

The calibration reads the lake only through its DuckDB views (:meth:`twin.store.Lake.connect`):
``incidents``, ``unit_responses``, ``zones`` and, when the Seattle response table was synced,
``response_stats``. Everything downstream works on the pandas frames of :class:`CityData`.

Incident times: ``event_time`` (never null) places a call in time (days, arrivals);
``received`` is null where the source has no call-received time (the SPD "911 Incident
Response" layouts), and durations measured from it exist only where it is not null.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from twin.cities import CITIES, get_city
from twin.errors import DataError
from twin.store import Lake

__all__ = [
    "CityData",
    "default_holdout",
    "first_units",
    "load_city",
    "local_dates",
    "parse_date",
    "split_days",
]

_TS_COLS = (
    "event_time",
    "received",
    "dispatched",
    "enroute",
    "onscene",
    "cleared",
    "transport",
    "hospital",
    "available",
)


@dataclass(frozen=True)
class CityData:
    """One city's canonical tables (pandas, timestamps tz-aware UTC).

    Attributes:
        city: City key.
        tz: IANA time zone.
        incidents: ``incidents`` rows of the city.
        unit_responses: ``unit_responses`` rows of the city's incidents.
        zones: ``zones`` rows of the city (without geometry).
        response_stats: The synced average-response table (Seattle), or None.
        lake_version: The lake commit read.

    """

    city: str
    tz: str
    incidents: pd.DataFrame
    unit_responses: pd.DataFrame
    zones: pd.DataFrame
    response_stats: pd.DataFrame | None
    lake_version: int


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    for col in _TS_COLS:
        if col in frame.columns:
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def load_city(lake_dir: Path | str, city: str) -> CityData:
    """Read one city's tables from the lake.

    Args:
        lake_dir: The lake directory.
        city: City key (one of :data:`twin.cities.CITIES`; its time zone comes from there).

    Returns:
        The :class:`CityData`.

    Raises:
        DataError: When the lake is missing or empty, or holds no incidents of the city.

    """
    root = Path(lake_dir)
    lake = Lake(root)
    if not root.exists() or lake.version == 0:
        raise DataError(
            f"{root}: the lake is empty or missing; run `twin sync --lake {root}` first"
        )
    if city not in CITIES:
        raise DataError(
            f"city {city!r}: unknown to the calibration; choose one of {sorted(CITIES)}"
        )
    version = lake.version
    read = ("incidents", "unit_responses", "zones", "response_stats")
    key = (
        str(root.resolve()),
        city,
        version,
        tuple(str(f) for t in read for f in lake.files(t)),  # content-named files
    )
    if key in _READ:
        _READ.move_to_end(key)
        return _copy(_READ[key])
    con = lake.connect()
    try:
        inc = con.execute("SELECT * FROM incidents WHERE city = ?", [city]).df()
        if inc.empty:
            found = [r[0] for r in con.execute("SELECT DISTINCT city FROM incidents").fetchall()]
            raise DataError(
                f"{root}: no incidents of city {city!r} in the lake (cities found: "
                f"{sorted(found) or 'none'}); sync that city's sources first"
            )
        units = con.execute(
            "SELECT u.* FROM unit_responses u SEMI JOIN "
            "(SELECT incident_id FROM incidents WHERE city = ?) i USING (incident_id)",
            [city],
        ).df()
        zones = con.execute("SELECT * EXCLUDE (geometry) FROM zones WHERE city = ?", [city]).df()
        stats: pd.DataFrame | None = None
        if "response_stats" in lake.tables():
            stats = con.execute("SELECT * FROM response_stats").df()
            if "city" in stats.columns:
                stats = stats.loc[stats["city"] == city].reset_index(drop=True)
            if stats.empty:
                stats = None
    finally:
        con.close()
    data = CityData(
        city=city,
        tz=get_city(city).tz,
        incidents=_utc(inc),
        unit_responses=_utc(units),
        zones=zones,
        response_stats=stats,
        lake_version=version,
    )
    _READ[key] = data
    while len(_READ) > _READ_SIZE:
        _READ.popitem(last=False)
    return _copy(data)


_READ: OrderedDict[tuple[str, str, int, tuple[str, ...]], CityData] = OrderedDict()
"""The last cities read, by (lake directory, city, lake version, the files read): a
cross-validation calibrates the same city ten times from one lake version. A commit changes
the version and the files, so a sync is always seen; callers get copies, so nothing they
change leaks into the next one."""

_READ_SIZE = 4


def _copy(data: CityData) -> CityData:
    return replace(
        data,
        incidents=data.incidents.copy(),
        unit_responses=data.unit_responses.copy(),
        zones=data.zones.copy(),
        response_stats=None if data.response_stats is None else data.response_stats.copy(),
    )


def parse_date(value: str | date | None, what: str) -> date | None:
    """Parse ``YYYY-MM-DD`` (None passes through).

    Raises:
        DataError: When the text is not a date; the message names *what*.

    """
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"{what}: {value!r} is not a date like 2020-04-18") from None


def local_dates(times: pd.Series, tz: str) -> pd.Series:
    """Return the local calendar date of UTC timestamps."""
    return pd.to_datetime(times, utc=True).dt.tz_convert(tz).dt.date


def default_holdout(dates: pd.Series, share: float = 0.2) -> tuple[date, date] | None:
    """Return the last ``share`` of observed days (at least one), or None under 5 days.

    Args:
        dates: Local dates of the incidents.
        share: Fraction of observed days to hold out.

    Returns:
        ``(first, last)`` held-out date (inclusive), or None when the data are too short.

    """
    days = sorted(set(dates.dropna()))
    if len(days) < 5:
        return None
    k = max(1, math.ceil(len(days) * share))
    return days[-k], days[-1]


def split_days(data: CityData, start: date | None, end: date | None) -> tuple[CityData, CityData]:
    """Split the incidents (and their unit responses) into (outside, inside) a date window.

    Days are the local dates of ``event_time`` (every incident has one; ``received`` is null for
    sources without a call-received time).

    Args:
        data: The city's tables.
        start: First local date of the window (inclusive); None: no window.
        end: Last local date of the window (inclusive).

    Returns:
        ``(fit, held_out)``; with no window the first is *data* and the second has no rows.

    """
    if start is None or end is None:
        return data, replace(
            data, incidents=data.incidents.iloc[0:0], unit_responses=data.unit_responses.iloc[0:0]
        )
    d = local_dates(data.incidents["event_time"], data.tz)
    inside = (d >= start) & (d <= end)
    ids_in = set(data.incidents.loc[inside, "incident_id"])
    u_in = data.unit_responses["incident_id"].isin(ids_in)
    fit = replace(
        data,
        incidents=data.incidents.loc[~inside].reset_index(drop=True),
        unit_responses=data.unit_responses.loc[~u_in].reset_index(drop=True),
    )
    held = replace(
        data,
        incidents=data.incidents.loc[inside].reset_index(drop=True),
        unit_responses=data.unit_responses.loc[u_in].reset_index(drop=True),
    )
    return fit, held


def day_after(d: date) -> date:
    """Return the next calendar day."""
    return d + timedelta(days=1)


def first_units(units: pd.DataFrame) -> pd.DataFrame:
    """Return each call's first dispatched unit (lowest ``sequence``, then earliest dispatch)."""
    if units.empty:
        return units
    u = units.sort_values(["incident_id", "sequence", "dispatched"], na_position="last")
    return u.drop_duplicates("incident_id", keep="first").reset_index(drop=True)
