"""The nightly deployment end to end: a real Prefect run syncs the SF sample, recalibrates,
replays the newest day, stores the fidelity score in the lake and reports drift."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prefect.testing.utilities import prefect_test_harness

from flows.sync import nightly_sync
from twin.fidelity import fidelity_history
from twin.store import Lake


@pytest.fixture(scope="module")
def prefect_api() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


def sf_only_config(tmp_path: Path, data_dir: Path) -> Path:
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(
        "cities:\n"
        "  - name: sanfrancisco\n"
        "    tz: America/Los_Angeles\n"
        "    bbox: [-122.55, 37.68, -122.34, 37.84]\n"
        "sources:\n"
        "  - name: sffd_calls\n"
        "    adapter: sffd_calls\n"
        f"    path: {data_dir / 'sanfrancisco' / 'sffd_calls_for_service_2020-04-07_20.csv.gz'}\n"
        "    city: sanfrancisco\n"
    )
    return cfg


@pytest.mark.e2e
@pytest.mark.slow
def test_nightly_flow_scores_the_twin_and_stores_the_score(
    prefect_api: None, data_dir: Path, tmp_path: Path
) -> None:
    lake = tmp_path / "lake"
    out = tmp_path / "nightly"
    report = nightly_sync(
        config_path=str(sf_only_config(tmp_path, data_dir)), lake_dir=str(lake), out_dir=str(out)
    )
    assert report["sources"]["sffd_calls"]["status"] == "ok"
    nightly = report["nightly"]
    assert "error" not in nightly, nightly
    assert isinstance(report["drift"], bool)
    assert report["drift"] == nightly["drift"]
    (city,) = nightly["cities"]
    assert city["city"] == "sanfrancisco"
    assert city.get("error") in (None, ""), city
    stored = Lake(lake).query("SELECT count(*) AS n FROM fidelity").to_pylist()[0]["n"]
    assert stored > 0
    # a second night adds a second score to the history the drift band is built from
    again = nightly_sync(
        config_path=str(sf_only_config(tmp_path, data_dir)), lake_dir=str(lake), out_dir=str(out)
    )
    assert again["sources"]["sffd_calls"]["rows_new"] == 0
    stored2 = Lake(lake).query("SELECT count(*) AS n FROM fidelity").to_pylist()[0]["n"]
    assert stored2 > stored
    # the drift band reads only the nightly, out-of-sample scores: one per night here
    history = fidelity_history(lake, "sanfrancisco", city["agency"], nightly_only=True)
    assert len(history) == 2
    assert set(history["run_id"]) == {report["nightly"]["run_id"], again["nightly"]["run_id"]}
