"""Checkpoints: hand-computed runs, queueing theory, watch-list hits, properties, bad input."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from scipy import stats

from twin.errors import ConfigError
from twin.model.checkpoints import (
    CheckpointAgent,
    CheckpointRecords,
    checkpoint_kpis,
    fcfs_lanes,
    hourly_rows,
    replication_rng,
    run_checkpoint,
    simulate_checkpoint,
)
from twin.scenario import CheckpointSpec, parse_scenario


def _spec(**kw: Any) -> CheckpointSpec:
    data: dict[str, Any] = {
        "id": "c1",
        "zone": "z1",
        "lanes": 1,
        "mode": "manual",
        "arrivals": {"rate_per_hour": 30},
    }
    data.update(kw)
    return CheckpointSpec.model_validate(data)


def _det(value: float) -> dict[str, Any]:
    return {"dist": "deterministic", "value": value}


# --------------------------------------------------------------------------- tier 1: exact
@pytest.mark.exact
def test_fcfs_lanes_one_lane_hand_computed() -> None:
    # arrivals 0, 1, 2, 3; service 3 each: starts 0, 3, 6, 9 (waits 0, 2, 4, 6)
    start, exit_, lane = fcfs_lanes([0, 1, 2, 3], [3, 3, 3, 3], lanes=1)
    assert start.tolist() == [0, 3, 6, 9]
    assert exit_.tolist() == [3, 6, 9, 12]
    assert lane.tolist() == [0, 0, 0, 0]


@pytest.mark.exact
def test_fcfs_lanes_two_lanes_hand_computed() -> None:
    # v0 lane 0 [0, 2); v1 lane 1 [0.5, 2.5); v2 waits for lane 0 -> [2, 4);
    # v3 at 5 finds both idle and takes the one idle longest (lane 1, free since 2.5)
    start, exit_, lane = fcfs_lanes([0, 0.5, 1, 5], [2, 2, 2, 1], lanes=2)
    assert start.tolist() == [0, 0.5, 2, 5]
    assert exit_.tolist() == [2, 2.5, 4, 6]
    assert lane.tolist() == [0, 1, 0, 1]


@pytest.mark.exact
def test_fcfs_lanes_queue_capacity_turns_vehicles_away() -> None:
    # one lane, service 3, capacity 1 waiting: v0 [0,3); v1 waits -> [3,6); v2 at 2 finds one
    # waiting -> turned away; v3 at 3.5: v1 started at 3, nobody waits -> [6, 9)
    start, exit_, lane = fcfs_lanes([0, 1, 2, 3.5], [3, 3, 3, 3], lanes=1, queue_capacity=1)
    assert start[[0, 1, 3]].tolist() == [0, 3, 6]
    assert math.isnan(start[2])
    assert math.isnan(exit_[2])
    assert lane[2] == -1


@pytest.mark.exact
def test_manual_deterministic_run_hand_computed() -> None:
    # arrivals every 2 min from 0 (30/h), 3-min inspections, one lane, 20 min:
    # vehicle k arrives 2k, starts 3k (wait k), leaves 3k + 3; k = 0..9 arrive before 20.
    spec = _spec(
        arrivals={"rate_per_hour": 30, "process": "deterministic"}, manual_inspection=_det(3)
    )
    rec = simulate_checkpoint(spec, np.random.default_rng(0), horizon_min=20)
    c = rec.columns()
    assert c["arrival"].tolist() == [2.0 * k for k in range(10)]
    assert c["start"].tolist() == [3.0 * k for k in range(10)]
    assert c["exit"].tolist() == [3.0 * k + 3 for k in range(10)]
    k = checkpoint_kpis(rec)
    assert k["vehicles"] == 10
    assert k["wait_mean_min"] == pytest.approx(4.5)  # mean of 0..9
    assert k["pass_mean_min"] == pytest.approx(7.5)
    assert k["p_wait"] == pytest.approx(0.9)
    # exits at 3, 6, ..., 18 fall in [0, 20): 6 vehicles in 1/3 h
    assert k["throughput_per_hour"] == pytest.approx(18.0)
    assert k["utilization"] == pytest.approx(1.0)
    # waiting intervals [2k, 3k) clipped to 20: lengths 1+2+3+4+5+6+6+4+2 = 33 over 20 min
    assert k["queue_mean"] == pytest.approx(33 / 20)
    assert k["queue_max"] == 3
    assert k["capacity_per_hour"] == pytest.approx(20.0)
    # with a 10-min warm-up the window is [10, 20): vehicles k = 5..9, waits 5..9
    rec_w = simulate_checkpoint(spec, np.random.default_rng(0), horizon_min=10, warmup_min=10)
    kw = checkpoint_kpis(rec_w)
    assert kw["vehicles"] == 5
    assert kw["wait_mean_min"] == pytest.approx(7.0)
    # exits in [10, 20): 12, 15, 18 -> 3 in 1/6 h
    assert kw["throughput_per_hour"] == pytest.approx(18.0)


@pytest.mark.exact
@pytest.mark.parametrize(("flag", "lane_time"), [(0.0, 0.5), (1.0, 3.5)])
def test_smart_deterministic_flagging(flag: float, lane_time: float) -> None:
    # arrivals every 4 min; classification 0.5 min; flagged vehicles add the 3-min inspection
    spec = _spec(
        mode="smart",
        arrivals={"rate_per_hour": 15, "process": "deterministic"},
        manual_inspection=_det(3),
        classification=_det(0.5),
        flag_probability=flag,
    )
    rec = simulate_checkpoint(spec, np.random.default_rng(1), horizon_min=40)
    k = checkpoint_kpis(rec)
    assert k["vehicles"] == 10
    assert k["wait_mean_min"] == 0.0
    assert k["pass_mean_min"] == pytest.approx(lane_time)
    assert k["flagged_share"] == flag
    assert spec.mean_service_min == pytest.approx(lane_time)


@pytest.mark.exact
def test_loss_checkpoint_alternates() -> None:
    # capacity 0: every second vehicle finds the lane busy and is turned away
    spec = _spec(
        arrivals={"rate_per_hour": 30, "process": "deterministic"},
        manual_inspection=_det(3),
        queue_capacity=0,
    )
    k = checkpoint_kpis(simulate_checkpoint(spec, np.random.default_rng(0), horizon_min=40))
    assert k["vehicles"] == 20
    assert k["turned_away"] == 10
    assert k["wait_mean_min"] == 0.0
    assert k["queue_mean"] == 0.0


# --------------------------------------------------------------------------- tier 3: theory
def _erlang_c(load: float, servers: int) -> float:
    """P(wait) in M/M/c by the Erlang B recursion (independent of twin.analytics)."""
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return servers * b / (servers - load * (1 - b))


def _erlang_b(load: float, servers: int) -> float:
    b = 1.0
    for k in range(1, servers + 1):
        b = load * b / (k + load * b)
    return b


def _ci(values: list[float], level: float = 0.99) -> tuple[float, float]:
    x = np.asarray(values, dtype=float)
    hw = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return float(x.mean()), hw


@pytest.mark.validation
def test_manual_checkpoint_matches_erlang_c() -> None:
    # M/M/3: 96 vehicles/h, exponential 1.5-min inspections, rho = 0.8
    lam, mean_s, c = 96 / 60, 1.5, 3
    spec = _spec(
        lanes=c,
        arrivals={"rate_per_hour": 96},
        manual_inspection={"dist": "exponential", "mean": mean_s},
    )
    load = lam * mean_s
    p_wait = _erlang_c(load, c)
    wq = p_wait / (c / mean_s - lam)
    out = run_checkpoint(spec, seed=11, horizon_min=10_000, warmup_min=500, replications=12)
    runs = out["per_replication"]
    for key, theory in [
        ("wait_mean_min", wq),
        ("p_wait", p_wait),
        ("queue_mean", lam * wq),  # time-weighted, Little's law
        ("utilization", load / c),
    ]:
        mean, hw = _ci([r[key] for r in runs])
        assert abs(mean - theory) <= hw, f"{key}: sim {mean:.4f} +/- {hw:.4f}, theory {theory:.4f}"
    # tolerances are the 99% replication CI half-widths; they must be tight enough to matter
    assert _ci([r["wait_mean_min"] for r in runs])[1] < 0.15 * wq


@pytest.mark.validation
def test_loss_checkpoint_matches_erlang_b() -> None:
    # M/M/2/2: an arriving vehicle that finds both lanes busy is turned away
    lam, mean_s, c = 60 / 60, 1.5, 2
    spec = _spec(
        lanes=c,
        arrivals={"rate_per_hour": 60},
        manual_inspection={"dist": "exponential", "mean": mean_s},
        queue_capacity=0,
    )
    blocked = _erlang_b(lam * mean_s, c)
    out = run_checkpoint(spec, seed=5, horizon_min=10_000, warmup_min=100, replications=10)
    mean, hw = _ci([r["p_turned_away"] for r in out["per_replication"]])
    assert abs(mean - blocked) <= hw, f"sim {mean:.4f} +/- {hw:.4f}, Erlang B {blocked:.4f}"


@pytest.mark.validation
@pytest.mark.parametrize("period", [24, 168])
def test_profile_arrivals_follow_the_hourly_rates(period: int) -> None:
    rng = np.random.default_rng(period)
    profile = rng.uniform(0.0, 2.0, period).round(2).tolist()
    profile[3] = 0.0  # a closed hour gets no vehicles
    spec = _spec(arrivals={"rate_per_hour": 20, "profile": profile}, manual_inspection=_det(0))
    weeks = 6
    rec = simulate_checkpoint(spec, np.random.default_rng(7), horizon_min=weeks * 10080)
    hours = (rec.columns()["arrival"] // 60).astype(int) % period
    counts = np.bincount(hours, minlength=period)
    expected = 20 * np.asarray(profile) * weeks * 168 / period
    assert counts[3] == 0
    keep = expected > 0
    chi2 = float((((counts - expected) ** 2)[keep] / expected[keep]).sum())
    # Poisson counts per hour: chi-square with (#hours with rate > 0) degrees of freedom
    assert chi2 < stats.chi2.ppf(0.999, int(keep.sum()))
    k = checkpoint_kpis(rec)
    assert k["arrivals_per_hour"] == pytest.approx(spec.arrivals.mean_rate_per_hour, rel=0.03)


# --------------------------------------------------------------------------- watch-list hits
@pytest.mark.validation
def test_watchlist_hits_call_the_interception_callback() -> None:
    calls: list[tuple[float, str, int]] = []
    spec = _spec(
        zone="gate-zone",
        lanes=2,
        mode="smart",
        arrivals={"rate_per_hour": 120},
        watchlist_hit_probability=0.01,
        hit_priority=2,
        flag_probability=0.0,
    )
    horizon = 10_000.0
    rec = simulate_checkpoint(
        spec, np.random.default_rng(3), horizon, on_hit=lambda t, z, p: calls.append((t, z, p))
    )
    c = rec.columns()
    expected = 120 / 60 * horizon * 0.01  # 200 hits
    # the count is Poisson(expected): accept within 3.5 standard deviations
    assert abs(len(calls) - expected) <= 3.5 * math.sqrt(expected)
    assert [t for t, _, _ in calls] == c["arrival"][c["hit"]].tolist()
    assert {z for _, z, _ in calls} == {"gate-zone"}
    assert {p for _, _, p in calls} == {2}
    # in smart mode a watch-list vehicle is always diverted to the manual check
    assert c["flagged"][c["hit"]].all()
    assert not c["flagged"][~c["hit"]].any()
    assert checkpoint_kpis(rec)["hits"] == len(calls)


@pytest.mark.exact
def test_same_seed_same_vehicles_in_both_modes() -> None:
    smart = _spec(mode="smart", watchlist_hit_probability=0.05)
    manual = _spec(mode="manual", watchlist_hit_probability=0.05)
    a = simulate_checkpoint(smart, replication_rng(9, 0), 2000).columns()
    b = simulate_checkpoint(manual, replication_rng(9, 0), 2000).columns()
    assert a["arrival"].tolist() == b["arrival"].tolist()
    assert a["hit"].tolist() == b["hit"].tolist()
    again = simulate_checkpoint(smart, replication_rng(9, 0), 2000).columns()
    for key, col in a.items():
        np.testing.assert_array_equal(col, again[key])


# --------------------------------------------------------------------------- tier 2: properties
@pytest.mark.property
@settings(max_examples=25, deadline=None)
@given(
    lanes=st.integers(1, 4),
    rate=st.floats(1, 300),
    mode=st.sampled_from(["manual", "smart"]),
    manual_mean=st.floats(0.1, 5),
    flag=st.floats(0, 1),
    capacity=st.one_of(st.none(), st.integers(0, 5)),
    seed=st.integers(0, 2**31),
)
def test_records_are_consistent(
    lanes: int,
    rate: float,
    mode: str,
    manual_mean: float,
    flag: float,
    capacity: int | None,
    seed: int,
) -> None:
    spec = _spec(
        lanes=lanes,
        mode=mode,
        arrivals={"rate_per_hour": rate},
        manual_inspection={"dist": "exponential", "mean": manual_mean},
        flag_probability=flag,
        queue_capacity=capacity,
    )
    rec = simulate_checkpoint(spec, np.random.default_rng(seed), 600, warmup_min=60)
    c = rec.columns()
    ok = ~c["turned_away"]
    assert np.all(c["arrival"][ok] <= c["start"][ok])
    assert np.all(c["start"][ok] <= c["exit"][ok])
    assert np.all(np.diff(c["arrival"]) >= 0)
    assert np.all(np.diff(c["start"][ok]) >= 0)  # FCFS: lanes are entered in arrival order
    # at no time are more vehicles in lanes than there are lanes
    times = np.concatenate([c["start"][ok], c["exit"][ok]])
    steps = np.concatenate([np.ones(ok.sum()), -np.ones(ok.sum())])
    order = np.lexsort((steps, times))  # a departure before an entry at the same instant
    assert np.cumsum(steps[order]).max(initial=0) <= lanes
    k = checkpoint_kpis(rec)
    assert 0.0 <= k["utilization"] <= 1.0 + 1e-9
    assert k["queue_mean"] >= 0
    if capacity is not None:
        assert k["queue_max"] <= capacity
    if capacity is None:
        assert k["turned_away"] == 0


# --------------------------------------------------------------------------- agent
@pytest.mark.exact
def test_checkpoint_agent_in_a_mesa_model() -> None:
    import mesa
    import simpy

    model = mesa.Model(rng=4)
    env = simpy.Environment()
    spec = _spec(
        arrivals={"rate_per_hour": 30, "process": "deterministic"}, manual_inspection=_det(3)
    )
    agent = CheckpointAgent(model, spec, env)
    env.run(until=10.5)
    # arrivals 0..10 (6 vehicles); starts 0,3,6,9,12,15: at 10.5 vehicles 4, 5 wait
    assert agent.queue_length == 2
    assert agent.lanes_busy == 1
    assert agent.kpis()["vehicles"] == 6
    assert agent in model.agents


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lanes": 0}, "lanes"),
        ({"arrivals": {"rate_per_hour": -5}}, "rate_per_hour"),
        ({"arrivals": {"rate_per_hour": 0}}, "rate_per_hour"),
        ({"flag_probability": 1.5}, "flag_probability"),
        ({"watchlist_hit_probability": -0.1}, "watchlist_hit_probability"),
        ({"mode": "robotic"}, "mode"),
        ({"arrivals": {"rate_per_hour": 5, "profile": [1.0] * 23}}, "profile"),
        ({"arrivals": {"rate_per_hour": 5, "profile": [0.0] * 24}}, "profile"),
        ({"arrivals": {"rate_per_hour": 5, "profile": [-1.0] + [1.0] * 23}}, "profile"),
        ({"arrivals": {"source": "device", "device": "cnt1"}}, "source"),
        (
            {"arrivals": {"rate_per_hour": 5, "process": "deterministic", "profile": [1.0] * 24}},
            "no profile",
        ),
        ({"manual_inspection": {"dist": "exponential", "mean": -2}}, "mean"),
        ({"classification": {"dist": "weibull", "mean": 2}}, "classification"),
        ({"queue_capacity": -1}, "queue_capacity"),
        ({"lanse": 2}, "lanse"),
    ],
)
@pytest.mark.validation
def test_bad_checkpoint_is_rejected(change: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        _spec(**change)
    assert field in str(info.value)


@pytest.mark.validation
def test_bad_checkpoint_in_a_scenario_names_the_field() -> None:
    data = {
        "name": "t",
        "horizon": 60,
        "zones": [{"id": "z1", "location": [0, 0], "rate_per_hour": 1}],
        "units": [{"id": "u1", "post": "z1"}],
        "checkpoints": [
            {"id": "c", "zone": "z1", "lanes": 0, "mode": "smart", "arrivals": {"rate_per_hour": 9}}
        ],
    }
    with pytest.raises(ConfigError, match=r"checkpoints\[0\]\.lanes"):
        parse_scenario(data, source="s.yaml")
    data["checkpoints"][0]["lanes"] = 1  # type: ignore[index]
    data["checkpoints"][0]["flag_probability"] = 2  # type: ignore[index]
    with pytest.raises(ConfigError, match=r"checkpoints\[0\]\.flag_probability"):
        parse_scenario(data, source="s.yaml")


@pytest.mark.validation
def test_run_checkpoint_rejects_bad_arguments() -> None:
    spec = _spec()
    with pytest.raises(ValueError, match="replications"):
        run_checkpoint(spec, 1, 60, replications=0)
    with pytest.raises(ValueError, match="horizon"):
        run_checkpoint(spec, 1, 0)
    with pytest.raises(ValueError, match="non-decreasing"):
        fcfs_lanes([2, 1], [1, 1], 1)


@pytest.mark.exact
def test_public_names_are_pinned() -> None:
    import twin.model.checkpoints as cp

    assert sorted(cp.__all__) == [
        "CheckpointAgent",
        "CheckpointProcess",
        "CheckpointRecords",
        "HOURLY_COLUMNS",
        "HitCallback",
        "checkpoint_kpis",
        "fcfs_lanes",
        "hourly_rows",
        "replication_rng",
        "run_checkpoint",
        "simulate_checkpoint",
    ]
    for name in cp.__all__:
        assert hasattr(cp, name)


@pytest.mark.exact
def test_records_to_arrow() -> None:
    spec = _spec(arrivals={"rate_per_hour": 30, "process": "deterministic"}, queue_capacity=0)
    table = simulate_checkpoint(spec, np.random.default_rng(0), horizon_min=60).to_arrow()
    assert table.num_rows == 30
    assert table.column_names[:3] == ["checkpoint", "vehicle", "arrival"]
    assert set(table.column("checkpoint").to_pylist()) == {"c1"}


# --------------------------------------------------------------------------- over the day
@pytest.mark.exact
def test_hourly_rows_by_hand() -> None:
    rec = CheckpointRecords("c1", "smart", 1, warmup_min=0.0)
    rec.append(10.0, 10.0, 20.0, 0, True, False, False)  # checked by hand, no wait
    rec.append(15.0, 20.0, 30.0, 0, False, False, False)  # waits 5 min, passes automatically
    rec.append(70.0, math.nan, math.nan, -1, False, False, True)  # turned away
    rec.append(80.0, 80.0, 130.0, 0, True, True, False)  # a hit; leaves after the end
    rows = hourly_rows(rec, end_min=120.0)
    assert [r["hour"] for r in rows] == [0, 1]
    h0, h1 = rows
    assert h0["window_hours"] == 1.0
    assert h0["arrivals_per_hour"] == 2.0
    assert h0["throughput_per_hour"] == 2.0
    assert h0["manual_checks_per_hour"] == 1.0
    assert h0["auto_passed_per_hour"] == 1.0
    assert h0["wait_mean_min"] == pytest.approx(2.5)
    assert h0["queue_mean"] == pytest.approx(5 / 60)  # 5 vehicle-minutes waiting in the hour
    assert h0["lanes_busy_mean"] == pytest.approx(20 / 60)
    assert h1["arrivals_per_hour"] == 2.0
    assert h1["turned_away_per_hour"] == 1.0
    assert h1["interceptions_per_hour"] == 1.0
    assert h1["throughput_per_hour"] == 0.0  # it leaves at 130, after the window
    assert h1["wait_mean_min"] == 0.0
    assert h1["queue_mean"] == 0.0
    assert h1["lanes_busy_mean"] == pytest.approx(40 / 60)  # cut at the end of the window
    with pytest.raises(ValueError, match="empty statistics window"):
        hourly_rows(rec, end_min=0.0)


def test_hourly_rows_add_up_to_the_window_kpis() -> None:
    """Exposure-weighted hours give back the whole-window figures (warm-up and end mid-hour)."""
    profile = [0.3] * 7 + [1.6] * 3 + [0.9] * 7 + [1.8] * 3 + [0.5] * 4
    spec = _spec(lanes=2, arrivals={"rate_per_hour": 50, "profile": profile})
    rec = simulate_checkpoint(spec, replication_rng(3, 0), horizon_min=3 * 1440, warmup_min=90)
    rows = hourly_rows(rec)
    whole = checkpoint_kpis(rec)
    hours = np.array([r["window_hours"] for r in rows])
    assert hours.sum() == pytest.approx(whole["window_min"] / 60)

    def weighted(key: str) -> float:
        return float(np.dot(hours, [r[key] for r in rows]) / hours.sum())

    assert weighted("arrivals_per_hour") == pytest.approx(whole["arrivals_per_hour"])
    assert weighted("throughput_per_hour") == pytest.approx(whole["throughput_per_hour"])
    assert weighted("queue_mean") == pytest.approx(whole["queue_mean"])
    assert weighted("lanes_busy_mean") / 2 == pytest.approx(whole["utilization"])
    assert weighted("interceptions_per_hour") == pytest.approx(whole["hits_per_hour"])
    # the profile shows: the evening peak queues longer than the night
    by_hour = {r["hour"]: r for r in rows}
    assert by_hour[18]["queue_mean"] > by_hour[3]["queue_mean"]
    assert by_hour[18]["arrivals_per_hour"] > 2 * by_hour[3]["arrivals_per_hour"]


def test_simulate_writes_the_hourly_table_and_area_kpis(tmp_path: Any) -> None:
    """``twin simulate``'s outputs: checkpoints per hour of day and KPIs per area, both
    consistent with summary.json; a scenario without checkpoints writes no hourly table."""
    import pandas as pd

    from twin.model import simulate
    from twin.paths import scenarios_dir
    from twin.scenario import load_scenario

    sc = load_scenario(scenarios_dir() / "jiaxing_checkpoint.yaml")
    sc = sc.model_copy(update={"warmup": 90.0, "horizon": 2 * 1440.0})
    summary = simulate(sc, seed=4, replications=2, out=tmp_path / "cp")
    hourly = pd.read_parquet(tmp_path / "cp" / "checkpoints_hourly.parquet")
    assert set(hourly["checkpoint"]) == set(summary["checkpoints"])
    assert len(hourly) == 2 * len(summary["checkpoints"]) * 24
    for cp, whole in summary["checkpoints"].items():
        part = hourly[hourly["checkpoint"] == cp]
        assert set(part["mode"]) == {whole["mode"]}
        per_rep = [
            np.dot(g["window_hours"], g["queue_mean"]) / g["window_hours"].sum()
            for _, g in part.groupby("replication")
        ]
        assert np.mean(per_rep) == pytest.approx(whole["queue_mean"])
        if whole["mode"] == "manual":
            assert (part["auto_passed_per_hour"] == 0).all()
    kpis = pd.read_parquet(tmp_path / "cp" / "kpis.parquet")
    every = kpis[kpis["level"] == "all"]
    assert every["incidents"].sum() == summary["incidents"]
    for d, want in summary["by_district"].items():
        got = kpis[(kpis["level"] == "district") & (kpis["district"] == d)]
        assert got["within_5_min"].mean() == pytest.approx(want["within_5_min"], nan_ok=True)
    simulate(scenarios_dir() / "mmc_queue.yaml", seed=1, out=tmp_path / "plain")
    assert not (tmp_path / "plain" / "checkpoints_hourly.parquet").exists()
    assert (tmp_path / "plain" / "kpis.parquet").exists()
