"""The lever check: fleet variants by unit group, the zone curve check, the twin's reaction."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.calibrate.levers import (
    district_fleet_variant,
    fleet_variant,
    gap_slope,
    lever_check,
    load_slope,
    unit_groups,
    zone_curve_check,
)

ROOT = Path(__file__).resolve().parents[1]


def _tiny() -> dict:
    return {
        "zones": [{"id": "a", "district": "N"}, {"id": "b", "district": "S"}],
        "units": [
            {"id": "n1", "post": "a", "shift": {"start": "07:00", "hours": 8}},
            {"id": "n2", "post": "a", "shift": {"start": "07:00", "hours": 8}},
            {"id": "n3", "post": "a", "shift": {"start": "15:00", "hours": 8}},
            {"id": "s1", "post": "b"},
            {"id": "f1", "post": "b", "agency": "fire"},
        ],
    }


@pytest.mark.exact
def test_fleet_variant_moves_one_unit_per_group() -> None:
    sc = _tiny()
    assert unit_groups(sc, "police") == {
        "N/07:00": ["n1", "n2"],
        "N/15:00": ["n3"],
        "S/24h": ["s1"],
    }
    less, n_less = fleet_variant(sc, -1, "police")
    assert [u["id"] for u in less["units"]] == ["n1", "n3", "s1", "f1"]  # groups keep one
    assert n_less == 3
    more, n_more = fleet_variant(sc, 1, "police")
    assert n_more == 7
    added = [u for u in more["units"] if "+" in u["id"]]
    assert [u["id"] for u in added] == ["n1+1", "n3+1", "s1+1"]
    assert added[0]["shift"] == {"start": "07:00", "hours": 8}
    assert len(sc["units"]) == 5  # the input is untouched


@pytest.mark.exact
def test_district_fleet_variant_scales_one_district_by_group() -> None:
    sc = _tiny()
    less, n0, n1 = district_fleet_variant(sc, "N", 0.5, "police")
    assert (n0, n1) == (3, 2)  # 07:00 group 2 -> 1, 15:00 group keeps its one unit
    assert [u["id"] for u in less["units"]] == ["n1", "n3", "s1", "f1"]
    more, n0, n1 = district_fleet_variant(sc, "N", 2.0, "police")
    assert (n0, n1) == (3, 6)
    assert [u["id"] for u in more["units"][5:]] == ["n1+1", "n1+2", "n3+1"]
    assert district_fleet_variant(sc, "S", 0.9, "police")[1:] == (1, 1)


def test_load_slope_recovers_a_known_line() -> None:
    vol = pd.DataFrame({"zone": list("abcde"), "calls_per_day": [1, 2, 4, 8, 16]})
    x = [0.0, 0.6931, 1.3863, 2.0794, 2.7726]
    means = pd.DataFrame(
        [
            {"zone": z, "klass": 1, "mean_min": 10 - 1.0 * xi}
            for z, xi in zip("abcde", x, strict=True)
        ]
        + [
            {"zone": z, "klass": 2, "mean_min": 15 + 0.5 * xi}
            for z, xi in zip("abcde", x, strict=True)
        ]
    )
    s = load_slope(vol, means)
    assert s["zones"] == 5
    assert s["mean_1"] == pytest.approx(-1.0, abs=1e-3)
    assert s["mean_2"] == pytest.approx(0.5, abs=1e-3)
    assert s["gap_2_1"] == pytest.approx(1.5, abs=1e-3)


def test_zone_curve_check_passes_a_match_and_fails_the_opposite_slope() -> None:
    vol = pd.DataFrame({"zone": list("abcde"), "calls_per_day": [1, 2, 3, 4, 5]})
    real = pd.DataFrame(
        {
            "zone": list("abcde") * 2,
            "klass": [1] * 5 + [2] * 5,
            "mean_min": [8] * 5 + [13, 14, 15, 16, 17],
        }
    )
    good = pd.DataFrame(
        {
            "zone_id": list("abcde") * 2,
            "priority": [1] * 5 + [2] * 5,
            "mean": [8] * 5 + [13.5, 14, 15, 16.5, 18],
        }
    )
    bad = good.assign(mean=[8] * 5 + [18, 17, 15, 14, 13])
    ok = zone_curve_check(vol, real, good, bins=5)
    assert ok["passed"]
    assert ok["gap_real"] == [5, 6, 7, 8, 9]
    no = zone_curve_check(vol, real, bad, bins=5)
    assert not no["same_direction"]
    assert not no["passed"]


def test_gap_slope_and_its_standard_error_match_a_hand_fit() -> None:
    # x = ln(calls) = 0, 1, 2, 3; gaps 5, 7, 8, 10: slope 1.6, residuals -0.1 0.3 -0.3 0.1,
    # s^2 = 0.2 / 2, Sxx = 5: se = sqrt(0.1 / 5)
    vol = pd.DataFrame({"zone": list("abcd"), "calls_per_day": [1, math.e, math.e**2, math.e**3]})
    means = pd.DataFrame(
        {
            "zone": list("abcd") * 2,
            "klass": [1] * 4 + [2] * 4,
            "mean_min": [8] * 4 + [13, 15, 16, 18],
        }
    )
    b, se = gap_slope(vol, means)
    assert b == pytest.approx(1.6)
    assert se == pytest.approx(math.sqrt(0.1 / 5))
    assert all(math.isnan(v) for v in gap_slope(vol.iloc[:2], means))


def test_zone_curve_check_fails_a_slope_outside_the_real_interval_with_bins_in_tolerance() -> None:
    """Bins within 2 min and the same direction, but the twin's slope is twice the real one."""
    rng = np.random.default_rng(3)
    z = [f"z{i}" for i in range(50)]
    x = np.linspace(0.0, 2.0, 50)
    vol = pd.DataFrame({"zone": z, "calls_per_day": np.exp(x)})
    gap_real = 7.0 + 0.5 * (x - 1.0) + rng.normal(0, 0.3, 50)
    real = pd.DataFrame(
        {"zone": z * 2, "klass": [1] * 50 + [2] * 50, "mean_min": [8.0] * 50 + list(8 + gap_real)}
    )
    twin_ok = pd.DataFrame(
        {
            "zone_id": z * 2,
            "priority": [1] * 50 + [2] * 50,
            "mean": [8.0] * 50 + list(8 + 7.0 + 0.5 * (x - 1.0)),
        }
    )
    steep = twin_ok.assign(mean=[8.0] * 50 + list(8 + 7.0 + 1.2 * (x - 1.0)))
    ok = zone_curve_check(vol, real, twin_ok)
    assert ok["slope_within"]
    assert ok["passed"]
    no = zone_curve_check(vol, real, steep)
    assert all(no["within"])  # the old criteria pass ...
    assert no["same_direction"]
    assert not no["slope_within"]  # ... the slope does not
    assert not no["passed"]
    assert no["slope_twin"] == pytest.approx(1.2)


def test_zone_curve_check_bins_only_zones_with_both_classes() -> None:
    """A real zone with only a class-1 mean (27 min) no longer lowers its bin's gap."""
    vol = pd.DataFrame({"zone": list("habcde"), "calls_per_day": [0, 1, 2, 3, 4, 5]})
    real = pd.DataFrame(
        {
            "zone": ["h", *"abcde", *"abcde"],
            "klass": [1] * 6 + [2] * 5,
            "mean_min": [27, *[8] * 5, 13, 14, 15, 16, 17],
        }
    )
    twin = pd.DataFrame(
        {
            "zone_id": list("abcde") * 2,
            "priority": [1] * 5 + [2] * 5,
            "mean": [8] * 5 + [13, 14, 15, 16, 17],
        }
    )
    c = zone_curve_check(vol, real, twin, bins=5)
    assert c["gap_real"] == [5, 6, 7, 8, 9]
    assert c["gap_twin"] == c["gap_real"]
    assert c["passed"]
    assert [r["zones"] for r in c["real"]] == [1] * 5


@pytest.mark.slow
def test_seattle_twin_moves_police_response_with_its_fleet() -> None:
    sc = yaml.safe_load((ROOT / "scenarios" / "seattle_baseline.yaml").read_text())
    # 8 weeks: an added unit mostly adds officer-initiated work (it self-initiates when
    # free), so its effect on priority 2 is small and 2 weeks of noise can hide it
    out = lever_check(sc, agency="police", weeks=8, seed=7).set_index("delta")
    assert out.loc[-1, "units"] < out.loc[0, "units"] < out.loc[1, "units"]
    for k in (1, 2):
        assert out.loc[-1, f"mean_{k}"] > out.loc[0, f"mean_{k}"] > out.loc[1, f"mean_{k}"]
    assert out.loc[0, "change_mean_1"] == 0.0
    # priority 2 moves through waiting (behind calls and officer-initiated work), not driving
    assert out.loc[-1, "wait_2"] > out.loc[0, "wait_2"] > out.loc[1, "wait_2"]
    assert out.loc[0, "wait_2"] > 0.5
    assert out.loc[-1, "change_mean_2"] > out.loc[-1, "change_mean_1"]


def _sectored() -> dict:
    """District N: sector x (zone a, 3 calls/h, 3 units), sector y (zone b, 1 call/h, 1 unit)."""
    return {
        "zones": [
            {"id": "a", "district": "N", "sector": "x", "rates": {"police": 3.0, "fire": 9.0}},
            {"id": "b", "district": "N", "sector": "y", "rates": {"police": 1.0, "fire": 0.1}},
        ],
        "units": [
            {"id": "y1", "post": "b"},
            {"id": "x1", "post": "a"},
            {"id": "x2", "post": "a"},
            {"id": "x3", "post": "a"},
            {"id": "f1", "post": "b", "agency": "fire"},
        ],
    }


@pytest.mark.exact
def test_fleet_variants_move_units_where_demand_per_unit_says() -> None:
    """With sectors, units come off the area with least calls per unit and go where most."""
    sc = _sectored()
    less, n0, n1 = district_fleet_variant(sc, "N", 0.5, "police")
    assert (n0, n1) == (4, 2)
    # calls per unit left after a removal: x 3 / 2 vs y 1 / 0 -> x; then x 3 / 1 vs y -> x
    assert [u["id"] for u in less["units"]] == ["y1", "x1", "f1"]
    more, _ = fleet_variant(sc, 2, "police")
    added = [u for u in more["units"] if "+" in u["id"]]
    # tie at 1 call per unit: the first area (y) gets one, then x (1.0) beats y (0.5)
    assert [(u["id"], u["post"]) for u in added] == [("y1+1", "b"), ("x1+2", "a")]
    # without sectors the same group loses its last units and copies its first
    for z in sc["zones"]:
        del z["sector"]
    plain, _, _ = district_fleet_variant(sc, "N", 0.5, "police")
    assert [u["id"] for u in plain["units"]] == ["y1", "x1", "f1"]
    plain_more, _ = fleet_variant(sc, 2, "police")
    assert [u["id"] for u in plain_more["units"] if "+" in u["id"]] == ["y1+1", "y1+2"]
