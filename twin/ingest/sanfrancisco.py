"""San Francisco Fire Department "Calls for Service": per-unit rows -> incidents + unit responses.

One input row is one unit's response to one call. Each valid row becomes a ``unit_responses``
row; each call with at least one valid row becomes one ``incidents`` row:

* ``received`` (and ``event_time``) = the call's ``Received DtTm``;
  ``dispatched``/``enroute``/``onscene`` = the earliest over its valid units (first unit
  dispatched, first en route, first on scene);
  ``cleared`` = the latest ``Available DtTm`` (last unit back in service);
* call-level fields (type, priority, location, battalion, station area) from the unit row that
  comes first in the dispatch sequence;
* ``priority`` from ``Final Priority``: SF's 3 (emergency, lights and sirens) -> 1, 2
  (non-emergency) -> 2; ``priority_raw`` keeps the source value.

Zones: the samples carry no SF zone polygons, so ``zone`` is
``"sanfrancisco:station:<Station Area>"`` (the first-due fire station area) and ``district`` the
``Battalion``; the calibration treats station areas as zones.

Validation is per unit row: missing call number or unit id, unparseable times, a unit's own
lifecycle out of order (received <= dispatch <= response <= on scene <= available; transport and
hospital times are kept as published but not order-checked: they are ambulance-side entries and
often disagree with the unit's available time by seconds), coordinates outside ``ctx.bbox``,
and the same ``(call, unit)`` twice with different content. Accounting is in input rows (one
row counts ok when its unit response landed; its call then lands too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc

from twin.ingest.base import AdapterContext, AdapterOutput, QuarantineReason
from twin.ingest.incidents import _location_lonlat, _text, empty_output, watermark_of
from twin.ingest.readers import read_csv_strings
from twin.ingest.timeconv import parse_times
from twin.ingest.validate import (
    Triage,
    classify_duplicates,
    lifecycle_violations,
    outside_bbox,
    timestamps_to_int,
)
from twin.schemas import INCIDENTS, UNIT_RESPONSES

pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls; use it untyped

__all__ = ["SF_PRIORITY", "SF_TIMES", "sffd_calls"]

SF_TIMES: dict[str, str] = {
    "received": "Received DtTm",
    "dispatched": "Dispatch DtTm",
    "enroute": "Response DtTm",
    "onscene": "On Scene DtTm",
    "transport": "Transport DtTm",
    "hospital": "Hospital DtTm",
    "available": "Available DtTm",
}
"""Canonical unit-response time -> SF column, in lifecycle order."""

SF_PRIORITY: dict[str, int] = {"3": 1, "2": 2, "E": 1, "1": 3}
"""SF priority code -> canonical priority (1 = most urgent)."""

_COLUMNS = (
    "Call Number",
    "Unit ID",
    "Call Type",
    "Call Type Group",
    "Final Priority",
    "Battalion",
    "Station Area",
    "Unit Type",
    "Unit sequence in call dispatch",
    "Location",
    *SF_TIMES.values(),
)
_FORMATS = ("%m/%d/%Y %I:%M:%S %p",)
_CHAIN = ("received", "dispatched", "enroute", "onscene", "available")


def sffd_calls(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SF Fire "Calls for Service" CSV -> incidents + unit_responses.

    Args:
        path: ``sffd_calls_for_service_*.csv[.gz]``.
        ctx: Adapter context (``tz`` America/Los_Angeles; ``zones`` unused).

    Returns:
        ``incidents`` (one per call), ``unit_responses`` (one per unit row) and quarantine.

    """
    raw = read_csv_strings(path, _COLUMNS)
    n = raw.num_rows
    if n == 0:
        return empty_output(("incidents", "unit_responses"))
    triage = Triage(n)
    call = _text(raw, "Call Number", n)
    unit = _text(raw, "Unit ID", n)
    key = pc.binary_join_element_wise(call, unit, "|")
    exact, conflict = classify_duplicates(raw, key)
    triage.duplicates(exact)
    triage.flag(
        np.asarray(pc.is_null(key).to_numpy(zero_copy_only=False), dtype=bool),
        QuarantineReason.MISSING_ID,
        "empty 'Call Number' or 'Unit ID'",
    )
    triage.flag(
        conflict,
        QuarantineReason.CONFLICTING_DUPLICATE,
        "the same call and unit appear with different content; all versions are held back",
    )
    times = {name: parse_times(raw.column(col), _FORMATS, ctx.tz) for name, col in SF_TIMES.items()}
    for name, parsed in times.items():
        col = SF_TIMES[name]

        def detail(idx: npt.NDArray[np.int64], col: str = col) -> list[str]:
            vals = raw.column(col).take(np.asarray(idx)).to_pylist()
            return [f"{col}={v!r} is not a valid time ({_FORMATS[0]})" for v in vals]

        triage.flag(parsed.bad, QuarantineReason.UNPARSEABLE_TIME, detail)
    triage.flag(times["received"].empty, QuarantineReason.MISSING_TIME, "empty 'Received DtTm'")
    lon, lat, bad_loc = _location_lonlat(_text(raw, "Location", n))
    triage.flag(bad_loc, QuarantineReason.UNPARSEABLE_NUMBER, "'Location' is not '(lat, lon)'")
    order = [timestamps_to_int(times[k].utc) for k in _CHAIN]

    def order_detail(idx: npt.NDArray[np.int64]) -> list[str]:
        cols = {
            SF_TIMES[k]: raw.column(SF_TIMES[k]).take(np.asarray(idx)).to_pylist() for k in _CHAIN
        }
        return [
            "unit times run backwards: "
            + ", ".join(f"{c}={v[i]!r}" for c, v in cols.items() if v[i])
            for i in range(len(idx))
        ]

    triage.flag(lifecycle_violations(order), QuarantineReason.LIFECYCLE_ORDER, order_detail)
    outside = outside_bbox(lon, lat, ctx.bbox)
    with np.errstate(invalid="ignore"):
        outside |= (lon == 0.0) & (lat == 0.0)
    triage.flag(outside, QuarantineReason.COORDS_OUTSIDE, f"Location outside {ctx.bbox}")

    ok = pa.array(triage.pending)
    incident_id = pc.binary_join_element_wise(ctx.source, call, ":")
    seq_text = _text(raw, "Unit sequence in call dispatch", n)
    seq_ok = pc.fill_null(pc.match_substring_regex(seq_text, r"^[0-9]{1,4}$"), False)
    sequence = pc.cast(pc.if_else(seq_ok, seq_text, pa.scalar(None, pa.string())), pa.int16())
    station = _text(raw, "Station Area", n)
    battalion = _text(raw, "Battalion", n)
    units = pa.table(
        {
            "incident_id": incident_id,
            "unit_id": unit,
            "source": pa.array([ctx.source] * n, pa.string()),
            "unit_type": _text(raw, "Unit Type", n),
            "sequence": sequence,
            **{k: times[k].utc for k in SF_TIMES},
            "station_area": station,
            "battalion": battalion,
        }
    ).filter(ok)
    units = units.select(UNIT_RESPONSES.names).cast(UNIT_RESPONSES)

    located = np.isfinite(lon) & np.isfinite(lat)
    priority_raw = _text(raw, "Final Priority", n)
    keys = pa.array(list(SF_PRIORITY), pa.string())
    priority = pa.array(list(SF_PRIORITY.values()), pa.int16()).take(
        pc.index_in(priority_raw, value_set=keys)
    )
    zone = pc.binary_join_element_wise("sanfrancisco:station:", station, "")
    per_row = pa.table(
        {
            "incident_id": incident_id,
            "source": pa.array([ctx.source] * n, pa.string()),
            "source_id": call,
            "city": pa.array([ctx.city] * n, pa.string()),
            "agency": pa.array(["fire"] * n, pa.string()),
            "call_type": _text(raw, "Call Type", n),
            "call_group": _text(raw, "Call Type Group", n),
            "priority": priority,
            "priority_raw": priority_raw,
            "event_time": times["received"].utc,
            "received": times["received"].utc,
            "lon": pa.array(lon, pa.float64(), mask=~located),
            "lat": pa.array(lat, pa.float64(), mask=~located),
            "zone": zone,
            "district": battalion,
            "_seq": pc.fill_null(sequence, 32767),
            "_row": pa.array(np.arange(n)),
        }
    ).filter(ok)
    # Call-level fields from the first unit in dispatch order.
    first = per_row.sort_by(
        [("incident_id", "ascending"), ("_seq", "ascending"), ("_row", "ascending")]
    )
    ids_np = np.asarray(first.column("incident_id").to_numpy(zero_copy_only=False))
    is_first = np.ones(len(ids_np), dtype=bool)
    if len(ids_np) > 1:
        is_first[1:] = ids_np[1:] != ids_np[:-1]
    calls = first.filter(pa.array(is_first)).drop_columns(["_seq", "_row"])
    agg = units.group_by("incident_id").aggregate(
        [
            ("dispatched", "min"),
            ("enroute", "min"),
            ("onscene", "min"),
            ("available", "max"),
        ]
    )
    agg = agg.rename_columns(
        {
            "dispatched_min": "dispatched",
            "enroute_min": "enroute",
            "onscene_min": "onscene",
            "available_max": "cleared",
        }
    )
    incidents = calls.join(agg, "incident_id", join_type="left outer")
    incidents = incidents.select(INCIDENTS.names).cast(INCIDENTS).sort_by("incident_id")
    return triage.output(
        {"incidents": incidents, "unit_responses": units},
        triage.quarantine(raw, source=ctx.source, run_id=ctx.run_id, file=str(path)),
        watermark_of(incidents.column("event_time")),
    )
