"""Seattle police sectors: every sector staffed on every watch; sector gaps shrunk to precincts."""

from __future__ import annotations

import pytest

from twin.calibrate.refine import shrunk_gaps
from twin.cities.seattle.police import sector_posts

pytestmark = pytest.mark.exact

SECTOR = {"b1": "B", "b2": "B", "b3": "B", "j1": "J", "j2": "J"}
DEMAND = {"b1": 1.0, "b2": 1.0, "b3": 1.0, "j1": 9.0, "j2": 3.0}


def test_one_unit_per_beat_then_the_rest_by_sector_demand() -> None:
    posts = sector_posts(8, DEMAND, SECTOR)
    assert sum(posts.values()) == 8
    assert min(posts.values()) >= 1  # five beats, eight units: one each first
    # three more by sector demand (J 12, B 3): J gets 2.4 -> 2, B 0.6 -> 1
    assert posts["b1"] + posts["b2"] + posts["b3"] == 4
    assert posts["j1"] + posts["j2"] == 4
    assert posts["j1"] > posts["j2"]  # within J, by beat demand


def test_fewer_units_than_beats_staff_each_sector_once_first() -> None:
    posts = sector_posts(3, DEMAND, SECTOR)
    assert sum(posts.values()) == 3
    assert posts["b1"] + posts["b2"] + posts["b3"] == 1  # B keeps one; the spare goes to J
    assert posts == {"b1": 1, "b2": 0, "b3": 0, "j1": 1, "j2": 1}


def test_fewer_units_than_sectors_follow_demand() -> None:
    assert sector_posts(1, DEMAND, SECTOR) == {"b1": 0, "b2": 0, "b3": 0, "j1": 1, "j2": 0}


def test_as_many_units_as_beats_post_one_each() -> None:
    """By demand alone, J (12 of 15 calls) would get 4 of 5 units and B's three beats one."""
    posts = sector_posts(5, DEMAND, SECTOR)
    assert posts == dict.fromkeys(SECTOR, 1)


def test_a_sector_gap_leans_on_its_precinct_by_its_beats() -> None:
    """Three scored beats and pseudo-count 1: 3/4 of the sector's gap, 1/4 of its precinct's."""
    out = shrunk_gaps(
        {"E/C": 8.0, "E/G": 6.0, "W/K": 9.0, "N": 7.0},
        {"E": 7.0, "N": 5.0},
        {"E/C": 3, "E/G": 0, "W/K": 2},
        shrink_beats=1.0,
    )
    assert out["E/C"] == pytest.approx(0.75 * 8.0 + 0.25 * 7.0)
    assert out["E/G"] == pytest.approx(7.0)  # no scored beat: the precinct's gap
    assert out["W/K"] == pytest.approx(9.0)  # no gap for precinct W: kept
    assert out["N"] == pytest.approx(7.0)  # a precinct key: kept
    assert shrunk_gaps({"E/C": 8.0}, {"E": 7.0}, {"E/C": 3}, 0.0) == {"E/C": 8.0}
