"""Every adapter on the real embedded samples: counts, accounting, ranges, time zones."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely
from shapely.geometry import shape

from twin.ingest.base import AdapterContext, AdapterOutput
from twin.ingest.registry import ADAPTERS, TABLES, get_adapter
from twin.schemas import QUARANTINE, SCHEMAS

SEATTLE_BBOX = (-122.50, 47.45, -122.20, 47.78)
SF_BBOX = (-122.55, 37.68, -122.34, 37.84)
LA = ZoneInfo("America/Los_Angeles")

pytestmark = pytest.mark.exact


def _ctx(source: str, city: str = "seattle", **kw: object) -> AdapterContext:
    return AdapterContext(
        source=source, city=city, tz="America/Los_Angeles", run_id="test-run", **kw
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def beats(data_dir: Path) -> AdapterOutput:
    return get_adapter("spd_beats")(
        data_dir / "seattle/spd_beats_2018_present.geojson", _ctx("spd_beats")
    )


@pytest.fixture(scope="module")
def seattle_ctx(beats: AdapterOutput) -> dict[str, AdapterContext]:
    zones = beats.tables["zones"]
    return {
        name: _ctx(name, zones=zones, bbox=SEATTLE_BBOX)
        for name in (
            "seattle_fire_911",
            "spd_911_2015",
            "spd_911_allbeats",
            "spd_call_data",
            "sdot_cameras",
            "fremont_counter",
            "spd_avg_response",
        )
    }


def _check_contract(out: AdapterOutput, adapter: str) -> None:
    out.check_accounting()
    assert out.quarantine.schema.equals(QUARANTINE)
    assert out.rows_quarantined == out.quarantine.num_rows
    assert sorted(out.tables) == sorted(TABLES[adapter])
    for name, table in out.tables.items():
        assert table.schema.equals(SCHEMAS[name]), name
        for f in SCHEMAS[name]:
            if not f.nullable:
                assert table.column(f.name).null_count == 0, (name, f.name)
    for raw in out.quarantine.column("raw").to_pylist()[:50]:
        assert isinstance(json.loads(raw), dict)
    if "incidents" in out.tables:
        # event_time: the earliest lifecycle time present, equal to received when there is one.
        inc = out.tables["incidents"]
        names = ("received", "dispatched", "enroute", "onscene", "cleared")
        first = pc.coalesce(*[inc.column(n) for n in names])
        assert pc.all(pc.equal(inc.column("event_time"), first)).as_py() in (True, None)
        assert inc.column("event_time").null_count == 0
        for n in names:
            later = pc.fill_null(pc.less(inc.column(n), inc.column("event_time")), False)
            assert not pc.any(later).as_py(), n


def _local_hours(ts: pa.ChunkedArray) -> Counter[int]:
    return Counter(t.astimezone(LA).hour for t in ts.to_pylist())


def test_registry_names_and_tables() -> None:
    expected = {
        "spd_911_2015",
        "spd_911_allbeats",
        "spd_call_data",
        "seattle_fire_911",
        "sffd_calls",
        "spd_beats",
        "spd_precincts",
        "sdot_cameras",
        "fremont_counter",
        "jiaxing_districts",
        "csv_drop",
        "spd_avg_response",
    }
    assert expected <= set(ADAPTERS)
    assert set(TABLES) == set(ADAPTERS)


def test_spd_beats_zones(beats: AdapterOutput) -> None:
    _check_contract(beats, "spd_beats")
    assert beats.rows_in == 55
    assert beats.rows_ok == 54
    assert beats.quarantine.column("reason").to_pylist() == ["placeholder_record"]
    assert json.loads(beats.quarantine.column("raw")[0].as_py())["beat"] == "99"
    zones = beats.tables["zones"]
    rows = {r["zone_id"]: r for r in zones.to_pylist()}
    assert rows["seattle:beat:C3"]["district"] == "E"
    assert rows["seattle:beat:C3"]["kind"] == "beat"
    assert rows["seattle:beat:H1"]["district"] is None  # harbour beats have no precinct
    assert all(47.4 < r["centroid_lat"] < 47.8 for r in rows.values())
    # shape_Area is in square feet: the areas we compute must agree within 1 %.
    doc = json.loads(Path(beats.quarantine.column("file")[0].as_py()).read_text())
    for feat in doc["features"]:
        beat = feat["properties"]["beat"]
        if beat == "99":
            continue
        expected_km2 = feat["properties"]["shape_Area"] * 0.3048**2 / 1e6
        assert rows[f"seattle:beat:{beat}"]["area_km2"] == pytest.approx(expected_km2, rel=0.01)


def test_spd_precincts(data_dir: Path) -> None:
    out = get_adapter("spd_precincts")(
        data_dir / "seattle/spd_precincts_2017.geojson", _ctx("spd_precincts")
    )
    _check_contract(out, "spd_precincts")
    assert sorted(out.tables["zones"].column("zone_id").to_pylist()) == [
        f"seattle:precinct:{p}" for p in ("E", "N", "S", "SW", "W")
    ]


def test_seattle_fire(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    path = data_dir / "seattle/seattle_fire_911_2015-06_2016-02.csv.gz"
    out = get_adapter("seattle_fire_911")(path, seattle_ctx["seattle_fire_911"])
    _check_contract(out, "seattle_fire_911")
    assert out.rows_in == 65_486
    reasons = Counter(out.quarantine.column("reason").to_pylist())
    # 6 incident numbers come with two different versions each: all 12 rows held back.
    assert reasons["conflicting_duplicate"] == 12
    inc = out.tables["incidents"]
    assert inc.num_rows == out.rows_ok
    assert pc.count_distinct(inc.column("incident_id")).as_py() == inc.num_rows
    assert inc.column("incident_id")[0].as_py().startswith("seattle_fire_911:F")
    # Datetime carries +0000 and really is UTC: first row 06/12/2015 08:52:00 PM +0000.
    first = inc.filter(pc.equal(inc.column("source_id"), "F150064120"))
    assert first.column("received")[0].as_py() == datetime(2015, 6, 12, 20, 52, tzinfo=UTC)
    lo, hi = pc.min_max(inc.column("received")).values()
    assert lo.as_py() >= datetime(2015, 6, 1, tzinfo=UTC)
    assert hi.as_py() < datetime(2016, 3, 1, tzinfo=UTC)
    # Read as UTC, the local day has its quiet hours before dawn and its peak by day.
    hours = _local_hours(inc.column("received"))
    assert min(hours, key=hours.__getitem__) in range(1, 8)
    assert max(hours, key=hours.__getitem__) in range(9, 21)
    # ~277 calls a day.
    days = (hi.as_py() - lo.as_py()).total_seconds() / 86400
    assert 240 < inc.num_rows / days < 310
    # Points land in beats; rows without coordinates land with a null zone.
    assert inc.column("zone").null_count == pc.sum(pc.is_null(inc.column("lon"))).as_py()
    assert inc.column("call_group").null_count == 0
    assert out.watermark == hi.as_py().strftime("%Y-%m-%dT%H:%M:%SZ")


def test_spd_2015(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    path = data_dir / "seattle/seattle_spd_911_incident_response_2015_atscene.csv.gz"
    out = get_adapter("spd_911_2015")(path, seattle_ctx["spd_911_2015"])
    _check_contract(out, "spd_911_2015")
    assert out.rows_in == 91_067
    assert out.rows_duplicate == 782
    inc = out.tables["incidents"]
    assert inc.num_rows == out.rows_ok
    # The file has no call-received time: received stays null (nothing is invented) and
    # event_time is the at-scene time, on every row.
    assert inc.column("received").null_count == inc.num_rows
    assert inc.column("onscene").null_count == 0
    assert pc.all(pc.equal(inc.column("event_time"), inc.column("onscene"))).as_py()
    assert inc.column("dispatched").null_count == inc.num_rows
    assert out.watermark == pc.max(inc.column("onscene")).as_py().strftime("%Y-%m-%dT%H:%M:%SZ")
    # Local 2015 wall-clock times: "12/30/15 20:42" PST is 2015-12-31 04:42 UTC.
    lo, hi = pc.min_max(inc.column("event_time")).values()
    assert lo.as_py() >= datetime(2015, 1, 1, 8, tzinfo=UTC)
    assert hi.as_py() < datetime(2016, 1, 1, 8, tzinfo=UTC)
    assert set(inc.column("agency").to_pylist()) == {"police"}


def test_spd_allbeats(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    path = data_dir / "seattle/seattle_spd_911_incident_response_2016-03-25_allbeats.csv"
    out = get_adapter("spd_911_allbeats")(path, seattle_ctx["spd_911_allbeats"])
    _check_contract(out, "spd_911_allbeats")
    assert out.rows_in == 706
    inc = out.tables["incidents"]
    # 38 % of rows have an at-scene time; the rest use the clearance time as the proxy.
    share = 1 - inc.column("onscene").null_count / inc.num_rows
    assert 0.33 < share < 0.43
    row = inc.filter(pc.equal(inc.column("source_id"), "16000104006")).to_pylist()[0]
    # At Scene 03/25/2016 10:25:51 PM PDT, cleared 11:58:30 PM PDT.
    assert row["onscene"] == datetime(2016, 3, 26, 5, 25, 51, tzinfo=UTC)
    assert row["cleared"] == datetime(2016, 3, 26, 6, 58, 30, tzinfo=UTC)
    assert row["received"] is None
    assert row["event_time"] == row["onscene"]
    # No at-scene time: event_time is the clearance time; received stays null throughout.
    assert inc.column("received").null_count == inc.num_rows
    no_scene = inc.filter(pc.is_null(inc.column("onscene")))
    assert no_scene.num_rows > 0
    assert pc.all(pc.equal(no_scene.column("event_time"), no_scene.column("cleared"))).as_py()


def test_spd_call_data(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    path = data_dir / "seattle/spd_call_data_sample_eastC_2018-2023.csv"
    out = get_adapter("spd_call_data")(path, seattle_ctx["spd_call_data"])
    _check_contract(out, "spd_call_data")
    assert out.rows_in == 222
    inc = out.tables["incidents"]
    assert inc.num_rows == 222
    assert set(inc.column("zone").to_pylist()) == {"seattle:beat:C3"}
    assert set(inc.column("district").to_pylist()) == {"E"}
    assert inc.column("onscene").null_count == 222 - 186
    assert sorted(set(inc.column("priority").to_pylist())) == [1, 2, 3, 4, 5, 7]
    row = inc.filter(pc.equal(inc.column("source_id"), "2023000319821")).to_pylist()[0]
    # 11/04/2023 6:08:26 PM is still daylight time (the change was on 5 November).
    assert row["received"] == datetime(2023, 11, 5, 1, 8, 26, tzinfo=UTC)
    assert row["event_time"] == row["received"]
    assert row["onscene"] == datetime(2023, 11, 5, 1, 51, 6, tzinfo=UTC)
    assert row["call_group"] == "911"


def test_sffd_calls(data_dir: Path) -> None:
    path = data_dir / "sanfrancisco/sffd_calls_for_service_2020-04-07_20.csv.gz"
    ctx = _ctx("sffd_calls", city="sanfrancisco", bbox=SF_BBOX)
    out = get_adapter("sffd_calls")(path, ctx)
    _check_contract(out, "sffd_calls")
    assert out.rows_in == 10_410
    units = out.tables["unit_responses"]
    inc = out.tables["incidents"]
    assert units.num_rows == out.rows_ok
    assert inc.num_rows == 5_292
    assert pc.count_distinct(units.column("incident_id")).as_py() == inc.num_rows
    call = inc.filter(pc.equal(inc.column("source_id"), "200983546")).to_pylist()[0]
    assert call["received"] == datetime(2020, 4, 8, 6, 53, 8, tzinfo=UTC)  # 11:53:08 PM PDT
    assert call["event_time"] == call["received"]
    assert inc.column("received").null_count == 0
    assert call["dispatched"] == datetime(2020, 4, 8, 6, 55, 56, tzinfo=UTC)
    assert call["enroute"] == datetime(2020, 4, 8, 6, 56, 6, tzinfo=UTC)  # unit 85 first
    assert call["onscene"] == datetime(2020, 4, 8, 7, 0, 0, tzinfo=UTC)  # E32 first
    assert call["cleared"] == datetime(2020, 4, 8, 8, 35, 0, tzinfo=UTC)  # 85 last back
    assert call["zone"] == "sanfrancisco:station:32"
    assert call["district"] == "B06"
    assert call["priority"] == 1
    assert call["priority_raw"] == "3"
    # Medians from the README: received->dispatch 1.9 min, dispatch->on scene 5.1 min.
    first = units.filter(pc.equal(units.column("sequence"), 1))
    d1 = pc.subtract(first.column("dispatched"), first.column("received"))
    d2 = pc.subtract(first.column("onscene"), first.column("dispatched"))
    med1 = pc.approximate_median(pc.divide(pc.cast(d1, pa.int64()), 60e6)).as_py()
    med2 = pc.approximate_median(pc.divide(pc.cast(d2, pa.int64()), 60e6)).as_py()
    assert 1.5 < med1 < 2.4
    assert 4.0 < med2 < 6.5


def test_sdot_cameras(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    out = get_adapter("sdot_cameras")(
        data_dir / "seattle/sdot_traffic_cameras_2015.json", seattle_ctx["sdot_cameras"]
    )
    _check_contract(out, "sdot_cameras")
    dev = out.tables["devices"]
    assert dev.num_rows == 135
    assert pc.count_distinct(dev.column("device_id")).as_py() == 135
    assert set(dev.column("kind").to_pylist()) == {"camera"}
    attrs = [json.loads(a) for a in dev.column("attributes").to_pylist()]
    assert Counter(a["ownershipcd"] for a in attrs) == {"SDOT": 114, "WSDOT": 21}
    assert all(a.get("weburl") != "NULL" for a in attrs)
    assert dev.column("zone").null_count < 20


def test_fremont_counter(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    out = get_adapter("fremont_counter")(
        data_dir / "seattle/fremont_bridge_hourly_2012-10_2019-03.csv.gz",
        seattle_ctx["fremont_counter"],
    )
    _check_contract(out, "fremont_counter")
    assert out.rows_in == 56_904
    assert out.tables["devices"].num_rows == 1
    readings = out.tables["device_readings"]
    assert sorted(set(readings.column("metric").to_pylist())) == ["count_east", "count_west"]
    assert readings.num_rows == 2 * out.rows_ok
    # The 02:00 rows of spring-forward days do not exist in local time: quarantined.
    q = out.quarantine.to_pylist()
    assert {r["reason"] for r in q} == {"unparseable_time"}
    assert all(json.loads(r["raw"])["Date"].endswith("02:00:00 AM") for r in q)
    assert all(json.loads(r["raw"])["Date"][:2] == "03" for r in q)
    # 9 empty counts per channel: null readings plus quarantined rows with an empty count.
    for metric, col in (
        ("count_east", "Fremont Bridge East Sidewalk"),
        ("count_west", "Fremont Bridge West Sidewalk"),
    ):
        nulls = readings.filter(pc.equal(readings.column("metric"), metric)).column("value")
        held = sum(1 for r in q if json.loads(r["raw"])[col] == "")
        assert nulls.null_count + held == 9
    # Fall-back day: the single 01:00 row is daylight time (08:00 UTC), 02:00 is 10:00 UTC.
    times = set(readings.column("time").to_pylist())
    assert datetime(2018, 11, 4, 8, tzinfo=UTC) in times
    assert datetime(2018, 11, 4, 9, tzinfo=UTC) not in times
    assert datetime(2018, 11, 4, 10, tzinfo=UTC) in times
    lo, hi = pc.min_max(readings.column("time")).values()
    assert lo.as_py() == datetime(2012, 10, 3, 7, tzinfo=UTC)  # 10/03/2012 00:00 PDT
    assert hi.as_py() == datetime(2019, 4, 1, 6, tzinfo=UTC)  # 03/31/2019 23:00 PDT


def test_spd_avg_response(data_dir: Path, seattle_ctx: dict[str, AdapterContext]) -> None:
    path = (
        data_dir / "seattle/seattle_spd_calldata_avg_response_by_year_beat_priority_2009_2019.csv"
    )
    out = get_adapter("spd_avg_response")(path, seattle_ctx["spd_avg_response"])
    _check_contract(out, "spd_avg_response")
    assert out.rows_in == 2_645
    stats = out.tables["response_stats"]
    assert set(out.quarantine.column("reason").to_pylist()) == {"placeholder_record"}
    assert all(len(c) == 2 for c in stats.column("code").to_pylist())
    # README: 2019 median over beats of the average response: P1 8.0, P2 18.0 minutes.
    for cls, expected in (("1", 8.0), ("2", 18.0)):
        sel = stats.filter(
            pc.and_(
                pc.equal(stats.column("year"), 2019), pc.equal(stats.column("priority_class"), cls)
            )
        )
        vals = sorted(sel.column("avg_response_min").to_pylist())
        mid = len(vals) // 2
        median = vals[mid] if len(vals) % 2 else (vals[mid - 1] + vals[mid]) / 2
        assert median == pytest.approx(expected, abs=0.5)


def test_jiaxing_districts(data_dir: Path) -> None:
    ctx = AdapterContext(source="jiaxing_districts", city="jiaxing", tz="Asia/Shanghai", run_id="t")
    out = get_adapter("jiaxing_districts")(data_dir / "jiaxing/330400_full.json", ctx)
    _check_contract(out, "jiaxing_districts")
    zones = out.tables["zones"]
    assert zones.num_rows == 7
    assert sorted(zones.column("code").to_pylist()) == [
        "330402",
        "330411",
        "330421",
        "330424",
        "330481",
        "330482",
        "330483",
    ]
    names = dict(
        zip(zones.column("code").to_pylist(), zones.column("name").to_pylist(), strict=True)
    )
    assert names["330402"] == "南湖区"
    # Jiaxing: about 4,200 km² of land; the boundaries also take in part of Hangzhou Bay.
    assert 4_000 < pc.sum(zones.column("area_km2")).as_py() < 5_000
    # Every vertex moved by the GCJ-02 offset near Jiaxing (GCJ - WGS84: about +0.0046° lon,
    # -0.0022° lat, from the published pair WGS84 (121.0917077, 30.6107779)).
    doc = json.loads((data_dir / "jiaxing/330400_full.json").read_text(encoding="utf-8"))
    by_code = {str(f["properties"]["adcode"]): f for f in doc["features"]}
    for row in zones.to_pylist():
        wgs = shapely.get_coordinates(shapely.from_wkb(row["geometry"]))
        gcj = shapely.get_coordinates(shape(by_code[row["code"]]["geometry"]))
        assert wgs.shape == gcj.shape
        d = gcj - wgs
        assert 0.003 < d[:, 0].min(), row["code"]
        assert d[:, 0].max() < 0.007, row["code"]
        assert -0.004 < d[:, 1].min(), row["code"]
        assert d[:, 1].max() < -0.001, row["code"]
