"""Adapter registry: the names the sync config uses -> adapter functions.

Every adapter has the signature ``(path: Path, ctx: AdapterContext) -> AdapterOutput``
(``twin.ingest.base``). :func:`get_adapter` raises a :class:`~twin.errors.ConfigError` listing
the known names for an unknown one.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

from twin.errors import ConfigError
from twin.ingest.base import Adapter
from twin.ingest.csvdrop import csv_drop
from twin.ingest.jiaxing_districts import jiaxing_districts
from twin.ingest.sanfrancisco import sffd_calls
from twin.ingest.seattle import (
    fremont_counter,
    sdot_cameras,
    seattle_fire_911,
    spd_911_2015,
    spd_911_allbeats,
    spd_avg_response,
    spd_beats,
    spd_call_data,
    spd_precincts,
)
from twin.ingest.socrata import seattle_fire_911_soda

__all__ = [
    "ADAPTERS",
    "NO_RECEIVED_TIME",
    "ROW_GRAIN",
    "TABLES",
    "adapter_names",
    "get_adapter",
    "row_grain",
]

ADAPTERS: Final[dict[str, Adapter]] = {
    "spd_911_2015": spd_911_2015,
    "spd_911_allbeats": spd_911_allbeats,
    "spd_call_data": spd_call_data,
    "seattle_fire_911": seattle_fire_911,
    "seattle_fire_911_soda": seattle_fire_911_soda,
    "sffd_calls": sffd_calls,
    "spd_beats": spd_beats,
    "spd_precincts": spd_precincts,
    "sdot_cameras": sdot_cameras,
    "fremont_counter": fremont_counter,
    "jiaxing_districts": jiaxing_districts,
    "spd_avg_response": spd_avg_response,
    "csv_drop": csv_drop,
}
"""Adapter name -> function."""

TABLES: Final = MappingProxyType(
    {
        "spd_911_2015": ("incidents",),
        "spd_911_allbeats": ("incidents",),
        "spd_call_data": ("incidents",),
        "seattle_fire_911": ("incidents",),
        "seattle_fire_911_soda": ("incidents",),
        "sffd_calls": ("incidents", "unit_responses"),
        "spd_beats": ("zones",),
        "spd_precincts": ("zones",),
        "sdot_cameras": ("devices",),
        "fremont_counter": ("devices", "device_readings"),
        "jiaxing_districts": ("zones",),
        "spd_avg_response": ("response_stats",),
        "csv_drop": ("incidents",),
    }
)
"""Adapter name -> the canonical tables its output holds (always all of them, maybe empty)."""

ROW_GRAIN: Final = MappingProxyType(
    {
        "fremont_counter": ("device_readings", ("device_id", "time")),
        "sffd_calls": ("unit_responses", ("incident_id", "unit_id")),
    }
)
"""Adapter name -> (table, columns) where each landed input row is exactly one distinct value of
those columns in that table (one Fremont row = one hour of one counter, whatever the number of
channels; one SF row = one unit of one call). Other tables of the adapter (the counter's device
row, an SF call's incident row) are derived from those rows. Adapters not listed produce one
table with one record per input row: its key is the grain (see :func:`row_grain`)."""


def row_grain(adapter: str) -> tuple[str, tuple[str, ...]]:
    """Return the (table, columns) that identify an input row of *adapter*'s output.

    The sync counts ``rows_new`` as the distinct values of these columns among new or changed
    records, i.e. input rows whose records were new or changed (``0 <= rows_new <= rows_ok``).

    Args:
        adapter: An adapter name.

    Returns:
        The table and its columns.

    """
    from twin.schemas import KEYS

    if adapter in ROW_GRAIN:
        return ROW_GRAIN[adapter]
    table = TABLES.get(adapter, ("incidents",))[0]
    return table, KEYS[table]


NO_RECEIVED_TIME: Final = frozenset({"spd_911_2015", "spd_911_allbeats"})
"""Adapters whose source has no call-received time (documentation only): their incidents have
``received`` null and ``event_time`` = the at-scene (or clearance) time. Code that needs to know
tests the data (``received IS NULL``), so a renamed source or a CSV drop without a received
column is handled the same way."""


def adapter_names() -> list[str]:
    """Return the known adapter names, sorted."""
    return sorted(ADAPTERS)


def get_adapter(name: str) -> Adapter:
    """Return the adapter called *name*.

    Args:
        name: An adapter name from the sync config.

    Returns:
        The adapter function.

    Raises:
        ConfigError: For an unknown name, listing the known ones.

    """
    try:
        return ADAPTERS[name]
    except KeyError:
        raise ConfigError(
            f"unknown adapter {name!r}; known adapters: {', '.join(adapter_names())}"
        ) from None
