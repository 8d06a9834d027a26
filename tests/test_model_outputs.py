"""Outputs (Parquet + summary.json), the CLI, and the pinned public API."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import twin.model as model
from twin.cli import main
from twin.model import run_replications, simulate, summarize, write_outputs
from twin.model.outputs import SUMMARY_KEYS
from twin.paths import scenarios_dir
from twin.scenario import load_scenario

EXAMPLE = scenarios_dir() / "example.yaml"


def _short(h: float = 1440.0):  # type: ignore[no-untyped-def]
    return load_scenario(EXAMPLE).model_copy(update={"horizon": h})


def test_public_api_is_pinned() -> None:
    assert set(model.__all__) == {
        "STREAMS",
        "SUMMARY_KEYS",
        "RunResult",
        "Simulation",
        "Summary",
        "run_replications",
        "simulate",
        "summarize",
        "write_outputs",
    }
    for name in model.__all__:
        assert hasattr(model, name)


def test_parquet_tables_and_summary(tmp_path: Path) -> None:
    runs = run_replications(_short(), seed=3, replications=3)
    summary = write_outputs(tmp_path, runs)
    assert set(summary) == set(SUMMARY_KEYS)
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    inc = pq.read_table(tmp_path / "incidents.parquet")
    assert inc.num_rows == summary["incidents"] == sum(r.incidents["incident"].size for r in runs)
    for col in (
        "received",
        "queued",
        "dispatched",
        "enroute",
        "onscene",
        "cleared",
        "unit",
        "zone",
        "priority",
        "wait_min",
        "travel_min",
        "response_min",
        "lost",
    ):
        assert col in inc.column_names
    assert inc.schema.metadata[b"twin.seed"] == b"3"
    df = inc.to_pandas()
    assert set(df["replication"]) == {0, 1, 2}
    assert set(df["unit"].dropna().astype(str)) <= {"u1", "u2", "u3", "u4"}
    units = pq.read_table(tmp_path / "units.parquet").to_pandas()
    assert len(units) == 4 * 3
    assert {"patrol_min", "en_route_min", "on_scene_min", "returning_min", "off_duty_min"} <= set(
        units
    )
    assert (tmp_path / "presence.parquet").exists()
    assert (tmp_path / "timeseries.parquet").exists()
    # ci95 for the headline metrics, t-intervals over 3 replications
    ci = summary["ci95"]
    assert {"p_wait", "mean_wait_min", "response_min.mean", "units.u1.utilization"} <= set(ci)
    per = [r.units["utilization"][0] for r in runs]
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * np.std(per, ddof=1) / np.sqrt(3)
    assert ci["units.u1.utilization"] == pytest.approx(half)
    assert summary["units"]["u1"]["utilization"] == pytest.approx(np.mean(per))
    assert summary["units"]["u1"]["dispatches"] == sum(int(r.units["dispatches"][0]) for r in runs)
    assert summarize(runs[:1]).keys() == set(SUMMARY_KEYS) - {"ci95"}


def test_presence_counts_patrolling_units() -> None:
    s = simulate(_short(2880.0), seed=2)
    pres = s["presence"]
    assert 0 < pres["mean_patrolling"] <= 4
    assert sum(pres["by_zone"].values()) == pytest.approx(pres["mean_patrolling"])
    assert len(pres["by_hour"]) == 24


def test_cli_simulate_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o"
    code = main(
        [
            "simulate",
            str(EXAMPLE),
            "--seed",
            "5",
            "-r",
            "2",
            "--horizon",
            "720",
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["seed"] == 5
    assert printed == json.loads((out / "summary.json").read_text())
    assert (out / "incidents.parquet").exists()
    assert main(["simulate", str(EXAMPLE), "--horizon", "300"]) == 0
    assert "example" in capsys.readouterr().out


def test_cli_bad_inputs_exit_nonzero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", str(tmp_path / "missing.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nhorizon: -1\nzones: []\nunits: []\n")
    assert main(["simulate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.yaml" in err
    assert "horizon" in err
    assert main(["simulate", str(EXAMPLE), "-r", "0"]) == 2


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        simulate(_short(720.0), seed=11, replications=2, out=tmp_path / name)
    for f in ("incidents.parquet", "units.parquet", "presence.parquet", "summary.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    simulate(_short(720.0), seed=12, out=tmp_path / "c")
    assert (tmp_path / "a" / "incidents.parquet").read_bytes() != (
        tmp_path / "c" / "incidents.parquet"
    ).read_bytes()
