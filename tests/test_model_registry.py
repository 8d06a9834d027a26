"""Rules chosen by name from registries; analyze() refuses a rule no theory supports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest

from twin.analytics import analyze, check_assumptions
from twin.analytics.scenario_model import ANALYTIC_EXIT_CODE, AssumptionError
from twin.errors import ConfigError
from twin.model import Simulation
from twin.model.board import UnitBoard
from twin.model.demand import DEMAND_SOURCES
from twin.model.dispatch import DISPATCH_POLICIES
from twin.model.patrol import PATROL_POLICIES
from twin.model.travel import TRAVEL_MODELS
from twin.paths import scenarios_dir
from twin.scenario import Scenario, load_scenario

pytestmark = pytest.mark.exact


class LowestIndex:
    """Send the free unit with the lowest index (a real rule, registered without a theory)."""

    name: ClassVar[str] = "lowest_index"
    theory: ClassVar[str | None] = None

    def __init__(self, board: UnitBoard, group: int) -> None:
        self.board = board
        self.units = board.members(group)

    @classmethod
    def build(cls, scenario: Scenario, board: UnitBoard, group: int) -> LowestIndex:
        return cls(board, group)

    def choose(self, zone: int, now: float) -> int:
        return self.board.first_free(self.units)

    def first_choice(self, zone: int) -> int:
        return self.units[0]


@pytest.fixture
def lowest_index() -> Iterator[str]:
    DISPATCH_POLICIES.register("lowest_index", LowestIndex)  # type: ignore[arg-type]
    yield "lowest_index"
    DISPATCH_POLICIES.unregister("lowest_index")


def _with_policy(name: str) -> Scenario:
    sc = load_scenario(scenarios_dir() / "hypercube_3units.yaml")
    return sc.model_copy(
        update={"dispatch": sc.dispatch.model_copy(update={"policy": name}), "horizon": 600.0}
    )


def test_registries_know_the_scenario_vocabulary() -> None:
    assert DISPATCH_POLICIES.names() == ("closest", "preference")
    assert TRAVEL_MODELS.names() == ("none", "euclidean", "manhattan", "haversine", "matrix")
    assert PATROL_POLICIES.names() == ("post", "area", "network")
    assert DEMAND_SOURCES.names() == ("poisson", "trace")
    assert DEMAND_SOURCES.theory("trace") is None
    assert all(DISPATCH_POLICIES.theory(n) for n in DISPATCH_POLICIES)
    with pytest.raises(ConfigError, match=r"dispatch\.policy: unknown dispatch policy 'nope'"):
        DISPATCH_POLICIES.get("nope")


def test_engine_builds_a_registered_policy(lowest_index: str) -> None:
    run = Simulation(_with_policy(lowest_index), seed=3).run()
    inc = run.incidents
    unit, start, clear = inc["unit"], inc["dispatched"], inc["cleared"]
    assert (unit > 0).any()
    # a call goes to unit k only when every lower-numbered unit is on a call
    for k, t in zip(unit[unit > 0], start[unit > 0], strict=True):
        for j in range(k):
            mine = unit == j
            assert ((start[mine] <= t) & (t < clear[mine])).any(), (k, t, j)


def test_analyze_refuses_a_policy_without_theory(lowest_index: str) -> None:
    sc = _with_policy(lowest_index)
    failures, _ = check_assumptions(sc)
    assert [f for f in failures if f.startswith("dispatch.policy:")] == [
        "dispatch.policy: dispatch policy 'lowest_index' has no analytic model (the models "
        "cover closest, preference); simulate it instead"
    ]
    with pytest.raises(AssumptionError, match="lowest_index") as err:
        analyze(sc)
    assert err.value.exit_code == ANALYTIC_EXIT_CODE
    # the same scenario with a policy the theory covers is answered
    assert analyze(_with_policy("closest"))["method"].startswith("hypercube")


def test_analyze_refuses_an_unregistered_rule() -> None:
    sc = _with_policy("teleport")
    with pytest.raises(AssumptionError, match="'teleport' is not a registered dispatch policy"):
        analyze(sc)
