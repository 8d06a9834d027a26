"""Issue 8 on real samples: source layouts, malformed rows one by one, strict calendar dates.

* The Seattle Fire sample rewritten in the city's *current* layout (local wall time without an
  offset, ``Report Location`` as ``POINT (lon lat)``, no Latitude/Longitude columns) syncs to the
  same UTC instants and locations as the original; a layout the adapter does not know fails the
  source with expected-vs-found instead of quarantining every row.
* A copy of the SPD allbeats sample with injected bad records quarantines exactly those records
  with their reasons; every original record loads as before.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from twin.errors import DataError
from twin.ingest import readers
from twin.ingest.base import AdapterContext, QuarantineReason
from twin.ingest.registry import get_adapter
from twin.sources import load_config
from twin.store import Lake
from twin.sync import run_sync

LA = ZoneInfo("America/Los_Angeles")
FIRE = "seattle/seattle_fire_911_2015-06_2016-02.csv.gz"
ALLBEATS = "seattle/seattle_spd_911_incident_response_2016-03-25_allbeats.csv"
BBOX = (-122.50, 47.45, -122.20, 47.78)


def _ctx(source: str) -> AdapterContext:
    return AdapterContext(
        source=source, city="seattle", tz="America/Los_Angeles", run_id="r1", bbox=BBOX
    )


def _fire_rows(data_dir: Path) -> tuple[list[str], list[list[str]]]:
    with gzip.open(data_dir / FIRE, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def current_layout(header: list[str], rows: list[list[str]]) -> str:
    """The rows in the current export's layout: local wall time, POINT, no lat/lon columns."""
    col = {c: i for i, c in enumerate(header)}
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["Address", "Type", "Datetime", "Report Location", "Incident Number"])
    for r in rows:
        utc = dt.datetime.strptime(r[col["Datetime"]], "%m/%d/%Y %I:%M:%S %p %z")
        local = utc.astimezone(LA).strftime("%m/%d/%Y %I:%M:%S %p")
        lon, lat = r[col["Longitude"]], r[col["Latitude"]]
        point = f"POINT ({lon} {lat})" if lon and lat else ""
        w.writerow([r[col["Address"]], r[col["Type"]], local, point, r[col["Incident Number"]]])
    # a call at a local time skipped by the spring-forward change (02:30 on 2016-03-13)
    w.writerow(["1 Gap St", "Aid Response", "03/13/2016 02:30:00 AM", "", "F169999999"])
    return out.getvalue()


@pytest.mark.e2e
def test_current_fire_layout_syncs_to_the_same_instants_and_places(
    data_dir: Path, tmp_path: Path
) -> None:
    header, rows = _fire_rows(data_dir)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "current.csv").write_text(current_layout(header, rows))
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            data_dir: data
            cities:
              - {{name: seattle, tz: America/Los_Angeles, bbox: {list(BBOX)}}}
            sources:
              - {{name: older, adapter: seattle_fire_911, path: {data_dir / FIRE}, city: seattle}}
              - {{name: current, adapter: seattle_fire_911, path: current.csv, city: seattle}}
            """
        )
    )
    report = run_sync(load_config(cfg), tmp_path / "lake")
    assert report.ok, report.to_dict()
    old, new = report.sources["older"], report.sources["current"]
    assert old.rows_in == len(rows)
    assert new.rows_in == len(rows) + 1
    assert new.rows_ok == old.rows_ok + 1  # the same rows land, plus the spring-forward call
    lake = Lake(tmp_path / "lake")
    diff = lake.query(
        """
        SELECT count(*) AS n,
               count(*) FILTER (WHERE o.received IS DISTINCT FROM c.received) AS times,
               count(*) FILTER (WHERE o.lon IS DISTINCT FROM c.lon
                                   OR o.lat IS DISTINCT FROM c.lat) AS places,
               count(*) FILTER (WHERE o.call_type IS DISTINCT FROM c.call_type) AS types
        FROM incidents o JOIN incidents c USING (source_id)
        WHERE o.source = 'older' AND c.source = 'current'
        """
    ).to_pylist()[0]
    assert diff == {"n": old.rows_ok, "times": 0, "places": 0, "types": 0}
    # The fall-back hour (01:00-01:59 twice on 2015-11-01) is read as daylight time, as the
    # older export stamped it: 08:xx UTC, never 09:xx.
    fold = lake.query(
        "SELECT hour(received) AS h, count(*) AS n FROM incidents WHERE source = 'current' "
        "AND received >= TIMESTAMPTZ '2015-11-01 08:00:00+00' "
        "AND received < TIMESTAMPTZ '2015-11-01 10:00:00+00' GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert [r["h"] for r in fold] == [8]
    assert fold[0]["n"] > 40
    gap = lake.query("SELECT received FROM incidents WHERE source_id = 'F169999999'").to_pylist()
    assert gap == [{"received": dt.datetime(2016, 3, 13, 10, 0, tzinfo=dt.UTC)}]  # 03:00 PDT


def _write_fire(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    return path


@pytest.mark.exact
def test_unknown_fire_layouts_fail_with_expected_and_found(data_dir: Path, tmp_path: Path) -> None:
    header, rows = _fire_rows(data_dir)
    rows = rows[:300]
    adapter = get_adapter("seattle_fire_911")
    # epoch seconds instead of a date-time
    t = header.index("Datetime")
    epoch = [
        [
            str(int(dt.datetime.strptime(v, "%m/%d/%Y %I:%M:%S %p %z").timestamp()))
            if i == t
            else v
            for i, v in enumerate(r)
        ]
        for r in rows
    ]
    with pytest.raises(DataError) as err:
        adapter(_write_fire(tmp_path / "epoch.csv", header, epoch), _ctx("fire"))
    msg = str(err.value)
    assert "does not recognise" in msg
    assert "older export (UTC with +0000)" in msg
    assert "current export (local time, POINT location)" in msg
    assert "'06/12/2015 08:52:00 PM +0000'" in msg  # what was expected ...
    assert "'01/21/2022 01:43:00 PM'" in msg
    assert "'Datetime': ['1434142320'" in msg  # ... and what was found
    assert "Found columns ['Address', 'Type', 'Datetime'" in msg
    # renamed columns
    renamed = [
        c.replace("Datetime", "Date Time").replace("Incident Number", "Incident") for c in header
    ]
    with pytest.raises(DataError) as err:
        adapter(_write_fire(tmp_path / "renamed.csv", renamed, rows), _ctx("fire"))
    msg = str(err.value)
    assert "lacks columns ['Datetime', 'Incident Number']" in msg
    assert "'Date Time'" in msg
    # through the sync loop: the source fails (nothing quarantined), with the message
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        f"cities:\n  - {{name: seattle, tz: America/Los_Angeles, bbox: {list(BBOX)}}}\n"
        f"sources:\n  - {{name: fire, adapter: seattle_fire_911, path: {tmp_path / 'epoch.csv'},"
        " city: seattle}\n"
    )
    report = run_sync(load_config(cfg), tmp_path / "lake")
    result = report.sources["fire"]
    assert result.status == "failed"
    assert result.error is not None
    assert "does not recognise" in result.error
    assert result.rows_quarantined == 0
    assert Lake(tmp_path / "lake").query("SELECT count(*) AS n FROM quarantine").to_pylist() == [
        {"n": 0}
    ]


def _allbeats(data_dir: Path) -> tuple[bytes, list[bytes]]:
    lines = (data_dir / ALLBEATS).read_bytes().splitlines(keepends=True)
    return lines[0], lines[1:]


def _with_cells(line: bytes, header: bytes, **cells: str) -> bytes:
    names = next(csv.reader([header.decode().strip()]))
    row = next(csv.reader([line.decode().strip()]))
    for key, value in cells.items():
        row[names.index(key.replace("_", " "))] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode()


@pytest.mark.exact
def test_injected_bad_records_are_quarantined_one_by_one(data_dir: Path, tmp_path: Path) -> None:
    header, rows = _allbeats(data_dir)
    adapter = get_adapter("spd_911_allbeats")
    original = adapter(data_dir / ALLBEATS, _ctx("spd"))
    latin1 = _with_cells(
        rows[99], header, CAD_Event_Number="99000000001", Hundred_Block_Location="CAFE ST"
    ).replace(b"CAFE", b"CAF\xc9")  # a Latin-1 byte, not UTF-8
    broken = _with_cells(
        rows[199], header, CAD_Event_Number="99000000002", Hundred_Block_Location="XQX BLOCK"
    ).replace(b"XQX", b'"XQX')  # a quote that never closes
    feb30 = _with_cells(
        rows[299],
        header,
        CAD_Event_Number="99000000003",
        Event_Clearance_Date="02/30/2016 11:14:01 PM",
        At_Scene_Time="",
    )
    apr31 = _with_cells(
        rows[399], header, CAD_Event_Number="99000000004", At_Scene_Time="04/31/2016 01:00:00 AM"
    )
    injected = {10: b"1,2,3\n", 100: latin1, 200: broken, 300: feb30, 400: apr31}
    out_rows: list[bytes] = []
    numbers: dict[int, int] = {}
    for i, line in enumerate(rows):
        if i in injected:
            out_rows.append(injected[i])
            numbers[len(out_rows)] = i
        out_rows.append(line)
    path = tmp_path / "allbeats_bad.csv"
    path.write_bytes(header + b"".join(out_rows))

    out = adapter(path, _ctx("spd"))
    out.check_accounting()
    assert out.rows_in == original.rows_in + 5
    assert out.rows_ok == original.rows_ok
    assert out.rows_duplicate == original.rows_duplicate
    assert out.tables["incidents"].equals(original.tables["incidents"])  # every other row
    q = out.quarantine.to_pylist()
    new = [r for r in q if r["row_number"] in numbers]
    assert [(r["row_number"] - 1 - numbers[r["row_number"]], r["reason"]) for r in new] == [
        (0, QuarantineReason.MALFORMED_ROW),
        (1, QuarantineReason.BAD_ENCODING),
        (2, QuarantineReason.MALFORMED_ROW),
        (3, QuarantineReason.UNPARSEABLE_TIME),
        (4, QuarantineReason.UNPARSEABLE_TIME),
    ]
    assert json.loads(new[0]["raw"]) == {"_line": "1,2,3"}
    assert "3 fields, expected 19" in new[0]["detail"]
    assert json.loads(new[1]["raw"])["Hundred Block Location"] == "CAF\\xc9 ST"  # the raw byte
    assert "not UTF-8" in new[1]["detail"]
    assert "quoting" in new[2]["detail"]
    assert "02/30/2016 11:14:01 PM" in new[3]["detail"]
    assert "04/31/2016 01:00:00 AM" in new[4]["detail"]
    old_q = [(r["reason"], r["raw"]) for r in original.quarantine.to_pylist()]
    assert [(r["reason"], r["raw"]) for r in q if r["row_number"] not in numbers] == old_q
    assert len(q) == out.rows_quarantined == original.rows_quarantined + 5


@pytest.mark.exact
def test_a_bad_data_row_is_not_a_bad_header(data_dir: Path, tmp_path: Path) -> None:
    header, rows = _allbeats(data_dir)
    path = tmp_path / "one_latin1.csv.gz"
    with gzip.open(path, "wb") as fh:  # the bad byte well past the first block of text
        fh.write(
            header
            + b"".join(rows[:600])
            + rows[600].replace(b"S", b"\xe9", 1)
            + b"".join(rows[601:])
        )
    got = readers.read_csv_rows(path)
    assert [r.reason for r in got.rejects] == [QuarantineReason.BAD_ENCODING]
    assert got.rejects[0].row_number == 601
    assert got.table.num_rows == len(rows) - 1
    bad_header = tmp_path / "bad_header.csv"
    bad_header.write_bytes(header.replace(b"Zone", b"Z\xf4ne") + b"".join(rows))
    with pytest.raises(DataError, match="header line is not UTF-8"):
        readers.read_csv_rows(bad_header)


@pytest.mark.exact
def test_slow_path_reads_what_the_fast_path_reads(data_dir: Path) -> None:
    for name in (ALLBEATS, FIRE):
        path = data_dir / name
        header = [c.strip() for c in readers.csv_header(path)]
        fast = readers.read_csv_rows(path)
        slow = readers._read_slow(path, header, ",", False)
        assert fast.rejects == slow.rejects == []
        assert slow.table.equals(fast.table.cast(slow.table.schema))
        assert slow.row_numbers is not None
        assert slow.row_numbers.tolist() == list(range(1, fast.table.num_rows + 1))
        assert fast.table.schema.types == [pa.string()] * fast.table.num_columns
