"""The one YAML writer: it reproduces every checked-in builder's file byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from twin.cities.jiaxing.build import render_scenario_yaml
from twin.errors import ConfigError
from twin.paths import scenarios_dir
from twin.scenario import (
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


@pytest.mark.exact
def test_jiaxing_block_layout_with_anchors_is_reproduced() -> None:
    _header, text, data = _split(scenarios_dir() / "jiaxing_baseline.yaml")
    assert "&Nanhu" in text
    assert "*Nanhu" in text
    # the Jiaxing build's layout (flow rows, district anchors) goes through render_yaml
    assert render_scenario_yaml(data) == text


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
