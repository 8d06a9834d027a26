"""Sweeps (twin.experiments.sweep), paired comparisons (compare, statistics.paired), CLI."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.cli import main
from twin.errors import ConfigError
from twin.experiments.compare import compare
from twin.experiments.sweep import (
    BatchJob,
    build_variants,
    local_executor,
    precision_gap,
    run_batch,
    run_sweep,
)
from twin.model import Simulation
from twin.model.kpis import AreaMaps, area_kpis, area_rows
from twin.paths import scenarios_dir
from twin.scenario import load_scenario
from twin.statistics import paired_difference, verdict

EXAMPLE = scenarios_dir() / "example.yaml"
HORIZON = 1440.0


@pytest.mark.exact
def test_paired_difference_and_verdicts() -> None:
    base = [10.0, 12.0, 11.0, math.nan]
    var = [9.0, 10.5, 10.0, 3.0]
    d, h, n = paired_difference(base, var)
    assert n == 3
    diffs = np.array([-1.0, -1.5, -1.0])
    assert d == pytest.approx(diffs.mean())
    assert h == pytest.approx(4.302652729911275 * diffs.std(ddof=1) / math.sqrt(3))
    assert verdict(d, h, -1) == "better"
    assert verdict(d, h, +1) == "worse"
    assert verdict(d, h, 0) == "lower"
    assert verdict(0.0, 0.0, -1) == "not distinguishable"
    assert verdict(0.5, 1.0, -1) == "not distinguishable"
    assert verdict(1.0, math.nan, -1) == "not distinguishable"
    with pytest.raises(ValueError, match="length"):
        paired_difference([1.0], [1.0, 2.0])


def _twin_file(tmp_path: Path, name: str) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["name"] = name
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_identical_scenarios_differ_by_exactly_zero(tmp_path: Path) -> None:
    a, b = _twin_file(tmp_path, "alpha"), _twin_file(tmp_path, "beta")
    variants = build_variants([a, b], horizon=HORIZON)
    c = run_sweep(variants, tmp_path / "sw", replications=3, seed=5)
    assert c["baseline"] == "alpha"
    assert c["replications"] == 3
    assert "diff" not in c["variants"]["alpha"]
    diff = c["variants"]["beta"]["diff"]
    assert set(diff) >= {"response_mean_min", "response_p90_min", "p_wait", "within_5_min"}
    for kpi, d in diff.items():
        assert d["mean"] == 0.0, kpi
        assert d["ci95"] == 0.0, kpi
        assert d["verdict"] == "not distinguishable"
    for group in c["variants"]["beta"]["by_district"].values():
        assert all(d["mean"] in (0.0, None) for d in group["diff"].values())
    on_disk = json.loads((tmp_path / "sw" / "compare.json").read_text())
    assert on_disk == json.loads(json.dumps(c))


def test_rows_are_the_engine_figures_under_common_random_numbers(tmp_path: Path) -> None:
    variants = build_variants([EXAMPLE], vary=["travel.speed_kmh=20,40"], horizon=HORIZON)
    assert [v.name for v in variants] == [
        "example[travel.speed_kmh=20]",
        "example[travel.speed_kmh=40]",
    ]
    job = BatchJob(variants[1].name, variants[1].digest, variants[1].data, 9, (2,))
    (row,) = run_batch(job)
    sc = load_scenario(EXAMPLE).model_copy(update={"horizon": HORIZON})
    sc.travel.speed_kmh = 40.0
    run = Simulation(sc, seed=9, replication=2).run()
    want = area_kpis(run.incidents, run.units, AreaMaps.of_run(run))
    assert row["replication"] == 2
    assert row["seed"] == 9
    assert row["response_p90_min"] == want["overall"]["response_p90_min"]
    assert row["district=North/within_5_min"] == want["by_district"]["North"]["within_5_min"]
    assert row["agency=police/utilisation"] == want["by_agency"]["police"]["utilisation"]
    # same seed and replication: the slower variant sees the same incidents
    (slow,) = run_batch(BatchJob(variants[0].name, variants[0].digest, variants[0].data, 9, (2,)))
    assert slow["incidents"] == row["incidents"]
    assert slow["response_mean_min"] > row["response_mean_min"]


def test_sweep_writes_per_zone_kpis_of_every_replication(tmp_path: Path) -> None:
    variants = build_variants([EXAMPLE], vary=["travel.speed_kmh=20,40"], horizon=HORIZON)
    run_sweep(variants, tmp_path / "sw", replications=2, seed=9, batch=1)
    zones = pd.read_parquet(tmp_path / "sw" / "zones.parquet")
    reps = pd.read_parquet(tmp_path / "sw" / "replications.parquet")
    pairs = set(zip(zones["variant"], zones["replication"], strict=True))
    assert pairs == set(zip(reps["variant"], reps["replication"], strict=True))
    sc = load_scenario(EXAMPLE).model_copy(update={"horizon": HORIZON})
    sc.travel.speed_kmh = 40.0
    run = Simulation(sc, seed=9, replication=1).run()
    want = [
        r
        for r in area_rows(run.incidents, run.units, AreaMaps.of_run(run), run.zone_ids)
        if r["level"] in ("zone", "agency_zone")
    ]
    got = zones[(zones["variant"] == variants[1].name) & (zones["replication"] == 1)]
    assert len(got) == len(want)
    got_by = got.set_index(["agency", "zone"])
    for w in want:
        row = got_by.loc[(w["agency"], w["zone"])]
        assert row["district"] == w["district"]
        for k in ("incidents", "response_p90_min", "within_5_min", "utilisation"):
            if w[k] is None:
                assert math.isnan(row[k])
            else:
                assert row[k] == pytest.approx(w[k])
    # zone rows of all agencies add up to the replication's incidents
    all_agencies = got[got["agency"] == ""]
    r1 = reps[(reps["variant"] == variants[1].name) & (reps["replication"] == 1)]
    assert all_agencies["incidents"].sum() == r1["incidents"].iloc[0]
    # the flat batch files carry no nested column
    for f in (tmp_path / "sw" / "batches").rglob("r*.parquet"):
        assert "zones" not in pd.read_parquet(f).columns


class _Crash(Exception):
    pass


def test_resume_recomputes_nothing_finished(tmp_path: Path) -> None:
    variants = build_variants([EXAMPLE], vary=["travel.speed_kmh=25,35"], horizon=HORIZON)
    ran: list[tuple[str, int]] = []

    def crashing(jobs: Sequence[BatchJob]) -> Iterator[tuple[BatchJob, list[dict[str, Any]]]]:
        for k, job in enumerate(jobs):
            if k == 3:
                raise _Crash  # killed mid-sweep
            ran.extend((job.variant, r) for r in job.replications)
            yield job, run_batch(job)

    def counting(jobs: Sequence[BatchJob]) -> Iterator[tuple[BatchJob, list[dict[str, Any]]]]:
        for job, rows in local_executor(jobs):
            ran.extend((job.variant, r) for r in job.replications)
            yield job, rows

    out = tmp_path / "sw"
    with pytest.raises(_Crash):
        run_sweep(variants, out, replications=4, seed=2, batch=2, execute=crashing)
    first = set(ran)
    assert len(first) == 6  # three batches of two committed
    assert not (out / "compare.json").exists()
    ran.clear()
    run_sweep(variants, out, replications=4, seed=2, batch=2, execute=counting)
    assert not first & set(ran)  # nothing finished was recomputed
    assert len(ran) == 2
    resumed = pd.read_parquet(out / "replications.parquet")
    fresh_dir = tmp_path / "fresh"
    run_sweep(variants, fresh_dir, replications=4, seed=2, batch=3)
    fresh = pd.read_parquet(fresh_dir / "replications.parquet")
    pd.testing.assert_frame_equal(resumed, fresh)
    assert len(resumed) == 8
    plan = json.loads((out / "sweep.json").read_text())
    assert plan["finished"] is not None
    assert plan["resumed"]
    # more replications later: only the new ones run
    ran.clear()
    run_sweep(variants, out, replications=6, seed=2, batch=2, execute=counting)
    assert sorted({r for _, r in ran}) == [4, 5]


def test_precision_loop_adds_replications(tmp_path: Path) -> None:
    variants = build_variants([EXAMPLE], horizon=HORIZON)
    out = tmp_path / "sw"
    c = run_sweep(variants, out, replications=2, seed=1, precision=0.15, max_replications=12)
    frame = pd.read_parquet(out / "replications.parquet")
    r = c["replications"]
    assert 2 < r <= 12
    assert len(frame) == r
    gap, _ = precision_gap(frame, 0.15)
    assert gap <= 1.0 or r == 12
    if r < 12:  # one replication fewer would not have been enough
        assert precision_gap(frame[frame["replication"] < 2], 0.15)[0] > 1.0


def test_compare_json_shape_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sw"
    rc = main(
        [
            "sweep",
            str(EXAMPLE),
            "--vary",
            "travel.speed_kmh=20,40",
            "--horizon",
            str(HORIZON),
            "-r",
            "3",
            "--local",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    capsys.readouterr()
    assert main(["compare", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((out / "compare.json").read_text())
    assert set(printed) == {"baseline", "replications", "variants"}
    fast = printed["variants"]["example[travel.speed_kmh=40]"]
    assert set(fast) == {"kpis", "diff", "by_agency", "by_district"}
    assert set(fast["kpis"]["p_wait"]) == {"mean", "ci95"}
    assert set(fast["diff"]["response_mean_min"]) == {"mean", "ci95", "verdict"}
    assert fast["diff"]["response_mean_min"]["verdict"] == "better"
    assert set(fast["by_district"]) == {"North", "South"}
    assert main(["compare", str(out), "--by", "district", "--json"]) == 0
    only = json.loads(capsys.readouterr().out)
    assert "by_agency" not in only["variants"]["example[travel.speed_kmh=40]"]
    assert main(["compare", str(out), "--baseline", "example[travel.speed_kmh=40]"]) == 0
    assert "worse" in capsys.readouterr().out
    assert main(["compare", str(out), "--baseline", "nope"]) != 0
    assert "not a variant" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--vary", "travel.sped_kmh=20,40"], "unknown"),
        (["--vary", "travel.speed_kmh=fast,40"], "--vary travel.speed_kmh=fast"),
        (["--vary", "dispach.policy=closest"], "--vary dispach.policy: unknown path"),
        (["--vary", "travel.speed_kmh"], "write PATH=V1,V2"),
        (["--dask-address", "tcp://127.0.0.1:1"], "no Dask scheduler answers"),
        (["--dask-address", "127.0.0.1:8786"], "write tcp://HOST:PORT"),
        (["--within", "1,x"], "--within"),
    ],
)
def test_bad_input_is_a_message_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    out = tmp_path / "sw"
    rc = main(["sweep", str(EXAMPLE), "-r", "2", "--horizon", "600", "--out", str(out), *args])
    assert rc != 0
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_folder_of_another_sweep_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    run_sweep(build_variants([EXAMPLE], horizon=600.0), out, replications=2, seed=1)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(ConfigError, match="holds another sweep"):
        run_sweep(build_variants([EXAMPLE], horizon=700.0), out, replications=2, seed=1)
    with pytest.raises(ConfigError, match="seed"):
        run_sweep(build_variants([EXAMPLE], horizon=600.0), out, replications=2, seed=2)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_compare_needs_common_replications() -> None:
    frame = pd.DataFrame(
        {"variant": ["a", "b"], "replication": [0, 1], "seed": [0, 0], "p_wait": [0.1, 0.2]}
    )
    with pytest.raises(ConfigError, match="no replication has finished for every variant"):
        compare(frame)
