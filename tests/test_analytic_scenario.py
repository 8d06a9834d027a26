"""Scenario -> analytic model: assumptions, keys, closest ordering, priorities, the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.analytics import analyze, check_assumptions, hypercube_inputs
from twin.analytics.erlang import MMc, erlang_b, erlang_c
from twin.analytics.scenario_model import ANALYTIC_EXIT_CODE, AssumptionError
from twin.cli import main
from twin.model import SUMMARY_KEYS
from twin.paths import scenarios_dir
from twin.scenario import load_scenario, parse_scenario


def _base(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "t",
        "warmup": 100,
        "horizon": 6000,
        "zones": [
            {"id": "a", "location": [0.0, 0.0], "rate_per_hour": 3.0},
            {"id": "b", "location": [4.0, 0.0], "rate_per_hour": 1.0},
            {"id": "c", "location": [1.0, 0.0], "rate_per_hour": 2.0},
        ],
        "units": [{"id": "u1", "post": "a"}, {"id": "u2", "post": "b"}, {"id": "u3", "post": "a"}],
        "service": {"dist": "exponential", "mean": 20},
        "travel": {"model": "none"},
        "dispatch": {"policy": "closest"},
        "patrol": {"policy": "post"},
    }
    data.update(over)
    return data


@pytest.mark.exact
def test_mmc_scenario_matches_erlang_c() -> None:
    sc = load_scenario(scenarios_dir() / "mmc_queue.yaml")
    out = analyze(sc)
    q = MMc(0.1, 1 / 30, 4)
    assert out["p_wait"] == pytest.approx(erlang_c(3.0, 4), rel=1e-12)
    assert out["mean_wait_min"] == pytest.approx(q.wq, rel=1e-12)
    assert out["response_min"]["p90"] == pytest.approx(q.wait_quantile(0.9))
    assert out["p_lost"] == 0.0
    assert out["incidents"] == pytest.approx(0.1 * sc.horizon)
    assert set(SUMMARY_KEYS) - {"ci95"} <= set(out)
    assert out["seed"] is None
    assert out["replications"] is None
    assert sum(u["utilization"] for u in out["units"].values()) == pytest.approx(3.0)
    assert out["method"] == "hypercube_exact"
    assert json.loads(json.dumps(out)) == out  # JSON-clean


@pytest.mark.exact
def test_loss_scenario_matches_erlang_b() -> None:
    out = analyze(load_scenario(scenarios_dir() / "mmc_loss.yaml"))
    assert out["p_lost"] == pytest.approx(erlang_b(4.0, 5), rel=1e-12)
    assert out["p_wait"] == 0.0
    assert out["mean_wait_min"] == 0.0
    erl = analyze(load_scenario(scenarios_dir() / "mmc_loss.yaml"), method="erlang")
    assert erl["method"] == "erlang_b"
    assert erl["dispatch_fractions"] is None
    assert erl["units"]["u1"]["utilization"] == pytest.approx(4.0 * (1 - erlang_b(4.0, 5)) / 5)


@pytest.mark.exact
def test_single_unit_uses_erlang() -> None:
    sc = parse_scenario(_base(units=[{"id": "u1", "post": "a"}], queue={"capacity": 0}))
    out = analyze(sc)
    assert out["method"] == "erlang_b"
    load = 6.0 / 60 * 20
    assert out["p_lost"] == pytest.approx(load / (1 + load))


@pytest.mark.exact
def test_closest_orders_units_by_post_travel() -> None:
    sc = parse_scenario(_base(travel={"model": "manhattan", "speed_kmh": 60}))
    inp = hypercube_inputs(sc)
    # zone a: u1 and u3 at 0 km (tie -> lower index), u2 at 4 km
    assert inp.preferences[0] == [0, 2, 1]
    assert inp.preferences[1] == [1, 0, 2]
    assert inp.preferences[2] == [0, 2, 1]
    assert inp.travel[1, 0] == pytest.approx(4.0)  # 4 km at 60 km/h
    # default home areas: first-choice zones
    assert inp.home_areas == [[0, 2], [1], []]
    out = analyze(sc)
    assert any("travel" in n for n in out["notes"])
    # response mean = wait + mean travel from the posts (no percentiles with travel)
    assert out["response_min"]["p50"] is None
    assert out["response_min"]["mean"] > out["mean_wait_min"]


@pytest.mark.exact
def test_explicit_areas_and_preferences() -> None:
    sc = parse_scenario(
        _base(
            service={"dist": "exponential", "mean": 10},
            units=[
                {"id": "u1", "post": "a", "area": ["a", "b"]},
                {"id": "u2", "post": "b"},
            ],
            dispatch={
                "policy": "preference",
                "preferences": {"a": ["u2", "u1"], "b": ["u1", "u2"], "c": ["u2", "u1"]},
            },
        )
    )
    inp = hypercube_inputs(sc)
    assert inp.preferences == [[1, 0], [0, 1], [1, 0]]
    assert inp.home_areas == [[0, 1], [0, 2]]
    out = analyze(sc)
    fr = out["dispatch_fractions"]
    outside = fr["u1"]["c"] + fr["u2"]["b"]
    assert out["out_of_area_fraction"] == pytest.approx(outside)


@pytest.mark.exact
def test_priority_queue_uses_cobham() -> None:
    prios = [
        {"level": 1, "share": 0.2},
        {"level": 2, "share": 0.3, "service": {"dist": "exponential", "mean": 20}},
        {"level": 3, "share": 0.5},
    ]
    sc = parse_scenario(_base(priorities=prios, queue={"discipline": "priority"}))
    out = analyze(sc)
    waits = {int(k): v["mean_wait_min"] for k, v in out["by_priority"].items()}
    assert waits[1] < waits[2] < waits[3]
    # conservation: the share-weighted mean of class waits is the FCFS mean wait
    mix = 0.2 * waits[1] + 0.3 * waits[2] + 0.5 * waits[3]
    assert mix == pytest.approx(out["mean_wait_min"], rel=1e-12)
    assert out["response_min"]["p50"] is None
    fcfs = analyze(parse_scenario(_base(priorities=prios)))
    assert fcfs["by_priority"]["3"]["mean_wait_min"] == pytest.approx(fcfs["mean_wait_min"])
    assert fcfs["by_priority"]["3"]["incidents"] == pytest.approx(0.5 * fcfs["incidents"])


@pytest.mark.exact
@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"service": {"dist": "gamma", "mean": 20, "sd": 5}}, "service: dist 'gamma'"),
        ({"demand": {"source": "trace", "path": "x.csv"}}, "demand.source"),
        (
            {"units": [{"id": "u1", "post": "a", "shift": {"start": "07:00", "hours": 8}}]},
            "units[0].shift",
        ),
        (
            {
                "priorities": [
                    {"level": 1, "share": 0.5, "service": {"dist": "exponential", "mean": 40}},
                    {"level": 2, "share": 0.5},
                ]
            },
            "priorities[0].service mean 40",
        ),
        (
            {"service": {"dist": "exponential", "mean": 60}, "units": [{"id": "u1", "post": "a"}]},
            "grows without bound",
        ),
    ],
)
def test_assumption_failures_name_the_field(over: dict[str, Any], field: str) -> None:
    sc = parse_scenario(_base(**over))
    failures, _ = check_assumptions(sc)
    assert any(field in f for f in failures), failures
    with pytest.raises(AssumptionError) as info:
        analyze(sc)
    assert info.value.exit_code == ANALYTIC_EXIT_CODE
    assert field in info.value.message


@pytest.mark.exact
def test_profile_fails() -> None:
    data = _base()
    data["zones"][0]["profile"] = [1.0] * 168
    failures, _ = check_assumptions(parse_scenario(data))
    assert any(f.startswith("zones[0].profile") for f in failures)


@pytest.mark.exact
def test_cli_json_and_exit_code(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["analytic", str(scenarios_dir() / "hypercube_3units.yaml"), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["method"] == "hypercube_exact"
    assert set(out["units"]) == {"u1", "u2", "u3"}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(_base(service={"dist": "deterministic", "value": 20})))
    rc = main(["analytic", str(bad)])
    captured = capsys.readouterr()
    assert rc == ANALYTIC_EXIT_CODE
    assert "service: dist 'deterministic'" in captured.err
    rc = main(["analytic", str(scenarios_dir() / "mmc_queue.yaml")])
    table = capsys.readouterr().out
    assert rc == 0
    assert "P(wait)" in table
    assert "0.5094" in table
    assert main(["analytic", str(bad), "--method", "nope"]) == 2


@pytest.mark.smoke
@pytest.mark.parametrize("path", sorted(scenarios_dir().glob("*.yaml")), ids=lambda p: p.name)
def test_every_scenario_runs_analytic(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["analytic", str(path), "--json"])
    captured = capsys.readouterr()
    if rc == 0:
        out = json.loads(captured.out)
        assert set(SUMMARY_KEYS) - {"ci95"} <= set(out)
    else:
        assert rc == ANALYTIC_EXIT_CODE
        assert "outside the analytic model's assumptions" in captured.err


@pytest.mark.exact
def test_finite_queue_scenario() -> None:
    from twin.analytics.erlang import MMcK

    sc = load_scenario(scenarios_dir() / "mmc_finite.yaml")
    ref = MMcK(0.09, 1 / 30, 3, 6)
    for method in ("erlang", "auto"):
        out = analyze(sc, method=method)
        assert out["p_lost"] == pytest.approx(ref.p_lost, rel=1e-10)
        assert out["p_wait"] == pytest.approx(ref.p_wait, rel=1e-10)
        assert out["mean_wait_min"] == pytest.approx(ref.wq, rel=1e-10)
        assert out["response_min"]["p90"] == pytest.approx(ref.wait_quantile(0.9), rel=1e-9)
    assert analyze(sc, method="erlang")["method"] == "mmck"


@pytest.mark.exact
def test_approx_method_close_to_exact_on_layout() -> None:
    sc = load_scenario(scenarios_dir() / "hypercube_5units.yaml")
    ex = analyze(sc, method="hypercube_exact")
    ap = analyze(sc, method="hypercube_approx")
    assert ap["method"] == "hypercube_approx"
    assert ap["p_wait"] == pytest.approx(ex["p_wait"], rel=1e-9)
    for u in ex["units"]:
        assert ap["units"][u]["utilization"] == pytest.approx(
            ex["units"][u]["utilization"], rel=0.03
        )
    assert ap["out_of_area_fraction"] == pytest.approx(ex["out_of_area_fraction"], abs=0.02)
