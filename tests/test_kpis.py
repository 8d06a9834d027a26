"""KPIs per agency and district (twin.model.kpis) and their place in summary.json."""

from __future__ import annotations

import math

import numpy as np
import pytest

from twin.model import simulate
from twin.model.kpis import (
    AreaMaps,
    IncidentFilter,
    area_kpis,
    area_rows,
    flat_kpis,
    group_kpis,
    kpi_direction,
    kpi_names,
)
from twin.paths import scenarios_dir
from twin.scenario import load_scenario

NAN = math.nan


def _records() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], AreaMaps]:
    # zones 0,1 in district A, zone 2 in B; agencies police (0) and fire (1)
    inc = {
        "zone": np.array([0, 1, 2, 2, 0]),
        "agency": np.array([0, 0, 0, 1, 1]),
        "priority": np.array([1, 2, 1, 1, 1]),
        "response_min": np.array([2.0, 4.0, 10.0, NAN, 6.0]),
        "waited": np.array([False, True, False, False, True]),
    }
    units = {
        "busy_min": np.array([30.0, 10.0, 60.0]),
        "on_duty_min": np.array([60.0, 40.0, 120.0]),
    }
    maps = AreaMaps(
        zone_district=["A", "A", "B"],
        unit_agency=[0, 0, 1],
        unit_post=[0, 2, 2],
        agencies=["police", "fire"],
    )
    return inc, units, maps


@pytest.mark.exact
def test_group_kpis_by_hand() -> None:
    got = group_kpis(
        np.array([2.0, 4.0, 10.0, NAN]),
        np.array([True, False, False, False]),
        np.array([30.0, 10.0]),
        np.array([60.0, 40.0]),
        thresholds=(3, 5),
    )
    assert got["incidents"] == 4
    assert got["response_mean_min"] == pytest.approx(16 / 3)
    assert got["response_p50_min"] == pytest.approx(4.0)
    assert got["response_p90_min"] == pytest.approx(8.8)  # numpy linear: 4 + 0.8 * 6
    assert got["within_3_min"] == pytest.approx(0.25)  # the lost call counts as not reached
    assert got["within_5_min"] == pytest.approx(0.5)
    assert got["p_wait"] == pytest.approx(0.25)
    assert got["utilisation"] == pytest.approx(40 / 100)  # time-weighted, not a mean of ratios
    assert list(got) == kpi_names((3, 5))


@pytest.mark.exact
def test_empty_group_has_no_response() -> None:
    got = group_kpis(np.array([]), np.array([], bool), np.array([]), np.array([]))
    assert got["incidents"] == 0
    assert got["response_p90_min"] is None
    assert got["within_5_min"] is None
    assert got["utilisation"] is None


@pytest.mark.exact
def test_area_kpis_split_by_agency_and_district() -> None:
    inc, units, maps = _records()
    got = area_kpis(inc, units, maps, thresholds=(5,))
    assert got["overall"]["incidents"] == 5
    assert got["by_agency"]["police"]["incidents"] == 3
    assert got["by_agency"]["fire"]["incidents"] == 2
    assert got["by_agency"]["fire"]["response_mean_min"] == pytest.approx(6.0)
    assert got["by_agency"]["police"]["utilisation"] == pytest.approx(40 / 100)
    assert got["by_district"]["A"]["incidents"] == 3
    assert got["by_district"]["A"]["within_5_min"] == pytest.approx(2 / 3)
    # district B's units: the two posted in zone 2 (one police, one fire)
    assert got["by_district"]["B"]["utilisation"] == pytest.approx(70 / 160)
    # a filter applies before grouping: priority 1 police only
    p1 = area_kpis(inc, units, maps, (5,), IncidentFilter(agency="police", priority=1))
    assert p1["overall"]["incidents"] == 2
    assert p1["by_agency"]["fire"]["incidents"] == 0
    assert p1["by_district"]["B"]["response_mean_min"] == pytest.approx(10.0)
    assert p1["by_district"]["B"]["utilisation"] == pytest.approx(10 / 40)


@pytest.mark.exact
def test_flat_columns_and_directions() -> None:
    inc, units, maps = _records()
    row = flat_kpis(area_kpis(inc, units, maps))
    assert row["incidents"] == 5.0
    assert "agency=fire/response_p90_min" in row
    assert "district=B/within_8_min" in row
    assert kpi_direction("response_p90_min") == -1
    assert kpi_direction("within_5_min") == 1
    assert kpi_direction("within_2.5_min") == 1
    with pytest.raises(KeyError):
        kpi_direction("response_p99")


@pytest.mark.exact
def test_area_rows_by_hand_and_equal_to_area_kpis() -> None:
    inc, units, maps = _records()
    rows = area_rows(inc, units, maps, ["z0", "z1", "z2"], thresholds=(5,))
    by = {(r["level"], r["agency"], r["district"], r["zone"]): r for r in rows}
    want = area_kpis(inc, units, maps, thresholds=(5,))
    assert by[("all", "", "", "")] == {
        "level": "all",
        "agency": "",
        "district": "",
        "zone": "",
        **want["overall"],
    }
    for a in ("police", "fire"):
        assert {k: by[("agency", a, "", "")][k] for k in want["by_agency"][a]} == (
            want["by_agency"][a]
        )
    for d in ("A", "B"):
        assert {k: by[("district", "", d, "")][k] for k in want["by_district"][d]} == (
            want["by_district"][d]
        )
    # zone 2 (district B): incidents 2 (police 10 min, fire lost); units 1 (police) and 2 (fire)
    z2 = by[("zone", "", "B", "z2")]
    assert z2["incidents"] == 2
    assert z2["response_mean_min"] == pytest.approx(10.0)
    assert z2["within_5_min"] == pytest.approx(0.0)
    assert z2["utilisation"] == pytest.approx(70 / 160)
    fire_z2 = by[("agency_zone", "fire", "B", "z2")]
    assert fire_z2["incidents"] == 1
    assert fire_z2["response_mean_min"] is None  # its one call was lost
    assert fire_z2["utilisation"] == pytest.approx(60 / 120)
    police_a = by[("agency_district", "police", "A", "")]
    assert police_a["incidents"] == 2
    assert police_a["response_mean_min"] == pytest.approx(3.0)
    # zone 1 holds no unit and only a police call: no fire row for it
    assert ("agency_zone", "fire", "A", "z1") not in by
    assert by[("agency_zone", "police", "A", "z1")]["utilisation"] is None


def test_summary_has_area_sections_that_add_up() -> None:
    sc = load_scenario(scenarios_dir() / "example_agencies.yaml")
    sc = sc.model_copy(update={"horizon": 1440.0})
    s = simulate(sc, seed=3, replications=2)
    assert s["headline_agency"] == "all"
    assert set(s["by_agency"]) == set(sc.agency_ids)
    assert sum(a["incidents"] for a in s["by_agency"].values()) == s["incidents"]
    districts = {z.district for z in sc.zones}
    assert set(s["by_district"]) == districts - {""}
    assert sum(d["incidents"] for d in s["by_district"].values()) == s["incidents"]
    for a in s["by_agency"].values():
        assert 0 <= a["utilisation"] <= 1
        assert a["within_1_min"] <= a["within_3_min"] <= a["within_5_min"] <= a["within_8_min"]
    assert "by_district.{}.response_mean_min".format(next(iter(s["by_district"]))) in s["ci95"]
    one = simulate(load_scenario(scenarios_dir() / "example.yaml"), seed=1)
    assert one["headline_agency"] == "police"
    assert one["by_agency"]["police"]["incidents"] == one["incidents"]
