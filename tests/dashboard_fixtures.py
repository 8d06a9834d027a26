"""Shared fixtures of the dashboard tests: a small lake written through the real store, and
real results of ``twin simulate`` / ``twin replay`` / ``twin sweep`` / ``twin optimize`` on a
four-beat Seattle scenario.

Not a test module: imported by tests/test_dashboard_*.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import shapely
from shapely.geometry import box

from twin.schemas import SCHEMAS
from twin.store import Lake

UTC = dt.UTC


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[name]
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.table(cols, schema=pa.schema([f.with_nullable(True) for f in schema]))


# Four 0.05° square beats in a 2x2 grid over Seattle, and one precinct covering them.
BEATS = {
    "B1": (-122.40, 47.60),
    "B2": (-122.35, 47.60),
    "B3": (-122.40, 47.65),
    "B4": (-122.35, 47.65),
}


def _zones() -> pa.Table:
    rows = []
    for code, (x, y) in BEATS.items():
        geom = box(x, y, x + 0.05, y + 0.05)
        rows.append(
            {
                "zone_id": f"seattle:beat:{code}",
                "source": "test_beats",
                "city": "seattle",
                "kind": "beat",
                "code": code,
                "district": "P",
                "name": f"beat {code}",
                "geometry": shapely.to_wkb(geom),
                "centroid_lon": geom.centroid.x,
                "centroid_lat": geom.centroid.y,
                "area_km2": 20.0,
            }
        )
    return _table("zones", rows)


def _incident(src: str, n: int, event: str, zone: str | None, **kw: Any) -> dict[str, Any]:
    """An incident dated *event* (event_time; also received unless ``received=None``)."""
    row = {
        "incident_id": f"{src}:{n}",
        "source": src,
        "source_id": str(n),
        "city": "seattle",
        "agency": "police",
        "call_type": "test call",
        "event_time": _ts(event),
        "received": _ts(event),
        "zone": zone,
        "lon": -122.37,
        "lat": 47.62,
    }
    row.update(kw)
    return row


# Local time is America/Los_Angeles (PST = UTC-8 in January). 2024-01-01 is a Monday.
INCIDENTS_A = [
    _incident(
        "src_a", 1, "2024-01-01T17:00:00", "seattle:beat:B1", onscene=_ts("2024-01-01T17:10:00")
    ),  # Mon 09h local
    _incident(
        "src_a", 2, "2024-01-01T17:30:00", "seattle:beat:B1", onscene=_ts("2024-01-01T17:50:00")
    ),  # Mon 09h
    _incident("src_a", 3, "2024-01-02T07:00:00", "seattle:beat:B1"),  # Mon 23h local
    _incident("src_a", 4, "2024-01-02T08:15:00", "seattle:beat:B2"),  # Tue 00h local
    _incident("src_a", 5, "2024-01-03T20:00:00", "seattle:beat:B2"),  # Wed 12h
    _incident("src_a", 6, "2024-01-06T20:00:00", "seattle:beat:B3"),  # Sat 12h
]
INCIDENTS_B = [
    _incident("src_b", 1, "2024-01-01T18:00:00", "B4"),  # a zone code, not an id: Mon 10h
    _incident("src_b", 2, "2024-01-01T18:30:00", None, lon=None, lat=None),  # Mon 10h
    # a source without a received time: dated by its at-scene time, no response measured
    _incident(
        "src_b",
        3,
        "2024-01-07T19:00:00",
        "seattle:beat:B4",
        received=None,
        onscene=_ts("2024-01-07T19:00:00"),
    ),  # Sun 11h
]
INCIDENTS_SF = [
    _incident(
        "sf",
        1,
        "2024-01-01T18:00:00",
        None,
        city="sanfrancisco",
        agency="fire",
        lon=-122.42,
        lat=37.77,
    ),
    _incident(
        "sf",
        2,
        "2024-01-02T18:00:00",
        None,
        city="sanfrancisco",
        agency="fire",
        lon=-122.41,
        lat=37.78,
    ),
]


def _ledger(
    run: str,
    src: str,
    day: str,
    counts: tuple[int, ...],
    status: str = "ok",
    error: str | None = None,
) -> pa.Table:
    rows_in, ok, quarantined, duplicate, new = counts
    return _table(
        "runs",
        [
            {
                "run_id": run,
                "source": src,
                "watermark": None,
                "rows_in": rows_in,
                "rows_ok": ok,
                "rows_quarantined": quarantined,
                "rows_duplicate": duplicate,
                "rows_new": new,
                "started": _ts(f"{day}T02:00:00"),
                "ended": _ts(f"{day}T02:01:00"),
                "status": status,
                "error": error,
            }
        ],
    )


def _quarantine(src: str, run: str, items: list[tuple[int, str]]) -> pa.Table:
    return _table(
        "quarantine",
        [
            {
                "source": src,
                "run_id": run,
                "file": f"{src}.csv",
                "row_number": n,
                "raw": json.dumps({"row": n}),
                "reason": reason,
                "detail": f"row {n}: {reason}",
            }
            for n, reason in items
        ],
    )


def build_lake(root: Path) -> None:
    """Two sync runs through the real store: run r1 loads everything, r2 fails src_b."""
    lake = Lake(root)
    with lake.lock():
        tx = lake.begin(durable=False)
        tx.upsert("zones", "test_beats", _zones())
        tx.upsert("incidents", "src_a", _table("incidents", INCIDENTS_A))
        tx.upsert("incidents", "src_b", _table("incidents", INCIDENTS_B))
        tx.upsert("incidents", "sf", _table("incidents", INCIDENTS_SF))
        tx.upsert(
            "devices",
            "cams",
            _table(
                "devices",
                [
                    {
                        "device_id": f"cam:{i}",
                        "source": "cams",
                        "city": "seattle",
                        "kind": "camera",
                        "name": f"Camera {i}",
                        "lon": -122.39 + 0.01 * i,
                        "lat": 47.61 + 0.01 * i,
                    }
                    for i in range(3)
                ]
                + [
                    {
                        "device_id": "cam:nowhere",
                        "source": "cams",
                        "city": "seattle",
                        "kind": "camera",
                        "name": "No position",
                    }
                ],
            ),
        )
        tx.upsert(
            "devices",
            "counter",
            _table(
                "devices",
                [
                    {
                        "device_id": "fremont",
                        "source": "counter",
                        "city": "seattle",
                        "kind": "counter",
                        "name": "Fremont Bridge",
                        "lon": -122.35,
                        "lat": 47.65,
                    }
                ],
            ),
        )
        readings = [
            {
                "device_id": "fremont",
                "source": "counter",
                "time": _ts("2024-01-01T00:00:00") + dt.timedelta(hours=h),
                "metric": metric,
                "value": float(h if metric == "count_east" else 1),
            }
            for h in range(48)
            for metric in ("count_east", "count_west")
        ]
        tx.upsert("device_readings", "counter", _table("device_readings", readings))
        tx.replace_quarantine(
            "src_a",
            _quarantine(
                "src_a",
                "r1",
                [(3, "missing_time"), (7, "missing_time"), (9, "coordinates_outside_city")],
            ),
            ["src_a.csv"],
        )
        tx.replace_quarantine(
            "src_b", _quarantine("src_b", "r1", [(2, "unparseable_time")]), ["src_b.csv"]
        )
        tx.append_runs("src_a", _ledger("r1", "src_a", "2024-01-08", (9, 6, 3, 0, 6)))
        tx.append_runs("src_b", _ledger("r1", "src_b", "2024-01-08", (5, 3, 1, 1, 3)))
        tx.commit()
    with lake.lock():
        tx = lake.begin(durable=False)
        tx.append_runs("src_a", _ledger("r2", "src_a", "2024-01-09", (9, 6, 3, 0, 0)))
        tx.append_runs(
            "src_b",
            _ledger(
                "r2",
                "src_b",
                "2024-01-09",
                (0, 0, 0, 0, 0),
                status="failed",
                error="src_b.csv: file is truncated",
            ),
        )
        tx.commit()


TINY_SCENARIO = """
# Four Seattle beats of the demo lake, two precincts, police only: small enough to simulate
# in a second, and on real coordinates so the maps draw it.
name: tiny_seattle
description: Four demo beats, four units
time_unit: min
warmup: 120
horizon: 1440
crs: wgs84
zones:
  - {id: 'seattle:beat:B1', district: P, name: Beat One, location: [-122.375, 47.625],
     rate_per_hour: 0.8}
  - {id: 'seattle:beat:B2', district: P, name: Beat Two, location: [-122.325, 47.625],
     rate_per_hour: 0.6}
  - {id: 'seattle:beat:B3', district: Q, name: Beat Three, location: [-122.375, 47.675],
     rate_per_hour: 0.5}
  - {id: 'seattle:beat:B4', district: Q, name: Beat Four, location: [-122.325, 47.675],
     rate_per_hour: 0.4}
units:
  - {id: car-1, post: 'seattle:beat:B1', kind: patrol}
  - {id: car-2, post: 'seattle:beat:B2', kind: patrol}
  - {id: car-3, post: 'seattle:beat:B3', kind: patrol}
  - {id: car-4, post: 'seattle:beat:B4', kind: patrol}
priorities:
  - {level: 1, share: 0.3}
  - {level: 2, share: 0.7}
service: {dist: lognormal, mean: 40, sd: 20}
travel: {model: haversine, speed_kmh: 30, circuity: 1.3, turnout_min: 1.0}
dispatch: {policy: closest}
queue: {discipline: priority, capacity: unlimited}
demand: {source: poisson}
patrol: {interval_min: 15, policy: post}
checkpoints:
  - id: cp1
    name: Aurora Bridge north end
    zone: 'seattle:beat:B3'
    lanes: 2
    mode: smart
    arrivals: {rate_per_hour: 60.0}
    manual_inspection: {dist: lognormal, mean: 2.5, sd: 1.0}
    classification: {dist: lognormal, mean: 0.35, sd: 0.1}
    flag_probability: 0.05
  - id: cp2
    name: Ballard Bridge south end
    zone: 'seattle:beat:B1'
    lanes: 2
    mode: manual
    arrivals: {rate_per_hour: 30.0}
    manual_inspection: {dist: lognormal, mean: 2.5, sd: 1.0}
calibration: {city: seattle, agency: police, tz: America/Los_Angeles}
"""


def write_scenarios(folder: Path) -> tuple[Path, Path]:
    """Write the tiny scenario and a variant with a fifth unit; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    base = folder / "tiny_seattle.yaml"
    base.write_text(TINY_SCENARIO.lstrip(), encoding="utf-8")
    variant = folder / "tiny_seattle_plus.yaml"
    variant.write_text(
        TINY_SCENARIO.lstrip()
        .replace("name: tiny_seattle", "name: tiny_seattle_plus")
        .replace(
            "  - {id: car-4, post: 'seattle:beat:B4', kind: patrol}",
            "  - {id: car-4, post: 'seattle:beat:B4', kind: patrol}\n"
            "  - {id: car-5, post: 'seattle:beat:B3', kind: patrol}",
        ),
        encoding="utf-8",
    )
    return base, variant


def _twin(*args: str) -> None:
    from twin.cli import main

    code = main(list(args))
    if code != 0:
        raise AssertionError(f"twin {' '.join(args)} exited {code}")


def build_results(out: Path, lake: Path | None = None) -> dict[str, Path]:
    """Real results under *out*: two runs, a sweep of them, an optimizer result of the first,
    and (when *lake* is given) a replay of one demo day.
    """
    base, variant = write_scenarios(out / "scenarios")
    runs = {}
    for path in (base, variant):
        name = path.stem
        _twin("simulate", str(path), "--seed", "1", "-r", "3", "--out", str(out / name))
        runs[name] = out / name
    _twin(
        "sweep",
        str(base),
        str(variant),
        "--replications",
        "3",
        "--seed",
        "1",
        "--local",
        "--out",
        str(out / "sweeps" / "tiny_units"),
    )
    _twin(
        "optimize",
        str(base),
        "--target",
        "response_p90_min <= 12",
        "--max-units",
        "8",
        "--replications",
        "2",
        "--horizon",
        "2880",
        "--out",
        str(out / "tiny.yaml"),
    )
    if lake is not None:
        _twin(
            "replay",
            str(base),
            "--start",
            "2024-01-01",
            "--end",
            "2024-01-01",
            "--lake",
            str(lake),
            "--out",
            str(out / "replay_tiny"),
        )
        runs["replay"] = out / "replay_tiny"
    from dashboards.results import scan

    scan(out, fresh=True)  # the index a moment ago predates the sweep and optimizer files
    return runs
