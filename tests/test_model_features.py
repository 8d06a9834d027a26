"""Optional scenario features: travel_factor, travel.noise, dispatch delay, several agencies.

Exact tier where a hand computation gives the answer (deterministic factors and delays on a
trace), properties where it does not (agency separation, same seed => same records).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from small_scenarios import two_zones

from twin.errors import ConfigError
from twin.model import Simulation
from twin.model.outputs import OPTIONAL_KEYS, SUMMARY_KEYS, summarize
from twin.model.runner import simulate
from twin.scenario import parse_scenario


def _scenario(**over: Any) -> Any:
    return two_zones("features", **over)


def _trace(rows: list[tuple[Any, ...]], cols: tuple[str, ...] = ()) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_min", "zone", "priority", *cols])


PRIOS = [
    {"level": 1, "share": 0.5},
    {"level": 2, "share": 0.5, "travel_factor": 2.5},
]


# ----------------------------------------------------------------------------- travel_factor
@pytest.mark.exact
def test_travel_factor_multiplies_the_drive_of_its_class_only() -> None:
    sc = _scenario(priorities=PRIOS)
    # both calls in zone b (2 min from the post); the unit is back at its post in between
    run = Simulation(sc, demand=_trace([(0, "b", 1), (50, "b", 2)])).run()
    inc = run.incidents
    assert inc["travel_min"].tolist() == [2.0, 5.0]
    assert inc["onscene"].tolist() == [2.0, 55.0]
    assert inc["response_min"].tolist() == [2.0, 5.0]
    # the unit is busy for the slower drive: (2 + 10) + (5 + 10) of 200 minutes
    assert run.units["busy_min"][0] == pytest.approx(27.0)


@pytest.mark.exact
def test_travel_factor_of_two_doubles_every_drive() -> None:
    base = _scenario()
    slow = _scenario(priorities=[{"level": 1, "share": 1.0, "travel_factor": 2.0}])
    rows = [(0, "b", 1), (40, "a", 1), (80, "b", 1)]
    a = Simulation(base, demand=_trace(rows)).run().incidents
    b = Simulation(slow, demand=_trace(rows)).run().incidents
    np.testing.assert_allclose(b["travel_min"], 2.0 * a["travel_min"])
    assert a["travel_min"].tolist() == [2.0, 0.0, 2.0]


@pytest.mark.validation
def test_travel_factor_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"priorities\[0\]\.travel_factor"):
        _scenario(priorities=[{"level": 1, "share": 1.0, "travel_factor": 0}])


# ----------------------------------------------------------------------------- travel.noise
@pytest.mark.exact
def test_deterministic_noise_scales_drive_time() -> None:
    sc = _scenario(
        travel={
            "model": "manhattan",
            "speed_kmh": 60,
            "noise": {"dist": "deterministic", "value": 1.5},
        }
    )
    inc = Simulation(sc, demand=_trace([(0, "b", 1), (50, "b", 1)])).run().incidents
    assert inc["travel_min"].tolist() == [3.0, 3.0]


@pytest.mark.property
def test_noise_keeps_incidents_and_is_reproducible() -> None:
    noisy_travel = {
        "model": "manhattan",
        "speed_kmh": 60,
        "noise": {"dist": "lognormal", "mean": 1.0, "sd": 0.5},
    }
    plain = _scenario(horizon=3000)
    noisy = _scenario(horizon=3000, travel=noisy_travel)
    r1 = Simulation(noisy, seed=5).run().incidents
    r2 = Simulation(noisy, seed=5).run().incidents
    r0 = Simulation(plain, seed=5).run().incidents
    for key in r1:
        np.testing.assert_array_equal(r1[key], r2[key])  # same seed, same records
    # common random numbers: the incident stream is the same with or without noise
    for key in ("incident", "occurred", "received", "zone", "priority", "service_min"):
        np.testing.assert_array_equal(r0[key], r1[key])
    trips = r1["travel_min"][r1["zone"] == 1]
    assert trips.std() > 0.1  # the noise varies trip by trip
    ratio = trips / 2.0
    assert 0.7 < ratio.mean() < 1.3  # mean 1 multiplier


@pytest.mark.validation
def test_noise_takes_a_tagged_distribution() -> None:
    with pytest.raises(ConfigError, match=r"travel\.noise"):
        _scenario(travel={"model": "manhattan", "noise": {"dist": "lognormal", "mean": 1}})


# ----------------------------------------------------------------------------- dispatch delay
@pytest.mark.exact
def test_deterministic_dispatch_delay_shifts_every_dispatch() -> None:
    rows = [(0, "a", 1), (1, "a", 1), (30, "b", 1), (100, "a", 1)]
    base = Simulation(_scenario(), demand=_trace(rows)).run().incidents
    sc = _scenario(dispatch={"policy": "closest", "delay": {"dist": "deterministic", "value": 2}})
    inc = Simulation(sc, demand=_trace(rows)).run().incidents
    assert inc["received"].tolist() == [0, 1, 30, 100]
    assert inc["dispatch_delay_min"].tolist() == [2, 2, 2, 2]
    # the second call waits for the unit: free at 12 (dispatched 2, on scene 2, clear 12)
    assert inc["dispatched"].tolist() == [2, 12, 32, 102]
    assert inc["wait_min"].tolist() == [0, 9, 0, 0]
    assert np.isnan(inc["queued"][0])
    assert inc["queued"][1] == 3.0
    assert inc["enroute"].tolist() == inc["dispatched"].tolist()  # no turnout
    assert inc["onscene"].tolist() == [2, 12, 34, 102]
    assert inc["cleared"].tolist() == [12, 22, 44, 112]
    assert inc["response_min"].tolist() == [2, 11, 4, 2]
    # without the delay the same calls are dispatched on receipt
    assert base["dispatched"].tolist() == [0, 10, 30, 100]
    order = [
        "received",
        "dispatched",
        "enroute",
        "onscene",
        "cleared",
    ]
    for a, b in itertools.pairwise(order):
        assert np.all(inc[a] <= inc[b])


@pytest.mark.exact
def test_priority_dispatch_delay_overrides_the_default() -> None:
    sc = _scenario(
        priorities=[
            {"level": 1, "share": 0.5, "dispatch_delay": {"dist": "deterministic", "value": 1}},
            {"level": 2, "share": 0.5},
        ],
        dispatch={"policy": "closest", "delay": {"dist": "deterministic", "value": 5}},
    )
    # the priority-2 call is received first but reaches the dispatcher after the urgent one
    inc = Simulation(sc, demand=_trace([(0, "a", 2), (1, "a", 1)])).run().incidents
    assert inc["dispatch_delay_min"].tolist() == [5, 1]
    assert inc["dispatched"].tolist() == [12, 2]
    assert inc["unit"].tolist() == [0, 0]


@pytest.mark.exact
def test_dispatch_delay_after_the_horizon_is_still_followed(tmp_path: Path) -> None:
    sc = _scenario(
        horizon=100, dispatch={"policy": "closest", "delay": {"dist": "deterministic", "value": 5}}
    )
    summary = simulate(sc, demand=_trace([(98, "a", 1)]), out=tmp_path)
    assert summary["incidents"] == 1
    assert summary["response_min"]["mean"] == pytest.approx(5.0)
    table = pq.read_table(tmp_path / "incidents.parquet").to_pandas()
    row = table.iloc[0]
    assert (row.received, row.dispatched, row.onscene, row.cleared) == (98, 103, 103, 113)
    assert row.dispatch_delay_min == 5


# ----------------------------------------------------------------------------- agencies
def _two_agencies(**over: Any) -> Any:
    data: dict[str, Any] = {
        "zones": [
            {"id": "a", "location": [0, 0], "rate_per_hour": 3.0, "rates": {"fire": 1.0}},
            {"id": "b", "location": [2, 0], "rates": {"police": 2.0, "fire": 0.5}},
        ],
        "units": [
            {"id": "p1", "post": "a"},
            {"id": "p2", "post": "b"},
            {"id": "f1", "post": "b", "agency": "fire"},
        ],
        "priorities": [{"level": 1, "share": 0.3}, {"level": 2, "share": 0.7}],
        "agencies": [
            {
                "id": "fire",
                "priorities": [{"level": 1, "share": 1.0}],
                "service": {"dist": "exponential", "mean": 20},
                "dispatch": {
                    "policy": "closest",
                    "delay": {"dist": "deterministic", "value": 1.0},
                },
            }
        ],
        "service": {"dist": "exponential", "mean": 30},
        "horizon": 3000,
    }
    data.update(over)
    return _scenario(**data)


@pytest.mark.property
def test_units_serve_only_their_agency() -> None:
    sc = _two_agencies()
    assert sc.agency_ids == ["fire", "police"]
    run = Simulation(sc, seed=3).run()
    inc = run.incidents
    served = inc["unit"] >= 0
    unit_agency = np.array([run.agencies.index(u.agency) for u in sc.units])
    assert np.all(unit_agency[inc["unit"][served]] == inc["agency"][served])
    fire = inc["agency"] == run.agencies.index("fire")
    assert fire.sum() > 20
    assert (~fire).sum() > 100
    # only fire calls have the fire dispatch delay; police calls none
    assert np.all(inc["dispatch_delay_min"][fire] == 1.0)
    assert np.all(inc["dispatch_delay_min"][~fire] == 0.0)
    s = summarize([run])
    assert set(s) == (set(SUMMARY_KEYS) - {"ci95"}) | set(OPTIONAL_KEYS)
    assert s["by_agency"]["fire"]["incidents"] == int(fire.sum())
    assert s["by_agency"]["police"]["incidents"] == int((~fire).sum())
    # the fire engine answers fire calls in both zones, police never
    assert s["units"]["f1"]["dispatches"] == int(fire.sum() - inc["lost"][fire].sum())


@pytest.mark.property
def test_agency_rates_give_each_agency_its_demand() -> None:
    sc = _two_agencies(horizon=20000)
    inc = Simulation(sc, seed=11).run().incidents
    fire = inc["agency"] == 0
    hours = 20000 / 60
    assert abs(fire.sum() / hours - 1.5) < 0.3  # fire 1.0 + 0.5 per hour
    assert abs((~fire).sum() / hours - 5.0) < 0.6  # police 3.0 + 2.0 per hour
    assert set(np.unique(inc["priority"][fire]).tolist()) == {1}
    assert set(np.unique(inc["priority"][~fire]).tolist()) == {1, 2}


@pytest.mark.exact
def test_trace_agency_column_routes_calls() -> None:
    sc = _two_agencies(service={"dist": "deterministic", "value": 10})
    rows = [(0, "a", 1, "police"), (0, "a", 1, "fire"), (1, "a", 2, "police")]
    run = Simulation(sc, demand=_trace(rows, ("agency",))).run()
    inc = run.incidents
    units = [sc.unit_ids[u] for u in inc["unit"]]
    assert units == ["p1", "f1", "p2"]
    assert inc["dispatch_delay_min"].tolist() == [0, 1, 0]
    assert inc["travel_min"].tolist() == [0, 2, 2]


@pytest.mark.exact
def test_shared_preference_lists_are_split_by_agency() -> None:
    prefs = {"a": ["p1", "f1", "p2"], "b": ["p2", "p1", "f1"]}
    sc = _two_agencies(
        agencies=[{"id": "fire", "priorities": [{"level": 1, "share": 1.0}]}],
        dispatch={"policy": "preference", "preferences": prefs},
        service={"dist": "deterministic", "value": 10},
    )
    rows = [(0, "a", 1, "police"), (1, "a", 1, "police"), (2, "a", 1, "police")]
    inc = Simulation(sc, demand=_trace(rows, ("agency",))).run().incidents
    assert [sc.unit_ids[u] for u in inc["unit"]] == ["p1", "p2", "p1"]
    assert inc["waited"].tolist() == [False, False, True]


@pytest.mark.validation
@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"units": [{"id": "p1", "post": "a"}]}, r"zones\[0\]\.rates: agency 'fire'"),
        (
            {"agencies": [{"id": "ems"}]},
            r"agencies\[0\]: agency 'ems' has no units",
        ),
        (
            {
                "zones": [
                    {"id": "a", "location": [0, 0], "rate_per_hour": 1, "rates": {"police": 1}}
                ]
            },
            r"keep only one",
        ),
        ({"zones": [{"id": "a", "location": [0, 0]}]}, r"needs rate_per_hour"),
        (
            {
                "agencies": [
                    {
                        "id": "fire",
                        "dispatch": {"policy": "preference", "preferences": {"a": ["p1"]}},
                    }
                ]
            },
            r"agencies\[0\]\.dispatch\.preferences\.a\[0\]: unit 'p1' belongs to agency",
        ),
        (
            {"agencies": [{"id": "fire", "priorities": [{"level": 1, "share": 0.5}]}]},
            r"agencies\[0\]\.priorities: shares sum to 0\.5",
        ),
    ],
)
def test_bad_agency_setups_are_named(over: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _two_agencies(**over)


@pytest.mark.exact
def test_trace_with_a_plain_float_service_column() -> None:
    df = pd.DataFrame(
        {
            "time_min": [0.0, 50.0],
            "zone": ["a", "b"],
            "priority": [1, 1],
            "service_min": [3.0, np.nan],
        }
    )
    # pandas 3 (copy-on-write) hands out a read-only view: the loader must copy before filling
    view = pd.to_numeric(df["service_min"], errors="coerce").to_numpy(dtype=np.float64)
    if pd.__version__ >= "3":
        assert not view.flags.writeable
    inc = Simulation(_scenario(), demand=df).run().incidents
    assert inc["service_min"].tolist() == [3.0, 10.0]  # the gap drawn from service (10)
    assert df["service_min"].isna().tolist() == [False, True]  # the caller's frame untouched


@pytest.mark.smoke
def test_example_file_features_parse() -> None:
    from twin.paths import scenarios_dir
    from twin.scenario import load_scenario

    sc = load_scenario(scenarios_dir() / "example.yaml")
    assert sc.agency_ids == ["police"]
    assert not sc.uses_dispatch_delay
    assert not sc.uses_travel_factor
    assert sc.travel.noise is None


@pytest.mark.property
@pytest.mark.parametrize("seed", [1, 2])
def test_everything_together_keeps_the_invariants(seed: int) -> None:
    """Two agencies with shifts, patrol, noise, delays, detection and checkpoint hits."""
    sc = _two_agencies(
        horizon=2000,
        warmup=200,
        units=[
            {"id": "p1", "post": "a", "shift": {"start": "00:00", "hours": 8}},
            {"id": "p2", "post": "b"},
            {"id": "f1", "post": "b", "agency": "fire"},
            {"id": "f2", "post": "a", "agency": "fire", "shift": {"start": "06:00", "hours": 12}},
        ],
        patrol={"policy": "network", "interval_min": 15},
        travel={
            "model": "manhattan",
            "speed_kmh": 40,
            "turnout_min": 1,
            "noise": {"dist": "gamma", "mean": 1.0, "sd": 0.3},
        },
        dispatch={"policy": "closest", "delay": {"dist": "exponential", "mean": 2}},
        priorities=[
            {"level": 1, "share": 0.3},
            {"level": 2, "share": 0.7, "travel_factor": 2.5},
        ],
        detection={"delay": {"dist": "exponential", "mean": 3}},
        checkpoints=[
            {
                "id": "cp",
                "zone": "a",
                "lanes": 1,
                "mode": "smart",
                "arrivals": {"rate_per_hour": 60},
                "watchlist_hit_probability": 0.05,
                "hit_priority": 1,
            }
        ],
    )
    run = Simulation(sc, seed=seed).run()
    again = Simulation(sc, seed=seed).run()
    inc = run.incidents
    for key in inc:
        np.testing.assert_array_equal(inc[key], again.incidents[key])
    served = inc["unit"] >= 0
    assert served.all()
    unit_agency = np.array([run.agencies.index(u.agency) for u in sc.units])
    assert np.all(unit_agency[inc["unit"]] == inc["agency"])
    hits = inc["origin"] == "checkpoint:cp"
    assert hits.sum() > 10
    assert np.all(inc["agency"][hits] == run.agencies.index("police"))
    assert np.all(inc["dispatch_delay_min"][hits] >= 0)
    assert inc["dispatch_delay_min"][hits].std() > 0
    for a, b in zip(
        ["occurred", "received", "dispatched", "enroute", "onscene", "cleared"],
        ["received", "dispatched", "enroute", "onscene", "cleared", "cleared"],
        strict=True,
    ):
        assert np.all(inc[a] <= inc[b] + 1e-9), (a, b)
    np.testing.assert_allclose(
        inc["response_min"], inc["dispatch_delay_min"] + inc["wait_min"] + 1.0 + inc["travel_min"]
    )
    util = run.units["utilization"]
    assert np.all((util >= 0) & (util <= 1))


# ----------------------------------------------------------------------------- twin analytic
def _write(tmp_path: Path, sc: Any) -> Path:
    import yaml

    path = tmp_path / "sc.yaml"
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json", exclude_none=True)))
    return path


@pytest.mark.validation
@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("noise", "travel.noise"),
        ("delay", "dispatch.delay"),
        ("class_delay", "priorities[0].dispatch_delay"),
        ("factor", "priorities[1].travel_factor"),
        ("agencies", "agencies:"),
    ],
)
def test_analytic_refuses_the_new_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, field: str
) -> None:
    from twin.analytics.scenario_model import ANALYTIC_EXIT_CODE
    from twin.cli import main

    expo = {"dist": "exponential", "mean": 30}
    det = {"dist": "deterministic", "value": 2}
    over: dict[str, Any] = {"service": expo}
    if kind == "noise":
        over["travel"] = {"model": "manhattan", "noise": {"dist": "gamma", "mean": 1, "sd": 0.2}}
    elif kind == "delay":
        over["dispatch"] = {"policy": "closest", "delay": det}
    elif kind == "class_delay":
        over["priorities"] = [{"level": 1, "share": 1.0, "dispatch_delay": det}]
    elif kind == "factor":
        over["priorities"] = PRIOS
    sc = _two_agencies(service=expo) if kind == "agencies" else _scenario(**over)
    assert main(["analytic", str(_write(tmp_path, sc))]) == ANALYTIC_EXIT_CODE
    err = capsys.readouterr()
    assert field in err.out + err.err


@pytest.mark.exact
def test_analytic_ignores_factor_and_noise_without_travel() -> None:
    from twin.analytics import analyze, check_assumptions

    expo = {"dist": "exponential", "mean": 30}
    two = [{"id": "u1", "post": "a"}, {"id": "u2", "post": "b"}, {"id": "u3", "post": "b"}]
    plain = _scenario(service=expo, units=two, travel={"model": "none"})
    tweaked = _scenario(
        service=expo,
        units=two,
        priorities=PRIOS,
        travel={"model": "none", "noise": {"dist": "gamma", "mean": 1, "sd": 0.2}},
    )
    assert check_assumptions(tweaked)[0] == []
    assert analyze(tweaked)["p_wait"] == pytest.approx(analyze(plain)["p_wait"])


@pytest.mark.exact
def test_trace_dispatch_delay_column_overrides_the_drawn_delay() -> None:
    sc = _scenario(dispatch={"policy": "closest", "delay": {"dist": "deterministic", "value": 2}})
    rows = [(0, "a", 1, 0.5), (20, "a", 1, np.nan), (40, "a", 1, 7.0)]
    inc = Simulation(sc, demand=_trace(rows, ("dispatch_delay_min",))).run().incidents
    assert inc["dispatch_delay_min"].tolist() == [0.5, 2.0, 7.0]
    assert inc["dispatched"].tolist() == [0.5, 22.0, 47.0]
    # without a scenario delay the column alone applies (missing values: no delay)
    inc = Simulation(_scenario(), demand=_trace(rows, ("dispatch_delay_min",))).run().incidents
    assert inc["dispatch_delay_min"].tolist() == [0.5, 0.0, 7.0]


@st.composite
def _agency_scenarios(draw: st.DrawFn) -> Any:
    n_z = draw(st.integers(1, 4))
    agencies = ["police", "fire", "ems"][: draw(st.integers(2, 3))]
    zones = []
    for j in range(n_z):
        rates = {a: draw(st.sampled_from([0.0, 0.5, 2.0])) for a in agencies}
        if sum(rates.values()) == 0:
            rates["police"] = 1.0
        zones.append({"id": f"z{j}", "location": [float(j), 0.0], "rates": rates})
    units = []
    for k, a in enumerate(agencies):
        for m in range(draw(st.integers(1, 2))):
            units.append({"id": f"{a}{m}", "post": f"z{(k + m) % n_z}", "agency": a})
    noise = draw(st.sampled_from([None, {"dist": "lognormal", "mean": 1.0, "sd": 0.5}]))
    delay = draw(st.sampled_from([None, {"dist": "exponential", "mean": 2.0}]))
    travel: dict[str, Any] = {"model": "manhattan", "speed_kmh": 30}
    if noise:
        travel["noise"] = noise
    return parse_scenario(
        {
            "name": "agencies",
            "warmup": 60,
            "horizon": 400,
            "zones": zones,
            "units": units,
            "service": {"dist": "exponential", "mean": 20},
            "travel": travel,
            "dispatch": {"policy": "closest", "delay": delay},
            "queue": {"discipline": "fcfs", "capacity": draw(st.sampled_from([0, "unlimited"]))},
            "patrol": {"policy": draw(st.sampled_from(["post", "network"]))},
        }
    )


@pytest.mark.property
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sc=_agency_scenarios(), seed=st.integers(0, 2**31))
def test_no_unit_serves_another_agency(sc: Any, seed: int) -> None:
    run = Simulation(sc, seed=seed, collect=False).run()
    inc = run.incidents
    served = inc["unit"] >= 0
    unit_agency = np.array([run.agencies.index(u.agency) for u in sc.units])
    assert np.all(unit_agency[inc["unit"][served]] == inc["agency"][served])
    assert np.all(inc["lost"] | served)
    assert np.all(inc["dispatch_delay_min"] >= 0)
    assert np.all(inc["wait_min"][served] >= -1e-9)
    # each agency's units are busy only with its own calls: summed busy time matches
    busy = run.units["dispatches"]
    for a in range(len(run.agencies)):
        mine = unit_agency == a
        assert busy[mine].sum() == int((served & (inc["agency"] == a)).sum())


# ----------------------------------------------------------------------------- zone class mix
THREE = [{"level": 1, "share": 0.2}, {"level": 2, "share": 0.3}, {"level": 3, "share": 0.5}]


def _mixed(shares: Any, **over: Any) -> Any:
    zones = [
        {"id": "a", "location": [0, 0], "rate_per_hour": 6.0, "shares": shares},
        {"id": "b", "location": [2, 0], "rate_per_hour": 6.0},
    ]
    data: dict[str, Any] = {"priorities": THREE, "horizon": 30000, **over}
    return _scenario(zones=zones, **data)


@pytest.mark.property
@pytest.mark.parametrize("seed", [1, 7])
def test_zone_shares_fix_the_zone_class_and_leave_the_rest(seed: int) -> None:
    inc = Simulation(_mixed({1: 1.0}), seed=seed).run().incidents
    in_a = inc["zone"] == 0
    assert in_a.sum() > 1000
    assert set(np.unique(inc["priority"][in_a]).tolist()) == {1}
    # zone b keeps the city-wide mix 0.2 / 0.3 / 0.5
    pb = inc["priority"][~in_a]
    n = pb.size
    assert n > 1000
    for lvl, share in ((1, 0.2), (2, 0.3), (3, 0.5)):
        sd = (share * (1 - share) / n) ** 0.5
        assert abs((pb == lvl).mean() - share) < 5 * sd


@pytest.mark.exact
def test_zone_shares_equal_to_the_city_mix_change_nothing_but_the_draw_rule() -> None:
    # a zone mix keeps arrivals, zones and service streams: same incidents, same zones
    base = Simulation(_mixed(None), seed=5).run().incidents
    same = Simulation(_mixed({1: 0.2, 2: 0.3, 3: 0.5}), seed=5).run().incidents
    for col in ("zone", "priority", "occurred"):
        assert np.array_equal(base[col], same[col]), col


@pytest.mark.exact
def test_zone_shares_per_agency() -> None:
    sc = _two_agencies(horizon=20000)
    zones = [z.model_dump(exclude_none=True) for z in sc.zones]
    zones[1]["shares"] = {"police": {2: 1.0}}
    inc = Simulation(_two_agencies(horizon=20000, zones=zones), seed=2).run().incidents
    police_b = (inc["agency"] == 1) & (inc["zone"] == 1)
    police_a = (inc["agency"] == 1) & (inc["zone"] == 0)
    assert police_b.sum() > 200
    assert set(np.unique(inc["priority"][police_b]).tolist()) == {2}
    assert set(np.unique(inc["priority"][police_a]).tolist()) == {1, 2}
    assert set(np.unique(inc["priority"][inc["agency"] == 0]).tolist()) == {1}


@pytest.mark.validation
@pytest.mark.parametrize(
    ("shares", "match"),
    [
        ({1: 0.5, 2: 0.3}, r"zones\[0\].*shares sum to 0\.8"),
        ({1: 0.5, 4: 0.5}, r"zones\[0\]\.shares: 4 is not one of agency 'police'"),
        ({1: 1.5, 2: -0.5}, r"zones\[0\]\.shares"),
        ({"fire": {1: 1.0}}, r"zones\[0\]\.shares: unknown agency 'fire'"),
    ],
)
def test_bad_zone_shares_are_named(shares: Any, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _mixed(shares)


@pytest.mark.validation
def test_flat_zone_shares_need_an_agency_key_with_several_agencies() -> None:
    sc = _two_agencies()
    zones = [z.model_dump(exclude_none=True) for z in sc.zones]
    zones[0]["shares"] = {1: 1.0}
    with pytest.raises(ConfigError, match=r"zones\[0\]\.shares: the scenario has agencies"):
        _two_agencies(zones=zones)
    zones[0]["shares"] = {"police": {3: 1.0}}
    with pytest.raises(ConfigError, match=r"zones\[0\]\.shares\.police: 3 is not one"):
        _two_agencies(zones=zones)


@pytest.mark.validation
def test_analytic_refuses_zone_shares_when_the_class_changes_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from twin.analytics import analyze, check_assumptions
    from twin.analytics.scenario_model import ANALYTIC_EXIT_CODE
    from twin.cli import main

    expo = {"dist": "exponential", "mean": 30}
    prios = [
        {**p, "service": {"dist": "exponential", "mean": 10 * (i + 1)}} for i, p in enumerate(THREE)
    ]
    sc = _mixed({1: 1.0}, service=expo, priorities=prios, travel={"model": "none"})
    assert main(["analytic", str(_write(tmp_path, sc))]) == ANALYTIC_EXIT_CODE
    err = capsys.readouterr()
    assert "zones[0].shares" in err.out + err.err
    # with one service time for every class the zone mix only relabels calls: accepted
    units = [{"id": f"u{i}", "post": "ab"[i % 2]} for i in range(10)]
    kw: dict[str, Any] = {"service": expo, "travel": {"model": "none"}, "units": units}
    ok = _mixed({1: 1.0}, **kw)
    assert check_assumptions(ok)[0] == []
    assert analyze(ok)["p_wait"] == pytest.approx(analyze(_mixed(None, **kw))["p_wait"])
