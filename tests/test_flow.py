"""The Prefect sync flows and the `twin sync` / `twin serve` commands, on real Prefect runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.testing.utilities import prefect_test_harness
from test_sync import tiny_csv, write_config, write_csv

from flows.sync import (
    build_schedule,
    extract,
    nightly_deployment,
    nightly_sync,
    report_of,
    sync_sources,
)
from twin.cli import main
from twin.errors import ConfigError, DataError
from twin.ingest.base import AdapterContext, AdapterOutput
from twin.sources import load_config
from twin.store import Lake
from twin.sync import ExtractJob


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def tiny_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    from twin.ingest.registry import ADAPTERS

    monkeypatch.setitem(ADAPTERS, "tiny_csv", tiny_csv)
    write_csv(tmp_path / "data" / "a.csv", ["1,2020-01-01T10:00:00+00:00,fire", ",x,y"])
    write_csv(tmp_path / "data" / "drop" / "b1.csv", ["7,2020-02-01T10:00:00+00:00,aid"])
    return write_config(tmp_path), tmp_path / "lake"


@pytest.mark.e2e
def test_nightly_flow_reports_each_source_and_fails_one_alone(
    prefect_api: None, tiny_setup: tuple[Path, Path]
) -> None:
    cfg, lake = tiny_setup
    write_config(
        cfg.parent, extra="  - {name: gone, adapter: tiny_csv, path: gone.csv, city: testville}\n"
    )
    state = nightly_sync(config_path=str(cfg), lake_dir=str(lake), steps=[], return_state=True)
    report = report_of(state)
    assert set(report) == {"run_id", "status", "sources"}  # no nightly step ran
    # the flow run is marked Failed, in the API too, with a message naming the source and why
    assert state.is_failed()
    assert "gone failed:" in (state.message or "")
    assert "gone.csv does not exist" in (state.message or "")
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id)  # type: ignore[arg-type]
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["sync-report"]))
        )
    assert stored.state is not None
    assert stored.state.is_failed()
    assert any(report["run_id"] in (a.description or "") for a in artifacts)
    assert report["status"] == "failed"
    assert report["sources"]["alpha"] == {
        "rows_in": 2,
        "rows_ok": 1,
        "rows_quarantined": 1,
        "rows_duplicate": 0,
        "rows_new": 1,
        "status": "ok",
        "reasons": [],
    }
    assert report["sources"]["beta"]["status"] == "ok"
    assert report["sources"]["gone"]["status"] == "failed"
    assert "gone.csv does not exist" in report["sources"]["gone"]["error"]
    second = sync_sources(
        config_path=str(cfg), lake_dir=str(lake), only=["alpha", "beta"], return_state=True
    )
    assert second.is_completed()
    again = report_of(second)
    assert {n: r["rows_new"] for n, r in again["sources"].items()} == {"alpha": 0, "beta": 0}
    runs = Lake(lake).query("SELECT DISTINCT run_id FROM runs").num_rows
    assert runs == 2
    with pytest.raises(ConfigError, match="unknown nightly step"):
        nightly_sync(config_path=str(cfg), lake_dir=str(lake), steps=["nope"])


def flaky_adapter(counter: Path, failures: int, exc: type[Exception]):  # type: ignore[no-untyped-def]
    def adapter(path: Path, ctx: AdapterContext) -> AdapterOutput:
        calls = int(counter.read_text()) if counter.exists() else 0
        counter.write_text(str(calls + 1))
        if calls < failures:
            raise exc(f"flaky read of {path} (call {calls + 1})")
        return tiny_csv(path, ctx)

    return adapter


@pytest.mark.e2e
def test_extract_task_retries_io_errors_but_not_bad_input(
    prefect_api: None, tiny_setup: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    from twin.ingest.registry import ADAPTERS

    cfg, lake = tiny_setup
    io_calls, bad_calls = cfg.parent / "io_calls", cfg.parent / "bad_calls"
    monkeypatch.setitem(ADAPTERS, "flaky_io", flaky_adapter(io_calls, 2, OSError))
    monkeypatch.setitem(ADAPTERS, "flaky_bad", flaky_adapter(bad_calls, 5, DataError))
    write_config(
        cfg.parent,
        extra=(
            "  - {name: io, adapter: flaky_io, path: a.csv, city: testville,\n"
            "     health: {max_quarantined_share: 0.5}}\n"
            "  - {name: bad, adapter: flaky_bad, path: a.csv, city: testville}\n"
        ),
    )
    report = report_of(
        sync_sources(
            config_path=str(cfg), lake_dir=str(lake), only=["io", "bad"], return_state=True
        )
    )
    assert report["sources"]["io"]["status"] == "ok"
    assert io_calls.read_text() == "3"  # two I/O failures, retried twice
    assert report["sources"]["bad"]["status"] == "failed"
    assert "flaky read" in report["sources"]["bad"]["error"]
    assert bad_calls.read_text() == "1"  # bad input is not retried


@pytest.mark.exact
def test_extract_task_logic_without_a_flow_run(tiny_setup: tuple[Path, Path]) -> None:
    cfg, _ = tiny_setup
    config = load_config(cfg)
    out = extract.fn(ExtractJob(config, config.source("beta"), "run-1"))
    assert (out.rows_in, out.rows_ok) == (1, 1)
    assert out.tables["incidents"].column("incident_id").to_pylist() == ["beta:7"]


@pytest.mark.e2e
def test_cli_sync_prints_progress_and_exits_1_on_a_failed_source(
    prefect_api: None, tiny_setup: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, lake = tiny_setup
    args = ["sync", "--config", str(cfg), "--lake", str(lake)]
    assert main([*args, "--json", "--source", "beta"]) == 0
    assert list(json.loads(capsys.readouterr().out)["sources"]) == ["beta"]
    assert main([*args, "--source", "nope"]) == 2  # unknown source: a config error
    assert "unknown source 'nope'" in capsys.readouterr().err
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "alpha" in out
    assert "beta" in out
    (cfg.parent / "data" / "a.csv").unlink()
    assert main(["sync", "--config", str(cfg), "--lake", str(lake), "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout: only the report
    assert report["sources"]["alpha"]["status"] == "failed"
    (line,) = captured.err.splitlines()  # one line per source that is not ok
    assert line.startswith("error: alpha failed: ")
    assert "a.csv does not exist" in line
    assert report["sources"]["beta"] == {
        "rows_in": 1,
        "rows_ok": 1,
        "rows_quarantined": 0,
        "rows_duplicate": 0,
        "rows_new": 0,
        "status": "ok",
        "reasons": [],
    }


@pytest.mark.exact
def test_nightly_deployment_schedule_defaults_to_2am_in_the_city() -> None:
    deployment = nightly_deployment(lake_dir="some-lake")
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "0 2 * * *"  # type: ignore[union-attr]
    assert schedule.schedule.timezone == "America/Los_Angeles"  # type: ignore[union-attr]
    assert Path(deployment.parameters["lake_dir"]).is_absolute()
    custom = nightly_deployment(cron="30 3 * * 1-5", tz="Asia/Shanghai")
    assert custom.schedules[0].schedule.timezone == "Asia/Shanghai"  # type: ignore[union-attr]
    with pytest.raises(ConfigError, match="--cron"):
        build_schedule("every night", "UTC")
    with pytest.raises(ConfigError, match="--tz"):
        build_schedule("0 2 * * *", "Moon/Base")
    assert main(["serve", "--cron", "61 2 * * *"]) == 2
