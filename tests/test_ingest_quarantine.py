"""Each quarantine reason and each bad-input error, on small hand-made files."""

from __future__ import annotations

import csv
import gzip
import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest
from shapely.geometry import box

from twin.errors import ConfigError, DataError
from twin.ingest.base import AdapterContext, QuarantineReason
from twin.ingest.registry import get_adapter
from twin.ingest.spatial import make_zones_table

pytestmark = pytest.mark.exact

CALL_DATA_COLS = [
    "CAD Event Number",
    "Event Clearance Description",
    "Call Type",
    "Priority",
    "Initial Call Type",
    "Final Call Type",
    "Original Time Queued",
    "Arrived Time",
    "Precinct",
    "Sector",
    "Beat",
    "Blurred_Longitude",
    "Blurred_Latitude",
]


def _zones() -> pa.Table:
    # Two hand-made "beats" covering a strip of Seattle; the rest of the bbox is in no zone.
    return make_zones_table(
        zone_ids=["seattle:beat:C3", "seattle:beat:K3"],
        source="test",
        city="seattle",
        kind="beat",
        codes=["C3", "K3"],
        districts=["E", "W"],
        names=[None, None],
        geometries=[box(-122.30, 47.60, -122.27, 47.64), box(-122.35, 47.59, -122.30, 47.62)],
    )


def _ctx(source: str, **kw: object) -> AdapterContext:
    return AdapterContext(
        source=source,
        city="seattle",
        tz="America/Los_Angeles",
        run_id="run-1",
        zones=_zones(),
        bbox=(-122.50, 47.45, -122.20, 47.78),
        **kw,  # type: ignore[arg-type]
    )


def _row(**over: str) -> dict[str, str]:
    base = {
        "CAD Event Number": "1",
        "Event Clearance Description": "ASSISTANCE RENDERED",
        "Call Type": "911",
        "Priority": "2",
        "Initial Call Type": "X",
        "Final Call Type": "Y",
        "Original Time Queued": "06/04/2023 4:18:15 PM",
        "Arrived Time": "06/04/2023 4:30:00 PM",
        "Precinct": "EAST",
        "Sector": "CHARLIE",
        "Beat": "C3",
        "Blurred_Longitude": "-122.28",
        "Blurred_Latitude": "47.62",
    }
    base.update(over)
    return base


def _write(path: Path, rows: list[dict[str, str]], cols: list[str] = CALL_DATA_COLS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    return path


def test_every_incident_reason(tmp_path: Path) -> None:
    rows = [
        _row(**{"CAD Event Number": "ok1"}),
        _row(**{"CAD Event Number": "ok1"}),  # exact duplicate
        _row(**{"CAD Event Number": ""}),  # missing id
        _row(**{"CAD Event Number": "t1", "Original Time Queued": "yesterday"}),
        _row(**{"CAD Event Number": "t2", "Original Time Queued": ""}),  # missing time
        _row(**{"CAD Event Number": "n1", "Blurred_Longitude": "west-ish"}),
        _row(**{"CAD Event Number": "l1", "Arrived Time": "06/04/2023 4:00:00 PM"}),
        _row(**{"CAD Event Number": "o1", "Blurred_Longitude": "0", "Blurred_Latitude": "0"}),
        _row(**{"CAD Event Number": "o2", "Blurred_Longitude": "-121.0"}),
        # unknown beat code and a point in the bbox but in no zone
        _row(
            **{
                "CAD Event Number": "z1",
                "Beat": "",
                "Blurred_Longitude": "-122.40",
                "Blurred_Latitude": "47.70",
            }
        ),
        # unknown beat code but a point inside K3: the point decides
        _row(
            **{
                "CAD Event Number": "z2",
                "Beat": "99",
                "Blurred_Longitude": "-122.32",
                "Blurred_Latitude": "47.60",
            }
        ),
        _row(**{"CAD Event Number": "c1", "Priority": "1"}),
        _row(**{"CAD Event Number": "c1", "Priority": "3"}),  # same id, other content
        _row(**{"CAD Event Number": "e1", "Arrived Time": "06/04/2023 4:18:15 PM"}),  # equal ok
        _row(
            **{
                "CAD Event Number": "nl",
                "Blurred_Longitude": "",
                "Blurred_Latitude": "",
                "Beat": "",
            }
        ),
    ]
    path = _write(tmp_path / "calls.csv", rows)
    out = get_adapter("spd_call_data")(path, _ctx("spd_call_data"))
    out.check_accounting()
    assert (out.rows_in, out.rows_duplicate) == (15, 1)
    q = {
        json.loads(r["raw"])["CAD Event Number"] + f"#{r['row_number']}": r
        for r in out.quarantine.to_pylist()
    }
    reasons = {k: v["reason"] for k, v in q.items()}
    assert reasons == {
        "#3": QuarantineReason.MISSING_ID,
        "t1#4": QuarantineReason.UNPARSEABLE_TIME,
        "t2#5": QuarantineReason.MISSING_TIME,
        "n1#6": QuarantineReason.UNPARSEABLE_NUMBER,
        "l1#7": QuarantineReason.LIFECYCLE_ORDER,
        "o1#8": QuarantineReason.COORDS_OUTSIDE,
        "o2#9": QuarantineReason.COORDS_OUTSIDE,
        "z1#10": QuarantineReason.UNKNOWN_ZONE,
        "c1#12": QuarantineReason.CONFLICTING_DUPLICATE,
        "c1#13": QuarantineReason.CONFLICTING_DUPLICATE,
    }
    assert "yesterday" in q["t1#4"]["detail"]
    assert all(v["file"] == str(path) and v["run_id"] == "run-1" for v in q.values())
    inc = {r["source_id"]: r for r in out.tables["incidents"].to_pylist()}
    assert sorted(inc) == ["e1", "nl", "ok1", "z2"]
    assert inc["z2"]["zone"] == "seattle:beat:K3"
    assert inc["z2"]["district"] == "W"
    assert inc["ok1"]["zone"] == "seattle:beat:C3"
    assert inc["nl"]["zone"] is None
    assert inc["nl"]["lon"] is None


def test_zone_not_required_keeps_row_with_null_zone(tmp_path: Path) -> None:
    cols = ["Date", "Fremont Bridge East Sidewalk", "Fremont Bridge West Sidewalk"]
    path = tmp_path / "counter.csv"
    _write(
        path,
        [
            {"Date": "01/01/2019 01:00:00 AM", cols[1]: "3", cols[2]: ""},
            {"Date": "01/01/2019 01:00:00 AM", cols[1]: "3", cols[2]: ""},  # exact duplicate
            {"Date": "01/01/2019 02:00:00 AM", cols[1]: "4", cols[2]: "5"},
            {"Date": "01/01/2019 02:00:00 AM", cols[1]: "9", cols[2]: "5"},  # conflicting hour
            {"Date": "01/01/2019 03:00:00 AM", cols[1]: "many", cols[2]: "5"},
            {"Date": "", cols[1]: "1", cols[2]: "1"},
        ],
        cols,
    )
    # The counter sits outside the two hand-made zones: its zone is null, nothing rejected.
    out = get_adapter("fremont_counter")(path, _ctx("fremont_counter"))
    out.check_accounting()
    assert Counter(out.quarantine.column("reason").to_pylist()) == {
        "conflicting_duplicate": 2,
        "unparseable_number": 1,
        "missing_time": 1,
    }
    assert out.rows_duplicate == 1
    assert out.rows_ok == 1
    assert out.tables["devices"].column("zone").to_pylist() == [None]
    values = {r["metric"]: r["value"] for r in out.tables["device_readings"].to_pylist()}
    assert values == {"count_east": 3.0, "count_west": None}


def test_zone_file_reasons(tmp_path: Path) -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    feats = [
        {
            "type": "Feature",
            "properties": {"beat": "A1", "first_precinct": "N"},
            "geometry": square,
        },
        {
            "type": "Feature",
            "properties": {"beat": "99", "first_precinct": None},
            "geometry": square,
        },
        {"type": "Feature", "properties": {"beat": "B1", "first_precinct": "N"}, "geometry": None},
        {"type": "Feature", "properties": {"beat": "", "first_precinct": "N"}, "geometry": square},
        {
            "type": "Feature",
            "properties": {"beat": "A1", "first_precinct": "S"},
            "geometry": square,
        },
    ]
    path = tmp_path / "beats.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    out = get_adapter("spd_beats")(path, _ctx("spd_beats"))
    out.check_accounting()
    assert out.quarantine.column("reason").to_pylist() == [
        "conflicting_duplicate",
        "placeholder_record",
        "invalid_geometry",
        "missing_id",
        "conflicting_duplicate",
    ]
    assert out.tables["zones"].num_rows == 0


def test_response_stats_reasons(tmp_path: Path) -> None:
    path = tmp_path / "avg.csv"
    path.write_text(
        "year,Beat,priority,avg_response_time\n"
        "2019,C3,1,7.5\n2019,CC,1,7.5\n2019,C3,2,slow\n2019,C3,9,3\n2019,C3,1,7.5\n"
    )
    out = get_adapter("spd_avg_response")(path, _ctx("spd_avg_response"))
    out.check_accounting()
    assert out.quarantine.column("reason").to_pylist() == [
        "placeholder_record",
        "unparseable_number",
        "missing_value",
    ]
    assert out.rows_duplicate == 1
    assert out.tables["response_stats"].to_pylist() == [
        {
            "source": "spd_avg_response",
            "city": "seattle",
            "year": 2019,
            "zone": "seattle:beat:C3",
            "code": "C3",
            "priority_class": "1",
            "avg_response_min": 7.5,
        }
    ]


# ----------------------------------------------------------------------------- errors


def test_renamed_column_lists_expected_and_found(tmp_path: Path) -> None:
    cols = [c if c != "Original Time Queued" else "Queued" for c in CALL_DATA_COLS]
    path = tmp_path / "calls.csv"
    _write(path, [], cols)
    with pytest.raises(DataError) as err:
        get_adapter("spd_call_data")(path, _ctx("spd_call_data"))
    msg = str(err.value)
    assert str(path) in msg
    assert "missing ['Original Time Queued']" in msg
    assert "'Queued'" in msg


def test_fremont_without_channels_fails(tmp_path: Path) -> None:
    path = tmp_path / "counter.csv"
    path.write_text("Date,Count A,Count B\n01/01/2019 01:00:00 AM,1,2\n")
    with pytest.raises(DataError, match="East/West"):
        get_adapter("fremont_counter")(path, _ctx("fremont_counter"))


def test_truncated_and_corrupt_gzip(data_dir: Path, tmp_path: Path) -> None:
    blob = (data_dir / "seattle/seattle_fire_911_2015-06_2016-02.csv.gz").read_bytes()
    cut = tmp_path / "fire_cut.csv.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"fire_cut\.csv\.gz"):
        get_adapter("seattle_fire_911")(cut, _ctx("seattle_fire_911"))
    junk = tmp_path / "fire_junk.csv.gz"
    junk.write_bytes(b"this is not gzip at all\n" * 10)
    with pytest.raises(DataError, match=r"fire_junk\.csv\.gz"):
        get_adapter("seattle_fire_911")(junk, _ctx("seattle_fire_911"))
    header_only = tmp_path / "fire_head.csv.gz"
    with gzip.open(header_only, "wt") as fh:
        fh.write("Address,Type,Datetime,Latitude,Longitude,Report Location,Incident Number\n")
    out = get_adapter("seattle_fire_911")(header_only, _ctx("seattle_fire_911"))
    assert out.rows_in == 0
    assert out.tables["incidents"].num_rows == 0


def test_missing_and_bad_json_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        get_adapter("seattle_fire_911")(tmp_path / "nope.csv", _ctx("seattle_fire_911"))
    bad = tmp_path / "cams.json"
    bad.write_text('[{"XPOS": 1,')
    with pytest.raises(DataError, match=r"cams\.json"):
        get_adapter("sdot_cameras")(bad, _ctx("sdot_cameras"))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError, match="empty"):
        get_adapter("spd_call_data")(empty, _ctx("spd_call_data"))


def test_unknown_adapter_lists_known() -> None:
    with pytest.raises(ConfigError, match="seattle_fire_911"):
        get_adapter("seattle_fire")


def test_bom_and_padded_header_names_are_read(tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    _write(path, [_row(**{"CAD Event Number": "b1"})])
    text = path.read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    padded = ",".join(f" {c} " if " " not in c else c for c in header.split(","))
    path.write_bytes(b"\xef\xbb\xbf" + (padded + "\n" + rest).encode("utf-8"))
    out = get_adapter("spd_call_data")(path, _ctx("spd_call_data"))
    assert out.tables["incidents"].column("source_id").to_pylist() == ["b1"]


def test_ragged_row_is_quarantined_alone(tmp_path: Path) -> None:
    # Issue 8: one short row used to fail the whole file; now it is quarantined on its own.
    path = _write(tmp_path / "ragged.csv", [_row()])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("only,three,fields\n")
    out = get_adapter("spd_call_data")(path, _ctx("spd_call_data"))
    assert (out.rows_in, out.rows_ok, out.rows_quarantined) == (2, 1, 1)
    q = out.quarantine.to_pylist()
    assert [(r["row_number"], r["reason"]) for r in q] == [(2, QuarantineReason.MALFORMED_ROW)]
    assert json.loads(q[0]["raw"]) == {"_line": "only,three,fields"}
    assert "3 fields, expected 13" in q[0]["detail"]


SPD_2015_COLS = [
    "Event.Clearance.Description",
    "Event.Clearance.Group",
    "Longitude",
    "Latitude",
    "Initial.Type.Group",
    "At.Scene.Time",
]


def test_spd_2015_leaves_received_null_and_dates_by_the_at_scene_time(tmp_path: Path) -> None:
    def row(at_scene: str, lon: str = "-122.28") -> dict[str, str]:
        return {
            "Event.Clearance.Description": "TRAFFIC STOP",
            "Event.Clearance.Group": "TRAFFIC",
            "Longitude": lon,
            "Latitude": "47.62",
            "Initial.Type.Group": "TRAFFIC",
            "At.Scene.Time": at_scene,
        }

    path = _write(
        tmp_path / "spd2015.csv",
        [row("7/4/15 23:30"), row("12/30/15 20:42", "-122.29"), row("")],
        SPD_2015_COLS,
    )
    out = get_adapter("spd_911_2015")(path, _ctx("spd_911_2015"))
    inc = out.tables["incidents"].to_pylist()
    assert [r["received"] for r in inc] == [None, None]  # the file has no received time
    assert [r["onscene"].isoformat() for r in inc] == [
        "2015-07-05T06:30:00+00:00",  # 23:30 PDT
        "2015-12-31T04:42:00+00:00",  # 20:42 PST
    ]
    assert [r["event_time"] for r in inc] == [r["onscene"] for r in inc]
    assert out.watermark == "2015-12-31T04:42:00Z"
    # a row with no time at all is quarantined, not given an invented one
    assert out.quarantine.column("reason").to_pylist() == [QuarantineReason.MISSING_TIME]
    assert "no lifecycle time" in out.quarantine.column("detail")[0].as_py()
