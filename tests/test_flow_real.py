"""`twin sync --json` on every real embedded sample: the report shape and the row accounting."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from twin.cli import main
from twin.sources import load_config
from twin.store import Lake


def data_files(lake: Path) -> dict[str, str]:
    return {
        str(p.relative_to(lake)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(lake.rglob("*.parquet"))
        if not p.relative_to(lake).parts[0] == "runs"
    }


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.e2e
@pytest.mark.slow
def test_cli_json_on_the_real_data_accounts_for_every_row(
    prefect_api: None, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    assert main(["sync", "--lake", str(lake), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)  # nothing but the JSON on stdout
    assert set(report) == {"run_id", "status", "sources"}
    assert report["status"] == "ok"  # every source healthy (spd_avg_response: 20% threshold)
    expected = {s.name for s in load_config().enabled_sources()}
    assert set(report["sources"]) == expected
    keys = {
        "rows_in",
        "rows_ok",
        "rows_quarantined",
        "rows_duplicate",
        "rows_new",
        "status",
        "reasons",
    }
    for name, r in report["sources"].items():
        assert set(r) == keys, name
        assert (r["status"], r["reasons"]) == ("ok", []), name
        assert r["rows_in"] == r["rows_ok"] + r["rows_quarantined"] + r["rows_duplicate"], name
        assert r["rows_in"] > 0, name
        assert 0 < r["rows_new"] <= r["rows_ok"], name  # input rows, not records
    assert report["sources"]["seattle_fire_911"]["rows_in"] == 65_486
    assert report["sources"]["sffd_calls"]["rows_in"] == 10_410
    counts = (
        Lake(lake)
        .query("SELECT (SELECT count(*) FROM incidents) AS i, (SELECT count(*) FROM zones) AS z")
        .to_pylist()[0]
    )
    assert counts["i"] > 150_000
    assert counts["z"] > 60
    stored = Lake(lake).query("SELECT source, count(*) AS n FROM quarantine GROUP BY source")
    in_quarantine = {r["source"]: r["n"] for r in stored.to_pylist()}
    for name, r in report["sources"].items():  # every rejected row is kept, with its reason
        assert in_quarantine.get(name, 0) == r["rows_quarantined"], name
    before = data_files(lake)
    assert main(["sync", "--lake", str(lake), "--json"]) == 0
    assert data_files(lake) == before  # the same files, byte for byte (only the ledger grew)
    again = json.loads(capsys.readouterr().out)
    assert {n: r["rows_new"] for n, r in again["sources"].items()} == dict.fromkeys(expected, 0)
