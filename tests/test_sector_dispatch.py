"""Zones' ``sector``: dispatch areas within a district for district-scoped calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from twin.errors import ConfigError
from twin.model import Simulation
from twin.scenario import parse_scenario

pytestmark = pytest.mark.exact

IDLE = {"rate_per_hour": 0, "duration": {"dist": "deterministic", "value": 10}}
WORK = {"rate_per_hour": 2.0, "duration": {"dist": "exponential", "mean": 20}}


def _data(sectors: tuple[str | None, str | None, str | None], **over: Any) -> dict[str, Any]:
    """Three zones in district A (a, b, c), one unit posted in each of a and b."""
    zones = [
        {"id": z, "district": "A", "location": loc, "rate_per_hour": 1.0}
        for z, loc in (("a", [0, 0]), ("b", [3, 4]), ("c", [6, 8]))
    ]
    for z, s in zip(zones, sectors, strict=True):
        if s is not None:
            z["sector"] = s
    data: dict[str, Any] = {
        "name": "sectors",
        "warmup": 0,
        "horizon": 200,
        "zones": zones,
        "units": [{"id": "ua", "post": "a"}, {"id": "ub", "post": "b"}],
        "priorities": [{"level": 1, "share": 0.5}, {"level": 2, "share": 0.5}],
        "service": {"dist": "deterministic", "value": 30},
        "travel": {"model": "none"},
        "queue": {"discipline": "priority"},
        "patrol": {"policy": "post"},
        "self_initiated": {"districts": {"A": IDLE}, "dispatch_scope": "district"},
    }
    data.update(over)
    return data


def _trace(rows: list[tuple[float, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_min", "zone", "priority"])


def test_a_sector_keeps_its_calls_and_priority_one_does_not_wait() -> None:
    """Zone a's second priority-2 call waits for a's unit when a and b are other sectors."""
    trace = _trace([(10, "a", 2), (11, "a", 2), (12, "a", 1)])
    split = Simulation(parse_scenario(_data(("x", "y", "y"))), seed=1, demand=trace).run()
    inc = split.incidents
    assert inc["unit"].tolist() == [0, 0, 1]
    assert inc["dispatched"].tolist() == [10.0, 40.0, 12.0]
    assert inc["waited"].tolist() == [False, True, False]
    # one sector (or none given): the district is one area, ub takes the second call at once
    for one in (("x", "x", "x"), (None, None, None)):
        inc = Simulation(parse_scenario(_data(one)), seed=1, demand=trace).run().incidents
        assert inc["unit"].tolist()[:2] == [0, 1]
        assert inc["dispatched"].tolist()[:2] == [10.0, 11.0]


def test_a_sector_without_units_is_served_agency_wide() -> None:
    """Zone c's sector has no unit posted: its call goes to the agency's closest free unit."""
    trace = _trace([(5, "c", 2)])
    data = _data(("x", "y", "z"), travel={"model": "euclidean", "speed_kmh": 30})
    inc = Simulation(parse_scenario(data), seed=1, demand=trace).run().incidents
    assert inc["unit"].tolist() == [1]
    assert inc["dispatched"].tolist() == [5.0]


def test_the_sector_of_the_units_post_decides_which_queue_it_takes() -> None:
    """ub (sector y) frees at 41 and takes y's waiting call, not x's older one."""
    trace = _trace([(10, "a", 2), (11, "b", 2), (20, "a", 2), (21, "c", 2)])
    inc = Simulation(parse_scenario(_data(("x", "y", "y"))), seed=1, demand=trace).run().incidents
    assert inc["unit"].tolist() == [0, 1, 0, 1]
    assert inc["dispatched"].tolist() == [10.0, 11.0, 40.0, 41.0]


@pytest.mark.parametrize("seed", [3, 11])
def test_one_sector_per_district_changes_nothing(seed: int) -> None:
    """Same seed, sectors that coincide with the districts: every record is the same."""
    over = {
        "horizon": 3000,
        "self_initiated": {"districts": {"A": WORK}, "dispatch_scope": "district"},
        "travel": {"model": "euclidean", "speed_kmh": 30},
    }
    plain = Simulation(parse_scenario(_data((None, None, None), **over)), seed=seed).run()
    same = Simulation(parse_scenario(_data(("s", "s", "s"), **over)), seed=seed).run()
    split = Simulation(parse_scenario(_data(("x", "y", "y"), **over)), seed=seed).run()
    assert len(plain.incidents["incident"]) > 100
    for table, other in ((plain.incidents, same.incidents), (plain.units, same.units)):
        for col, v in table.items():
            assert pd.Series(v).equals(pd.Series(other[col])), col
    # the negative control: real sectors do change who answers
    assert not np.array_equal(np.asarray(plain.incidents["unit"]), split.incidents["unit"])


def test_a_sector_entry_sets_the_work_of_units_posted_in_that_sector() -> None:
    """``A/y`` gives ub (posted in sector y) work; ua (sector x) keeps district A's rate 0."""
    si = {"districts": {"A": IDLE, "A/y": WORK}, "dispatch_scope": "district"}
    run = Simulation(
        parse_scenario(_data(("x", "y", "y"), horizon=3000, self_initiated=si)), seed=5
    ).run()
    starts = np.asarray(run.units["self_initiated"]).tolist()
    assert starts[0] == 0
    assert starts[1] > 20
    # the other way round: the sector entry idles ub, the district's rate drives ua
    si = {"districts": {"A": WORK, "A/y": IDLE}, "dispatch_scope": "district"}
    run = Simulation(
        parse_scenario(_data(("x", "y", "y"), horizon=3000, self_initiated=si)), seed=5
    ).run()
    starts = np.asarray(run.units["self_initiated"]).tolist()
    assert starts[0] > 20
    assert starts[1] == 0


def test_a_sector_entry_must_name_a_sector_of_the_district() -> None:
    """``A/q`` is no zone's (district, sector): the scenario is refused, naming the field."""
    si = {"districts": {"A": IDLE, "A/q": WORK}, "dispatch_scope": "district"}
    with pytest.raises(ConfigError, match=r"self_initiated\.districts\.A/q.*'A/x'"):
        parse_scenario(_data(("x", "y", "y"), self_initiated=si))
