"""The one YAML writer: it reproduces every checked-in builder's file byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twin.errors import ConfigError
from twin.paths import scenarios_dir
from twin.scenario import (
    Anchored,
    FlowList,
    FlowMap,
    flow,
    load_scenario,
    parse_scenario,
    read_yaml,
    render_yaml,
    write_scenario,
)


def _split(path: Path) -> tuple[list[str], str, dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    n = next(i for i, ln in enumerate(lines) if not ln.startswith("#"))
    return lines[:n], text, read_yaml(text, source=str(path))


@pytest.mark.exact
@pytest.mark.parametrize(
    "name", ["sanfrancisco_baseline.yaml", "seattle_baseline.yaml", "seattle_variant.yaml"]
)
def test_calibration_and_variant_files_are_reproduced(name: str) -> None:
    # twin calibrate (calibrate/build.py to_yaml) and twin variant write this layout
    header, text, data = _split(scenarios_dir() / name)
    assert render_yaml(data, header=header) == text


def _jiaxing_layout(scenario: dict[str, Any]) -> dict[str, Any]:
    """The Jiaxing builder's layout, told with the writer's markers (one zone per line)."""
    shared: dict[tuple[str, ...], Anchored] = {}
    for name, ids in scenario.get("district_zones", {}).items():
        shared[tuple(ids)] = Anchored(ids, anchor=str(name))
    city = [z["id"] for z in scenario["zones"]]
    shared.setdefault(tuple(city), Anchored(city, anchor="city"))
    out: dict[str, Any] = {}
    for key, value in scenario.items():
        if key == "district_zones":
            out[key] = {k: shared[tuple(v)] for k, v in value.items()}
        elif key == "units":
            units = []
            for u in value:
                fu = FlowMap((k, v) for k, v in u.items() if k != "area")
                if "area" in u:
                    fu["area"] = shared.get(tuple(u["area"])) or FlowList(u["area"])
                units.append(fu)
            out[key] = units
        elif key in ("zones", "priorities"):
            out[key] = [flow(v) for v in value]
        elif key == "checkpoints":
            out[key] = [
                {k: flow(v) if isinstance(v, dict) else v for k, v in cp.items()} for cp in value
            ]
        elif key in ("zone_facts", "checkpoint_sites", "targets"):
            out[key] = {k: flow(v) for k, v in value.items()}
        elif key in ("travel", "dispatch", "queue", "demand", "service", "patrol"):
            out[key] = flow(value)
        else:
            out[key] = value
    return out


@pytest.mark.exact
def test_jiaxing_block_layout_with_anchors_is_reproduced() -> None:
    header, text, data = _split(scenarios_dir() / "jiaxing_baseline.yaml")
    assert "&Nanhu" in text
    assert "*Nanhu" in text
    assert render_yaml(_jiaxing_layout(data), header=header, block=True) == text


@pytest.mark.exact
def test_header_lines_get_a_hash_and_a_scenario_round_trips(tmp_path: Path) -> None:
    sc = load_scenario(scenarios_dir() / "example.yaml")
    text = render_yaml(sc, header=["made by a test", "", "# kept"])
    assert text.startswith("# made by a test\n#\n# kept\nname: ")
    again = parse_scenario(read_yaml(text))
    assert again == sc
    dest = write_scenario(tmp_path / "sub" / "copy.yaml", sc)
    assert load_scenario(dest) == sc
    assert [p.name for p in dest.parent.iterdir()] == ["copy.yaml"]


@pytest.mark.exact
def test_write_scenario_refuses_an_invalid_mapping(tmp_path: Path) -> None:
    header, _, data = _split(scenarios_dir() / "example.yaml")
    data["horizon"] = -1
    dest = tmp_path / "bad.yaml"
    with pytest.raises(ConfigError, match=r"bad\.yaml: invalid scenario: horizon"):
        write_scenario(dest, data, header=header)
    assert not dest.exists()
