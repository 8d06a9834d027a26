"""Scenario files: the vocabulary, bad input, fuzzing, and the checked-in JSON Schema."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import ConfigError
from twin.paths import scenarios_dir
from twin.scenario import (
    Scenario,
    load_scenario,
    parse_scenario,
    scenario_json_schema,
    schema_path,
)

BASE: dict[str, Any] = {
    "name": "t",
    "horizon": 600,
    "zones": [
        {"id": "z1", "district": "A", "location": [0, 0], "rate_per_hour": 2.0},
        {"id": "z2", "district": "B", "location": [1, 0], "rate_per_hour": 1.0},
    ],
    "units": [{"id": "u1", "post": "z1"}, {"id": "u2", "post": "z2"}],
    "priorities": [
        {"level": 1, "share": 0.25, "service": {"dist": "exponential", "mean": 40}},
        {"level": 2, "share": 0.75},
    ],
    "dispatch": {"policy": "preference", "preferences": {"z1": ["u1", "u2"], "z2": ["u2", "u1"]}},
}


def _with(path: str, value: Any, *, delete: bool = False) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    node: Any = data
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        node = node[k]
    if delete:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return data


def _write(tmp_path: Path, data: Any, name: str = "s.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, sort_keys=False))
    return p


@pytest.mark.exact
def test_base_scenario_is_valid(tmp_path: Path) -> None:
    sc = load_scenario(_write(tmp_path, BASE))
    assert isinstance(sc, Scenario)
    assert sc.zone_ids == ["z1", "z2"]
    assert sc.total_rate_per_hour == pytest.approx(3.0)
    assert sc.queue.capacity == "unlimited"
    assert sc.service.dist == "exponential"


@pytest.mark.exact
def test_example_scenario_loads() -> None:
    sc = load_scenario(scenarios_dir() / "example.yaml")
    assert len(sc.units) >= 3
    assert {z.district for z in sc.zones} == {"North", "South"}
    assert any(d.outages for d in sc.devices)


@pytest.mark.exact
def test_numeric_ids_and_sexagesimal_shift_start(tmp_path: Path) -> None:
    data = _with("units.0.shift", {"start": 630, "hours": 8})
    data["zones"][0]["id"] = 7
    data["units"][0]["post"] = 7
    data["dispatch"] = {"policy": "closest"}
    sc = parse_scenario(data)
    assert sc.zones[0].id == "7"
    assert sc.units[0].shift is not None
    assert sc.units[0].shift.start_min == 630
    text = yaml.safe_dump(data).replace("start: 630", "start: 10:30")
    assert yaml.safe_load(text)["units"][0]["shift"]["start"] == 630


BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("unknown zone in post", _with("units.0.post", "z9"), "units[0].post"),
    ("unknown zone in area", _with("units.1.area", ["z1", "zz"]), "units[1].area[1]"),
    (
        "unknown zone in preferences",
        _with("dispatch.preferences.z3", ["u1", "u2"]),
        "dispatch.preferences",
    ),
    (
        "unknown unit in preferences",
        _with("dispatch.preferences.z1", ["u1", "u2", "u7"]),
        "dispatch.preferences.z1[2]",
    ),
    (
        "preference list missing a unit",
        _with("dispatch.preferences.z2", ["u2"]),
        "dispatch.preferences.z2",
    ),
    ("zero rate", _with("zones.1.rate_per_hour", 0), "zones[1].rate_per_hour"),
    ("negative rate", _with("zones.0.rate_per_hour", -1.5), "zones[0].rate_per_hour"),
    ("empty fleet", _with("units", []), "units"),
    ("shares not summing to 1", _with("priorities.1.share", 0.5), "priorities"),
    ("zero horizon", _with("horizon", 0), "horizon"),
    ("negative horizon", _with("horizon", -10), "horizon"),
    (
        "typo in nested spec",
        _with("priorities.0.service", {"dist": "exponential", "mena": 3}),
        "mena",
    ),
    ("unknown distribution", _with("service", {"dist": "weibull", "mean": 3}), "service"),
    ("negative mean", _with("service", {"dist": "exponential", "mean": -3}), "service.mean"),
    ("duplicate zone id", _with("zones.1.id", "z1"), "zones[1]"),
    ("bad queue discipline", _with("queue", {"discipline": "lifo"}), "queue.discipline"),
    ("negative capacity", _with("queue", {"capacity": -1}), "queue.capacity"),
    (
        "bad shift start",
        _with("units.0.shift", {"start": "25:00", "hours": 8}),
        "units[0].shift.start",
    ),
    (
        "unknown device zone",
        _with("devices", [{"id": "c", "zone": "q", "radius_km": 1}]),
        "devices",
    ),
    (
        "outage ends first",
        _with("devices", [{"id": "c", "zone": "z1", "outages": [{"start": 5, "end": 1}]}]),
        "outages",
    ),
    ("missing zones", _with("zones", None, delete=True), "zones"),
    (
        "unknown checkpoint zone",
        _with(
            "checkpoints",
            [
                {
                    "id": "c",
                    "zone": "nowhere",
                    "lanes": 1,
                    "mode": "manual",
                    "arrivals": {"rate_per_hour": 5},
                }
            ],
        ),
        "checkpoints[0].zone",
    ),
    (
        "checkpoint hit priority not a level",
        _with(
            "checkpoints",
            [
                {
                    "id": "c",
                    "zone": "z1",
                    "lanes": 1,
                    "mode": "manual",
                    "arrivals": {"rate_per_hour": 5},
                    "hit_priority": 9,
                }
            ],
        ),
        "checkpoints[0].hit_priority",
    ),
    ("profile length", _with("zones.0.profile", [1.0] * 24), "zones[0].profile"),
]


@pytest.mark.exact
@pytest.mark.parametrize(("label", "data", "field"), BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_names_file_and_field(
    tmp_path: Path, label: str, data: dict[str, Any], field: str
) -> None:
    p = _write(tmp_path, data, name="bad_scenario.yaml")
    with pytest.raises(ConfigError) as info:
        load_scenario(p)
    msg = str(info.value)
    assert "bad_scenario.yaml" in msg, label
    assert field in msg, f"{label}: {msg}"


@pytest.mark.exact
def test_missing_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_scenario(tmp_path / "nope.yaml")
    p = tmp_path / "broken.yaml"
    p.write_text("zones: [\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_scenario(p)
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match=r"broken\.yaml"):
        load_scenario(p)


@pytest.mark.property
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=300))
def test_fuzz_text_only_config_errors(tmp_path: Path, text: str) -> None:
    p = tmp_path / "fuzz.yaml"
    p.write_text(text, encoding="utf-8")
    try:
        load_scenario(p)
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert "fuzz.yaml" in message


_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


ALL_PATHS = _paths(BASE)


@pytest.mark.property
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    edits=st.lists(st.tuples(st.sampled_from(ALL_PATHS), _leaves), min_size=1, max_size=3),
    as_text=st.booleans(),
)
def test_fuzz_mutated_scenarios_only_config_errors(
    tmp_path: Path, edits: list[tuple[tuple[Any, ...], Any]], as_text: bool
) -> None:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        node: Any = data
        try:
            for k in path[:-1]:
                node = node[k]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        if as_text:
            p = tmp_path / "mut.yaml"
            p.write_text(yaml.safe_dump(data))
            load_scenario(p)
        else:
            parse_scenario(data, source="mut")
    except ConfigError as exc:
        message = str(exc)
    else:
        return
    assert "mut" in message


@pytest.mark.exact
def test_checked_in_schema_is_current() -> None:
    on_disk = json.loads(schema_path().read_text())
    assert on_disk == scenario_json_schema(), (
        "scenarios/scenario.schema.json is stale: run "
        "`python -c 'from twin.scenario import export_schema; export_schema()'`"
    )
    assert set(on_disk["required"]) >= {"name", "horizon", "zones", "units"}


@pytest.mark.exact
def test_vocabulary_loads_without_the_engine() -> None:
    code = (
        "import sys, twin.scenario; "
        "print(','.join(m for m in ('simpy', 'mesa', 'pyarrow', 'numpy', 'pandas') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == ""


@pytest.mark.exact
def test_public_names_are_pinned() -> None:
    import twin.scenario as vocab

    assert sorted(vocab.__all__) == sorted(
        [
            "DEFAULT_AGENCY",
            "DEFAULT_MAX_INCIDENTS",
            "HOURS_PER_WEEK",
            "MAX_COORD_KM",
            "MAX_MINUTES",
            "MAX_RATE_PER_HOUR",
            "MAX_SPEED_KMH",
            "MIN_SPEED_KMH",
            "AgencyId",
            "AgencySpec",
            "Anchored",
            "ArrivalSpec",
            "CheckpointSpec",
            "DemandSpec",
            "DetectionSpec",
            "DeterministicSpec",
            "DeviceSpec",
            "DispatchSpec",
            "DistSpec",
            "EmpiricalSpec",
            "ExponentialSpec",
            "FlowList",
            "FlowMap",
            "GammaSpec",
            "LognormalSpec",
            "Minutes",
            "OutageSpec",
            "PatrolSpec",
            "PrioritySpec",
            "QueueSpec",
            "RunEstimate",
            "Scenario",
            "SelfInitiatedDistrictSpec",
            "SelfInitiatedSpec",
            "ShiftSpec",
            "TravelSpec",
            "UnitId",
            "UnitSpec",
            "ZoneId",
            "ZoneSpec",
            "check_run_size",
            "estimate_run",
            "export_schema",
            "flow",
            "format_validation_error",
            "load_scenario",
            "parse_scenario",
            "read_yaml",
            "render_yaml",
            "scenario_json_schema",
            "schema_path",
            "spec_mean",
            "write_scenario",
        ]
    )
    for name in vocab.__all__:
        assert hasattr(vocab, name)
