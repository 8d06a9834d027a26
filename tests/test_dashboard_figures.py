"""Pure parts of the dashboards on small hand-made frames: figures, geometry, summaries."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import shapely
from shapely.geometry import Point, box

from dashboards import figures as F
from dashboards.components import fmt, summary_kpis
from dashboards.data import (
    by_priority_frame,
    dispatch_frame,
    find_results,
    load_summary,
    match_zone_counts,
    period_grain,
    presence_frames,
    resolve_result,
    result_response_minutes,
    units_frame,
)
from dashboards.geo import bounds_of, map_view, zones_geojson
from twin.errors import DataError

pytestmark = pytest.mark.exact


def _zones() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "zone_id": ["c:beat:A", "c:beat:B", "c:precinct:P", "c:beat:bad"],
            "kind": ["beat", "beat", "precinct", "beat"],
            "code": ["A", "B", "P", "bad"],
            "name": ["beat A", "beat B", "precinct", None],
            "geometry": [
                shapely.to_wkb(box(0, 0, 1, 1)),
                shapely.to_wkb(box(1, 0, 2, 1)),
                shapely.to_wkb(box(0, 0, 2, 1)),
                b"not wkb",
            ],
        }
    )


# -- geometry -------------------------------------------------------------------------------


def test_zones_geojson_ids_properties_and_bad_geometry_skipped() -> None:
    gj = zones_geojson(_zones())
    assert gj["type"] == "FeatureCollection"
    assert [f["id"] for f in gj["features"]] == ["c:beat:A", "c:beat:B", "c:precinct:P"]
    first = gj["features"][0]
    assert first["properties"] == {"code": "A", "name": "beat A", "kind": "beat"}
    assert first["geometry"]["type"] == "Polygon"
    ring = first["geometry"]["coordinates"][0]
    assert {tuple(p) for p in ring} == {(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)}
    json.dumps(gj)  # serialisable as is
    assert bounds_of(gj) == (0.0, 0.0, 2.0, 1.0)
    assert bounds_of({"features": []}) is None


def test_map_view_fits_bounds() -> None:
    # the whole world's width in a 512-px map is zoom 0 (plotly: world = 512 * 2**zoom px)
    center, zoom = map_view((-180.0, 0.0, 180.0, 0.0), width_px=512, padding=0.0)
    assert center == {"lon": 0.0, "lat": 0.0}
    assert zoom == 0.0
    # a quarter of it: zoom 2
    _, zoom = map_view((0.0, 0.0, 90.0, 0.0), width_px=512, padding=0.0)
    assert zoom == 2.0
    # a point: the maximum zoom; nothing: the world
    assert map_view((5.0, 6.0, 5.0, 6.0)) == ({"lon": 5.0, "lat": 6.0}, 16.0)
    assert map_view(None) == ({"lon": 0.0, "lat": 0.0}, 0.5)
    # a tall box is limited by the height
    _, tall = map_view((0.0, -10.0, 1.0, 10.0), width_px=800, height_px=200, padding=0.0)
    merc = math.log(math.tan(math.pi / 4 + math.radians(10) / 2)) / math.pi  # y span, world=1
    assert tall == round(math.log2(200 / (512 * merc)), 2)


# -- figures --------------------------------------------------------------------------------


def _assert_offline_map(fig: object) -> None:
    layout = fig.layout  # type: ignore[attr-defined]
    assert layout.map.style == "white-bg"
    as_json = fig.to_json()  # type: ignore[attr-defined]
    assert "mapbox" not in as_json
    assert "http" not in as_json  # no tile, style, glyph or sprite URL anywhere
    for trace in fig.data:  # type: ignore[attr-defined]
        assert trace.type in ("choroplethmap", "scattermap")


def test_hour_of_week_grid() -> None:
    counts = pd.DataFrame({"dow": [0, 0, 6, 0], "hour": [9, 23, 11, 9], "n": [2, 1, 4, 3]})
    fig = F.hour_of_week_figure(counts, "America/Los_Angeles")
    (trace,) = fig.data
    z = [list(row) for row in trace.z]
    assert len(z) == 7
    assert all(len(row) == 24 for row in z)
    assert z[0][9] == 5
    assert z[0][23] == 1
    assert z[6][11] == 4
    assert sum(map(sum, z)) == 10
    assert list(trace.y) == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    assert "America/Los_Angeles" in fig.layout.title.text


def test_quarantine_heatmap_fills_missing_pairs() -> None:
    counts = pd.DataFrame({"source": ["b", "a", "a"], "reason": ["x", "y", "x"], "n": [1, 2, 3]})
    (trace,) = F.quarantine_heatmap(counts).data
    assert list(trace.y) == ["a", "b"]
    assert list(trace.x) == ["x", "y"]
    assert [list(r) for r in trace.z] == [[3, 2], [1, 0]]


def test_zone_choropleth_counts_every_zone() -> None:
    gj = zones_geojson(_zones()[_zones()["kind"] == "beat"])
    counts = pd.DataFrame({"zone_id": ["c:beat:B"], "n": [7]})
    fig = F.zone_choropleth(counts, gj, title="Calls per beat")
    (trace,) = fig.data
    assert list(trace.locations) == ["c:beat:A", "c:beat:B"]
    assert list(trace.z) == [0, 7]
    assert list(trace.text) == ["A", "B"]
    assert trace.featureidkey == "id"
    _assert_offline_map(fig)
    assert fig.layout.map.center.lon == 1.0
    assert fig.layout.map.center.lat == 0.5


def test_points_and_devices_maps_are_offline_with_zone_layer() -> None:
    gj = zones_geojson(_zones())
    points = pd.DataFrame({"lon": [0.5, 1.5], "lat": [0.5, 0.5], "label": ["a", "b"]})
    fig = F.points_map(points, gj)
    _assert_offline_map(fig)
    assert list(fig.data[0].lon) == [0.5, 1.5]
    (layer,) = fig.layout.map.layers
    assert layer.type == "line"
    assert layer.source["features"][0]["id"] == "c:beat:A"

    devices = pd.DataFrame(
        {
            "device_id": ["c1", "c2", "n1", "x"],
            "kind": ["camera", "camera", "counter", "camera"],
            "name": ["Cam 1", None, "Counter", "nowhere"],
            "lon": [0.1, 0.2, 0.3, None],
            "lat": [0.1, 0.2, 0.3, None],
        }
    )
    fig = F.devices_map(devices, gj)
    _assert_offline_map(fig)
    assert [t.name for t in fig.data] == ["camera (2)", "counter (1)"]
    assert list(fig.data[0].text) == ["Cam 1", "c2"]


def test_utilisation_sorted_naturally() -> None:
    units = pd.DataFrame({"unit_id": ["u10", "u2", "u1"], "utilization": [0.1, 0.2, 0.3]})
    (trace,) = F.utilisation_figure(units).data
    assert list(trace.x) == ["u1", "u2", "u10"]
    assert list(trace.y) == [0.3, 0.2, 0.1]


def test_dispatch_heatmap_grid() -> None:
    fr = pd.DataFrame(
        {
            "unit_id": ["u2", "u1", "u1"],
            "zone_id": ["z10", "z2", "z10"],
            "fraction": [0.5, 0.2, 0.3],
        }
    )
    (trace,) = F.dispatch_heatmap(fr).data
    assert list(trace.y) == ["u1", "u2"]
    assert list(trace.x) == ["z2", "z10"]
    assert [list(r) for r in trace.z] == [[0.2, 0.3], [0.0, 0.5]]


def test_run_outcomes_daily_readings_histogram() -> None:
    ledger = pd.DataFrame(
        {
            "source": ["a", "b"],
            "rows_ok": [5, 0],
            "rows_quarantined": [2, 0],
            "rows_duplicate": [1, 0],
        }
    )
    fig = F.run_outcomes_figure(ledger)
    assert [t.name for t in fig.data] == ["landed", "quarantined", "duplicate"]
    assert list(fig.data[0].y) == ["b", "a"]
    assert list(fig.data[0].x) == [0, 5]
    assert fig.layout.barmode == "stack"

    daily = pd.DataFrame(
        {
            "day": ["2024-01-02", "2024-01-01", "2024-01-01"],
            "source": ["s", "s", "t"],
            "n": [4, 3, 1],
        }
    )
    fig = F.daily_counts_figure(daily)
    assert [t.name for t in fig.data] == ["s", "t"]
    assert list(fig.data[0].x) == ["2024-01-01", "2024-01-02"]
    assert list(fig.data[0].y) == [3, 4]

    readings = pd.DataFrame(
        {"time": [2, 1, 1], "metric": ["e", "e", "w"], "value": [5.0, 4.0, 1.0]}
    )
    fig = F.readings_figure(readings)
    assert [(t.name, list(t.x), list(t.y)) for t in fig.data] == [
        ("e", [1, 2], [4.0, 5.0]),
        ("w", [1], [1.0]),
    ]

    (hist,) = F.response_histogram(pd.Series([1.0, None, 3.0])).data
    assert list(hist.x) == [1.0, 3.0]


def test_empty_frames_give_messages_not_errors() -> None:
    empty = pd.DataFrame(columns=["source", "reason", "n"])
    fig = F.quarantine_heatmap(empty)
    assert fig.data == ()
    assert "Nothing quarantined" in fig.layout.annotations[0].text
    for fig in (
        F.run_outcomes_figure(pd.DataFrame()),
        F.hour_of_week_figure(pd.DataFrame()),
        F.daily_counts_figure(pd.DataFrame()),
        F.utilisation_figure(pd.DataFrame()),
        F.dispatch_heatmap(pd.DataFrame()),
        F.readings_figure(pd.DataFrame()),
        F.response_histogram(pd.Series(dtype="float64")),
        F.points_map(pd.DataFrame(columns=["lon", "lat"]), None),
        F.zone_choropleth(pd.DataFrame(columns=["zone_id", "n"]), {"features": []}),
        F.devices_map(pd.DataFrame(columns=["device_id", "kind", "name", "lon", "lat"]), None),
    ):
        assert fig.data == ()
        assert fig.layout.annotations[0].text


# -- zone matching and summaries ------------------------------------------------------------


def test_match_zone_counts_ids_codes_and_unknowns() -> None:
    counts = pd.DataFrame(
        {"zone": ["c:beat:A", "B", "A", None, "ZZ", "c:precinct:P"], "n": [2, 3, 1, 4, 5, 1]}
    )
    kind, matched, unmatched = match_zone_counts(counts, _zones())
    assert kind == "beat"
    assert matched.to_dict("list") == {"zone_id": ["c:beat:A", "c:beat:B"], "n": [3, 3]}
    assert unmatched == 16 - 6
    assert match_zone_counts(counts, _zones().iloc[0:0])[0] is None


SUMMARY = {
    "scenario": "s",
    "seed": 3,
    "replications": 2,
    "incidents": 1500,
    "p_wait": 0.125,
    "p_lost": 0.0,
    "mean_wait_min": 2.25,
    "response_min": {"mean": 7.0, "p50": 6.5, "p90": 12.0},
    "by_priority": {"1": {"p_wait": 0.1, "response_min": {"mean": 5.0, "p90": 8.0}}},
    "units": {"u1": {"utilization": 0.5, "dispatches": 10}, "u2": {"utilization": 0.25}},
    "dispatch_fractions": {"u1": {"z1": 0.75}, "u2": {"z1": 0.05, "z2": 0.2}},
    "out_of_area_fraction": 0.1,
    "ci95": {"p_wait": 0.01, "mean_wait_min": 0.5},
}


def test_summary_frames_and_kpis() -> None:
    units = units_frame(SUMMARY)
    assert units["unit_id"].tolist() == ["u1", "u2"]
    assert units["utilization"].tolist() == [0.5, 0.25]
    assert units["dispatches"].iloc[0] == 10
    assert pd.isna(units["dispatches"].iloc[1])
    assert dispatch_frame(SUMMARY).to_dict("list") == {
        "unit_id": ["u1", "u2", "u2"],
        "zone_id": ["z1", "z1", "z2"],
        "fraction": [0.75, 0.05, 0.2],
    }
    assert by_priority_frame(SUMMARY).to_dict("records") == [
        {"priority": "1", "p_wait": 0.1, "response_min_mean": 5.0, "response_min_p90": 8.0}
    ]
    kpis = dict(summary_kpis(SUMMARY))
    assert kpis["P(wait)"] == "12.5% ± 1.0%"
    assert kpis["mean wait"] == "2.2 min ± 0.5"
    assert kpis["response p90"] == "12.0 min"
    assert kpis["incidents"] == "1,500"
    assert kpis["seed × replications"] == "3 × 2"
    assert kpis["out of area"] == "10.0%"
    assert dict(summary_kpis({}))["P(wait)"] == "–"
    assert fmt(float("nan")) == "–"
    assert fmt(1234567) == "1,234,567"


def test_result_folders(tmp_path: Path) -> None:
    assert find_results(tmp_path / "missing") == []
    for name, age in (("old", 100), ("new", 200), ("deep/a/b/c/d", 300), (".hidden", 400)):
        folder = tmp_path / name
        folder.mkdir(parents=True)
        (folder / "summary.json").write_text(json.dumps({"scenario": name}))
        os.utime(folder / "summary.json", (age, age))
    (tmp_path / "summary.json").write_text("[1, 2]")
    os.utime(tmp_path / "summary.json", (50, 50))
    assert [r.name for r in find_results(tmp_path)] == ["new", "old", "."]
    assert resolve_result(tmp_path, "new") == (tmp_path / "new").resolve()
    with pytest.raises(DataError, match="no result"):
        resolve_result(tmp_path, "../" + tmp_path.name + "/../..")
    with pytest.raises(DataError, match="no result"):
        resolve_result(tmp_path, "absent")
    with pytest.raises(DataError, match="JSON object"):
        load_summary(tmp_path)
    (tmp_path / "old" / "summary.json").write_text("{oops")
    with pytest.raises(DataError, match="not valid JSON"):
        load_summary(tmp_path / "old")
    with pytest.raises(DataError, match="twin simulate"):
        load_summary(tmp_path / "absent")


def test_result_response_minutes(tmp_path: Path) -> None:
    assert result_response_minutes(tmp_path).empty
    pq.write_table(
        pa.table({"received": [0.0, 10.0, 20.0], "onscene": [5.0, None, 27.5]}),
        tmp_path / "incidents.parquet",
    )
    assert result_response_minutes(tmp_path).tolist()[0::2] == [5.0, 7.5]
    pq.write_table(
        pa.table({"response_min": [1.5, 2.5], "onscene": [9.0, 9.0]}),
        tmp_path / "incidents.parquet",
    )
    assert result_response_minutes(tmp_path).tolist() == [1.5, 2.5]


def test_geometry_helpers_accept_points() -> None:
    frame = pd.DataFrame({"zone_id": ["p"], "geometry": [shapely.to_wkb(Point(3, 4))]})
    gj = zones_geojson(frame)
    assert gj["features"][0]["geometry"] == {"type": "Point", "coordinates": (3.0, 4.0)}


def test_presence_frames_and_figure() -> None:
    summary = {
        "presence": {
            "mean_patrolling": 1.5,
            "by_zone": {"z10": 0.5, "z2": 1.0},
            "by_hour": [1.0, None, 2.0],
        }
    }
    zones, hours = presence_frames(summary)
    assert zones.to_dict("list") == {"zone_id": ["z10", "z2"], "units": [0.5, 1.0]}
    assert hours.to_dict("list") == {"hour": [0, 2], "units": [1.0, 2.0]}
    fig = F.presence_figure(zones, hours)
    bars, line = fig.data
    assert list(bars.x) == ["z2", "z10"]
    assert list(bars.y) == [1.0, 0.5]
    assert list(line.x) == [0, 2]
    empty = presence_frames({"presence": {"mean_patrolling": None, "by_zone": {}, "by_hour": []}})
    assert F.presence_figure(*empty).data == ()
    assert presence_frames({})[0].empty


def test_period_grain() -> None:
    d = dt.date
    assert period_grain(None, d(2024, 1, 1)) == "day"
    assert period_grain(d(2024, 1, 1), d(2024, 4, 30)) == "day"
    assert period_grain(d(2024, 1, 1), d(2024, 5, 1)) == "week"
    assert period_grain(d(2015, 1, 1), d(2017, 12, 31)) == "week"
    assert period_grain(d(2015, 1, 1), d(2023, 12, 28)) == "month"
