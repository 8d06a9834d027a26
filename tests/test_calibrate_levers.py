"""The lever check: fleet variants by unit group, the zone curve check, the twin's reaction."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from twin.calibrate.levers import fleet_variant, lever_check, unit_groups, zone_curve_check

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


@pytest.mark.slow
def test_seattle_twin_moves_police_response_with_its_fleet() -> None:
    sc = yaml.safe_load((ROOT / "scenarios" / "seattle_baseline.yaml").read_text())
    out = lever_check(sc, agency="police", weeks=2, seed=7).set_index("delta")
    assert out.loc[-1, "units"] < out.loc[0, "units"] < out.loc[1, "units"]
    for k in (1, 2):
        assert out.loc[-1, f"mean_{k}"] > out.loc[0, f"mean_{k}"] > out.loc[1, f"mean_{k}"]
    assert out.loc[0, "change_mean_1"] == 0.0
