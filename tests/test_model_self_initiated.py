"""Officer-initiated work (``self_initiated``): vocabulary, engine, summary and analytics."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from twin.analytics import AssumptionError, analyze
from twin.errors import ConfigError
from twin.model import Simulation
from twin.model.outputs import summarize
from twin.scenario import parse_scenario

pytestmark = pytest.mark.exact

LEVELS = [{"level": 1, "share": 0.5}, {"level": 2, "share": 0.5}]


def _data(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "si",
        "warmup": 0,
        "horizon": 100,
        "zones": [
            {"id": "a", "district": "A", "location": [0, 0], "rate_per_hour": 1.0},
            {"id": "b", "district": "B", "location": [3, 4], "rate_per_hour": 1.0},
        ],
        "units": [{"id": "ua", "post": "a"}, {"id": "ub", "post": "b"}],
        "priorities": LEVELS,
        "service": {"dist": "deterministic", "value": 30},
        "travel": {"model": "none"},
        "queue": {"discipline": "priority"},
        "patrol": {"policy": "post"},
    }
    data.update(over)
    return data


def _trace(rows: list[tuple[float, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_min", "zone", "priority"])


BUSY = {"rate_per_hour": 60, "duration": {"dist": "deterministic", "value": 1000}}
"""Every free unit starts work within minutes and keeps at it past the horizon."""


def test_work_holds_lower_classes_and_yields_to_the_top_class() -> None:
    sc = parse_scenario(_data(self_initiated={"districts": {"A": BUSY, "B": BUSY}}))
    run = Simulation(sc, seed=3, demand=_trace([(30, "a", 2), (40, "a", 1)])).run()
    inc = run.incidents
    units = run.units
    # both units were on their own work by t = 30 (rate 1 per minute each)
    assert int(units["self_initiated"].sum()) == 2
    # priority 1 pre-empts the nearer one at once: unit ua, in zone a
    p1 = int(np.flatnonzero(inc["priority"] == 1)[0])
    assert inc["dispatched"][p1] == 40.0
    assert inc["unit"][p1] == 0
    assert not inc["waited"][p1]
    assert units["self_initiated_preempted"].tolist() == [1, 0]
    # priority 2 waits: ua clears at 70, takes it; nobody else is free before
    p2 = int(np.flatnonzero(inc["priority"] == 2)[0])
    assert inc["waited"][p2]
    assert inc["dispatched"][p2] == 70.0
    assert inc["unit"][p2] == 0
    # state minutes: ub works from its first minutes to the end of the window
    assert units["self_initiated_min"][1] > 90.0
    total = sum(units[c] for c in units if c.endswith("_min") and c not in ("busy_min",))
    assert np.allclose(total - units["on_duty_min"], 100.0)
    s = summarize([run])
    si = s["self_initiated"]
    assert si["events"] == 2
    assert si["preempted"] == 1
    assert si["by_district"]["B"]["share_of_on_duty_time"] == pytest.approx(
        units["self_initiated_min"][1] / 100.0
    )
    # the work stays out of the response KPIs: utilisation counts calls only
    assert units["busy_min"][1] == 0.0


def test_no_preempting_class_means_priority_one_waits_too() -> None:
    si = {"districts": {"A": BUSY, "B": BUSY}, "preempted_by": []}
    sc = parse_scenario(_data(self_initiated=si))
    inc = Simulation(sc, seed=3, demand=_trace([(40, "a", 1)])).run().incidents
    assert inc["waited"][0]
    assert inc["dispatched"][0] > 1000.0  # the first unit to end its work


@pytest.mark.parametrize(("scope", "second"), [("district", 40.0), ("agency", 11.0)])
def test_dispatch_scope_keeps_lower_classes_in_their_district(scope: str, second: float) -> None:
    """Zone a's priority-2 calls wait for a's unit under district scope; priority 1 does not."""
    idle = {"rate_per_hour": 0, "duration": {"dist": "deterministic", "value": 10}}
    si = {"districts": {"A": idle, "B": idle}, "dispatch_scope": scope}
    sc = parse_scenario(_data(self_initiated=si))
    trace = _trace([(10, "a", 2), (11, "a", 2), (12, "a", 1)])
    inc = Simulation(sc, seed=1, demand=trace).run().incidents
    assert inc["dispatched"].tolist()[:2] == [10.0, second]
    if scope == "district":
        # the second call waits for ua (clears at 40); priority 1 takes ub at once
        assert inc["unit"].tolist() == [0, 0, 1]
        assert inc["dispatched"][2] == 12.0
    else:
        assert inc["unit"].tolist()[:2] == [0, 1]
        assert inc["waited"][2]  # both units busy: priority 1 waits for ua at 40
        assert inc["dispatched"][2] == 40.0


def test_rate_per_free_hour_is_kept() -> None:
    """One unit that never gets a call: starts ~ rate x free hours (Poisson, 4 sd band)."""
    work = {"rate_per_hour": 2.0, "duration": {"dist": "exponential", "mean": 30}}
    data = _data(
        horizon=60 * 2000,
        zones=[{"id": "a", "district": "A", "location": [0, 0], "rate_per_hour": 1e-6}],
        units=[{"id": "ua", "post": "a"}],
        self_initiated={"districts": {"A": work}},
    )
    run = Simulation(parse_scenario(data), seed=5).run()
    free_h = (run.units["patrol_min"][0] + run.units["returning_min"][0]) / 60.0
    n = int(run.units["self_initiated"][0])
    assert abs(n - 2.0 * free_h) < 4 * np.sqrt(2.0 * free_h)
    # time on the work / free time = rate x mean duration (one unit alternating)
    assert run.units["self_initiated_min"][0] / 60.0 / free_h == pytest.approx(1.0, rel=0.1)


def test_without_the_section_outputs_keep_their_columns() -> None:
    run = Simulation(parse_scenario(_data()), seed=1, demand=_trace([(1, "a", 2)])).run()
    assert "self_initiated_min" not in run.units
    assert "self_initiated" not in summarize([run])
    assert run.timeseries is not None
    assert "self_initiated" not in run.timeseries.columns


@pytest.mark.parametrize(
    ("si", "match"),
    [
        ({"districts": {"Z": BUSY}}, r"self_initiated\.districts\.Z: no zone is in district 'Z'"),
        ({"districts": {"A": BUSY}, "preempted_by": [7]}, r"preempted_by\[0\]: 7 is not"),
        ({"districts": {"A": BUSY}, "preempted_by": [1, 1]}, r"duplicate level"),
        ({"districts": {"A": BUSY}, "agency": "fire"}, r"agency 'fire' has no units"),
        ({"districts": {"A": {**BUSY, "rate_per_hour": 61}}}, r"rate_per_hour"),
        ({"districts": {"A": {**BUSY, "rate_per_hour": -1}}}, r"rate_per_hour"),
        (
            {"districts": {"A": {**BUSY, "duration": {"dist": "deterministic", "value": 0}}}},
            r"mean must be > 0",
        ),
        ({"districts": {"A": BUSY}, "when": "always"}, r"when"),
        ({"districts": {"A": {**BUSY, "sd": 3}}}, r"sd"),
        ({"districts": {}}, r"districts"),
        ({"districts": {"A": BUSY}, "dispatch_scope": "city"}, r"dispatch_scope"),
    ],
)
def test_section_is_checked_strictly(si: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_scenario(_data(self_initiated=si))


def test_analyze_refuses_the_section_by_name() -> None:
    data = _data(
        self_initiated={"districts": {"A": BUSY}},
        priorities=[{"level": 1, "share": 1.0}],
        service={"dist": "exponential", "mean": 30},
    )
    with pytest.raises(AssumptionError, match="self_initiated: officer-initiated work"):
        analyze(parse_scenario(data))
    del data["self_initiated"]
    assert analyze(parse_scenario(data))["incidents"] is not None


def test_district_without_units_is_served_agency_wide() -> None:
    """A district with no unit posted in it would hold its calls for ever: the agency serves."""
    idle = {"rate_per_hour": 0, "duration": {"dist": "deterministic", "value": 10}}
    data = _data(
        units=[{"id": "ua", "post": "a"}],
        self_initiated={"districts": {"A": idle}, "dispatch_scope": "district"},
    )
    inc = Simulation(parse_scenario(data), seed=1, demand=_trace([(5, "b", 2)])).run().incidents
    assert inc["unit"].tolist() == [0]
    assert inc["dispatched"].tolist() == [5.0]


def test_a_district_without_units_keeps_its_rate_for_nobody() -> None:
    """A layout may move every unit out of a district (an optimizer's candidate): it runs."""
    data = _data(
        units=[{"id": "ua", "post": "a"}, {"id": "ua2", "post": "a"}],
        self_initiated={"districts": {"A": BUSY, "B": BUSY}},
    )
    run = Simulation(parse_scenario(data), seed=3, demand=_trace([(30, "b", 2)])).run()
    # both units (district A) work on their own; the district-B call waits for one of them
    assert int(run.units["self_initiated"].sum()) == 2
    assert run.incidents["waited"][0]
    assert run.incidents["dispatched"][0] > 30.0
