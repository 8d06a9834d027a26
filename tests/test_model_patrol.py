"""Array-based patrol against the per-agent reference: same moves, same presence, same calls."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from twin.model import Simulation
from twin.model.patrol import AreaPatrol, BoundedDraws, NetworkPatrol
from twin.paths import scenarios_dir
from twin.scenario import Scenario, load_scenario

pytestmark = pytest.mark.exact


def _example(policy: str, horizon: float = 2880.0, name: str = "example.yaml") -> Scenario:
    sc = load_scenario(scenarios_dir() / name)
    patrol = sc.patrol.model_copy(update={"policy": policy, "interval_min": 15.0})
    return sc.model_copy(update={"horizon": horizon, "patrol": patrol, "warmup": 60.0})


def _pair(sc: Scenario, seed: int) -> tuple[Any, Any]:
    fast = Simulation(sc, seed=seed).run()
    ref = Simulation(sc, seed=seed, patrol_agents=True).run()
    return fast, ref


@pytest.mark.parametrize(
    ("name", "policy"),
    [
        ("example.yaml", "area"),  # few patrolling units: scalar draws
        ("example.yaml", "network"),
        ("bench_grid.yaml", "network"),  # 30 units, most patrolling: one array draw
        ("example_agencies.yaml", "area"),
    ],
)
def test_array_patrol_equals_agent_patrol(name: str, policy: str) -> None:
    fast, ref = _pair(_example(policy, horizon=1440.0, name=name), seed=11)
    assert fast.exposure.sum() > 0
    assert fast.presence.sum() > 0
    np.testing.assert_array_equal(fast.presence, ref.presence)
    np.testing.assert_array_equal(fast.exposure, ref.exposure)
    for col in ("unit", "dispatched", "onscene", "travel_min"):
        np.testing.assert_array_equal(fast.incidents[col], ref.incidents[col])
    assert fast.timeseries is not None
    assert ref.timeseries is not None
    assert fast.timeseries.equals(ref.timeseries)


def test_patrol_moves_and_stays_in_area() -> None:
    sc = _example("area", horizon=1440.0)
    sim = Simulation(sc, seed=5)
    posts = [sim.board.post_of(u) for u in range(sim.board.n)]
    sim.run()
    # units moved off their post at some step (presence outside the posts' zones)
    by_zone = sim.model.presence.sum(axis=1)
    assert by_zone[[z for z in range(len(by_zone)) if z not in posts]].sum() > 0
    # every unit's options stay inside its area once it is in it
    pol = sim.model.patrol
    assert isinstance(pol, AreaPatrol)
    for agent in sim.model.units:
        for z in agent.area:
            assert set(pol.options(agent.index, z)) <= set(agent.area)


def test_vectorised_draws_equal_scalar_draws() -> None:
    """``integers(bounds)`` draws exactly what one scalar call per bound would."""
    bounds = np.array([1, 3, 7, 2, 1, 5, 6, 9, 4, 1, 2] * 50)
    a = np.random.default_rng(42).integers(bounds)
    rng = np.random.default_rng(42)
    b = np.array([rng.integers(int(k)) for k in bounds])
    np.testing.assert_array_equal(a, b)


def test_network_patrol_reaches_neighbours_only() -> None:
    sim = Simulation(_example("network", horizon=60.0), seed=2)
    pol = sim.model.patrol
    assert isinstance(pol, NetworkPatrol)
    for z in range(len(sim.zone_ids)):
        opts = pol.options(0, z)
        assert z in opts
        assert opts == sorted(opts)
        assert set(opts) - {z} == set(sim.model.graph.neighbors(z))


def test_bounded_draws_are_numpys_integers() -> None:
    """BoundedDraws gives exactly Generator.integers(k), scalar or array, k = 1 drawing nothing."""
    for seed in range(20):
        ref = np.random.default_rng(seed)
        mine = BoundedDraws(np.random.default_rng(seed))
        bounds = np.random.default_rng(100 + seed)
        for step in range(40):
            ks = bounds.integers(1, 9, int(bounds.integers(1, 12))).tolist()
            if step % 2:
                want = ref.integers(np.asarray(ks, dtype=np.int64)).tolist()
            else:
                want = [int(ref.integers(k)) if k > 1 else 0 for k in ks]
            assert [mine.below(k) for k in ks] == want
        for k in (3, 2**31 + 5, 2**32 - 1):  # large bounds: rejections happen
            assert mine.below(k) == int(ref.integers(k))
    with pytest.raises(ValueError, match="out of range"):
        mine.below(2**32)
