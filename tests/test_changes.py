"""Layout changes as small files (twin.experiments.changes, `twin variant --changes`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from twin.cli import main
from twin.errors import ConfigError
from twin.experiments.changes import ChangeSet, apply_changes, get_path, write_variant
from twin.model import Simulation
from twin.paths import scenarios_dir
from twin.scenario import load_scenario

SEATTLE = scenarios_dir() / "seattle_baseline.yaml"
JIAXING = scenarios_dir() / "jiaxing_baseline.yaml"


@pytest.fixture(scope="module")
def seattle() -> dict[str, Any]:
    return yaml.safe_load(SEATTLE.read_text())


@pytest.fixture(scope="module")
def jiaxing() -> dict[str, Any]:
    return yaml.safe_load(JIAXING.read_text())


def _apply(base: dict[str, Any], *ops: dict[str, Any], **top: Any) -> Any:
    return apply_changes(base, ChangeSet.model_validate({"changes": list(ops), **top}))


def _per_district(data: dict[str, Any], agency: str = "police") -> Counter[str]:
    zd = {z["id"]: z["district"] for z in data["zones"]}
    return Counter(zd[u["post"]] for u in data["units"] if u.get("agency", "police") == agency)


def test_move_three_units_between_precincts(seattle: dict[str, Any]) -> None:
    before = _per_district(seattle)
    res = _apply(
        seattle,
        {"op": "move_units", "from": {"precinct": "N"}, "to": {"precinct": "S"}, "count": 3},
        name="move3",
    )
    after = _per_district(res.data)
    assert after["N"] == before["N"] - 3
    assert after["S"] == before["S"] + 3
    assert res.data["name"] == "move3"
    assert len(res.data["units"]) == len(seattle["units"])
    s_area = next(
        u["area"] for u in seattle["units"] if u["id"].startswith("spd-") and "-S-" in u["id"]
    )
    moved = [u for u in res.data["units"] if u["id"] in res.lines[0]]
    assert len(moved) == 3
    base_units = {u["id"]: u for u in seattle["units"]}
    for u in moved:
        assert u["area"] == s_area  # the precinct's beats, like its other units
        assert u["shift"] == base_units[u["id"]]["shift"]  # shift: keep
    assert "lowest-demand posts first" in res.lines[0]
    # the base mapping is untouched
    assert _per_district(seattle) == before


def test_variant_sees_the_same_incidents(seattle: dict[str, Any]) -> None:
    res = _apply(
        seattle,
        {"op": "move_units", "from": {"precinct": "N"}, "to": {"precinct": "S"}, "count": 3},
    )
    base = load_scenario(SEATTLE).model_copy(update={"horizon": 720.0})
    var = res.scenario.model_copy(update={"horizon": 720.0})
    a = Simulation(base, seed=4, collect=False).run().incidents
    b = Simulation(var, seed=4, collect=False).run().incidents
    np.testing.assert_array_equal(a["received"], b["received"])
    np.testing.assert_array_equal(a["zone"], b["zone"])
    assert not np.array_equal(a["unit"], b["unit"])


def test_add_units_on_a_watch_and_common_shift(seattle: dict[str, Any]) -> None:
    res = _apply(
        seattle,
        {
            "op": "add_units",
            "to": {"precinct": "N"},
            "count": 2,
            "shift": {"start": "15:00", "hours": 8},
        },
        {"op": "add_units", "to": {"district": "SW"}, "count": 1},
    )
    added = [u for u in res.data["units"] if u["id"].startswith("added-")]
    assert [u["shift"]["start"] for u in added[:2]] == ["15:00", "15:00"]
    sw = [u for u in seattle["units"] if u["id"].startswith("spd-") and "-SW-" in u["id"]]
    common = Counter((u["shift"]["start"], u["shift"]["hours"]) for u in sw).most_common(1)[0][0]
    assert (added[2]["shift"]["start"], added[2]["shift"]["hours"]) == common
    assert "most common watch" in res.lines[1]
    assert all(u["agency"] == "police" for u in added)


def test_jiaxing_nanhu_units_checkpoint_and_camera(jiaxing: dict[str, Any]) -> None:
    nanhu = {z["id"] for z in jiaxing["zones"] if z["district"] == "Nanhu"}
    res = _apply(
        jiaxing,
        {"op": "add_units", "to": {"district": "Nanhu"}, "count": 2, "kind": "ptu"},
        {
            "op": "add_checkpoint",
            "district": "Nanhu",
            "checkpoint": {
                "id": "cp17",
                "lanes": 2,
                "mode": "smart",
                "arrivals": {"rate_per_hour": 60},
            },
        },
        {"op": "set_lanes", "checkpoint": "cp01", "lanes": 6},
        {"op": "remove_checkpoint", "checkpoint": "cp16"},
        {"op": "add_camera", "id": "cam-1", "district": "Nanhu", "radius_km": 1.0},
        {"op": "set", "path": "dispatch.policy", "value": "closest"},
    )
    added = [u for u in res.data["units"] if u["id"].startswith("added-Nanhu-")]
    assert len(added) == 2
    assert all(u["post"] in nanhu and u["kind"] == "ptu" and "shift" not in u for u in added)
    # posts: the busiest Nanhu zones without a unit
    held = {u["post"] for u in jiaxing["units"]}
    rate = {z["id"]: z["rate_per_hour"] for z in jiaxing["zones"]}
    free = sorted((z for z in nanhu if z not in held), key=lambda z: -rate[z])
    assert free
    assert added[0]["post"] == free[0]
    if len(free) == 1:  # then the zone with most demand per unit
        assert "most demand per unit" in res.lines[0]
    cps = {c["id"]: c for c in res.data["checkpoints"]}
    assert cps["cp17"]["zone"] in nanhu
    assert cps["cp01"]["lanes"] == 6
    assert "cp16" not in cps
    assert res.data["devices"][-1]["zone"] in nanhu
    assert res.scenario.checkpoints[-1].id == "cp17"


def test_remove_units_leaves_preference_lists() -> None:
    base = yaml.safe_load((scenarios_dir() / "hypercube_3units.yaml").read_text())
    res = _apply(base, {"op": "remove_units", "from": {"units": ["u2"]}})
    assert [u["id"] for u in res.data["units"]] == ["u1", "u3"]
    assert res.data["dispatch"]["preferences"]["z1"] == ["u1", "u3"]
    res = _apply(base, {"op": "add_units", "to": {"zone": "z2"}, "count": 1})
    assert res.data["dispatch"]["preferences"]["z5"][-1] == "added-z2-01"


@pytest.mark.parametrize(
    ("ops", "message"),
    [
        (
            [
                {
                    "op": "move_units",
                    "from": {"precinct": "SW"},
                    "to": {"precinct": "N"},
                    "count": 500,
                }
            ],
            "changes[0] (move_units).count: cannot move 500 units: district SW has only",
        ),
        (
            [{"op": "add_units", "to": {"district": "Nowhere"}}],
            "changes[0] (add_units).to.district: unknown district 'Nowhere'",
        ),
        (
            [
                {"op": "add_units", "to": {"district": "N"}},
                {"op": "remove_units", "from": {"units": ["spd-nope"]}},
            ],
            "changes[1] (remove_units).from.units[0]: unknown unit id 'spd-nope'",
        ),
        (
            [{"op": "set", "path": "travel.speed_kmh", "value": "fast"}],
            "changes[0] (set): leaves an invalid scenario",
        ),
        (
            [{"op": "set", "path": "dispatch.polcy", "value": "closest"}],
            "unknown key",
        ),
        (
            [{"op": "set", "path": "dispach.policy", "value": "closest"}],
            "changes[0] (set).path: dispach: unknown key",
        ),
        (
            [
                {
                    "op": "move_units",
                    "from": {"precinct": "N", "watch": "09:00"},
                    "to": {"precinct": "S"},
                }
            ],
            "watches there: 07:00, 15:00, 23:00",
        ),
    ],
)
def test_ops_that_do_not_fit_the_base(
    seattle: dict[str, Any], ops: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        _apply(seattle, *ops)
    assert message in err.value.message


def test_changes_file_is_strict(tmp_path: Path) -> None:
    bad = tmp_path / "c.yaml"
    bad.write_text("changes:\n  - {op: move_units, from: {precinct: N}, to: {precint: S}}\n")
    out = tmp_path / "v.yaml"
    with pytest.raises(ConfigError, match=r"changes\[0\]\.to\.precint: unknown key"):
        write_variant(SEATTLE, bad, out)
    bad.write_text("changes:\n  - {op: teleport_units}\n")
    with pytest.raises(ConfigError, match="unknown op"):
        write_variant(SEATTLE, bad, out)
    assert not out.exists()


def test_cli_variant_with_changes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ch = tmp_path / "move.yaml"
    ch.write_text(
        "name: move3\nchanges:\n"
        "  - {op: move_units, from: {precinct: N}, to: {precinct: S}, count: 3}\n"
    )
    out = tmp_path / "move3.yaml"
    assert main(["variant", str(SEATTLE), "--changes", str(ch), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "move 3 of the" in printed
    text = out.read_text()
    assert text.startswith("# move3: variant of seattle_baseline")
    assert "# What changed:" in text
    assert load_scenario(out).name == "move3"
    assert get_path(yaml.safe_load(text), "dispatch.policy") == "closest"
    # --add-units keeps working
    out2 = tmp_path / "plus2.yaml"
    assert main(["variant", str(SEATTLE), "--add-units", "2", "--out", str(out2)]) == 0
    assert len(load_scenario(out2).units) == len(load_scenario(SEATTLE).units) + 2
    # a bad file: message, non-zero exit, nothing written
    bad = tmp_path / "bad.yaml"
    bad.write_text("changes:\n  - {op: add_units, to: {precinct: Q}}\n")
    out3 = tmp_path / "bad_out.yaml"
    assert main(["variant", str(SEATTLE), "--changes", str(bad), "--out", str(out3)]) != 0
    assert "unknown district 'Q'" in capsys.readouterr().err
    assert not out3.exists()
