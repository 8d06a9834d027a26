"""Scenarios are checked before they run (issue 8, item 6): runaway or lying inputs are refused.

Each input the drill found (``rate_per_hour: 1e12`` ran until killed, ``warmpu:`` was silently
ignored, ``rate_per_hour: true`` read as 1.0, a duplicated key kept its last value,
``horizon: 1e-9`` reported 100% utilisation with no dispatch) goes through the real command
line in a child process: a non-zero exit, one clear line naming the file and the field, no
traceback, and no hang (the child has a generous time-out only to turn a hang into a failure).
Then random mutations of ``scenarios/example.yaml`` must each end as a run or a ConfigError.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twin.errors import ConfigError
from twin.model import run_replications
from twin.paths import scenarios_dir
from twin.scenario import parse_scenario, read_yaml, render_yaml

EXAMPLE = scenarios_dir() / "example.yaml"
HANG_GUARD_S = 600  # not a speed limit: only turns a hang into a failure

CLI = "import sys; from twin.cli import main; raise SystemExit(main(sys.argv[1:]))"


def _twin(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        env={"COLUMNS": "400", "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )


def _edit(old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, old
    return text.replace(old, new, 1)


# (label, scenario text, expected message as a regex)
REFUSED: list[tuple[str, str, str]] = [
    (
        "rate 1e12",
        _edit("rate_per_hour: 0.6}", "rate_per_hour: 1e12}"),
        r"zones\[0\]\.rate_per_hour: Input should be less than or equal to 100000",
    ),
    (
        "horizon 1e15",
        _edit("horizon: 10080 ", "horizon: 1e15 "),
        r"horizon: Input should be less than or equal to 5270400",
    ),
    (
        "speed 1e-12",
        _edit("speed_kmh: 30,", "speed_kmh: 1e-12,"),
        r"travel\.speed_kmh: Input should be greater than or equal to 1",
    ),
    (
        "location 1e308",
        _edit("location: [0.5, 2.5]", "location: [1e308, -1e308]"),
        r"zones\[0\]\.location\[0\]: Input should be less than or equal to 10000",
    ),
    (
        "typo warmpu",
        _edit("warmup: 1440", "warmpu: 1440"),
        r"warmpu: unknown key; did you mean 'warmup'\?",
    ),
    (
        "typo dispach",
        _edit("dispatch: {policy: closest}", "dispach: {policy: closest}"),
        r"dispach: unknown key; did you mean 'dispatch'\?",
    ),
    (
        "typo in demand",
        _edit("demand: {source: poisson}", "demand: {sorce: poisson}"),
        r"demand\.sorce: unknown key; did you mean 'source'\?",
    ),
    (
        "boolean rate",
        _edit("rate_per_hour: 0.6}", "rate_per_hour: true}"),
        r"zones\[0\]\.rate_per_hour: true is a boolean, not a number",
    ),
    (
        "duplicate key",
        _edit("horizon: 10080 ", "horizon: 60\nhorizon: 10080 "),
        r"duplicate key 'horizon' at line 8 \(first at line 7\)",
    ),
    (
        "wgs84 outside the globe",
        _edit("crs: plane", "crs: wgs84").replace("[0.5, 2.5]", "[200.0, 2.5]", 1),
        r"zones\[0\]\.location: \[200\.0, 2\.5\] is not \[lon, lat\] with lon in \[-180, 180\]",
    ),
    (
        "a run beyond the incident limit",
        _edit("rate_per_hour: 0.6}", "rate_per_hour: 90000.0}").replace(
            "horizon: 10080 ", "horizon: 5000000 "
        ),
        r"would simulate about 7,502,\d{3},\d{3} incidents .*lift the limit with --max-incidents N",
    ),
]


def _one_clean_line(err: str) -> str:
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.exact
@pytest.mark.parametrize(("label", "text", "expected"), REFUSED, ids=[c[0] for c in REFUSED])
def test_runaway_and_lying_scenarios_are_refused_by_the_cli(
    tmp_path: Path, label: str, text: str, expected: str
) -> None:
    path = tmp_path / "drill.yaml"
    path.write_text(text, encoding="utf-8")
    done = _twin("simulate", str(path), "--json")
    assert done.returncode != 0, label
    line = _one_clean_line(done.stderr)
    assert str(path) in line or "drill" in line, line
    assert re.search(expected, line), line
    assert done.stdout == ""


@pytest.mark.exact
def test_the_incident_limit_is_a_flag(tmp_path: Path) -> None:
    # 8 days of the example town (2.95 calls/h) are ~566 incidents: a limit of 100 refuses it
    done = _twin("simulate", str(EXAMPLE), "--json", "--max-incidents", "100")
    assert done.returncode == 2
    line = _one_clean_line(done.stderr)
    assert re.search(r"about 566 incidents .* limit of 100; .*--max-incidents N", line), line
    lifted = _twin("simulate", str(EXAMPLE), "--json", "--max-incidents", "1000")
    assert lifted.returncode == 0, lifted.stderr
    assert json.loads(lifted.stdout)["incidents"] > 100


@pytest.mark.exact
def test_a_zero_incident_run_reports_no_utilisation(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(_edit("horizon: 10080 ", "horizon: 1e-9 "), encoding="utf-8")
    done = _twin("simulate", str(path), "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["incidents"] == 0
    units = summary["units"]
    assert units
    assert all(u["dispatches"] == 0 for u in units.values())
    assert all(u["utilization"] is None for u in units.values())


# ----------------------------------------------------------------------------- fuzz
BASE: dict[str, Any] = read_yaml(EXAMPLE.read_text(encoding="utf-8"))


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(BASE)
NASTY_VALUES: list[Any] = [
    *(0, -1, 1, 2.5, 1e-12, 1e-9, 1e6, 1e12, 1e15, 1e308, -1e308, math.inf, math.nan),
    *(True, False, None, "", "x", "1e12", [], {}, [1e308, -1e308], {"dist": "exponential"}),
]
NASTY = st.sampled_from(NASTY_VALUES)
EDIT = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(PATHS), NASTY),
    st.tuples(st.just("typo"), st.sampled_from(PATHS), st.sampled_from(["x", "_", "s"])),
    st.tuples(st.just("drop"), st.sampled_from(PATHS), st.none()),
)


def mutate(data: dict[str, Any], edits: list[tuple[str, tuple[Any, ...], Any]]) -> dict[str, Any]:
    """Apply *edits* (set a value, misspell a key, drop a key) to a copy of *data*."""
    out = copy.deepcopy(data)
    for kind, path, value in edits:
        node: Any = out
        try:
            for k in path[:-1]:
                node = node[k]
            last = path[-1]
            if kind == "set":
                node[last] = copy.deepcopy(value)
            elif kind == "drop":
                del node[last]
            elif isinstance(node, dict):
                node[f"{last}{value}"] = node.pop(last)
        except (KeyError, IndexError, TypeError):
            continue
    return out


@pytest.mark.property
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=1, max_size=3))
def test_fuzzed_example_either_runs_or_is_a_config_error(
    edits: list[tuple[str, tuple[Any, ...], Any]],
) -> None:
    outcome = run_or_error(mutate(BASE, edits))
    assert outcome == "ran" or outcome.startswith("fuzz.yaml: "), outcome
    assert "\n" not in outcome


def run_or_error(data: dict[str, Any], max_incidents: int = 20_000) -> str:
    """Write, load and run a scenario mapping; return ``"ran"`` or the ConfigError message.

    Any other exception propagates (that is the failure the fuzz looks for).
    """
    text = render_yaml(data)
    try:
        sc = parse_scenario(read_yaml(text, source="fuzz.yaml"), source="fuzz.yaml")
        (run,) = run_replications(
            sc, seed=1, replications=1, collect=False, max_incidents=max_incidents
        )
    except ConfigError as exc:
        return str(exc)
    assert run.scenario == sc.name
    return "ran"
