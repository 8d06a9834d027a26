"""The shared incident pipeline: raw string table -> validated ``incidents`` rows.

Each incident source is described by an :class:`IncidentSpec` (which raw column holds the id, the
times and their format, the coordinates, the call type, the priority, the zone code) and runs
through :func:`build_incidents`, which does every step in bulk:

1. id (or a content hash for sources without one), exact/conflicting duplicates;
2. times parsed and converted to UTC (``twin.ingest.timeconv``);
3. coordinates parsed, checked against ``ctx.bbox``;
4. zone from the source's own zone code when it names a known zone, else from the point
   (``twin.ingest.spatial``, snapping to a zone within :data:`DEFAULT_SNAP_M` metres, option
   ``zone_snap_m``); points inside the city box but in no zone are quarantined as
   ``unknown_zone`` when ``spec.require_zone`` (police/fire calls are inside the city), and kept
   with a null zone otherwise;
5. the triage order of ``twin.ingest.validate``.

Every incident gets ``event_time``, the earliest lifecycle time present (:data:`LIFECYCLE`
order; the order check makes the first present time the earliest), so it equals ``received``
whenever the source has one. Sources that have no "received" time (the two SPD "911 Incident
Response" layouts) leave ``received`` null: their ``event_time`` is the at-scene (or clearance)
time, and response-time analyses find them by ``received IS NULL``. A source that maps a
``received`` column requires it on every row (``missing_time`` otherwise); a source without one
requires at least one lifecycle time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc

from twin.ingest.base import AdapterContext, AdapterOutput, QuarantineReason
from twin.ingest.spatial import ZoneIndex
from twin.ingest.timeconv import Nonexistent, ParsedTimes, parse_times
from twin.ingest.validate import (
    Triage,
    as_array,
    blank_to_null,
    classify_duplicates,
    empty_mask,
    lifecycle_violations,
    outside_bbox,
    parse_floats,
    timestamps_to_int,
)
from twin.schemas import INCIDENTS, QUARANTINE, SCHEMAS

pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls; use it untyped

__all__ = [
    "DEFAULT_SNAP_M",
    "LIFECYCLE",
    "IncidentSpec",
    "build_incidents",
    "content_ids",
    "empty_output",
    "merge_outputs",
    "pick_zone_kind",
    "watermark_of",
    "zone_index",
]

DEFAULT_SNAP_M = 150.0
"""Incident points within this many metres of a zone take the nearest zone (see ``spatial``)."""

LIFECYCLE: tuple[str, ...] = ("received", "dispatched", "enroute", "onscene", "cleared")
"""Canonical lifecycle columns of ``incidents``, in the order they must not run backwards."""


@dataclass(frozen=True)
class IncidentSpec:
    """How one source's raw columns map to canonical incident fields.

    Attributes:
        agency: ``police``, ``fire``, ``ems``, ...
        columns: Raw columns the file must have (checked before parsing).
        id_column: Raw column with the source's id; None derives a content hash id.
        times: Canonical lifecycle name -> raw column.
        time_formats: ``strptime`` formats tried in order (see ``twin.ingest.timeconv``).
        time_tz: Zone of the times when it differs from ``ctx.tz`` (e.g. ``"UTC"``).
        nonexistent: DST-gap policy for local times.
        lon: Raw longitude column.
        lat: Raw latitude column.
        location: Raw ``"(lat, lon)"`` text column, used where lon/lat are absent.
        call_type: Raw call-type column.
        call_group: Raw call-group column.
        call_group_fn: Derives the call group from the call type when there is no column.
        priority: Raw priority column.
        priority_map: Raw priority text -> canonical priority (1 = most urgent); None reads
            integers as they are.
        zone_code: Raw column with the source's own zone code (e.g. the beat ``"C3"``).
        zone_prefix: Prefix that makes a zone id from that code (``"seattle:beat:"``).
        require_zone: Quarantine located rows that fall in no zone (``unknown_zone``).
        zero_is_missing: Treat coordinates ``0, 0`` as outside the city (always true for
            Seattle data: they are a "no location" marker, not a place).
        id_prefix: Prefix of ``incident_id`` (``"<prefix>:<source id>"``); default the source
            name.

    """

    agency: str
    columns: tuple[str, ...]
    id_column: str | None
    times: Mapping[str, str]
    time_formats: tuple[str, ...]
    time_tz: str | None = None
    nonexistent: Nonexistent = "shift_forward"
    lon: str | None = None
    lat: str | None = None
    location: str | None = None
    call_type: str | None = None
    call_group: str | None = None
    call_group_fn: Callable[[pa.Array], pa.Array] | None = None
    priority: str | None = None
    priority_map: Mapping[str, int] | None = None
    zone_code: str | None = None
    zone_prefix: str = ""
    require_zone: bool = True
    zero_is_missing: bool = True
    id_prefix: str | None = None


def empty_output(tables: Sequence[str] = ("incidents",)) -> AdapterOutput:
    """Return an output with no rows (for an empty input)."""
    return AdapterOutput(
        tables={t: SCHEMAS[t].empty_table() for t in tables},
        quarantine=QUARANTINE.empty_table(),
        rows_in=0,
        rows_ok=0,
        rows_quarantined=0,
        rows_duplicate=0,
    )


def merge_outputs(outputs: Sequence[AdapterOutput]) -> AdapterOutput:
    """Concatenate the outputs of several input files of one source.

    Args:
        outputs: Per-file outputs.

    Returns:
        One output with summed counts, concatenated tables and the newest watermark.

    """
    if not outputs:
        return empty_output()
    names = sorted({t for o in outputs for t in o.tables})
    tables = {
        t: pa.concat_tables([o.tables[t] for o in outputs if t in o.tables]).combine_chunks()
        for t in names
    }
    marks = [o.watermark for o in outputs if o.watermark]
    return AdapterOutput(
        tables=tables,
        quarantine=pa.concat_tables([o.quarantine for o in outputs]),
        rows_in=sum(o.rows_in for o in outputs),
        rows_ok=sum(o.rows_ok for o in outputs),
        rows_quarantined=sum(o.rows_quarantined for o in outputs),
        rows_duplicate=sum(o.rows_duplicate for o in outputs),
        watermark=max(marks) if marks else None,
    )


def watermark_of(ts: pa.Array | pa.ChunkedArray) -> str | None:
    """Return the newest timestamp as ISO 8601 UTC (``2016-02-29T23:59:00Z``), or None."""
    if len(ts) == 0 or ts.null_count == len(ts):
        return None
    newest = pc.max(ts).as_py()
    if newest is None:
        return None
    return str(newest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))


def content_ids(raw: pa.Table) -> pa.Array:
    """Derive a stable id from each row's content (for sources that publish no id).

    The id is the first 16 hex digits of the SHA-1 of the row's cells joined by a unit
    separator; exact duplicate rows therefore share an id.

    Args:
        raw: The raw all-string rows.

    Returns:
        A string array of ids.

    """
    if raw.num_rows == 0:
        return pa.array([], pa.string())
    cols = [pc.cast(raw.column(i), pa.string()) for i in range(raw.num_columns)]
    joined = pc.binary_join_element_wise(*cols, "\x1f")
    return pa.array(
        [hashlib.sha1(s.encode("utf-8")).hexdigest()[:16] for s in joined.to_pylist()],
        pa.string(),
    )


_INDEX_CACHE: dict[tuple[int, str | None], tuple[pa.Table, ZoneIndex]] = {}
_KIND_PREFERENCE = ("beat", "station", "district", "precinct")


def pick_zone_kind(zones: pa.Table, wanted: str | None = None) -> str | None:
    """Return the zone kind points are joined to when *zones* mixes several kinds.

    Args:
        zones: A ``ZONES`` table (one city, maybe beats and precincts together).
        wanted: An explicit kind (``ctx.options["zone_kind"]``), used when given.

    Returns:
        *wanted*, else the finest kind present (beat, station, district, precinct), else the
        most common kind; None for an empty table.

    """
    if wanted:
        return wanted
    kinds = (
        [str(k) for k in zones.column("kind").to_pylist()] if "kind" in zones.column_names else []
    )
    if not kinds:
        return None
    for kind in _KIND_PREFERENCE:
        if kind in kinds:
            return kind
    return max(sorted(set(kinds)), key=kinds.count)


def zone_index(ctx: AdapterContext) -> ZoneIndex | None:
    """Return the spatial index of ``ctx.zones`` (cached per zones table), or None.

    Only one kind of zone is indexed (:func:`pick_zone_kind`; ``ctx.options["zone_kind"]``
    overrides), so a city table holding beats *and* precincts joins points to beats.
    """
    if ctx.zones is None or ctx.zones.num_rows == 0:
        return None
    kind = pick_zone_kind(ctx.zones, ctx.options.get("zone_kind"))
    key = (id(ctx.zones), kind)
    hit = _INDEX_CACHE.get(key)
    if hit is not None and hit[0] is ctx.zones:
        return hit[1]
    zones = ctx.zones
    if kind is not None and "kind" in zones.column_names:
        zones = zones.filter(pc.equal(zones.column("kind"), kind))
    if zones.num_rows == 0:
        return None
    index = ZoneIndex(zones)
    if len(_INDEX_CACHE) > 8:
        _INDEX_CACHE.clear()
    _INDEX_CACHE[key] = (ctx.zones, index)
    return index


def _text(raw: pa.Table, column: str | None, n: int) -> pa.Array:
    if column is None:
        return pa.nulls(n, pa.string())
    return blank_to_null(raw.column(column))


def _location_lonlat(
    values: pa.Array,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    parts = pc.extract_regex(
        pc.fill_null(values, ""),
        r"^\s*\(?\s*(?P<lat>[-+0-9.eE]+)\s*,\s*(?P<lon>[-+0-9.eE]+)\s*\)?\s*$",
    )
    lat, bad_lat = parse_floats(pc.struct_field(parts, "lat"))
    lon, bad_lon = parse_floats(pc.struct_field(parts, "lon"))
    unmatched = np.asarray(parts.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    bad = (unmatched & ~empty_mask(values)) | bad_lat | bad_lon
    return lon, lat, bad


def _priority(raw_priority: pa.Array, mapping: Mapping[str, int] | None) -> pa.Array:
    if mapping is None:
        ok = pc.fill_null(pc.match_substring_regex(raw_priority, r"^[0-9]{1,4}$"), False)
        text = pc.if_else(ok, raw_priority, pa.scalar(None, pa.string()))
        return pc.cast(text, pa.int16())
    keys = pa.array(list(mapping.keys()), pa.string())
    vals = pa.array(list(mapping.values()), pa.int16())
    pos = pc.index_in(raw_priority, value_set=keys)
    return vals.take(pos)


def _fmt_times(times: dict[str, pa.Array], names: Sequence[str]) -> Callable[..., list[str]]:
    def detail(idx: npt.NDArray[np.int64]) -> list[str]:
        take = np.asarray(idx)
        cols = {k: times[k].take(take).to_pylist() for k in names if k in times}
        out = []
        for i in range(len(idx)):
            parts = [f"{k}={v[i]:%Y-%m-%dT%H:%M:%SZ}" for k, v in cols.items() if v[i] is not None]
            out.append("lifecycle times run backwards: " + ", ".join(parts))
        return out

    return detail


def build_incidents(
    raw: pa.Table,
    spec: IncidentSpec,
    ctx: AdapterContext,
    file: Path | str | None,
    row_numbers: npt.NDArray[np.int64] | None = None,
) -> AdapterOutput:
    """Validate raw rows of one incident source and build canonical ``incidents`` rows.

    Args:
        raw: All-string rows with at least ``spec.columns``.
        spec: The source's column mapping.
        ctx: Adapter context (source name, city, time zone, zones, bbox, run id).
        file: The input file or URL (written into quarantine rows).
        row_numbers: 1-based row numbers of *raw* in the file; default ``index + 1``.

    Returns:
        The adapter output with ``incidents`` and the quarantine.

    """
    n = raw.num_rows
    if n == 0:
        return empty_output()
    triage = Triage(n)
    tz = spec.time_tz or ctx.tz

    # 1. ids and duplicates
    if spec.id_column is None:
        source_id = content_ids(raw)
    else:
        source_id = _text(raw, spec.id_column, n)
    exact, conflict = classify_duplicates(raw, source_id)
    triage.duplicates(exact)
    missing_id = np.asarray(source_id.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    triage.flag(missing_id, QuarantineReason.MISSING_ID, f"empty id column {spec.id_column!r}")
    triage.flag(
        conflict,
        QuarantineReason.CONFLICTING_DUPLICATE,
        f"the same {spec.id_column!r} appears with different content in this input; "
        "all versions are held back",
    )

    # 2. times
    parsed: dict[str, ParsedTimes] = {
        name: parse_times(raw.column(col), spec.time_formats, tz, spec.nonexistent)
        for name, col in spec.times.items()
    }
    for name, p in parsed.items():
        col = spec.times[name]
        values = raw.column(col)

        def bad_detail(
            idx: npt.NDArray[np.int64], values: pa.ChunkedArray = values, col: str = col
        ) -> list[str]:
            vals = values.take(np.asarray(idx)).to_pylist()
            return [
                f"{col}={v!r} is not a valid time (formats {list(spec.time_formats)}, "
                f"zone {tz}; local times skipped by a DST change are invalid for this source)"
                for v in vals
            ]

        triage.flag(p.bad, QuarantineReason.UNPARSEABLE_TIME, bad_detail)
    times: dict[str, pa.Array] = {name: p.utc for name, p in parsed.items()}
    present = [times[name] for name in LIFECYCLE if name in times]
    event_time = (
        pc.coalesce(*present) if present else pa.nulls(n, INCIDENTS.field("event_time").type)
    )
    required = times["received"] if "received" in times else event_time
    triage.flag(
        np.asarray(required.is_null().to_numpy(zero_copy_only=False), dtype=bool),
        QuarantineReason.MISSING_TIME,
        f"no received time (column {spec.times['received']!r} is empty)"
        if "received" in times
        else f"no lifecycle time (columns {list(spec.times.values())!r} are all empty)",
    )

    # 3. coordinates
    if spec.lon is not None and spec.lat is not None:
        lon, bad_lon = parse_floats(raw.column(spec.lon))
        lat, bad_lat = parse_floats(raw.column(spec.lat))
        bad_coord = bad_lon | bad_lat
    elif spec.location is not None:
        lon, lat, bad_coord = _location_lonlat(_text(raw, spec.location, n))
    else:
        lon = np.full(n, np.nan)
        lat = np.full(n, np.nan)
        bad_coord = np.zeros(n, dtype=bool)
    triage.flag(
        bad_coord,
        QuarantineReason.UNPARSEABLE_NUMBER,
        "longitude/latitude is not a number",
    )

    # 4. lifecycle order
    order = [timestamps_to_int(times[name]) for name in LIFECYCLE if name in times]
    if len(order) > 1:
        triage.flag(
            lifecycle_violations(order),
            QuarantineReason.LIFECYCLE_ORDER,
            _fmt_times(times, LIFECYCLE),
        )

    # 5. bbox
    outside = outside_bbox(lon, lat, ctx.bbox)
    if spec.zero_is_missing:
        with np.errstate(invalid="ignore"):
            outside |= (lon == 0.0) & (lat == 0.0)

    def coord_detail(idx: npt.NDArray[np.int64]) -> list[str]:
        return [f"({lon[i]}, {lat[i]}) is outside the city's bounding box {ctx.bbox}" for i in idx]

    triage.flag(outside, QuarantineReason.COORDS_OUTSIDE, coord_detail)

    # 6. zones (positions into the index's zone list; one small-array take at the end)
    index = zone_index(ctx)
    located = np.isfinite(lon) & np.isfinite(lat)
    zpos: npt.NDArray[np.int64] | None = None
    if index is not None:
        zone_ids = pa.array(index.zone_ids, pa.string())
        zpos = np.full(n, -1, dtype=np.int64)
        if spec.zone_code is not None:
            code = _text(raw, spec.zone_code, n)
            from_code = pc.index_in(
                pc.binary_join_element_wise(spec.zone_prefix, code, ""), value_set=zone_ids
            )
            zpos = np.asarray(
                pc.fill_null(from_code, -1).to_numpy(zero_copy_only=False), dtype=np.int64
            )
        need = (zpos < 0) & triage.pending & located
        if need.any():
            where = np.flatnonzero(need)
            snap = float(ctx.options.get("zone_snap_m", DEFAULT_SNAP_M))
            zpos[where] = index.lookup(lon[where], lat[where], snap)
            no_zone = np.zeros(n, dtype=bool)
            no_zone[where] = zpos[where] < 0
            if spec.require_zone:

                def zone_detail(idx: npt.NDArray[np.int64]) -> list[str]:
                    return [f"({lon[i]}, {lat[i]}) is in none of the city's zones" for i in idx]

                triage.flag(no_zone, QuarantineReason.UNKNOWN_ZONE, zone_detail)

    # 7. land the ok rows: every output column is built for those rows only (no full-size
    # column that is filtered afterwards)
    keep = np.flatnonzero(triage.pending)
    m = len(keep)
    ok = pa.array(triage.pending)

    def landed(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        return as_array(values).filter(ok)

    if index is not None and zpos is not None:
        kept = zpos[keep]
        pick = np.where(kept >= 0, kept, len(index.zone_ids))
        zone = pa.array([*index.zone_ids, None], pa.string()).take(pick)
        district = pa.array([*index.districts, None], pa.string()).take(pick)
    elif spec.zone_code is not None:
        code = landed(_text(raw, spec.zone_code, n))
        zone = pc.binary_join_element_wise(spec.zone_prefix, code, "")
        district = pa.nulls(m, pa.string())
    else:
        zone = pa.nulls(m, pa.string())
        district = pa.nulls(m, pa.string())
    call_type = landed(_text(raw, spec.call_type, n))
    if spec.call_group is not None:
        call_group = landed(_text(raw, spec.call_group, n))
    elif spec.call_group_fn is not None:
        call_group = spec.call_group_fn(call_type)
    else:
        call_group = pa.nulls(m, pa.string())
    priority_raw = landed(_text(raw, spec.priority, n))
    priority = (
        _priority(priority_raw, spec.priority_map)
        if spec.priority is not None
        else pa.nulls(m, pa.int16())
    )
    kept_id = landed(source_id)
    ids = pc.binary_join_element_wise(spec.id_prefix or ctx.source, kept_id, ":")
    columns: dict[str, pa.Array] = {
        "incident_id": ids,
        "source": pa.repeat(pa.scalar(ctx.source, pa.string()), m),
        "source_id": kept_id,
        "city": pa.repeat(pa.scalar(ctx.city, pa.string()), m),
        "agency": pa.repeat(pa.scalar(spec.agency, pa.string()), m),
        "call_type": call_type,
        "call_group": call_group,
        "priority": priority,
        "priority_raw": priority_raw,
    }
    columns["event_time"] = landed(event_time)
    for name in LIFECYCLE:
        columns[name] = (
            landed(times[name]) if name in times else pa.nulls(m, INCIDENTS.field(name).type)
        )
    kept_located = located[keep]
    columns["lon"] = pa.array(lon[keep], pa.float64(), mask=~kept_located)
    columns["lat"] = pa.array(lat[keep], pa.float64(), mask=~kept_located)
    columns["zone"] = zone
    columns["district"] = district
    table = pa.table(columns).cast(INCIDENTS)
    quarantine = triage.quarantine(
        raw, source=ctx.source, run_id=ctx.run_id, file=str(file), row_numbers=row_numbers
    )
    return triage.output({"incidents": table}, quarantine, watermark_of(table.column("event_time")))
