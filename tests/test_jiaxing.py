"""The Jiaxing builder on the real districts synced into a lake, and the checked-in file."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.cities.jiaxing.build import COMMAND, build_jiaxing_scenario, render_scenario_yaml
from twin.cities.jiaxing.facts import CHECKPOINT_SITES, DISTRICTS, PTU_TEAMS, STATION_GROUPS
from twin.cities.jiaxing.geometry import JiaxingLayout, _sainte_lague, build_jiaxing_layout
from twin.cli import main
from twin.errors import ConfigError, DataError
from twin.geo import LocalProjection
from twin.model.checkpoints import CheckpointSpec
from twin.paths import scenarios_dir
from twin.scenario import load_scenario, parse_scenario
from twin.sources import load_config
from twin.statistics import largest_remainder
from twin.sync import run_sync

CHECKED_IN = scenarios_dir() / "jiaxing_baseline.yaml"


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake holding only Jiaxing's districts, synced from the real boundary file."""
    root = tmp_path_factory.mktemp("jx") / "lake"
    run_sync(load_config(), root, only=["jiaxing_districts"], durable=False)
    return root


@pytest.fixture(scope="module")
def layout(lake: Path) -> JiaxingLayout:
    return build_jiaxing_layout(lake)


@pytest.fixture(scope="module")
def scenario(lake: Path) -> dict[str, Any]:
    return build_jiaxing_scenario(lake)


# --------------------------------------------------------------------------- geometry
@pytest.mark.exact
def test_seven_districts_in_order(layout: JiaxingLayout) -> None:
    assert [d.fact.adcode for d in layout.districts] == [
        330402,
        330411,
        330421,
        330424,
        330481,
        330482,
        330483,
    ]
    assert sum(d.population for d in DISTRICTS) == 5_400_868  # the 2020 census city total


@pytest.mark.exact
def test_every_zone_lies_inside_its_district(layout: JiaxingLayout) -> None:
    by_code = {d.fact.adcode: d for d in layout.districts}
    for z in layout.zones:
        district = by_code[z.adcode].geometry
        assert district.buffer(1e-6).contains(z.geometry), z.id
        # the zone's location (WGS84 in the file) falls inside the zone itself
        x, y = layout.projection.forward([z.location[0]], [z.location[1]])
        assert z.geometry.buffer(1e-3).contains(shapely.Point(x[0], y[0])), z.id
        assert z.id.startswith(f"{z.adcode}-")


@pytest.mark.exact
def test_zone_areas_sum_to_the_district_areas(layout: JiaxingLayout) -> None:
    total_zones = sum(z.area_km2 for z in layout.zones)
    total_districts = sum(d.area_km2 for d in layout.districts)
    assert abs(total_zones - total_districts) <= 0.01 * total_districts
    for d in layout.districts:  # per district too, and much tighter than 1%
        zs = sum(z.area_km2 for z in layout.zones if z.adcode == d.fact.adcode)
        assert zs == pytest.approx(d.area_km2, rel=1e-6), d.fact.name


@pytest.mark.exact
def test_zones_do_not_overlap_and_have_no_slivers(layout: JiaxingLayout) -> None:
    union = shapely.union_all([z.geometry for z in layout.zones])
    assert union.area == pytest.approx(sum(z.area_km2 for z in layout.zones), rel=1e-6)
    cell = layout.params["zone_km"] ** 2
    smallest = min(z.area_km2 for z in layout.zones)
    assert smallest >= layout.params["min_zone_fraction"] * cell
    assert max(z.area_km2 for z in layout.zones) < 2.0 * cell


@pytest.mark.exact
def test_sea_cut_leaves_haiyan_its_official_land_area(layout: JiaxingLayout) -> None:
    haiyan = next(d for d in layout.districts if d.fact.adcode == 330424)
    assert haiyan.area_km2 == pytest.approx(584.96, abs=0.5)
    assert haiyan.raw_area_km2 > 900  # the file draws it far into Hangzhou Bay
    others = [d for d in layout.districts if d.fact.adcode != 330424]
    for d in others:  # no other district is cut
        assert d.area_km2 == pytest.approx(d.raw_area_km2, rel=1e-9)


# --------------------------------------------------------------------------- demand, fleet
@pytest.mark.exact
def test_demand_follows_the_stated_rate_and_census(scenario: dict[str, Any]) -> None:
    per_day = sum(z["rate_per_hour"] for z in scenario["zones"]) * 24.0
    assert per_day == pytest.approx(5_400_868 * 0.30 / 1000.0, rel=1e-5)
    by_district: dict[str, float] = {}
    for z in scenario["zones"]:
        by_district[z["district"]] = by_district.get(z["district"], 0.0) + z["rate_per_hour"]
    for d in DISTRICTS:
        assert by_district[d.name] * 24.0 == pytest.approx(d.population * 0.30 / 1000, rel=1e-4)
    # the urban core weighting: each district's densest zone is near its seat
    assert all(z["rate_per_hour"] > 0 for z in scenario["zones"])


@pytest.mark.exact
def test_fleet_is_116_ptu_plus_245_station_groups(scenario: dict[str, Any]) -> None:
    units = scenario["units"]
    kinds = [u["kind"] for u in units]
    assert kinds.count("ptu") == PTU_TEAMS == 116
    assert kinds.count("station") == STATION_GROUPS == 245
    assert len(units) == 361
    assert len({u["id"] for u in units}) == 361
    zone_district = {z["id"]: z["district"] for z in scenario["zones"]}
    all_zones = [z["id"] for z in scenario["zones"]]
    for u in units:
        if u["kind"] == "station":  # bound to its own district
            district = zone_district[u["post"]]
            assert u["area"] == scenario["district_zones"][district]
        else:  # PTU teams are city-wide
            assert u["area"] == all_zones


@pytest.mark.exact
def test_station_groups_are_apportioned_by_demand(scenario: dict[str, Any]) -> None:
    zone_district = {z["id"]: z["district"] for z in scenario["zones"]}
    count: dict[str, int] = {}
    for u in scenario["units"]:
        if u["kind"] == "station":
            d = zone_district[u["post"]]
            count[d] = count.get(d, 0) + 1
    pop = sum(d.population for d in DISTRICTS)
    for d in DISTRICTS:
        quota = STATION_GROUPS * d.population / pop
        assert abs(count[d.name] - quota) < 1.0, d.name


@pytest.mark.exact
def test_apportionment_rules_by_hand() -> None:
    # Hamilton: quotas 4.6, 3.3, 2.1 -> floors 4, 3, 2 (9) + the largest remainder (0.6)
    assert largest_remainder(10, [46, 33, 21]) == [5, 3, 2]
    # Sainte-Laguë, next seat to max d / (2 s + 1): on 10, 7, 1 seats go a (10), b (7),
    # a (10/3 = 3.3 > 7/3 = 2.3), b (7/3 = 2.3 > 10/5 = 2)
    assert _sainte_lague(4, [10.0, 7.0, 1.0], [0, 0, 0]) == [2, 2, 0]
    assert _sainte_lague(1, [10.0, 7.0, 1.0], [2, 2, 0]) == [3, 2, 0]  # 10/5 = 2 > 7/5, 1/1
    assert _sainte_lague(1, [10.0, 7.0, 3.0], [2, 2, 0]) == [2, 2, 1]  # 3/1 = 3 beats both


@pytest.mark.exact
def test_sixteen_smart_checkpoints_inside_their_districts(
    layout: JiaxingLayout, scenario: dict[str, Any]
) -> None:
    cps = scenario["checkpoints"]
    assert len(cps) == len(CHECKPOINT_SITES) == 16
    zone_district = {z["id"]: z["district"] for z in scenario["zones"]}
    by_name = {d.fact.name: d for d in layout.districts}
    for cp in cps:
        spec = CheckpointSpec.model_validate(cp)
        assert spec.mode == "smart"
        site = scenario["checkpoint_sites"][cp["id"]]
        assert zone_district[cp["zone"]] == site["district"]
        x, y = layout.projection.forward([site["location"][0]], [site["location"][1]])
        district = by_name[site["district"]].geometry
        assert district.buffer(1e-3).contains(shapely.Point(x[0], y[0])), cp["id"]
        assert spec.offered_load / spec.lanes < 0.5  # lanes ~30% busy: ~30 s to pass


# --------------------------------------------------------------------------- the file
@pytest.mark.golden
def test_checked_in_yaml_equals_the_builder_output(scenario: dict[str, Any]) -> None:
    expected = render_scenario_yaml(scenario)
    actual = CHECKED_IN.read_text(encoding="utf-8")
    assert actual == expected, (
        f"scenarios/jiaxing_baseline.yaml is stale: regenerate it with `{COMMAND}`"
    )


@pytest.mark.exact
def test_file_loads_and_keeps_every_assumption(scenario: dict[str, Any]) -> None:
    sc = load_scenario(CHECKED_IN)
    assert len(sc.zones) == len(scenario["zones"])
    assert len(sc.units) == 361
    assert len(sc.checkpoints) == 16
    assert sc.crs == "wgs84"
    assert sc.travel.model == "haversine"
    assert sc.dispatch.policy == "closest"
    assumptions = [a for a in sc.assumptions or [] if isinstance(a, dict)]
    keys = {a["key"] for a in assumptions}
    assert {
        "population",
        "calls_per_1000_per_day",
        "resident_density",
        "travel",
        "fleet",
        "posts",
        "checkpoints",
        "response_targets",
        "sea_cut",
        "intra_zone_travel",
    } <= keys
    text = CHECKED_IN.read_text(encoding="utf-8")
    header = text[: text.index("\nname:")]
    for a in assumptions:  # each one is also in the comment header, with its rationale
        assert f"# - {a['key']}:" in header
        assert a["rationale"] != ""
    assert yaml.safe_load(text) == scenario


@pytest.mark.e2e
def test_twin_calibrate_writes_the_same_file(tmp_path: Path, lake: Path) -> None:
    out = tmp_path / "sub" / "jx.yaml"
    assert main(["calibrate", "--city", "jiaxing", "--lake", str(lake), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == CHECKED_IN.read_text(encoding="utf-8")
    report = json.loads((tmp_path / "sub" / "jx.fit.json").read_text(encoding="utf-8"))
    checks = {p["name"]: p["value"] for p in report["parameters"] if p["name"].startswith("check:")}
    # no public data: the report says the load-response check cannot be made, not that it passed
    assert checks == {"check: load-response curve, real vs twin": "not checkable"}


@pytest.mark.exact
def test_a_coarser_grid_makes_fewer_larger_zones(lake: Path, scenario: dict[str, Any]) -> None:
    coarse = build_jiaxing_scenario(lake, zone_km=6.0)
    assert len(coarse["zones"]) < len(scenario["zones"])
    parse_scenario(coarse, source="coarse")
    assert len(coarse["units"]) == 361


# --------------------------------------------------------------------------- bad input
@pytest.mark.exact
def test_empty_lake_names_the_sync(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"twin sync .*jiaxing_districts"):
        build_jiaxing_scenario(tmp_path / "nolake")


@pytest.mark.exact
def test_lake_without_a_district_is_rejected(tmp_path: Path, data_dir: Path) -> None:
    # a real sync of a boundary file that lost Nanhu: the lake holds six districts
    raw = json.loads((data_dir / "jiaxing" / "330400_full.json").read_text(encoding="utf-8"))
    raw["features"] = [f for f in raw["features"] if f["properties"]["adcode"] != 330402]
    (tmp_path / "jiaxing").mkdir()
    (tmp_path / "jiaxing" / "330400_full.json").write_text(json.dumps(raw), encoding="utf-8")
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        f"data_dir: {tmp_path}\ncities:\n  - name: jiaxing\nsources:\n"
        "  - {name: jiaxing_districts, adapter: jiaxing_districts, "
        "path: jiaxing/330400_full.json, city: jiaxing}\n",
        encoding="utf-8",
    )
    run_sync(load_config(cfg), tmp_path / "lake", durable=False)
    with pytest.raises(DataError, match="330402 Nanhu"):
        build_jiaxing_layout(tmp_path / "lake")


@pytest.mark.exact
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"zone_km": 0.1}, "zone_km"),
        ({"calls_per_1000_per_day": 0.0}, "calls_per_1000_per_day"),
        ({"priority_shares": (0.5, 0.5, 0.5)}, "priority_shares"),
        ({"speed_kmh": -1.0}, "speed_kmh"),
    ],
)
def test_bad_parameters_raise_config_errors(lake: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build_jiaxing_scenario(lake, **kwargs)


@pytest.mark.exact
def test_cli_reports_errors_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "x.yaml"
    code = main(["calibrate", "--city", "jiaxing", "--lake", str(tmp_path), "--out", str(out)])
    assert code == 2
    assert "jiaxing_districts" in capsys.readouterr().err
    assert not out.exists()


# --------------------------------------------------------------------------- projection
@pytest.mark.property
@settings(max_examples=200, deadline=None)
@given(
    lon=st.floats(min_value=120.0, max_value=121.6),
    lat=st.floats(min_value=30.0, max_value=31.2),
)
def test_projection_round_trips_and_keeps_distances(lon: float, lat: float) -> None:
    proj = LocalProjection(120.8, 30.65)
    x, y = proj.forward([lon], [lat])
    back_lon, back_lat = proj.inverse(x, y)
    assert back_lon[0] == pytest.approx(lon, abs=1e-9)
    assert back_lat[0] == pytest.approx(lat, abs=1e-9)
    # distance to the centre equals the great-circle distance within 0.1% at city scale
    p1, p2 = math.radians(30.65), math.radians(lat)
    dl = math.radians(lon - 120.8)
    a = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    great = 2 * 6371.0088 * math.asin(math.sqrt(a))
    assert float(np.hypot(x[0], y[0])) == pytest.approx(great, rel=1e-3, abs=1e-9)
