"""Drift from night one: the nightly job on the real San Francisco sample, then a degraded night.

The same lake is synced twice: first the sample as published (a normal night), then the sample
with the newest day's on-scene (and later) times pushed 6 minutes late (a deliberately degraded
night: the lake upserts the changed records). The band comes from the calibration's own
cross-validation on the days before the newest, so the first night already has one.
"""

from __future__ import annotations

import csv
import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from twin.cli import main
from twin.sources import SyncConfig, load_config
from twin.store import Lake
from twin.sync import run_sync

FMT = "%m/%d/%Y %I:%M:%S %p"
LATE = ("On Scene DtTm", "Transport DtTm", "Hospital DtTm", "Available DtTm")


def _degrade(src: Path, dest: Path, day: str, minutes: float) -> int:
    """Copy the SF sample, shifting the on-scene and later times of calls received on *day*."""
    n = 0
    with gzip.open(src, "rt", newline="") as fin, gzip.open(dest, "wt", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            if row["Received DtTm"].startswith(day):
                for col in LATE:
                    if row.get(col):
                        t = datetime.strptime(row[col], FMT) + timedelta(minutes=minutes)
                        row[col] = t.strftime(FMT)
                n += 1
            writer.writerow(row)
    return n


def _config(path: Path) -> SyncConfig:
    cfg = load_config()
    sources = [
        s.model_copy(update={"path": str(path)}) if s.name == "sffd_calls" else s
        for s in cfg.sources
    ]
    return cfg.model_copy(update={"sources": sources})


@pytest.mark.e2e
@pytest.mark.slow
def test_nightly_flags_a_degraded_night_from_night_one(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from twin.nightly import after_sync

    src = data_dir / "sanfrancisco" / "sffd_calls_for_service_2020-04-07_20.csv.gz"
    lake = tmp_path / "lake"
    rep = run_sync(load_config(), lake, only=["sffd_calls"], durable=False)
    assert all(r.status == "ok" for r in rep.sources.values())
    first = after_sync(lake, tmp_path / "n1", cities=(("sanfrancisco", "fire"),), replications=1)
    night = first.cities[0]
    assert night.error is None, night.error
    assert night.day == "2020-04-20"
    assert night.band is not None
    assert night.band_seed >= 10  # seeded by the calibration's cross-validation
    assert night.band[1] < 0.5
    assert not night.drift, (night.score, night.band, night.band_how)

    bad = tmp_path / "sffd_degraded.csv.gz"
    assert _degrade(src, bad, "04/20/2020", 6.0) > 500
    rep = run_sync(_config(bad), lake, only=["sffd_calls"], durable=False)
    assert all(r.status == "ok" for r in rep.sources.values())
    # the second night runs as `twin nightly` (no sync: the lake is already fresh); drift
    # makes it exit with code 3 and leaves the flag in the lake
    code = main(
        [
            "nightly",
            "--no-sync",
            "--lake",
            str(lake),
            "--city",
            "sanfrancisco",
            "--out",
            str(tmp_path / "n2"),
            "-r",
            "1",
            "--json",
        ]
    )
    assert code == 3
    report = json.loads(capsys.readouterr().out)
    (night2,) = report["cities"]
    assert night2["error"] is None, night2["error"]
    assert night2["score"] > night.score
    assert night2["drift"], (night2["score"], night2["band"], night2["band_how"])
    flags = (
        Lake(lake)
        .query("SELECT run_id, value FROM fidelity WHERE metric = 'drift' ORDER BY computed_at")
        .to_pylist()
    )
    assert [f["value"] for f in flags] == [0.0, 1.0]
    assert flags[1]["run_id"] == report["run_id"]


SEATTLE = [
    "spd_beats",
    "spd_precincts",
    "spd_911_2015",
    "spd_911_allbeats",
    "spd_call_data",
    "spd_avg_response",
]


def _inflate_year(src: Path, dest: Path, year: str, factor: float) -> int:
    """Copy the published Seattle means, multiplying *year*'s response minutes by *factor*."""
    n = 0
    with src.open(newline="") as fin, dest.open("w", newline="") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=reader.fieldnames or [])
        writer.writeheader()
        for row in reader:
            if row["year"] == year and row["avg_response_time"]:
                row["avg_response_time"] = str(float(row["avg_response_time"]) * factor)
                n += 1
            writer.writerow(row)
    return n


@pytest.mark.e2e
@pytest.mark.slow
def test_nightly_scores_seattle_and_flags_a_degraded_year(
    tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Seattle is scored on its newest published year, with a band from the other years."""
    src = (
        data_dir
        / "seattle"
        / "seattle_spd_calldata_avg_response_by_year_beat_priority_2009_2019.csv"
    )
    lake = tmp_path / "lake"
    rep = run_sync(load_config(), lake, only=SEATTLE, durable=False)
    assert all(r.status == "ok" for r in rep.sources.values())
    argv = ["nightly", "--no-sync", "--lake", str(lake), "--city", "seattle", "-r", "1", "--json"]
    assert main([*argv, "--out", str(tmp_path / "n1")]) == 0
    (night,) = json.loads(capsys.readouterr().out)["cities"]
    assert night["error"] is None, night["error"]
    assert (night["city"], night["agency"]) == ("seattle", "police")
    assert night["fidelity"]["end"].startswith("2019")  # the newest published year
    assert night["band_seed"] >= 5  # the other years' scores seed the band on night one
    assert not night["drift"], (night["score"], night["band"], night["band_how"])

    # the city publishes 2019 means 60 % slower than before: the twin no longer matches
    bad = tmp_path / "spd_avg_response_degraded.csv"
    assert _inflate_year(src, bad, "2019", 1.6) > 200
    cfg = load_config()
    sources = [
        s.model_copy(update={"path": str(bad)}) if s.name == "spd_avg_response" else s
        for s in cfg.sources
    ]
    run_sync(cfg.model_copy(update={"sources": sources}), lake, only=SEATTLE, durable=False)
    assert main([*argv, "--out", str(tmp_path / "n2")]) == 3
    (night2,) = json.loads(capsys.readouterr().out)["cities"]
    assert night2["score"] > night["band"][1]
    assert night2["drift"]
