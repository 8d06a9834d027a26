"""``self_initiated.overflow_after_min``: a waiting sector call opens to its district.

Zones a (sector x), b and c (sector y) of district A; unit ua posted in a, ub in b; no travel
time, 30 minutes on scene (see :func:`_data`), so every time below is exact.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from twin.errors import ConfigError
from twin.model import Simulation
from twin.scenario import parse_scenario

pytestmark = pytest.mark.exact

WORK = {"rate_per_hour": 2.0, "duration": {"dist": "exponential", "mean": 20}}


def _data(after: float | None, sectors: tuple[str, str, str] = ("x", "y", "y"), **over: Any) -> Any:
    zones = [
        {"id": z, "district": "A", "sector": s, "location": loc, "rate_per_hour": 1.0}
        for (z, loc), s in zip((("a", [0, 0]), ("b", [3, 4]), ("c", [6, 8])), sectors, strict=True)
    ]
    si: dict[str, Any] = {
        "districts": {
            "A": {"rate_per_hour": 0, "duration": {"dist": "deterministic", "value": 10}}
        },
        "dispatch_scope": "district",
    }
    if after is not None:
        si["overflow_after_min"] = after
    data: dict[str, Any] = {
        "name": "overflow",
        "warmup": 0,
        "horizon": 200,
        "zones": zones,
        "units": [{"id": "ua", "post": "a"}, {"id": "ub", "post": "b"}],
        "priorities": [{"level": 1, "share": 0.5}, {"level": 2, "share": 0.5}],
        "service": {"dist": "deterministic", "value": 30},
        "travel": {"model": "none"},
        "queue": {"discipline": "priority"},
        "patrol": {"policy": "post"},
        "self_initiated": si,
    }
    data.update(over)
    return parse_scenario(data)


def _run(after: float | None, rows: list[tuple[float, str, int]]) -> Any:
    trace = pd.DataFrame(rows, columns=["time_min", "zone", "priority"])
    return Simulation(_data(after), seed=1, demand=trace).run()


def test_a_waiting_call_goes_to_a_free_unit_of_another_sector_at_its_overflow_time() -> None:
    """a's second call waits for ua (busy 10-40); ub, free in sector y, takes it at 11 + 5."""
    rows = [(10, "a", 2), (11, "a", 2)]
    inc = _run(5.0, rows).incidents
    assert inc["unit"].tolist() == [0, 1]
    assert inc["dispatched"].tolist() == [10.0, 16.0]
    assert inc["wait_min"].tolist() == [0.0, 5.0]
    # unset: the call waits for its own sector's unit
    inc = _run(None, rows).incidents
    assert inc["unit"].tolist() == [0, 0]
    assert inc["dispatched"].tolist() == [10.0, 40.0]


def test_a_unit_freeing_before_the_overflow_time_does_not_take_the_call() -> None:
    """ub clears at 35: with 30 minutes the call (queued at 12) is not yet open to it."""
    rows = [(5, "b", 2), (10, "a", 2), (12, "a", 2)]
    late = _run(30.0, rows)
    assert late.incidents["unit"].tolist() == [1, 0, 0]
    assert late.incidents["dispatched"].tolist() == [5.0, 10.0, 40.0]
    # 20 minutes: open at 32 with no unit free, it joins sector y's queue; ub takes it at 35
    early = _run(20.0, rows)
    assert early.incidents["unit"].tolist() == [1, 0, 1]
    assert early.incidents["dispatched"].tolist() == [5.0, 10.0, 35.0]
    assert early.units["dispatches"].tolist() == [1, 2]


def test_an_overflowed_call_taken_by_its_own_sector_leaves_the_other_queues() -> None:
    """Open at 32 (none free), ua clears first (35) and takes it; ub (40) finds nothing."""
    run = _run(20.0, [(5, "a", 2), (10, "b", 2), (12, "a", 2)])
    assert run.incidents["unit"].tolist() == [0, 1, 0]
    assert run.incidents["dispatched"].tolist() == [5.0, 10.0, 35.0]
    assert run.units["dispatches"].tolist() == [2, 1]
    assert run.queue_area == pytest.approx(35.0 - 12.0)


def test_an_overflowed_call_ranks_by_class_and_age_in_the_other_queue() -> None:
    """ub's own priority-2 call (23) is younger than a's overflowed one (12): ub takes a's first."""
    rows = [(5, "b", 2), (10, "a", 2), (12, "a", 2), (23, "b", 2)]
    inc = _run(10.0, rows).incidents
    assert inc["unit"].tolist() == [1, 0, 1, 0]
    assert inc["dispatched"].tolist() == [5.0, 10.0, 35.0, 40.0]


@pytest.mark.parametrize("seed", [2, 7])
def test_calls_served_from_another_sector_waited_at_least_the_overflow_time(seed: int) -> None:
    """Random run with officer-initiated work: each call once, cross-sector only after 8 min."""
    si = {"districts": {"A": WORK}, "dispatch_scope": "district", "overflow_after_min": 8.0}
    over = {
        "horizon": 5000,
        "self_initiated": si,
        "travel": {"model": "euclidean", "speed_kmh": 30},
    }
    run = Simulation(_data(8.0, **over), seed=seed).run()
    inc = run.incidents
    served = inc["unit"] >= 0
    assert served.sum() > 200
    sector_of_zone = np.array([0, 1, 1])
    unit_sector = np.array([0, 1])[np.maximum(inc["unit"], 0)]
    # priority 1 may pre-empt the work: answered agency-wide, not through the sector queues
    cross = served & (inc["priority"] == 2) & (sector_of_zone[inc["zone"]] != unit_sector)
    assert cross.sum() > 5
    assert np.all(inc["wait_min"][cross] >= 8.0 - 1e-9)
    assert np.isclose(inc["wait_min"][cross], 8.0).any()  # opened to ub, free then
    assert int(run.units["dispatches"].sum()) == int(served.sum())
    plain = Simulation(
        _data(None, **{**over, "self_initiated": {**si, "overflow_after_min": None}}), seed=seed
    ).run()
    assert not np.array_equal(plain.incidents["unit"], inc["unit"])


def test_overflow_needs_district_scope_and_sectors() -> None:
    """Refused with agency scope, and when no zone has a sector (nowhere to overflow)."""
    with pytest.raises(ConfigError, match=r"overflow_after_min.*dispatch_scope: district"):
        _data(5.0, self_initiated={"districts": {"A": WORK}, "overflow_after_min": 5.0})
    data = _data(None).model_dump(mode="json", exclude_none=True)
    for z in data["zones"]:
        z.pop("sector")
    data["self_initiated"]["overflow_after_min"] = 5.0
    with pytest.raises(ConfigError, match=r"overflow_after_min: no zone has a sector"):
        parse_scenario(data)
    with pytest.raises(ConfigError, match=r"overflow_after_min"):
        _data(-1.0)
