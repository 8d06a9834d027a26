"""Tier 4: every scenario file in scenarios/ loads and runs a short horizon."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.model import simulate
from twin.model.outputs import OPTIONAL_KEYS, SUMMARY_KEYS
from twin.model.summary import FEATURE_KEYS
from twin.paths import scenarios_dir
from twin.scenario import load_scenario

FILES = sorted(scenarios_dir().glob("*.yaml"))


def test_scenarios_folder_has_files() -> None:
    names = {p.name for p in FILES}
    assert {"example.yaml", "bench_grid.yaml"} <= names


@pytest.mark.smoke
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_scenario_loads_and_runs_short(path: Path) -> None:
    sc = load_scenario(path)
    short = sc.model_copy(
        update={"warmup": min(sc.warmup, 60.0), "horizon": min(sc.horizon, 480.0)}
    )
    s = simulate(short, seed=1, replications=2)
    assert set(SUMMARY_KEYS) <= set(s) <= set(SUMMARY_KEYS) | set(OPTIONAL_KEYS) | set(FEATURE_KEYS)
    assert ("self_initiated" in s) == (sc.self_initiated is not None)
    assert list(s["by_agency"]) == sc.agency_ids
    assert s["headline_agency"] == ("all" if sc.multi_agency else sc.agency_ids[0])
    assert s["scenario"] == sc.name
    assert s["replications"] == 2
    for u in s["units"].values():
        assert 0.0 <= u["utilization"] <= 1.0
