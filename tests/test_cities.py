"""The city registry: one package per city, looked up by name; time zones live only there."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.cities import CITIES, City, city_of_scenario, get_city, scenario_agency
from twin.errors import ConfigError, DataError, TwinError
from twin.paths import scenarios_dir
from twin.scenario import load_scenario, parse_scenario
from twin.sources import load_config


@pytest.mark.exact
def test_every_city_package_is_registered_with_its_facts() -> None:
    assert sorted(CITIES) == ["jiaxing", "sanfrancisco", "seattle"]
    for name, city in CITIES.items():
        assert isinstance(city, City)
        assert city.name == name
        assert city.module == f"twin.cities.{name}"
        assert city.default_agency in city.agency_choices
    assert get_city("seattle").agency_choices == ("all", "police", "fire")
    assert get_city("sanfrancisco").default_agency == "fire"
    assert get_city("jiaxing").tz == "Asia/Shanghai"


@pytest.mark.exact
def test_unknown_city_names_the_known_ones() -> None:
    with pytest.raises(DataError, match=r"'atlantis'.*jiaxing.*sanfrancisco.*seattle"):
        get_city("atlantis")


@pytest.mark.exact
def test_priority_levels_are_the_citys_own() -> None:
    import pandas as pd

    raw = pd.Series([1, 2, 3, 4, 5, 7, None])
    police = get_city("seattle").priority_levels("police", raw).tolist()
    assert police[:6] == [1, 2, 3, 3, 4, 4]  # SPD 1, 2, 3 & 4, 5+
    assert get_city("seattle").priority_levels("fire", raw).tolist()[:3] == [1, 2, 3]
    assert get_city("sanfrancisco").priority_levels("fire", raw).tolist()[:6] == [1, 2, 3, 4, 5, 7]


@pytest.mark.exact
def test_city_of_scenario_reads_the_calibration_block_then_the_zone_ids() -> None:
    sf = load_scenario(scenarios_dir() / "sanfrancisco_baseline.yaml")
    assert city_of_scenario(sf).name == "sanfrancisco"
    assert scenario_agency(sf) == "fire"
    jx = load_scenario(scenarios_dir() / "jiaxing_baseline.yaml")
    assert city_of_scenario(jx).name == "jiaxing"
    bare = parse_scenario(
        {
            "name": "bare",
            "horizon": 60,
            "zones": [{"id": "seattle:beat:C3", "location": [0, 0], "rate_per_hour": 1.0}],
            "units": [{"id": "u1", "post": "seattle:beat:C3"}],
        }
    )
    assert city_of_scenario(bare).name == "seattle"
    assert scenario_agency(bare) == "police"  # the city's first agency
    nowhere = parse_scenario(
        {
            "name": "nowhere",
            "horizon": 60,
            "zones": [{"id": "z1", "location": [0, 0], "rate_per_hour": 1.0}],
            "units": [{"id": "u1", "post": "z1"}],
        }
    )
    with pytest.raises(TwinError, match="cannot tell its city"):
        city_of_scenario(nowhere)


@pytest.mark.exact
def test_sync_config_takes_time_zone_and_box_from_the_city(tmp_path: Path) -> None:
    cfg = load_config()
    for c in cfg.cities:
        assert c.tz == CITIES[c.name].tz
        assert c.bbox == CITIES[c.name].bbox
    bad = tmp_path / "sources.yaml"
    bad.write_text("cities:\n  - {name: seattle, tz: Asia/Shanghai}\nsources: []\n")
    with pytest.raises(ConfigError, match=r"disagrees with twin\.cities"):
        load_config(bad)
    other = tmp_path / "other.yaml"
    other.write_text("cities:\n  - {name: testville}\nsources: []\n")
    with pytest.raises(ConfigError, match="give its tz and bbox"):
        load_config(other)
