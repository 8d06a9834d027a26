"""Tier 5: the summary of one small scenario against a checked-in snapshot.

Regenerate (after an intended change in the engine's behaviour) with
``TWIN_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_model_golden.py`` and review the diff.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest

from twin.model import simulate
from twin.paths import scenarios_dir
from twin.scenario import load_scenario

GOLDEN = Path(__file__).parent / "golden" / "example_summary.json"


def _compare(got: Any, want: Any, path: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict), path
        assert set(got) == set(want), f"{path}: keys {sorted(set(got) ^ set(want))}"
        for k in want:
            _compare(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list), path
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _compare(g, w, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert isinstance(got, (int, float)), path
        assert math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12), f"{path}: {got} != {want}"
    else:
        assert got == want, f"{path}: {got!r} != {want!r}"


@pytest.mark.golden
def test_example_summary_matches_snapshot() -> None:
    sc = load_scenario(scenarios_dir() / "example.yaml")
    sc = sc.model_copy(update={"horizon": 2880.0})
    summary = json.loads(json.dumps(simulate(sc, seed=7, replications=2)))
    if os.environ.get("TWIN_UPDATE_GOLDEN"):
        GOLDEN.write_text(json.dumps(summary, indent=2) + "\n")
    want = json.loads(GOLDEN.read_text())
    _compare(summary, want)
