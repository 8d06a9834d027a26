"""Adapters for the Seattle open-data files (SPD, Seattle Fire, SDOT, Fremont counter).

Each adapter is a pure function ``(path, ctx) -> AdapterOutput`` (see ``twin.ingest.base``).

Time zones: SPD files write local wall-clock time (``ctx.tz``, America/Los_Angeles); the Seattle
Fire ``Datetime`` carries an explicit ``+0000`` and really is UTC. Ids are
``"<source>:<source id>"``. The SPD 2015 "at scene" file has no id column: its ids are content
hashes (``twin.ingest.incidents.content_ids``), so its 782 exact duplicate rows share an id and
count as duplicates.

Neither SPD "911 Incident Response" layout has a call-received time: ``received`` stays null and
``event_time`` (the earliest time present) is the at-scene time, or the clearance time when
at-scene is empty. ``twin.ingest.registry.NO_RECEIVED_TIME`` lists them for documentation;
consumers test the data (``received IS NULL``), not the source name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as _pc

from twin.errors import DataError
from twin.ingest.base import AdapterContext, AdapterOutput, QuarantineReason
from twin.ingest.incidents import (
    IncidentSpec,
    build_incidents,
    empty_output,
    watermark_of,
    zone_index,
)
from twin.ingest.readers import check_columns, read_csv_strings, read_json, records_to_table
from twin.ingest.timeconv import parse_times
from twin.ingest.validate import Triage, classify_duplicates, outside_bbox, parse_floats
from twin.ingest.zonefiles import read_features, zones_from_features
from twin.schemas import DEVICE_READINGS, DEVICES, SCHEMAS

pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls; use it untyped

__all__ = [
    "FIRE_SPEC",
    "SPD_2015_SPEC",
    "SPD_ALLBEATS_SPEC",
    "SPD_CALL_DATA_SPEC",
    "fire_call_group",
    "fremont_counter",
    "sdot_cameras",
    "seattle_fire_911",
    "spd_911_2015",
    "spd_911_allbeats",
    "spd_avg_response",
    "spd_beats",
    "spd_call_data",
    "spd_precincts",
]

_FIRE_GROUPS: tuple[tuple[str, str], ...] = (
    ("alarm", r"(?i)alarm|afa|co detector"),
    ("medical", r"(?i)aid|medic|amr|mci|casualty|antib|assault"),
    ("traffic", r"(?i)mvi|motor vehicle"),
    ("fire", r"(?i)fire|burn|smoke|red\b|1red|3red|4red|explosion|stove"),
    ("rescue", r"(?i)rescue|boat|water|elevator"),
    ("hazmat", r"(?i)haz|gas|fuel|spill|odor|wires|electrical|transformer|tranformer"),
)


def fire_call_group(call_type: pa.Array) -> pa.Array:
    """Classify Seattle Fire response types into coarse groups, vectorised.

    Groups: alarm, medical, traffic, fire, rescue, hazmat, other (first match wins, in that
    order; null stays null).

    Args:
        call_type: The ``Type`` strings.

    Returns:
        A string array of groups.

    """
    # Classify the distinct types only (about a hundred), then map back: 1M rows cost one
    # dictionary encoding instead of six regular-expression scans.
    enc = pc.dictionary_encode(call_type)
    kinds = enc.dictionary
    result = pa.nulls(len(kinds), pa.string())
    for name, pattern in _FIRE_GROUPS:
        hit = pc.and_(pc.is_null(result), pc.match_substring_regex(kinds, pattern))
        result = pc.if_else(hit, pa.scalar(name), result)
    result = pc.fill_null(result, "other")
    return result.take(enc.indices)


FIRE_SPEC = IncidentSpec(
    agency="fire",
    columns=("Address", "Type", "Datetime", "Latitude", "Longitude", "Incident Number"),
    id_column="Incident Number",
    times={"received": "Datetime"},
    time_formats=("%m/%d/%Y %I:%M:%S %p %z",),
    time_tz="UTC",
    lon="Longitude",
    lat="Latitude",
    call_type="Type",
    call_group_fn=fire_call_group,
)
"""Seattle Fire "Real Time 911": one row per dispatch, ``Datetime`` in UTC."""

SPD_2015_SPEC = IncidentSpec(
    agency="police",
    columns=(
        "Event.Clearance.Description",
        "Event.Clearance.Group",
        "Longitude",
        "Latitude",
        "Initial.Type.Group",
        "At.Scene.Time",
    ),
    id_column=None,
    times={"onscene": "At.Scene.Time"},
    time_formats=("%m/%d/%y %H:%M", "%m/%d/%Y %H:%M"),
    lon="Longitude",
    lat="Latitude",
    call_type="Event.Clearance.Description",
    call_group="Event.Clearance.Group",
)
"""SPD "911 Incident Response" 2015 extract (dotted columns, at-scene time only, no id)."""

SPD_ALLBEATS_SPEC = IncidentSpec(
    agency="police",
    columns=(
        "CAD Event Number",
        "Event Clearance Description",
        "Event Clearance Group",
        "Event Clearance Date",
        "Longitude",
        "Latitude",
        "At Scene Time",
    ),
    id_column="CAD Event Number",
    times={"onscene": "At Scene Time", "cleared": "Event Clearance Date"},
    time_formats=("%m/%d/%Y %I:%M:%S %p",),
    lon="Longitude",
    lat="Latitude",
    call_type="Event Clearance Description",
    call_group="Event Clearance Group",
)
"""SPD "911 Incident Response", full 19-column layout. Its ``Zone/Beat`` codes are pre-2018
beats, so the zone comes from the point, not from that column."""

SPD_CALL_DATA_SPEC = IncidentSpec(
    agency="police",
    columns=(
        "CAD Event Number",
        "Call Type",
        "Priority",
        "Final Call Type",
        "Original Time Queued",
        "Arrived Time",
        "Beat",
        "Blurred_Longitude",
        "Blurred_Latitude",
    ),
    id_column="CAD Event Number",
    times={"received": "Original Time Queued", "onscene": "Arrived Time"},
    time_formats=("%m/%d/%Y %I:%M:%S %p",),
    lon="Blurred_Longitude",
    lat="Blurred_Latitude",
    call_type="Final Call Type",
    call_group="Call Type",
    priority="Priority",
    zone_code="Beat",
    zone_prefix="seattle:beat:",
)
"""SPD "Call Data" (current CAD export): priority 1-7, ``Call Type`` (911, ONVIEW, ...) as the
call group, zone from the ``Beat`` column (coordinates are blurred), else from the point."""


def _incident_adapter(path: Path, ctx: AdapterContext, spec: IncidentSpec) -> AdapterOutput:
    raw = read_csv_strings(path, spec.columns)
    return build_incidents(raw, spec, ctx, path)


def seattle_fire_911(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """Seattle Fire "Real Time 911" CSV -> incidents (fully vectorised hot path).

    Args:
        path: ``seattle_fire_911_*.csv[.gz]``.
        ctx: Adapter context.

    Returns:
        Incidents and quarantine.

    """
    return _incident_adapter(path, ctx, FIRE_SPEC)


def spd_911_2015(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SPD "911 Incident Response" 2015 at-scene extract -> incidents.

    Args:
        path: ``seattle_spd_911_incident_response_2015_atscene.csv.gz``.
        ctx: Adapter context.

    Returns:
        Incidents (``received`` null, ``event_time`` = at-scene time) and quarantine.

    """
    return _incident_adapter(path, ctx, SPD_2015_SPEC)


def spd_911_allbeats(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SPD "911 Incident Response" full layout -> incidents.

    Args:
        path: ``seattle_spd_911_incident_response_*_allbeats.csv``.
        ctx: Adapter context.

    Returns:
        Incidents (``received`` null, ``event_time`` = at-scene, else clearance
        time) and quarantine.

    """
    return _incident_adapter(path, ctx, SPD_ALLBEATS_SPEC)


def spd_call_data(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SPD "Call Data" CAD export -> incidents.

    Args:
        path: ``spd_call_data_*.csv``.
        ctx: Adapter context.

    Returns:
        Incidents and quarantine.

    """
    return _incident_adapter(path, ctx, SPD_CALL_DATA_SPEC)


# ----------------------------------------------------------------------------- zones


def spd_beats(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SPD beats GeoJSON -> zones of kind ``beat`` (district = precinct; beat 99 quarantined).

    Args:
        path: ``spd_beats_*.geojson``.
        ctx: Adapter context.

    Returns:
        Zones ``"seattle:beat:<beat>"`` and quarantine.

    """
    feats = read_features(path)
    if feats:
        check_columns(path, sorted(feats[0].get("properties") or {}), ["beat", "first_precinct"])
    return zones_from_features(
        path,
        ctx,
        feats,
        kind="beat",
        code_key="beat",
        district_key="first_precinct",
        name_key="sector",
        placeholder={"99"},
    )


def spd_precincts(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SPD precincts GeoJSON -> zones of kind ``precinct``.

    Args:
        path: ``spd_precincts_*.geojson``.
        ctx: Adapter context.

    Returns:
        Zones ``"seattle:precinct:<name>"`` (district = the precinct itself) and quarantine.

    """
    feats = read_features(path)
    if feats:
        check_columns(path, sorted(feats[0].get("properties") or {}), ["name"])
    return zones_from_features(
        path,
        ctx,
        feats,
        kind="precinct",
        code_key="name",
        district_key="name",
        name_key="name",
        placeholder=set(),
    )


# ----------------------------------------------------------------------------- devices

_CAMERA_FIELDS = ("OWNERSHIPCD", "CAMERALABEL", "IMAGEURL", "XPOS", "YPOS")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_") or "camera"


def sdot_cameras(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SDOT traffic camera registry (JSON list) -> devices of kind ``camera``.

    Device id: ``"<city>:camera:<image file stem>"``; when several cameras share an image
    (three WSDOT SR-520 records do), the position is appended to keep ids unique and stable.
    Cameras outside every zone keep a null zone (WSDOT cameras sit on state highways).

    Args:
        path: ``sdot_traffic_cameras_*.json``.
        ctx: Adapter context.

    Returns:
        Devices and quarantine.

    """
    doc = read_json(path)
    if not isinstance(doc, list):
        raise DataError(f"{path}: expected a JSON list of camera records")
    records = [r if isinstance(r, dict) else {} for r in doc]
    found = sorted({k for r in records for k in r})
    if records:
        check_columns(path, found, _CAMERA_FIELDS)
    columns = found or list(_CAMERA_FIELDS)
    raw = records_to_table(records, columns)
    n = raw.num_rows
    if n == 0:
        return empty_output(("devices",))
    triage = Triage(n)
    stems = [
        _slug(Path(str(r.get("IMAGEURL") or "")).stem) if r.get("IMAGEURL") else None
        for r in records
    ]
    lon, bad_lon = parse_floats(raw.column("XPOS"))
    lat, bad_lat = parse_floats(raw.column("YPOS"))
    counts: dict[str, int] = {}
    for s in stems:
        if s is not None:
            counts[s] = counts.get(s, 0) + 1
    ids = [
        None if s is None else (s if counts[s] == 1 else f"{s}@{lat[i]:.5f},{lon[i]:.5f}")
        for i, s in enumerate(stems)
    ]
    key = pa.array(ids, pa.string())
    exact, conflict = classify_duplicates(raw, key)
    triage.duplicates(exact)
    triage.flag(np.array([i is None for i in ids]), QuarantineReason.MISSING_ID, "no IMAGEURL")
    triage.flag(conflict, QuarantineReason.CONFLICTING_DUPLICATE, "camera listed twice")
    triage.flag(bad_lon | bad_lat, QuarantineReason.UNPARSEABLE_NUMBER, "XPOS/YPOS not a number")
    triage.flag(
        outside_bbox(lon, lat, ctx.bbox) | ((lon == 0) & (lat == 0)),
        QuarantineReason.COORDS_OUTSIDE,
        f"camera position outside the city's bounding box {ctx.bbox}",
    )
    located = np.isfinite(lon) & np.isfinite(lat)
    index = zone_index(ctx)
    zone: list[str | None] = [None] * n
    district: list[str | None] = [None] * n
    if index is not None:
        a = index.assign(np.where(located, lon, np.nan), np.where(located, lat, np.nan))
        zone = a.zone.to_pylist()
        district = a.district.to_pylist()
    keep = np.flatnonzero(triage.pending)

    def attrs(r: dict[str, Any]) -> str:
        out = {
            k.lower(): (None if r.get(k) in ("NULL", "") else r.get(k))
            for k in ("OWNERSHIPCD", "IMAGEURL", "VIDEOURL", "WEBURL")
            if k in r
        }
        return json.dumps(out, sort_keys=True)

    table = pa.table(
        {
            "device_id": [f"{ctx.city}:camera:{ids[i]}" for i in keep],
            "source": [ctx.source] * len(keep),
            "city": [ctx.city] * len(keep),
            "kind": ["camera"] * len(keep),
            "name": [records[i].get("CAMERALABEL") for i in keep],
            "lon": pa.array([lon[i] for i in keep], pa.float64(), mask=~located[keep]),
            "lat": pa.array([lat[i] for i in keep], pa.float64(), mask=~located[keep]),
            "zone": [zone[i] for i in keep],
            "district": [district[i] for i in keep],
            "attributes": [attrs(records[i]) for i in keep],
        },
        schema=DEVICES,
    )
    return triage.output(
        {"devices": table},
        triage.quarantine(raw, source=ctx.source, run_id=ctx.run_id, file=str(path)),
    )


_FREMONT_DEFAULT = {"lon": -122.3497, "lat": 47.6476, "name": "Fremont Bridge bicycle counter"}
_CHANNEL_RE = re.compile(r"\b(east|west|north|south|total)\b", re.IGNORECASE)


def fremont_counter(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """Fremont Bridge hourly bicycle counts -> one counter device + hourly readings.

    Channels are found by name, not position: the time column is ``Date`` and every column whose
    name contains East/West/North/South/Total becomes metric ``count_<direction>``. An empty
    count lands as a reading with a null value (the counter reported nothing that hour). The
    file lists one row per *local* hour, including the 02:00 hour that does not exist on
    spring-forward days: those rows are quarantined (``unparseable_time``); the single 01:00 row
    of a fall-back day is read as daylight time (the first 01:00).

    The device position is not in the file: by default the Fremont Bridge (47.6476, -122.3497);
    ``ctx.options`` ``lon``/``lat``/``name``/``device`` override it.

    Args:
        path: ``fremont_bridge_hourly_*.csv[.gz]``.
        ctx: Adapter context.

    Returns:
        ``devices`` (one row) and ``device_readings``, plus quarantine.

    """
    raw = read_csv_strings(path, ["Date"])
    channels = {c: _CHANNEL_RE.search(c) for c in raw.column_names if c != "Date"}
    metrics = {c: f"count_{m.group(1).lower()}" for c, m in channels.items() if m is not None}
    if not metrics or len(set(metrics.values())) != len(metrics):
        raise DataError(
            f"{path}: expected 'Date' plus counter channels named East/West (or North/South, "
            f"Total), one per direction; found columns {raw.column_names}"
        )
    n = raw.num_rows
    device_name = str(ctx.options.get("device", "fremont_bridge"))
    device_id = f"{ctx.city}:counter:{device_name}"
    triage = Triage(n)
    times = parse_times(raw.column("Date"), ("%m/%d/%Y %I:%M:%S %p",), ctx.tz, "null")
    exact, conflict = classify_duplicates(raw, pc.cast(times.utc, pa.string()))
    triage.duplicates(exact)
    triage.flag(times.empty, QuarantineReason.MISSING_TIME, "empty Date")

    def bad_time(idx: np.ndarray) -> list[str]:
        vals = raw.column("Date").take(np.asarray(idx)).to_pylist()
        return [
            f"Date={v!r} is not a valid local time in {ctx.tz}"
            + (" (skipped by the spring-forward DST change)" if times.nonexistent[i] else "")
            for v, i in zip(vals, idx, strict=True)
        ]

    triage.flag(times.bad, QuarantineReason.UNPARSEABLE_TIME, bad_time)
    triage.flag(conflict, QuarantineReason.CONFLICTING_DUPLICATE, "the same hour twice")
    values = {}
    for col in metrics:
        nums, bad = parse_floats(raw.column(col))
        values[col] = nums
        triage.flag(bad, QuarantineReason.UNPARSEABLE_NUMBER, f"{col} is not a number")
    ok = np.flatnonzero(triage.pending)
    okmask = pa.array(triage.pending)
    when = times.utc.filter(okmask)
    parts = []
    for col, metric in metrics.items():
        v = values[col][ok]
        parts.append(
            pa.table(
                {
                    "device_id": pa.array([device_id] * len(ok), pa.string()),
                    "source": pa.array([ctx.source] * len(ok), pa.string()),
                    "time": when,
                    "metric": pa.array([metric] * len(ok), pa.string()),
                    "value": pa.array(v, pa.float64(), mask=np.isnan(v)),
                },
                schema=DEVICE_READINGS,
            )
        )
    readings = pa.concat_tables(parts).sort_by([("time", "ascending"), ("metric", "ascending")])
    lon = float(ctx.options.get("lon", _FREMONT_DEFAULT["lon"]))
    lat = float(ctx.options.get("lat", _FREMONT_DEFAULT["lat"]))
    index = zone_index(ctx)
    zone = district = None
    if index is not None:
        a = index.assign([lon], [lat])
        zone, district = a.zone[0].as_py(), a.district[0].as_py()
    device = pa.table(
        {
            "device_id": [device_id],
            "source": [ctx.source],
            "city": [ctx.city],
            "kind": ["counter"],
            "name": [str(ctx.options.get("name", _FREMONT_DEFAULT["name"]))],
            "lon": [lon],
            "lat": [lat],
            "zone": [zone],
            "district": [district],
            "attributes": [
                json.dumps(
                    {
                        "channels": dict(sorted((m, c) for c, m in metrics.items())),
                        "interval": "1h",
                        "location": "Fremont Bridge (not in the file)",
                    },
                    sort_keys=True,
                )
            ],
        },
        schema=DEVICES,
    )
    return triage.output(
        {"devices": device, "device_readings": readings},
        triage.quarantine(raw, source=ctx.source, run_id=ctx.run_id, file=str(path)),
        watermark_of(when),
    )


# ----------------------------------------------------------------------------- response stats

_BEAT_RE = r"^[A-Z][0-9]$"
_PRIORITY_CLASSES = ("1", "2", "3 & 4", "5+")


def spd_avg_response(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """SPD average response minutes by year x beat x priority class -> ``response_stats``.

    Rows whose beat is not a beat code (one letter and one digit: ``99``, ``CC``, ``DSPVD``...)
    are quarantined as ``placeholder_record``. Beat codes that are not in ``ctx.zones`` (beats
    redrawn since) are kept: their ``zone`` id is still ``"<city>:beat:<code>"``.

    Args:
        path: ``seattle_spd_calldata_avg_response_by_year_beat_priority_*.csv``.
        ctx: Adapter context.

    Returns:
        ``response_stats`` and quarantine.

    """
    cols = ("year", "Beat", "priority", "avg_response_time")
    raw = read_csv_strings(path, cols)
    n = raw.num_rows
    if n == 0:
        return empty_output(("response_stats",))
    triage = Triage(n)
    beat = pc.utf8_trim_whitespace(raw.column("Beat").combine_chunks())
    prio = pc.utf8_trim_whitespace(raw.column("priority").combine_chunks())
    year, bad_year = parse_floats(raw.column("year"))
    minutes, bad_min = parse_floats(raw.column("avg_response_time"))
    key = pc.binary_join_element_wise(raw.column("year").combine_chunks(), beat, prio, "|")
    exact, conflict = classify_duplicates(raw, key)
    triage.duplicates(exact)
    triage.flag(
        np.asarray(pc.equal(beat, "").to_numpy(zero_copy_only=False), dtype=bool),
        QuarantineReason.MISSING_ID,
        "empty Beat",
    )
    triage.flag(
        ~np.asarray(
            pc.match_substring_regex(beat, _BEAT_RE).to_numpy(zero_copy_only=False), dtype=bool
        ),
        QuarantineReason.PLACEHOLDER,
        "Beat is not a patrol beat code (letter + digit)",
    )
    triage.flag(conflict, QuarantineReason.CONFLICTING_DUPLICATE, "year x beat x priority twice")
    triage.flag(
        bad_year | bad_min | np.isnan(year) | np.isnan(minutes) | (minutes < 0),
        QuarantineReason.UNPARSEABLE_NUMBER,
        "year or avg_response_time is not a (non-negative) number",
    )
    triage.flag(
        ~np.asarray(
            pc.is_in(prio, value_set=pa.array(_PRIORITY_CLASSES)).to_numpy(zero_copy_only=False),
            dtype=bool,
        ),
        QuarantineReason.MISSING_VALUE,
        f"priority class not one of {list(_PRIORITY_CLASSES)}",
    )
    ok = pa.array(triage.pending)
    okn = triage.pending
    table = (
        pa.table(
            {
                "source": pa.array([ctx.source] * n, pa.string()),
                "city": pa.array([ctx.city] * n, pa.string()),
                "year": pa.array(np.nan_to_num(year).astype(np.int16)),
                "zone": pc.binary_join_element_wise(f"{ctx.city}:beat:", beat, ""),
                "code": beat,
                "priority_class": prio,
                "avg_response_min": pa.array(minutes, pa.float64()),
            },
        )
        .filter(ok)
        .cast(SCHEMAS["response_stats"])
    )
    del okn
    return triage.output(
        {"response_stats": table},
        triage.quarantine(raw, source=ctx.source, run_id=ctx.run_id, file=str(path)),
    )
