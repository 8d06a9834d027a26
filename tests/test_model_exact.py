"""Tier 1: deterministic arrivals and service with hand-computed answers."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from twin.errors import DataError
from twin.model import Simulation
from twin.model.distributions import Deterministic, Empirical, Exponential, Gamma, Lognormal
from twin.model.outputs import summarize
from twin.scenario import parse_scenario

pytestmark = pytest.mark.exact


def _scenario(**over: Any) -> Any:
    data: dict[str, Any] = {
        "name": "exact",
        "warmup": 0,
        "horizon": 100,
        "zones": [{"id": "a", "location": [0, 0], "rate_per_hour": 1.0}],
        "units": [{"id": "u1", "post": "a"}, {"id": "u2", "post": "a"}],
        "service": {"dist": "deterministic", "value": 10},
        "travel": {"model": "none"},
        "patrol": {"policy": "post"},
    }
    data.update(over)
    return parse_scenario(data)


def _trace(rows: list[tuple[float, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_min", "zone", "priority"])


FIVE = [(0, "a", 1), (1, "a", 1), (2, "a", 1), (3, "a", 1), (15, "a", 1)]


def test_fcfs_two_units_hand_computed() -> None:
    run = Simulation(_scenario(), seed=1, demand=_trace(FIVE)).run()
    inc = run.incidents
    assert inc["wait_min"].tolist() == [0, 0, 8, 8, 5]
    assert inc["dispatched"].tolist() == [0, 1, 10, 11, 20]
    assert inc["cleared"].tolist() == [10, 11, 20, 21, 30]
    assert inc["unit"].tolist() == [0, 1, 0, 1, 0]
    assert inc["waited"].tolist() == [False, False, True, True, True]
    s = summarize([run])
    assert s["p_wait"] == pytest.approx(0.6)
    assert s["mean_wait_min"] == pytest.approx(4.2)
    assert s["response_min"]["mean"] == pytest.approx(4.2)
    assert s["units"]["u1"] == {"utilization": pytest.approx(0.3), "dispatches": 3}
    assert s["units"]["u2"] == {"utilization": pytest.approx(0.2), "dispatches": 2}
    assert run.queue_area == pytest.approx(21.0)  # sample-path Little: sum of waits
    assert s["p_lost"] == 0.0


def test_priority_queue_serves_urgent_first() -> None:
    sc = _scenario(
        priorities=[{"level": 1, "share": 0.5}, {"level": 3, "share": 0.5}],
        queue={"discipline": "priority"},
    )
    rows = [(0, "a", 3), (1, "a", 3), (2, "a", 3), (3, "a", 1)]
    inc = Simulation(sc, seed=1, demand=_trace(rows)).run().incidents
    # at t=10 the priority-1 call (received at 3) jumps the priority-3 call (received at 2)
    assert inc["wait_min"].tolist() == [0, 0, 9, 7]
    assert inc["priority"].tolist() == [3, 3, 3, 1]
    fcfs = Simulation(
        _scenario(priorities=[{"level": 1, "share": 0.5}, {"level": 3, "share": 0.5}]),
        seed=1,
        demand=_trace(rows),
    ).run()
    assert fcfs.incidents["wait_min"].tolist() == [0, 0, 8, 8]


def test_loss_system_and_finite_capacity() -> None:
    lost = Simulation(_scenario(queue={"capacity": 0}), seed=1, demand=_trace(FIVE)).run()
    # both units are free again at 15
    assert lost.incidents["lost"].tolist() == [False, False, True, True, False]
    assert summarize([lost])["p_lost"] == pytest.approx(0.4)
    assert summarize([lost])["p_wait"] == 0.0
    assert np.isnan(lost.incidents["dispatched"][2])
    one = Simulation(_scenario(queue={"capacity": 1}), seed=1, demand=_trace(FIVE)).run()
    assert one.incidents["lost"].tolist() == [False, False, False, True, False]
    assert one.incidents["wait_min"][[0, 1, 2, 4]].tolist() == [0, 0, 8, 0]


def test_travel_turnout_and_redispatch_on_the_way_back() -> None:
    sc = _scenario(
        zones=[
            {"id": "a", "location": [0, 0], "rate_per_hour": 1.0},
            {"id": "b", "location": [3, 4], "rate_per_hour": 1.0},
        ],
        units=[{"id": "u1", "post": "a"}],
        travel={"model": "manhattan", "speed_kmh": 60, "turnout_min": 1},
    )
    run = Simulation(sc, seed=1, demand=_trace([(0, "b", 1), (20, "a", 1)])).run()
    inc = run.incidents
    assert inc["enroute"].tolist() == [1, 21]
    assert inc["onscene"].tolist() == [8, 26]  # 7 km out; back 2 min of 7 -> 5 km to go
    assert inc["cleared"].tolist() == [18, 36]
    assert inc["travel_min"].tolist() == pytest.approx([7, 5])
    units = run.units
    assert units["dispatched_min"][0] == pytest.approx(2)
    assert units["en_route_min"][0] == pytest.approx(12)
    assert units["on_scene_min"][0] == pytest.approx(20)
    assert units["returning_min"][0] == pytest.approx(2)  # 18->20; the 2nd call is at its post
    assert units["patrol_min"][0] == pytest.approx(100 - 2 - 12 - 20 - 2)
    eu = sc.model_copy(update={"travel": sc.travel.model_copy(update={"model": "euclidean"})})
    inc2 = Simulation(eu, seed=1, demand=_trace([(0, "b", 1), (8, "a", 1)])).run().incidents
    # 5 km out (arrive 6, clear 16): busy at t=8, so the second call waits for the clear at 16
    assert inc2["dispatched"].tolist() == [0, 16]
    assert inc2["onscene"].tolist() == pytest.approx([6, 22])


def test_shift_brings_unit_on_and_off_duty() -> None:
    sc = _scenario(
        units=[{"id": "u1", "post": "a", "shift": {"start": "08:00", "hours": 1}}],
        horizon=1440,
    )
    df = _trace([(100, "a", 1), (530, "a", 1), (535, "a", 1)]).assign(service_min=[10, 20, 10])
    run = Simulation(sc, seed=1, demand=df).run()
    inc = run.incidents
    # off duty until 480; the call at 530 runs past the shift end (540) to 550; the call
    # queued at 535 is not taken by the off-duty unit: it waits for the next shift
    assert inc["dispatched"].tolist() == [480, 530, 480 + 1440]
    units = run.units
    assert units["off_duty_min"][0] == pytest.approx(1440 - 70)
    assert units["on_duty_min"][0] == pytest.approx(70)
    assert units["utilization"][0] == pytest.approx(30 / 70)


def test_preference_dispatch_and_out_of_area() -> None:
    sc = _scenario(
        zones=[
            {"id": "a", "location": [0, 0], "rate_per_hour": 1.0},
            {"id": "b", "location": [1, 0], "rate_per_hour": 1.0},
        ],
        dispatch={"policy": "preference", "preferences": {"a": ["u1", "u2"], "b": ["u2", "u1"]}},
    )
    run = Simulation(sc, seed=1, demand=_trace([(0, "a", 1), (1, "a", 1), (30, "b", 1)])).run()
    s = summarize([run])
    assert run.incidents["unit"].tolist() == [0, 1, 1]
    assert s["out_of_area_fraction"] == pytest.approx(1 / 3)
    assert s["dispatch_fractions"]["u1"] == {"a": pytest.approx(1 / 3), "b": 0.0}
    assert s["dispatch_fractions"]["u2"] == {"a": pytest.approx(1 / 3), "b": pytest.approx(1 / 3)}


def test_camera_shortens_detection_outside_outage() -> None:
    sc = _scenario(
        zones=[
            {"id": "a", "location": [0, 0], "rate_per_hour": 6.0},
            {"id": "b", "location": [5, 0], "rate_per_hour": 6.0},
        ],
        units=[{"id": f"u{i}", "post": "a"} for i in range(6)],
        horizon=2000,
        detection={"delay": {"dist": "deterministic", "value": 4}, "covered_factor": 0.25},
        devices=[
            {"id": "cam", "zone": "a", "radius_km": 1, "outages": [{"start": 500, "end": 1000}]}
        ],
    )
    inc = Simulation(sc, seed=3).run().incidents
    det, occ, zone = inc["detection_min"], inc["occurred"], inc["zone"]
    in_outage = (occ >= 500) & (occ < 1000)
    assert np.allclose(det[zone == 1], 4.0)
    assert np.allclose(det[(zone == 0) & in_outage], 4.0)
    assert np.allclose(det[(zone == 0) & ~in_outage], 1.0)
    assert ((zone == 0) & ~in_outage).sum() > 50
    assert np.all(np.diff(inc["received"][np.argsort(inc["received"])]) >= 0)


def test_trace_errors_name_the_row() -> None:
    with pytest.raises(DataError, match="row 1: unknown zone 'zz'"):
        Simulation(_scenario(), demand=_trace([(0, "a", 1), (1, "zz", 1)]))
    with pytest.raises(DataError, match="lacks column 'zone'"):
        Simulation(_scenario(), demand=pd.DataFrame({"time_min": [1.0], "priority": [1]}))
    sc = _scenario(priorities=[{"level": 1, "share": 0.5}, {"level": 2, "share": 0.5}])
    with pytest.raises(DataError, match="row 0: priority 7"):
        Simulation(sc, demand=_trace([(0, "a", 7)]))


def test_trace_service_column_is_used() -> None:
    df = _trace([(0, "a", 1), (5, "a", 1)]).assign(service_min=[3.0, 4.5])
    inc = Simulation(_scenario(), seed=1, demand=df).run().incidents
    assert inc["cleared"].tolist() == [3.0, 9.5]


@pytest.mark.parametrize(
    ("dist", "mean", "var"),
    [
        (Exponential(3.0), 3.0, 9.0),
        (Lognormal(10.0, 4.0), 10.0, 16.0),
        (Gamma(2.0, 1.5), 3.0, 4.5),
        (Deterministic(2.5), 2.5, 0.0),
        (Empirical([1.0, 2.0, 6.0], [1.0, 1.0, 2.0]), 3.75, 5.1875),
    ],
)
def test_distributions_know_their_theory(dist: Any, mean: float, var: float) -> None:
    assert dist.mean == pytest.approx(mean)
    assert dist.variance == pytest.approx(var)
    x = dist.sample_many(np.random.default_rng(5), 200_000)
    assert x.min() >= 0
    assert x.mean() == pytest.approx(mean, rel=0.02, abs=1e-9)
    assert x.var() == pytest.approx(var, rel=0.05, abs=1e-9)
    assert isinstance(dist.sample(np.random.default_rng(1)), float)


def test_distributions_refuse_impossible_parameters() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        Deterministic(-1.0)
    with pytest.raises(ValueError, match="positive"):
        Exponential(0.0)
    with pytest.raises(ValueError, match="non-negative"):
        Empirical([1.0, -2.0])
    with pytest.raises(ValueError, match="positive"):
        Lognormal(5.0, -1.0)


def test_mesa_agents_mirror_engine_state() -> None:
    from twin.model.agents import DeviceState, UnitState

    sc = _scenario(
        zones=[
            {"id": "a", "location": [0, 0], "rate_per_hour": 1.0},
            {"id": "b", "location": [3, 4], "rate_per_hour": 1.0},
        ],
        units=[{"id": "u1", "post": "a"}, {"id": "u2", "post": "a"}],
        travel={"model": "manhattan", "speed_kmh": 60, "turnout_min": 1},
        devices=[{"id": "cam", "zone": "b", "outages": [{"start": 20, "end": 40}]}],
        patrol={"policy": "post", "interval_min": 15},
    )
    sim = Simulation(sc, seed=1, demand=_trace([(0, "b", 1), (2, "a", 1)]))
    sim.run_until(0.5)
    assert sim.model.unit_states() == {"u1": UnitState.DISPATCHED, "u2": UnitState.PATROL}
    sim.run_until(3.5)  # u1 driving 1..8; u2 turnout 2..3, on scene 3..13 (travel 0)
    assert sim.model.unit_states() == {"u1": UnitState.EN_ROUTE, "u2": UnitState.ON_SCENE}
    sim.run_until(20)  # u1 clears at 18 and drives back until 25
    assert sim.model.unit_states()["u1"] is UnitState.RETURNING
    sim.run_until(31)  # mesa step at 30: the device is down
    assert sim.model.devices[0].state is DeviceState.OUTAGE
    assert sim.model.unit_states()["u1"] is UnitState.PATROL
    ts = sim.model.snapshots()
    assert ts is not None
    assert ts["time_min"].tolist() == [0.0, 15.0, 30.0]
    assert ts["busy"].tolist() == [1, 1, 0]


def test_intra_zone_distance_lengthens_same_zone_trips() -> None:
    sc = _scenario(
        zones=[
            {"id": "a", "location": [0, 0], "rate_per_hour": 1.0, "intra_km": 2.0},
            {"id": "b", "location": [3, 0], "rate_per_hour": 1.0},
        ],
        units=[{"id": "u1", "post": "a"}],
        travel={"model": "euclidean", "speed_kmh": 60},
    )
    inc = Simulation(sc, seed=1, demand=_trace([(0, "a", 1), (50, "b", 1)])).run().incidents
    assert inc["travel_min"].tolist() == pytest.approx([2.0, 3.0])  # cross-zone unchanged


@pytest.mark.parametrize("model", ["euclidean", "manhattan", "haversine"])
def test_vectorised_distances_match_pairwise(model: str) -> None:
    from twin.model.travel import TRAVEL_MODELS, distance_matrix_km

    pts = [(120.7, 30.7), (120.9, 30.5), (121.0, 30.9), (120.7, 30.7)]
    fn = TRAVEL_MODELS[model]
    assert fn is not None
    want = np.array([[fn(*a, *b) for b in pts] for a in pts])
    np.testing.assert_allclose(distance_matrix_km(model, pts), want, rtol=1e-12, atol=1e-12)
