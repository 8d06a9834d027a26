"""The unit board: sole owner of unit state; transitions only through its methods."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

import twin.model.agents
import twin.model.engine
from twin.model.board import STATE_NAMES, TransitionError, UnitBoard, UnitState
from twin.model.travel import TravelModel

pytestmark = pytest.mark.exact

MODEL = Path(twin.model.engine.__file__).parent


def _board(window: tuple[float, float] = (0.0, 100.0)) -> UnitBoard:
    # zones a (0, 0) and b (3, 4): 5 km apart, 60 km/h -> 5 minutes; units 0, 1 posted at a
    travel = TravelModel("euclidean", [(0.0, 0.0), (3.0, 4.0)], speed_kmh=60.0, turnout_min=1.0)
    return UnitBoard([0, 0], travel, window=window)


def test_one_state_vocabulary() -> None:
    assert STATE_NAMES == (
        "off_duty",
        "patrol",
        "dispatched",
        "en_route",
        "on_scene",
        "returning",
        "self_initiated",
    )
    assert twin.model.agents.UnitState is UnitState
    assert twin.model.engine.STATE_NAMES is STATE_NAMES


def test_call_life_cycle_through_public_methods() -> None:
    b = _board()
    assert b.free_units() == [0, 1]
    tr, clr = b.dispatch(0, 1, now=10.0, start=10.0, service=20.0)
    assert (tr, clr) == (pytest.approx(5.0), pytest.approx(36.0))
    assert b.state(0) is UnitState.DISPATCHED
    assert not b.is_free(0)
    assert b.zone_of(0) == 1
    assert b.free_units() == [1]
    assert b.state_at(0, 10.5) is UnitState.DISPATCHED
    assert b.state_at(0, 12.0) is UnitState.EN_ROUTE
    assert b.state_at(0, 20.0) is UnitState.ON_SCENE
    b.finish(0, clr)
    assert b.state(0) is UnitState.RETURNING
    assert b.is_free(0)
    # half way back (2.5 of 5 minutes): 2.5 minutes from zone a, 2.5 from zone b
    assert b.travel_to(0, 0, clr + 2.5) == pytest.approx(2.5)
    assert b.travel_to(0, 1, clr + 2.5) == pytest.approx(2.5)
    # the closest free unit to zone b is the one on its way back from there
    by_post = [0, 1]
    assert b.nearest_free(1, clr + 1.0, by_post) == 0
    assert b.state_at(0, clr + 6.0) is UnitState.PATROL  # arrived, not yet settled
    assert b.returns_due(clr + 6.0)
    b.settle(clr + 6.0)
    assert b.state(0) is UnitState.PATROL
    assert b.zone_of(0) == 0
    b.close(100.0)
    minutes = b.minutes()
    assert minutes[0].tolist() == pytest.approx([0.0, 69.0, 1.0, 5.0, 20.0, 5.0, 0.0])
    assert minutes.sum(axis=1).tolist() == pytest.approx([100.0, 100.0])


def test_shifts_and_patrol_moves() -> None:
    b = _board()
    b.go_off(1, 5.0)
    assert b.state(1) is UnitState.OFF_DUTY
    assert not b.is_free(1)
    assert not b.is_on_duty(1)
    assert b.count(UnitState.OFF_DUTY) == 1
    assert b.go_on(1, 15.0) is True
    assert b.state(1) is UnitState.PATROL
    assert b.is_free(1)
    b.move([1], [1])  # patrols into zone b: away from its post
    assert b.zone_of(1) == 1
    assert b.nearest_free(1, 20.0, [0, 1]) == 1
    b.dispatch(0, 1, 20.0, 20.0, 9.0)  # clears at 20 + 1 turnout + 5 driving + 9 = 35
    b.go_off(0, 25.0)  # a unit on a call finishes it, then goes off duty
    assert b.state(0) is UnitState.DISPATCHED
    b.finish(0, 35.0)
    assert b.state(0) is UnitState.OFF_DUTY
    assert b.zone_of(0) == 0
    assert not b.is_free(0)
    assert b.go_on(0, 40.0) is True
    b.close(100.0)
    assert b.minutes()[:, int(UnitState.OFF_DUTY)].tolist() == pytest.approx([5.0, 10.0])


@pytest.mark.parametrize(
    ("prepare", "act", "what"),
    [
        (lambda b: None, lambda b: b.finish(0, 1.0), "finish"),
        (lambda b: b.go_off(0, 0.0), lambda b: b.dispatch(0, 1, 1.0, 1.0, 1.0), "dispatch"),
        (
            lambda b: b.dispatch(0, 1, 0.0, 0.0, 5.0),
            lambda b: b.move([0], [0]),
            "move",
        ),
        (lambda b: b.go_off(0, 0.0), lambda b: b.move([0], [1]), "move"),
        (lambda b: b.go_off(0, 0.0), lambda b: b.start_self(0, 1.0), "start_self"),
        (
            lambda b: b.dispatch(0, 1, 0.0, 0.0, 5.0),
            lambda b: b.start_self(0, 1.0),
            "start_self",
        ),
        (lambda b: None, lambda b: b.end_self(0, 1.0), "end_self"),
        (lambda b: b.start_self(0, 0.0), lambda b: b.move([0], [1]), "move"),
    ],
)
def test_invalid_transitions_are_refused(prepare, act, what) -> None:  # type: ignore[no-untyped-def]
    b = _board()
    prepare(b)
    before = (b.state(0), b.zone_of(0), b.is_free(0))
    with pytest.raises(TransitionError, match=f"cannot {what} from"):
        act(b)
    assert (b.state(0), b.zone_of(0), b.is_free(0)) == before


def test_board_exposes_no_mutable_state() -> None:
    b = _board()
    public = {k: v for k, v in vars(b).items() if not k.startswith("_")}
    assert not [k for k, v in public.items() if isinstance(v, (list, dict, set))], public
    copy = b.free_units()
    copy.clear()
    assert b.free_units() == [0, 1]


def test_no_module_reads_another_objects_private_fields() -> None:
    """Only ``self`` (or ``cls``) reaches a ``_name`` in the engine's rooms."""
    offenders = []
    for path in sorted([*MODEL.glob("*.py"), *(MODEL.parent / "analytics").glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
            ):
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert offenders == []


def test_window_clips_state_minutes() -> None:
    b = _board(window=(10.0, 30.0))
    b.dispatch(0, 1, 5.0, 5.0, 10.0)  # turnout 5 .. 6, driving 6 .. 11, on scene 11 .. 21
    b.finish(0, 21.0)  # back at its post at 26
    b.close(30.0)
    m = b.minutes()[0]
    assert m.tolist() == pytest.approx([0.0, 4.0, 0.0, 1.0, 10.0, 5.0, 0.0])
    assert math.isclose(m.sum(), 20.0)


def test_self_initiated_work_through_public_methods() -> None:
    """Self-initiated work: not free, taken only by a pre-empting choice, minutes of its own."""
    b = _board()
    b.move([1], [1])  # unit 1 patrols zone b
    b.start_self(1, 10.0)
    assert b.state(1) is UnitState.SELF_INITIATED
    assert b.state_at(1, 12.0) is UnitState.SELF_INITIATED
    assert not b.is_free(1)
    assert b.free_units() == [0]
    assert b.has_self(0)
    assert b.self_units(0) == [1]
    assert b.zone_of(1) == 1  # works where it patrolled
    # an ordinary call sees only unit 0; a pre-empting one takes unit 1, which is in zone b
    assert b.nearest_free(1, 12.0, [0, 1]) == 0
    assert b.nearest_free_or_self(1, 12.0, [0, 1]) == 1
    assert b.nearest_free_or_self(0, 12.0, [0, 1]) == 0  # unit 0 is at zone a itself
    assert b.first_free_or_self([1, 0]) == 1
    # pre-empted at 20: 10 minutes of self-initiated work, the work is abandoned
    b.dispatch(1, 1, 20.0, 20.0, 4.0)  # turnout 1, no driving (in zone b), 4 on scene -> 25
    assert not b.has_self(0)
    b.finish(1, 25.0)
    assert b.state(1) is UnitState.RETURNING
    # unit 0 starts work while unit 1 drives back; it ends at 40 and unit 0 patrols again
    b.start_self(0, 30.0)
    assert b.free_units() == [1]
    b.end_self(0, 40.0)
    assert b.state(0) is UnitState.PATROL
    assert b.is_free(0)
    assert b.free_units() == [1, 0]
    b.close(100.0)
    m = b.minutes()
    selfc = int(UnitState.SELF_INITIATED)
    assert m[:, selfc].tolist() == pytest.approx([10.0, 10.0])
    assert m.sum(axis=1).tolist() == pytest.approx([100.0, 100.0])


def test_self_initiated_work_from_returning_and_off_shift() -> None:
    """A returning unit works in the zone it is nearer to; going off duty ends the work."""
    b = _board()
    _, clr = b.dispatch(0, 1, 0.0, 0.0, 4.0)  # clears in zone b at 10, back at a at 15
    b.finish(0, clr)
    b.start_self(0, clr + 1.0)  # 1 of 5 minutes back: nearer zone b
    assert b.zone_of(0) == 1
    b.go_off(0, clr + 3.0)
    assert b.state(0) is UnitState.OFF_DUTY
    assert not b.has_self(0)
    b.close(100.0)
    m = b.minutes()[0]
    assert m[int(UnitState.RETURNING)] == pytest.approx(1.0)
    assert m[int(UnitState.SELF_INITIATED)] == pytest.approx(2.0)
    assert m.sum() == pytest.approx(100.0)
