"""Smoke: the checked-in Jiaxing baseline runs in the engine on a short horizon."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.model.runner import simulate
from twin.paths import scenarios_dir
from twin.scenario import Scenario, load_scenario

BASELINE = scenarios_dir() / "jiaxing_baseline.yaml"
HORIZON_MIN = 720.0


@pytest.fixture(scope="module")
def short() -> Scenario:
    sc = load_scenario(BASELINE)
    return sc.model_copy(update={"warmup": 60.0, "horizon": HORIZON_MIN})


@pytest.fixture(scope="module")
def summary(short: Scenario) -> dict[str, Any]:
    return simulate(short, seed=7)


@pytest.mark.smoke
def test_baseline_runs_a_short_horizon(short: Scenario, summary: dict[str, Any]) -> None:
    assert summary["scenario"] == "jiaxing_baseline"
    assert summary["seed"] == 7
    assert len(summary["units"]) == 361
    assert set(summary["checkpoints"]) == {f"cp{i:02d}" for i in range(1, 17)}
    # Poisson arrivals at the stated 1,620 a day: the count is within 6 sd of its mean
    expected = short.total_rate_per_hour * HORIZON_MIN / 60.0
    assert abs(summary["incidents"] - expected) < 6.0 * math.sqrt(expected) + 5
    for u in summary["units"].values():
        assert 0.0 <= u["utilization"] <= 1.0
    assert 0.0 <= summary["out_of_area_fraction"] <= 1.0
    resp = summary["response_min"]
    assert short.travel.turnout_min <= resp["p50"] <= resp["p90"]


@pytest.mark.smoke
def test_checkpoints_pass_vehicles_in_about_half_a_minute(summary: dict[str, Any]) -> None:
    for cp_id, k in summary["checkpoints"].items():
        assert k["vehicles"] > 0, cp_id
        assert 0.3 < k["pass_mean_min"] < 0.75, cp_id  # ~30 s, as the report says
        assert k["utilization"] < 0.5, cp_id


@pytest.mark.smoke
def test_the_file_runs_from_disk_with_a_short_horizon(tmp_path: Path) -> None:
    data = yaml.safe_load(BASELINE.read_text(encoding="utf-8"))
    data.update(warmup=0.0, horizon=120.0)
    path = tmp_path / "jiaxing_short.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = tmp_path / "out"
    s = simulate(path, seed=3, out=out)
    assert s["incidents"] > 0
    assert (out / "summary.json").exists()


@pytest.mark.smoke
def test_cli_simulate_runs_the_file_with_a_short_horizon(tmp_path: Path) -> None:
    from twin.cli import main

    out = tmp_path / "cli"
    assert main(["simulate", str(BASELINE), "--horizon", "120", "--out", str(out), "--json"]) == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["scenario"] == "jiaxing_baseline"
    assert len(summary["units"]) == 361


@pytest.mark.smoke
def test_analytic_names_the_failed_assumption_and_applies_without_hits(short: Scenario) -> None:
    from twin.analytics import analyze, check_assumptions

    # watch-list hits thinned from constant-rate Poisson traffic are Poisson: within the model
    failures, notes = check_assumptions(short)
    assert failures == []
    hit_rate = sum(
        cp.arrivals.rate_per_hour * cp.watchlist_hit_probability for cp in short.checkpoints
    )
    assert hit_rate > 0
    assert any("watch-list hits add" in n for n in notes)
    with_hits = analyze(short)
    assert with_hits["incidents"] == pytest.approx(
        (short.total_rate_per_hour + hit_rate) * HORIZON_MIN / 60.0, rel=1e-9
    )
    # hourly traffic makes the hits non-Poisson: one message per checkpoint, naming the field
    hourly = [
        cp.model_copy(
            update={"arrivals": cp.arrivals.model_copy(update={"profile": [1.0] * 12 + [2.0] * 12})}
        )
        for cp in short.checkpoints
    ]
    failures, _notes = check_assumptions(short.model_copy(update={"checkpoints": hourly}))
    assert len(failures) == 16
    assert all("arrivals.profile" in f and "watchlist_hit_probability" in f for f in failures)
    assert [f.split(":")[0] for f in failures] == [
        f"checkpoints[{i}].arrivals.profile" for i in range(16)
    ]
    # without hits only the zone demand remains
    cps = [cp.model_copy(update={"watchlist_hit_probability": 0.0}) for cp in short.checkpoints]
    result = analyze(short.model_copy(update={"checkpoints": cps}))
    assert result["method"] == "hypercube_approx"  # 361 units: far beyond the exact 2^N model
    # Little's law: mean utilisation = offered load / units (on-scene time is the service time)
    load = short.total_rate_per_hour / 60.0 * 30.0
    mean_util = sum(u["utilization"] for u in result["units"].values()) / 361
    assert mean_util == pytest.approx(load / 361, rel=1e-4)
    assert result["p_wait"] < 1e-6  # 361 units at ~9% busy practically never queue
