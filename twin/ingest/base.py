"""The adapter contract shared by every source.

An adapter is a pure function ``(path, ctx) -> AdapterOutput``: it reads one raw file and
returns canonical tables (``twin.schemas``) plus the rows it rejected, each with a
reason. The store and the sync flow only see this contract.

Accounting (checked by the sync for every source and run)::

    rows_in == rows_ok + rows_quarantined + rows_duplicate

where counts are in *input rows* of the raw file (for San Francisco one input row is one unit
response; its call lands in ``incidents`` once, and the row counts as ok when both landed).
``rows_duplicate`` counts exact duplicates of a row already seen in the same input; a row with
the same id but different content is a *conflicting duplicate* and is quarantined.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

__all__ = ["Adapter", "AdapterContext", "AdapterOutput", "QuarantineReason"]


class QuarantineReason:
    """Machine-readable quarantine reason codes (strings, stable across releases)."""

    MISSING_ID = "missing_id"
    MISSING_TIME = "missing_time"
    UNPARSEABLE_TIME = "unparseable_time"
    LIFECYCLE_ORDER = "lifecycle_out_of_order"
    COORDS_OUTSIDE = "coordinates_outside_city"
    UNPARSEABLE_NUMBER = "unparseable_number"
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    UNKNOWN_ZONE = "unknown_zone"
    MISSING_VALUE = "missing_value"
    INVALID_GEOMETRY = "invalid_geometry"
    PLACEHOLDER = "placeholder_record"


@dataclass(frozen=True)
class AdapterContext:
    """What an adapter may know beyond its file.

    Attributes:
        source: The source name from the sync config (``"seattle_fire_911"``).
        city: The city key (``"seattle"``).
        tz: IANA time zone of the source's local times (``"America/Los_Angeles"``).
        run_id: The sync run id, written into quarantine rows.
        zones: The city's zones table (``ZONES`` schema) for point-in-zone joins, or None.
        bbox: (min_lon, min_lat, max_lon, max_lat) outside of which coordinates are rejected.
        options: Adapter-specific options from the config (e.g. a CSV column mapping).

    """

    source: str
    city: str
    tz: str
    run_id: str
    zones: pa.Table | None = None
    bbox: tuple[float, float, float, float] | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class AdapterOutput:
    """What an adapter returns for one input file.

    Attributes:
        tables: Canonical table name -> rows that landed (schema from ``SCHEMAS``).
        quarantine: Rejected rows (``QUARANTINE`` schema), each with its reason.
        rows_in: Data rows read from the file.
        rows_ok: Input rows that landed.
        rows_quarantined: Input rows rejected.
        rows_duplicate: Exact duplicates dropped (same content, same id).
        watermark: The newest source time seen (ISO 8601 UTC), for incremental pulls.

    """

    tables: dict[str, pa.Table]
    quarantine: pa.Table
    rows_in: int
    rows_ok: int
    rows_quarantined: int
    rows_duplicate: int
    watermark: str | None = None

    def check_accounting(self) -> None:
        """Raise AssertionError unless every input row is accounted for."""
        total = self.rows_ok + self.rows_quarantined + self.rows_duplicate
        if total != self.rows_in:
            raise AssertionError(f"rows_in={self.rows_in} but ok+quarantined+duplicate={total}")


Adapter = Callable[[Path, AdapterContext], AdapterOutput]
