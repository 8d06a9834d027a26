"""Shared ingest helpers: time conversion (DST), GCJ-02, spatial join, validation checks."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from twin.errors import ConfigError
from twin.ingest.gcj02 import gcj02_to_wgs84, in_china, wgs84_to_gcj02
from twin.ingest.spatial import ZoneIndex, area_km2, make_zones_table
from twin.ingest.timeconv import ISO, local_to_utc, parse_times
from twin.ingest.validate import (
    Triage,
    blank_to_null,
    classify_duplicates,
    empty_mask,
    lifecycle_violations,
    outside_bbox,
    parse_floats,
    timestamps_to_int,
)

LA = "America/Los_Angeles"
FMT = "%m/%d/%Y %I:%M:%S %p"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# ----------------------------------------------------------------------------- time


@pytest.mark.exact
def test_parse_local_times_and_dst() -> None:
    values = pa.array(
        [
            "01/15/2020 08:00:00 AM",  # PST, UTC-8
            "07/15/2020 08:00:00 AM",  # PDT, UTC-7
            "11/04/2018 01:30:00 AM",  # ambiguous: first occurrence (PDT)
            "03/10/2019 02:30:00 AM",  # nonexistent: moved to 03:00 PDT
            "11/04/2023 6:08:26 PM",  # hour without leading zero
            "",
            "   ",
            None,
            "13/45/2020 99:00:00 AM",
        ]
    )
    got = parse_times(values, [FMT], LA)
    assert got.utc.to_pylist() == [
        utc(2020, 1, 15, 16),
        utc(2020, 7, 15, 15),
        utc(2018, 11, 4, 8, 30),
        utc(2019, 3, 10, 10),
        utc(2023, 11, 5, 1, 8, 26),
        None,
        None,
        None,
        None,
    ]
    assert got.empty.tolist() == [False] * 5 + [True, True, True, False]
    assert got.bad.tolist() == [False] * 8 + [True]
    assert got.nonexistent.tolist() == [False, False, False, True] + [False] * 5


@pytest.mark.exact
def test_nonexistent_null_policy_flags_the_gap() -> None:
    values = pa.array(["03/10/2019 02:00:00 AM", "03/10/2019 03:00:00 AM"])
    got = parse_times(values, [FMT], LA, nonexistent="null")
    assert got.utc.to_pylist() == [None, utc(2019, 3, 10, 10)]
    assert got.bad.tolist() == [True, False]
    assert got.nonexistent.tolist() == [True, False]


@pytest.mark.exact
def test_explicit_offset_and_iso_and_format_fallback() -> None:
    got = parse_times(
        pa.array(["06/12/2015 08:52:00 PM +0000", "2015-06-12T20:52:00.000"]),
        ["%m/%d/%Y %I:%M:%S %p %z", ISO],
        LA,
    )
    # %z carries its own offset; ISO floating times are local to the zone given.
    assert got.utc.to_pylist() == [utc(2015, 6, 12, 20, 52), utc(2015, 6, 13, 3, 52)]
    two_digit = parse_times(pa.array(["12/30/15 20:42"]), ["%m/%d/%y %H:%M"], LA)
    assert two_digit.utc.to_pylist() == [utc(2015, 12, 31, 4, 42)]


@pytest.mark.exact
def test_local_to_utc_utc_zone_and_unknown_zone() -> None:
    naive = pa.array([datetime(2020, 3, 8, 2, 30)], pa.timestamp("us"))
    out, gap = local_to_utc(naive, "UTC")
    assert out.to_pylist() == [utc(2020, 3, 8, 2, 30)]
    assert not gap.any()
    with pytest.raises(ConfigError, match="unknown time zone"):
        parse_times(pa.array(["x"]), [FMT], "Mars/Olympus")


@pytest.mark.property
@settings(max_examples=60, deadline=None)
@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 12, 31)))
def test_utc_round_trip_outside_dst_edges(moment: datetime) -> None:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(LA)
    moment = moment.replace(microsecond=0)
    aware = moment.replace(tzinfo=zone)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    fold_free = back == moment and aware.utcoffset() == aware.replace(fold=1).utcoffset()
    text = moment.strftime("%m/%d/%Y %I:%M:%S %p")
    got = parse_times(pa.array([text]), [FMT], LA)
    if fold_free:
        assert got.utc.to_pylist() == [aware.astimezone(UTC)]
    assert not got.bad.any()


# ----------------------------------------------------------------------------- GCJ-02

KNOWN_PAIRS = [
    # (wgs lon, wgs lat, gcj lon, gcj lat) published with eviltransform (Shanghai, Shenzhen,
    # Beijing); our forward map must reproduce them.
    (121.5272106, 31.1774276, 121.531541859215, 31.17530398364597),
    (113.912316, 22.543847, 113.9171764808363, 22.540796131694766),
    (116.377817, 39.911954, 116.38404722455657, 39.91334545536069),
]


@pytest.mark.exact
@pytest.mark.parametrize(("wlon", "wlat", "glon", "glat"), KNOWN_PAIRS)
def test_gcj_forward_and_inverse_known_pairs(
    wlon: float, wlat: float, glon: float, glat: float
) -> None:
    f_lon, f_lat = wgs84_to_gcj02([wlon], [wlat])
    assert f_lon[0] == pytest.approx(glon, abs=1e-9)
    assert f_lat[0] == pytest.approx(glat, abs=1e-9)
    i_lon, i_lat = gcj02_to_wgs84([glon], [glat])
    # < 1 m: 1e-5 degrees is about 1.1 m in latitude.
    assert abs(i_lon[0] - wlon) * 111_000 * math.cos(math.radians(wlat)) < 0.01
    assert abs(i_lat[0] - wlat) * 111_000 < 0.01


@pytest.mark.exact
def test_gcj_outside_china_is_identity() -> None:
    lon, lat = gcj02_to_wgs84([-122.33, 0.0], [47.6, 0.0])
    assert lon.tolist() == [-122.33, 0.0]
    assert lat.tolist() == [47.6, 0.0]
    assert in_china([120.7], [30.7]).tolist() == [True]


@pytest.mark.property
@settings(max_examples=100, deadline=None)
@given(
    st.floats(min_value=100.0, max_value=125.0),
    st.floats(min_value=20.0, max_value=45.0),
)
def test_gcj_round_trip_under_a_millimetre(lon: float, lat: float) -> None:
    g_lon, g_lat = wgs84_to_gcj02([lon], [lat])
    w_lon, w_lat = gcj02_to_wgs84(g_lon, g_lat)
    assert abs(w_lon[0] - lon) < 1e-8
    assert abs(w_lat[0] - lat) < 1e-8
    # the shift itself is a few hundred metres
    assert 1e-4 < math.hypot(g_lon[0] - lon, g_lat[0] - lat) < 0.02


# ----------------------------------------------------------------------------- spatial


def _grid_zones() -> pa.Table:
    geoms = [box(0, 0, 1, 1), box(1, 0, 2, 1), box(0, 1, 2, 2)]
    return make_zones_table(
        zone_ids=["t:cell:A", "t:cell:B", "t:cell:C"],
        source="test",
        city="t",
        kind="cell",
        codes=["A", "B", "C"],
        districts=["west", "east", None],
        names=[None, None, None],
        geometries=geoms,
    )


@pytest.mark.exact
def test_zone_index_assigns_points() -> None:
    index = ZoneIndex(_grid_zones())
    lon = np.array([0.5, 1.5, 1.0, 0.5, 5.0, np.nan, 0.5])
    lat = np.array([0.5, 0.5, 0.5, 1.5, 5.0, 0.5, 0.5])
    got = index.assign(lon, lat)
    # (1.0, 0.5) lies on the A|B edge: the first zone id wins.
    assert got.zone.to_pylist() == [
        "t:cell:A",
        "t:cell:B",
        "t:cell:A",
        "t:cell:C",
        None,
        None,
        "t:cell:A",
    ]
    assert got.district.to_pylist() == ["west", "east", "west", None, None, None, "west"]
    assert got.found.tolist() == [True, True, True, True, False, False, True]


@pytest.mark.exact
def test_zone_areas_and_centroids() -> None:
    zones = _grid_zones()
    row = zones.to_pylist()[0]
    assert (row["centroid_lon"], row["centroid_lat"]) == (0.5, 0.5)
    # one degree square at the equator: 111.2 km x 111.2 km
    assert row["area_km2"] == pytest.approx(111.195**2, rel=1e-3)
    assert area_km2(box(0, 60, 1, 61)) == pytest.approx(
        111.195**2 * math.cos(math.radians(60.5)), rel=2e-3
    )
    assert shapely.from_wkb(row["geometry"]).equals(box(0, 0, 1, 1))


# ----------------------------------------------------------------------------- validation


@pytest.mark.exact
def test_parse_floats_and_blanks() -> None:
    nums, bad = parse_floats(pa.array(["1.5", "", " ", "-122.3", "abc", "nan", "1e3"]))
    assert bad.tolist() == [False, False, False, False, True, True, False]
    assert nums[0] == 1.5
    assert nums[3] == -122.3
    assert nums[6] == 1000.0
    assert np.isnan(nums[[1, 2, 4, 5]]).all()
    assert empty_mask(pa.array(["", " ", "x", None])).tolist() == [True, True, False, True]
    assert blank_to_null(pa.array(["a", "", "  ", "b"])).to_pylist() == ["a", None, None, "b"]


@pytest.mark.exact
def test_lifecycle_allows_equal_and_skips_nulls() -> None:
    ts = pa.array(
        [
            [utc(2020, 1, 1, 0), utc(2020, 1, 1, 0), utc(2020, 1, 1, 1)],  # equal: fine
            [utc(2020, 1, 1, 2), None, utc(2020, 1, 1, 1)],  # onscene before received
            [utc(2020, 1, 1, 0), None, None],
            [utc(2020, 1, 1, 0), utc(2019, 12, 31), utc(2020, 1, 1, 1)],
        ]
    )
    cols = [
        timestamps_to_int(pa.array([r[i] for r in ts.to_pylist()], pa.timestamp("us", "UTC")))
        for i in range(3)
    ]
    assert lifecycle_violations(cols).tolist() == [False, True, False, True]


@pytest.mark.exact
def test_bbox_rejects_zero_and_far_points() -> None:
    lon = np.array([-122.3, 0.0, -121.0, np.nan])
    lat = np.array([47.6, 0.0, 47.6, np.nan])
    assert outside_bbox(lon, lat, (-122.5, 47.4, -122.2, 47.8)).tolist() == [
        False,
        True,
        True,
        False,
    ]
    assert not outside_bbox(lon, lat, None).any()


@pytest.mark.exact
def test_classify_duplicates_policy() -> None:
    raw = pa.table(
        {
            "id": ["a", "b", "a", "c", "c", "c", None, None],
            "v": ["1", "2", "1", "x", "y", "x", "z", "z"],
        }
    )
    exact, conflict = classify_duplicates(raw, raw.column("id"))
    # a: exact copy; c: two versions (all held back) plus an exact copy of one of them.
    assert exact.tolist() == [False, False, True, False, False, True, False, False]
    assert conflict.tolist() == [False, False, False, True, True, False, False, False]


@pytest.mark.exact
def test_triage_first_reason_wins_and_quarantine_rows() -> None:
    raw = pa.table({"id": ["1", "2", "3", "4"], "t": ["x", "y", "z", "w"]})
    tri = Triage(4)
    assert tri.duplicates(np.array([False, False, False, True])) == 1
    assert tri.flag(np.array([True, True, False, True]), "missing_id", "no id") == 2
    assert (
        tri.flag(
            np.array([True, False, True, False]),
            "unparseable_time",
            lambda i: [f"row {j}" for j in i],
        )
        == 1
    )
    assert (tri.rows_ok, tri.rows_quarantined, tri.rows_duplicate) == (0, 3, 1)
    q = tri.quarantine(
        raw, source="s", run_id="r", file="f.csv", row_numbers=np.array([10, 11, 12, 13])
    )
    assert q.column("row_number").to_pylist() == [10, 11, 12]
    assert q.column("reason").to_pylist() == ["missing_id", "missing_id", "unparseable_time"]
    assert q.column("detail").to_pylist() == ["no id", "no id", "row 2"]
    assert q.column("raw").to_pylist()[2] == '{"id": "3", "t": "z"}'
    assert tri.reasons() == {"missing_id": 2, "unparseable_time": 1}


@pytest.mark.exact
def test_zone_index_snaps_near_points_only() -> None:
    index = ZoneIndex(_grid_zones())
    # 0.001° east of cell B's outer edge at the equator is about 111 m away.
    lon = np.array([2.001, 2.01])
    lat = np.array([0.5, 0.5])
    assert index.lookup(lon, lat).tolist() == [-1, -1]
    assert index.lookup(lon, lat, snap_m=150).tolist() == [1, -1]
    assert index.lookup(lon, lat, snap_m=50).tolist() == [-1, -1]


@pytest.mark.exact
def test_zone_index_memo_gives_the_same_answers() -> None:
    rng = np.random.default_rng(7)
    lon = np.round(rng.uniform(-0.5, 2.5, 500), 2)
    lat = np.round(rng.uniform(-0.5, 2.5, 500), 2)
    warm = ZoneIndex(_grid_zones())
    first = warm.lookup(lon[:200], lat[:200])
    again = warm.lookup(lon, lat)  # 200 remembered, the rest new
    fresh = ZoneIndex(_grid_zones()).lookup(lon, lat)
    assert (again == fresh).all()
    assert (first == fresh[:200]).all()
    assert (fresh >= 0).sum() > 100


@pytest.mark.exact
def test_zone_index_snap_memo_gives_the_same_answers() -> None:
    rng = np.random.default_rng(11)
    lon = np.round(rng.uniform(-0.5, 2.5, 400), 2)
    lat = np.round(rng.uniform(-0.5, 2.5, 400), 2)
    warm = ZoneIndex(_grid_zones())
    for snap in (20_000.0, 40_000.0):
        first = warm.lookup(lon[:150], lat[:150], snap_m=snap)
        again = warm.lookup(lon, lat, snap_m=snap)  # snapped answers of 150 points remembered
        fresh = ZoneIndex(_grid_zones()).lookup(lon, lat, snap_m=snap)
        assert (again == fresh).all()
        assert (first == fresh[:150]).all()
    near = ZoneIndex(_grid_zones()).lookup(lon, lat, snap_m=20_000.0)
    far = ZoneIndex(_grid_zones()).lookup(lon, lat, snap_m=40_000.0)
    exact = ZoneIndex(_grid_zones()).lookup(lon, lat)
    assert (near >= 0).sum() > (exact >= 0).sum()  # snapping found some outside points
    assert (far >= 0).sum() > (near >= 0).sum()  # the memo of one distance is not reused


@pytest.mark.exact
def test_zone_index_per_zone_and_tree_queries_agree() -> None:
    rng = np.random.default_rng(3)
    # Random points plus points on shared edges and corners (they go to the first zone).
    lon = np.concatenate([rng.uniform(-0.5, 2.5, 2000), [1.0, 1.0, 0.5, 1.5, 2.0, 0.0]])
    lat = np.concatenate([rng.uniform(-0.5, 2.5, 2000), [0.5, 1.0, 1.0, 1.0, 2.0, 0.0]])
    where = lon + 1j * lat
    index = ZoneIndex(_grid_zones())
    per_zone = index._query(where)
    tree = index._query_tree(where)
    assert (per_zone == tree).all()
    assert per_zone[-6:].tolist() == [0, 0, 0, 1, 2, 0]
    assert (per_zone == -1).sum() > 100
