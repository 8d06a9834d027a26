"""Canonical table schemas of the lake (Arrow), shared by ingest, store and the model.

All times are UTC (``timestamp[us, tz=UTC]``). A lifecycle time a source lacks is null: nothing
is invented. ``incidents.event_time`` is the one time every incident has: the earliest lifecycle
time its source gives (``received``, else ``dispatched``, ``enroute``, ``onscene``, ``cleared``,
the first that is present), so it equals ``received`` whenever the source has it. Sources without
a call-received time (the two SPD "911 Incident Response" layouts) leave ``received`` null and
their ``event_time`` is the at-scene (or clearance) time: count and order incidents by
``event_time``, but measure response times only where ``received`` is not null.
``unit_responses.received`` stays required (San Francisco, the only source, has it on every row).
Ids are source-qualified strings (``"sfd:200983546"``) so that two sources never
collide. ``KEYS`` gives each table's primary key (a record that changed at the source replaces
its older version by key); ``DATE_COLUMN`` gives the column whose UTC date partitions the table
(None: the table is small and not partitioned by date).
"""

from __future__ import annotations

from typing import Any, Final

import pyarrow as pa

__all__ = [
    "DATE_COLUMN",
    "DEVICES",
    "DEVICE_READINGS",
    "INCIDENTS",
    "KEYS",
    "QUARANTINE",
    "RESPONSE_STATS",
    "RUNS",
    "SCHEMAS",
    "UNIT_RESPONSES",
    "UTC_TS",
    "ZONES",
]

UTC_TS: Final = pa.timestamp("us", tz="UTC")


def _schema(fields: list[pa.Field[Any]]) -> pa.Schema:
    # A typed wrapper: pyarrow-stubs infers a list of mixed-type fields as list[object].
    return pa.schema(fields)


INCIDENTS: Final = _schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),  # "<source>:<source id>"
        pa.field("source", pa.string(), nullable=False),
        pa.field("source_id", pa.string(), nullable=False),
        pa.field("city", pa.string(), nullable=False),  # seattle | sanfrancisco | ...
        pa.field("agency", pa.string(), nullable=False),  # police | fire | ems | ...
        pa.field("call_type", pa.string()),
        pa.field("call_group", pa.string()),
        pa.field("priority", pa.int16()),  # 1 = most urgent; null when the source has none
        pa.field("priority_raw", pa.string()),
        pa.field("event_time", UTC_TS, nullable=False),  # earliest lifecycle time present
        pa.field("received", UTC_TS),  # null when the source has no call-received time
        pa.field("dispatched", UTC_TS),
        pa.field("enroute", UTC_TS),
        pa.field("onscene", UTC_TS),
        pa.field("cleared", UTC_TS),
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field("zone", pa.string()),
        pa.field("district", pa.string()),
    ]
)

UNIT_RESPONSES: Final = _schema(
    [
        pa.field("incident_id", pa.string(), nullable=False),
        pa.field("unit_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("unit_type", pa.string()),
        pa.field("sequence", pa.int16()),  # order of the unit in the call's dispatch
        pa.field("received", UTC_TS, nullable=False),
        pa.field("dispatched", UTC_TS),
        pa.field("enroute", UTC_TS),
        pa.field("onscene", UTC_TS),
        pa.field("transport", UTC_TS),
        pa.field("hospital", UTC_TS),
        pa.field("available", UTC_TS),
        pa.field("station_area", pa.string()),
        pa.field("battalion", pa.string()),
    ]
)

ZONES: Final = _schema(
    [
        pa.field("zone_id", pa.string(), nullable=False),  # "<city>:<kind>:<code>"
        pa.field("source", pa.string(), nullable=False),
        pa.field("city", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # beat | precinct | district | ...
        pa.field("code", pa.string(), nullable=False),  # the source's own code ("C3")
        pa.field("district", pa.string()),
        pa.field("name", pa.string()),
        pa.field("geometry", pa.binary(), nullable=False),  # WKB, WGS84 lon/lat
        pa.field("centroid_lon", pa.float64(), nullable=False),
        pa.field("centroid_lat", pa.float64(), nullable=False),
        pa.field("area_km2", pa.float64(), nullable=False),
    ]
)

DEVICES: Final = _schema(
    [
        pa.field("device_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("city", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),  # camera | counter | anpr | gate | ...
        pa.field("name", pa.string()),
        pa.field("lon", pa.float64()),
        pa.field("lat", pa.float64()),
        pa.field("zone", pa.string()),
        pa.field("district", pa.string()),
        pa.field("attributes", pa.string()),  # JSON object
    ]
)

DEVICE_READINGS: Final = _schema(
    [
        pa.field("device_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("time", UTC_TS, nullable=False),
        pa.field("metric", pa.string(), nullable=False),  # count_east | count | heartbeat | ...
        pa.field("value", pa.float64()),
    ]
)

RESPONSE_STATS: Final = _schema(
    [
        # Published aggregate response times (no incident rows behind them in the lake):
        # SPD average minutes by year x beat x priority class, for calibration.
        pa.field("source", pa.string(), nullable=False),
        pa.field("city", pa.string(), nullable=False),
        pa.field("year", pa.int16(), nullable=False),
        pa.field("zone", pa.string(), nullable=False),  # "seattle:beat:C3"
        pa.field("code", pa.string(), nullable=False),  # the source's beat code
        pa.field("priority_class", pa.string(), nullable=False),  # "1" | "2" | "3 & 4" | "5+"
        pa.field("avg_response_min", pa.float64(), nullable=False),
    ]
)

QUARANTINE: Final = _schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("file", pa.string()),
        pa.field("row_number", pa.int64()),  # 1-based data row in the file (header excluded)
        pa.field("raw", pa.string(), nullable=False),  # the raw row as a JSON object
        pa.field("reason", pa.string(), nullable=False),  # machine-readable code
        pa.field("detail", pa.string()),  # human-readable explanation
    ]
)

RUNS: Final = _schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("watermark", pa.string()),
        pa.field("rows_in", pa.int64(), nullable=False),
        pa.field("rows_ok", pa.int64(), nullable=False),
        pa.field("rows_quarantined", pa.int64(), nullable=False),
        pa.field("rows_duplicate", pa.int64(), nullable=False),
        pa.field("rows_new", pa.int64(), nullable=False),
        pa.field("started", UTC_TS, nullable=False),
        pa.field("ended", UTC_TS),
        pa.field("status", pa.string(), nullable=False),  # ok | degraded | failed | interrupted
        pa.field("error", pa.string()),  # why the status is not ok (reasons joined by "; ")
    ]
)

SCHEMAS: Final[dict[str, pa.Schema]] = {
    "incidents": INCIDENTS,
    "unit_responses": UNIT_RESPONSES,
    "zones": ZONES,
    "devices": DEVICES,
    "device_readings": DEVICE_READINGS,
    "response_stats": RESPONSE_STATS,
    "quarantine": QUARANTINE,
    "runs": RUNS,
}

KEYS: Final[dict[str, tuple[str, ...]]] = {
    "incidents": ("incident_id",),
    "unit_responses": ("incident_id", "unit_id"),
    "zones": ("zone_id",),
    "devices": ("device_id",),
    "device_readings": ("device_id", "time", "metric"),
    "response_stats": ("source", "year", "code", "priority_class"),
}

DATE_COLUMN: Final[dict[str, str | None]] = {
    "incidents": "event_time",
    "unit_responses": "received",
    "zones": None,
    "devices": None,
    "device_readings": "time",
    "response_stats": None,
    "quarantine": None,
    "runs": None,
}
