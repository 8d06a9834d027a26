"""The generic CSV drop-folder source, driven only by a column mapping."""

from __future__ import annotations

import csv
import gzip
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from twin.errors import ConfigError, DataError
from twin.ingest.base import AdapterContext
from twin.ingest.registry import get_adapter
from twin.ingest.spatial import make_zones_table

pytestmark = pytest.mark.exact

OPTIONS: dict[str, Any] = {
    "agency": "police",
    "columns": {
        "source_id": "Call No",
        "received": "Received",
        "dispatched": "Dispatched",
        "onscene": "Arrived",
        "location": "Point",
        "call_type": "Nature",
        "priority": "Pri",
        "zone_code": "Area",
    },
    "time_format": "%Y-%m-%d %H:%M:%S",
    "time_zone": "America/Chicago",
    "id_prefix": "metro",
    "zone_prefix": "metro:area:",
    "priority_map": {"A": 1, "B": 2},
    "delimiter": ";",
}

HEADER = "Call No;Received;Dispatched;Arrived;Point;Nature;Pri;Area;Extra\n"


def _ctx(options: dict[str, Any]) -> AdapterContext:
    zones = make_zones_table(
        zone_ids=["metro:area:N", "metro:area:S"],
        source="test",
        city="metro",
        kind="area",
        codes=["N", "S"],
        districts=["d1", "d2"],
        names=[None, None],
        geometries=[box(-88.0, 42.0, -87.0, 43.0), box(-88.0, 41.0, -87.0, 42.0)],
    )
    return AdapterContext(
        source="metro_cad",
        city="metro",
        tz="America/Los_Angeles",
        run_id="r",
        zones=zones,
        bbox=(-89.0, 40.0, -86.0, 44.0),
        options=options,
    )


def _drop(folder: Path) -> Path:
    folder.mkdir()
    (folder / "a.csv").write_text(
        HEADER
        + "1;2024-03-10 01:59:00;2024-03-10 02:01:00;2024-03-10 03:10:00;"
        + "(42.5, -87.5);THEFT;A;N;x\n"
        + "2;2024-07-01 12:00:00;;2024-07-01 12:20:00;(41.5, -87.5);NOISE;B;;y\n"
        + "3;2024-07-01 12:00:00;;2024-07-01 11:00:00;(41.5, -87.5);NOISE;B;S;z\n"
    )
    with gzip.open(folder / "b.csv.gz", "wt") as fh:
        fh.write(HEADER + "4;2024-11-03 01:30:00;;;;ALARM;C;N;w\n")
    (folder / "notes.txt").write_text("ignored")
    return folder


def test_drop_folder_reads_every_csv(tmp_path: Path) -> None:
    out = get_adapter("csv_drop")(_drop(tmp_path / "drop"), _ctx(OPTIONS))
    out.check_accounting()
    assert (out.rows_in, out.rows_ok, out.rows_quarantined) == (4, 3, 1)
    q = out.quarantine.to_pylist()
    assert [(Path(r["file"]).name, r["row_number"], r["reason"]) for r in q] == [
        ("a.csv", 3, "lifecycle_out_of_order")
    ]
    inc = {r["incident_id"]: r for r in out.tables["incidents"].to_pylist()}
    assert sorted(inc) == ["metro:1", "metro:2", "metro:4"]
    one = inc["metro:1"]
    # Chicago, spring forward on 2024-03-10: 01:59 CST = 07:59 UTC; 02:01 does not exist and
    # moves to 03:00 CDT = 08:00 UTC; 03:10 CDT = 08:10 UTC.
    assert one["received"] == datetime(2024, 3, 10, 7, 59, tzinfo=UTC)
    assert one["dispatched"] == datetime(2024, 3, 10, 8, 0, tzinfo=UTC)
    assert one["onscene"] == datetime(2024, 3, 10, 8, 10, tzinfo=UTC)
    assert (one["lon"], one["lat"]) == (-87.5, 42.5)
    assert (one["zone"], one["district"], one["priority"]) == ("metro:area:N", "d1", 1)
    assert inc["metro:2"]["zone"] == "metro:area:S"  # no code: the point decides
    # fall back on 2024-11-03: 01:30 is read as the first (daylight) occurrence
    assert inc["metro:4"]["received"] == datetime(2024, 11, 3, 6, 30, tzinfo=UTC)
    assert inc["metro:4"]["priority"] is None
    assert inc["metro:4"]["priority_raw"] == "C"
    assert out.watermark == "2024-11-03T06:30:00Z"


def test_single_file_and_default_prefix(tmp_path: Path) -> None:
    folder = _drop(tmp_path / "drop")
    opts = {k: v for k, v in OPTIONS.items() if k != "id_prefix"}
    out = get_adapter("csv_drop")(folder / "b.csv.gz", _ctx(opts))
    assert out.tables["incidents"].column("incident_id").to_pylist() == ["metro_cad:4"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"columns": {"received": "Received"}}, "options.columns.source_id"),
        ({"time_format": None}, "time_format"),
        ({"time_zone": "Nowhere/Town"}, "unknown time zone"),
        ({"colums": {}}, "options.colums"),
        ({"columns": {**OPTIONS["columns"], "lon": "X"}}, "both 'lon' and 'lat'"),
    ],
)
def test_bad_options_are_config_errors(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    opts = {**OPTIONS, **change}
    opts = {k: v for k, v in opts.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        get_adapter("csv_drop")(_drop(tmp_path / "drop"), _ctx(opts))


def test_missing_mapped_column_and_empty_folder(tmp_path: Path) -> None:
    folder = _drop(tmp_path / "drop")
    opts = {**OPTIONS, "columns": {**OPTIONS["columns"], "cleared": "Closed"}}
    with pytest.raises(DataError, match=r"missing \['Closed'\]"):
        get_adapter("csv_drop")(folder, _ctx(opts))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="no files matching"):
        get_adapter("csv_drop")(empty, _ctx(OPTIONS))
    with pytest.raises(DataError, match="not found"):
        get_adapter("csv_drop")(tmp_path / "absent", _ctx(OPTIONS))


_TIMES = st.sampled_from(
    [
        "2024-07-01 12:00:00",
        "2024-07-01 12:05:00",
        "2024-07-01 11:55:00",
        "",
        "soon",
        "2024-13-01 00:00:00",
    ]
)
_POINTS = st.sampled_from(["(42.5, -87.5)", "(41.5, -87.5)", "", "(0, 0)", "(50.0, -87.5)", "here"])


@pytest.mark.property
@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["1", "2", "3", "4", ""]),
            _TIMES,
            _TIMES,
            _POINTS,
            st.sampled_from(["A", "B", "Z"]),
        ),
        max_size=25,
    )
)
def test_every_row_is_accounted_for(rows: list[tuple[str, str, str, str, str]]) -> None:
    opts = {**OPTIONS, "columns": {**OPTIONS["columns"]}, "delimiter": ","}
    del opts["columns"]["zone_code"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "drop.csv"
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["Call No", "Received", "Dispatched", "Arrived", "Point", "Nature", "Pri"])
            for cid, rec, arr, point, pri in rows:
                w.writerow([cid, rec, "", arr, point, "X", pri])
        out = get_adapter("csv_drop")(path, _ctx(opts))
    out.check_accounting()
    assert out.rows_in == len(rows)
    assert out.quarantine.num_rows == out.rows_quarantined
    inc = out.tables["incidents"].to_pylist()
    assert len(inc) == out.rows_ok
    assert len({r["incident_id"] for r in inc}) == len(inc)
    for r in inc:
        assert r["received"] is not None
        assert r["onscene"] is None or r["onscene"] >= r["received"]
        assert (r["lon"] is None) == (r["zone"] is None)
    # exact copies of a row with an id count as duplicates; rows without an id never do
    assert out.rows_duplicate == sum(rows.count(r) - 1 for r in set(rows) if r[0] != "")
