"""Seattle police sectors: every sector staffed on every watch; sector gaps shrunk to precincts."""

from __future__ import annotations

import pytest

from twin.calibrate.refine import shrunk_gaps
from twin.cities.seattle.police import beat_posts, sector_posts

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


def test_beat_posts_alpha_zero_posts_equally_and_one_posts_by_demand() -> None:
    demand = {"b1": 1.0, "b2": 2.0, "b3": 4.0, "j1": 8.0}
    sector = {"b1": "B", "b2": "B", "b3": "B", "j1": "J"}
    # alpha 0: weights 1 each, B gets 3 of 4 seats by its three beats, J one
    assert beat_posts(8, demand, sector, 0.0) == {"b1": 2, "b2": 2, "b3": 2, "j1": 2}
    # alpha 1: B 7/15 of 8 = 3.73 -> 4, J 4.27 -> 4; within B by 1:2:4 -> 0.57, 1.14, 2.29
    assert beat_posts(8, demand, sector, 1.0) == {"b1": 1, "b2": 1, "b3": 2, "j1": 4}
    # alpha 0.5: B weights 1, 1.41, 2 (4.41), J 2.83: B 4.88 -> 5, J 3.12 -> 3
    half = beat_posts(8, demand, sector, 0.5)
    assert half["j1"] == 3
    assert half["b1"] + half["b2"] + half["b3"] == 5


def test_beat_posts_skip_beats_without_calls_and_keep_one_per_sector() -> None:
    demand = {"b1": 5.0, "b2": 5.0, "h1": 0.01, "j1": 0.5}
    sector = {"b1": "B", "b2": "B", "h1": "H", "j1": "J"}
    posts = beat_posts(3, demand, sector, 1.0)
    assert posts["h1"] == 0  # under a tenth of the mean beat demand: no post, no sector seat
    assert posts["j1"] == 1  # J has calls: one unit even though demand gives it 0.27
    assert sum(posts.values()) == 3
    with pytest.raises(ValueError, match="must be in"):
        beat_posts(3, demand, sector, 1.5)


def test_beats_model_watches_post_by_beat_posts_and_patrol_their_beat() -> None:
    from twin.cities.seattle.police import _place_shifted

    rates = {"b1": 1.0, "b2": 1.0, "b3": 4.0, "j1": 2.0}
    zones = [
        {"id": z, "district": "N", "sector": z[0].upper(), "rate_per_hour": r}
        for z, r in rates.items()
    ]
    sc: dict = {"zones": zones, "units": []}
    beats = {"N": sorted(rates)}
    splits = _place_shifted(sc, {"N": 4}, {}, beats, busy_of={"N": 60.0}, alpha=0.0)
    units = sc["units"]
    assert len(units) == sum(splits["N"].counts.values()) == 12  # 3 watches x 4 slots
    assert all(u["area"] == [u["post"]] for u in units)  # each patrols its own beat
    for key, n in splits["N"].counts.items():
        watch = [u for u in units if u["shift"]["start"] == key]
        want = beat_posts(n, rates, {z: z[0].upper() for z in rates}, 0.0)
        assert {z: sum(u["post"] == z for u in watch) for z in rates} == want
    # without alpha and sectors (model precincts) the units patrol the whole precinct
    for z in sc["zones"]:
        del z["sector"]
    _place_shifted(sc, {"N": 4}, {}, beats, busy_of={"N": 60.0})
    assert all(u["area"] == sorted(rates) for u in sc["units"])
