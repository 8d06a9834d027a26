"""Replay: historical San Francisco days through a calibrated scenario, on a real lake.

Plus the trace of a Seattle source without a received time (dated by its at-scene time).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.calibrate import calibrate, write_calibration
from twin.calibrate.data import load_city
from twin.cli import main
from twin.errors import TwinError
from twin.paths import scenarios_dir
from twin.replay import build_trace, replay, scenario_city
from twin.scenario import load_scenario
from twin.sources import load_config
from twin.sync import run_sync


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, sf_lake: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("replay")
    lake = sf_lake  # read-only (conftest.py)
    steps: list[str] = []
    cal = calibrate(lake, "sanfrancisco", refine_rounds=0, progress=steps.append)
    # the long steps are announced as they start (the CLI's spinner shows them)
    assert steps[0] == "reading San Francisco from the lake"
    assert steps[1].startswith("fitting San Francisco fire on ")
    scenario = write_calibration(cal, root / "sf.yaml")[0]
    return lake, scenario


@pytest.mark.e2e
def test_replay_one_day_actual_beside_simulated(setup: tuple[Path, Path], tmp_path: Path) -> None:
    lake, scenario = setup
    res = replay(scenario, lake, "2020-04-18", "2020-04-18", out_dir=tmp_path, seed=3)
    s = res.summary
    n = s["replay"]["incidents"]
    assert 250 < n < 500  # one day of SF calls
    assert s["incidents"] == n  # the warm-up day's calls are not counted
    assert s["actual"]["dispatch_onscene_min"]["n"] > 0.8 * n
    rec = res.records
    assert len(rec) == n
    assert {
        "actual_response_min",
        "actual_dispatch_onscene_min",
        "sim_dispatch_onscene_min",
        "incident_id",
    } <= set(rec.columns)
    # real on-scene durations were replayed where known
    known = rec["actual_service_min"].notna()
    assert np.allclose(rec.loc[known, "service_min"], rec.loc[known, "actual_service_min"])
    # every simulated life cycle is in order
    ok = rec["unit"].notna()
    assert (rec.loc[ok, "dispatched"] >= rec.loc[ok, "received"]).all()
    assert (rec.loc[ok, "onscene"] >= rec.loc[ok, "dispatched"]).all()
    for name in (
        "incidents.parquet",
        "units.parquet",
        "summary.json",
        "replay.parquet",
        "replay_summary.json",
    ):
        assert (tmp_path / name).exists()
    assert json.loads((tmp_path / "replay_summary.json").read_text())["replay"]["start"] == (
        "2020-04-18"
    )
    assert scenario_city(load_scenario(scenario)) == ("sanfrancisco", "fire")


@pytest.mark.e2e
def test_replay_same_seed_same_records(setup: tuple[Path, Path]) -> None:
    lake, scenario = setup
    done: list[int] = []
    a = replay(scenario, lake, "2020-04-19", "2020-04-19", seed=5, progress=done.append).records
    b = replay(scenario, lake, "2020-04-19", "2020-04-19", seed=5).records
    assert a["onscene"].equals(b["onscene"])
    assert done == [0]  # one call per replication, after it ran


@pytest.mark.validation
def test_replay_window_without_incidents(setup: tuple[Path, Path], tmp_path: Path) -> None:
    lake, scenario = setup
    with pytest.raises(TwinError, match=r"no .*incidents of sanfrancisco between 2021-01-01"):
        replay(scenario, lake, "2021-01-01", "2021-01-02")
    with pytest.raises(TwinError, match="before --start"):
        replay(scenario, lake, "2020-04-19", "2020-04-18")
    code = main(
        [
            "replay",
            str(scenario),
            "--lake",
            str(lake),
            "--start",
            "2021-01-01",
            "--end",
            "2021-01-01",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    assert code == 2


@pytest.mark.e2e
def test_cli_replay(
    setup: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, scenario = setup
    code = main(
        [
            "replay",
            str(scenario),
            "--lake",
            str(lake),
            "--start",
            "2020-04-20",
            "--end",
            "2020-04-20",
            "--out",
            str(tmp_path),
            "--json",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["replay"]["end"] == "2020-04-20"
    assert "actual" in out


@pytest.mark.exact
def test_trace_of_a_source_without_received_time_uses_event_time(
    tmp_path: Path, data_dir: Path
) -> None:
    lake = tmp_path / "lake"
    run_sync(load_config(), lake, only=["spd_beats", "spd_911_2015"], durable=False)
    data = load_city(lake, "seattle")
    assert data.incidents["received"].isna().all()  # the layout has no received time
    scenario = load_scenario(scenarios_dir() / "seattle_baseline.yaml")
    day = date(2015, 6, 10)
    trace = build_trace(scenario, data, day, day, agency="police", seed=1)
    actual = trace.actual
    assert len(actual) > 100
    # arrivals are the at-scene times; nothing is compared as a response
    event = pd.to_datetime(actual["event_utc"], utc=True)
    minutes = (event - trace.t_zero).dt.total_seconds() / 60
    np.testing.assert_allclose(trace.arrivals["time_min"].to_numpy(), minutes.to_numpy())
    assert pd.isna(actual["received_utc"]).all()
    assert np.isnan(actual["actual_response_min"].to_numpy(dtype=float)).all()
    assert any("no received time" in n and "proxy" in n for n in trace.notes)


@pytest.mark.exact
def test_trace_of_several_agencies_tags_each_call(tmp_path: Path, data_dir: Path) -> None:
    lake = tmp_path / "lake"
    run_sync(
        load_config(), lake, only=["spd_beats", "spd_911_2015", "seattle_fire_911"], durable=False
    )
    data = load_city(lake, "seattle")
    scenario = load_scenario(scenarios_dir() / "seattle_baseline.yaml")
    assert scenario.agency_ids == ["police", "fire"]
    day = date(2015, 10, 1)
    trace = build_trace(scenario, data, day, day, agency="all", seed=1)
    arr = trace.arrivals
    assert set(arr["agency"]) == {"police", "fire"}
    fire = arr.loc[arr["agency"] == "fire"]
    assert len(fire) > 100  # ~277 fire calls a day
    assert (fire["priority"] == 1).all()  # fire has one class
    assert set(arr.loc[arr["agency"] == "police", "priority"]) <= {1, 2, 3, 4}
    # the engine accepts the tagged trace: each agency's calls go to its own units
    res = replay(scenario, lake, day, day, seed=2, data=data)
    rec = res.records
    assert len(rec) == res.summary["replay"]["incidents"]
    ok = rec["unit"].notna()
    unit_agency = {u.id: u.agency for u in scenario.units}
    assert set(rec["agency"].astype(str)) == {"police", "fire"}
    assert all(
        unit_agency[str(u)] == str(a)
        for u, a in zip(rec.loc[ok, "unit"], rec.loc[ok, "agency"], strict=True)
    )
