"""Validation tier: the engine against Erlang C (M/M/c), Erlang B (loss) and M/M/c/K.

Tolerances come from the replications, not from guesses: for each metric the check is
``|sim mean - theory| <= max(t_{1-a/2, R-1} s / sqrt(R), floor)`` with the 1% family error
rate split over the metrics of a test (Bonferroni; :mod:`twin.statistics.validation`). Each test
also asserts that the interval is narrow enough to mean something (``max_half_width``), so a
noisier engine fails loudly instead of passing on a wide interval, and a negative control (the
theory of a fleet with one more unit) must be rejected. Travel is ``none`` so busy
time is exactly on-scene time; 2,000 warm-up minutes (~70 mean services) are discarded.
"""

from __future__ import annotations

from typing import Any

import pytest

from twin.analytics import analyze
from twin.analytics.erlang import MMc, MMcK, erlang_b, erlang_c
from twin.model import run_replications
from twin.model.outputs import summarize_run
from twin.paths import scenarios_dir
from twin.scenario import load_scenario
from twin.statistics import check_against_theory, format_checks

pytestmark = pytest.mark.validation

SEED = 7
REPLICATIONS = 30
WARMUP = 2_000.0


def _replicate(name: str, horizon: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sc = load_scenario(scenarios_dir() / f"{name}.yaml")
    sc = sc.model_copy(update={"horizon": horizon, "warmup": WARMUP})
    runs = run_replications(sc, seed=SEED, replications=REPLICATIONS, collect=False)
    return analyze(sc), [summarize_run(r) for r in runs]


def test_mmc_queue_against_erlang_c() -> None:
    theory, reps = _replicate("mmc_queue", 150_000.0)
    # the analytic side is Erlang C itself
    assert theory["p_wait"] == pytest.approx(erlang_c(3.0, 4), rel=1e-12)
    assert theory["mean_wait_min"] == pytest.approx(MMc(0.1, 1 / 30, 4).wq, rel=1e-12)
    metrics = [
        "incidents",
        "p_wait",
        "p_lost",
        "mean_wait_min",
        "response_min.mean",
        "response_min.p90",
        *(f"units.{u}.utilization" for u in theory["units"]),
    ]
    checks = check_against_theory(reps, theory, metrics, floor=5e-4)
    table = format_checks(checks)
    print(table)
    assert all(c.ok for c in checks), table
    by = {c.metric: c for c in checks}
    assert by["p_wait"].half_width < 0.03
    assert by["mean_wait_min"].half_width < 0.1 * theory["mean_wait_min"]
    assert all(by[f"units.{u}.utilization"].half_width < 0.02 for u in theory["units"])
    # negative control: one more unit's theory is rejected
    assert abs(by["p_wait"].sim_mean - erlang_c(3.0, 5)) > by["p_wait"].tolerance


def test_mmc_loss_against_erlang_b() -> None:
    theory, reps = _replicate("mmc_loss", 60_000.0)
    assert theory["p_lost"] == pytest.approx(erlang_b(4.0, 5), rel=1e-12)
    metrics = [
        "incidents",
        "p_lost",
        "p_wait",
        "mean_wait_min",
        *(f"units.{u}.utilization" for u in theory["units"]),
        *(f"dispatch_fractions.{u}.{z}" for u in theory["units"] for z in ("a", "b")),
    ]
    checks = check_against_theory(reps, theory, metrics, floor=5e-4)
    table = format_checks(checks)
    print(table)
    assert all(c.ok for c in checks), table
    by = {c.metric: c for c in checks}
    assert by["p_lost"].half_width < 0.01
    assert abs(by["p_lost"].sim_mean - erlang_b(4.0, 6)) > by["p_lost"].tolerance
    # carried load = offered x (1 - B): the utilisations add up to it
    total = sum(c.sim_mean for c in checks if c.metric.startswith("units."))
    assert total == pytest.approx(4.0 * (1 - erlang_b(4.0, 5)), abs=0.05)


def test_mmc_finite_queue_against_mmck() -> None:
    theory, reps = _replicate("mmc_finite", 60_000.0)
    ref = MMcK(0.09, 1 / 30, 3, 6)
    assert theory["p_lost"] == pytest.approx(ref.p_lost, rel=1e-10)
    metrics = [
        "incidents",
        "p_lost",
        "p_wait",
        "mean_wait_min",
        "response_min.p90",
        *(f"units.{u}.utilization" for u in theory["units"]),
    ]
    checks = check_against_theory(reps, theory, metrics, floor=5e-4)
    table = format_checks(checks)
    print(table)
    assert all(c.ok for c in checks), table
    by = {c.metric: c for c in checks}
    assert by["p_lost"].half_width < 0.01
    assert by["mean_wait_min"].half_width < 0.1 * theory["mean_wait_min"]
