"""Validation tier: the engine against Larson's exact hypercube model.

Three preference-dispatch layouts with unequal zone rates (``scenarios/hypercube_*.yaml``):
3 units / 5 zones and 5 units / 8 zones with an infinite FCFS queue, and 4 units / 6 zones as a
loss system. Compared: unit utilisations, ``p_wait`` (or ``p_lost``), mean wait, every
dispatch fraction and the out-of-area fraction. Tolerances are the replication confidence
intervals with the 1% family error rate split over all metrics of a layout (Bonferroni; see
:mod:`twin.statistics.validation`), with a 5e-4 floor for zero-spread metrics; each test also
asserts the intervals are narrow (so the check has power) and that the theory of a slightly
different layout (two units swapped in the busiest zone's list) is rejected.
"""

from __future__ import annotations

from typing import Any

import pytest

from twin.analytics import analyze
from twin.model import run_replications
from twin.model.outputs import summarize_run
from twin.paths import scenarios_dir
from twin.scenario import Scenario, load_scenario
from twin.statistics import check_against_theory, format_checks

pytestmark = pytest.mark.validation

SEED = 7
REPLICATIONS = 30
WARMUP = 2_000.0
HORIZON = 100_000.0


def _replicate(name: str) -> tuple[Scenario, dict[str, Any], list[dict[str, Any]]]:
    sc = load_scenario(scenarios_dir() / f"{name}.yaml")
    sc = sc.model_copy(update={"horizon": HORIZON, "warmup": WARMUP})
    runs = run_replications(sc, seed=SEED, replications=REPLICATIONS, collect=False)
    return sc, analyze(sc, method="hypercube_exact"), [summarize_run(r) for r in runs]


def _swap_busiest_zone(sc: Scenario) -> Scenario:
    """The same scenario with the first two units swapped in the busiest zone's list."""
    busiest = max(sc.zones, key=lambda z: z.rate_per_hour).id
    prefs = {z: list(lst) for z, lst in (sc.dispatch.preferences or {}).items()}
    prefs[busiest][:2] = prefs[busiest][1::-1]
    return sc.model_copy(update={"dispatch": sc.dispatch.model_copy(update={"preferences": prefs})})


@pytest.mark.parametrize("name", ["hypercube_3units", "hypercube_5units", "hypercube_loss"])
def test_engine_matches_exact_hypercube(name: str) -> None:
    sc, theory, reps = _replicate(name)
    assert theory["method"] == "hypercube_exact"
    units = list(theory["units"])
    zones = list(theory["dispatch_fractions"][units[0]])
    queue = theory["p_lost"] == 0.0
    metrics = [
        "p_wait" if queue else "p_lost",
        "mean_wait_min",
        "out_of_area_fraction",
        *(f"units.{u}.utilization" for u in units),
        *(f"dispatch_fractions.{u}.{z}" for u in units for z in zones),
    ]
    checks = check_against_theory(reps, theory, metrics, floor=5e-4)
    table = format_checks(checks)
    print(f"{name}\n{table}")
    assert all(c.ok for c in checks), table
    # power: the intervals are narrow enough to tell layouts apart
    assert all(c.half_width < 0.015 for c in checks if c.metric.startswith("units."))
    assert all(c.half_width < 0.005 for c in checks if c.metric.startswith("dispatch_"))
    assert max(c.half_width for c in checks if c.metric in ("p_wait", "p_lost")) < 0.02
    # the layout is non-trivial: workloads differ by more than the interval widths
    utils = [theory["units"][u]["utilization"] for u in units]
    assert max(utils) - min(utils) > 0.02
    # negative control: the theory of a slightly different layout (two units swapped in the
    # busiest zone) must be rejected by the same simulation and tolerances
    wrong = analyze(_swap_busiest_zone(sc), method="hypercube_exact")
    assert not all(c.ok for c in check_against_theory(reps, wrong, metrics, floor=5e-4))
