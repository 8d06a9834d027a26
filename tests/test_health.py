"""Source health (ok, degraded, failed; with reasons) and interrupted runs, via the one loop."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from test_sync import A_V1, sync_in_subprocess, tiny_csv, write_config, write_csv

from twin.sources import Health, load_config
from twin.store import Lake
from twin.sync import MARKER, assess_health, quarantine_history, run_sync


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.ingest.registry import ADAPTERS

    monkeypatch.setitem(ADAPTERS, "tiny_csv", tiny_csv)


GOOD = [f"{i},2020-01-0{1 + i % 9}T10:00:00+00:00,aid" for i in range(1, 21)]  # 20 clean rows


@pytest.mark.exact
@pytest.mark.parametrize(
    ("counts", "policy", "history", "expected"),
    [
        ((100, 100, 0), Health(), (), []),
        ((100, 95, 5), Health(), (), []),  # exactly 5%: not above the threshold
        ((100, 94, 6), Health(), (), ["quarantined 6.0% of 100 rows (threshold 5.0%)"]),
        ((100, 80, 20), Health(max_quarantined_share=0.25), (), []),
        ((0, 0, 0), Health(), (), ["landed 0 rows (0 read, 0 quarantined)"]),
        ((0, 0, 0), Health(allow_empty=True), (), []),
        (
            (10, 0, 10),
            Health(),
            (),
            [
                "landed 0 rows (10 read, 10 quarantined)",
                "quarantined 100.0% of 10 rows (threshold 5.0%)",
            ],
        ),
        # jumps: above the median of the recent runs by > 2 points and by > the median itself
        (
            (100, 96, 4),
            Health(),
            (0.0, 0.001, 0.0),
            ["quarantined share jumped to 4.0% from a median of 0.0% over its last 3 runs"],
        ),
        ((100, 98, 2), Health(), (0.0, 0.0, 0.0), []),  # 2 points: not more than 2
        ((100, 96, 4), Health(), (0.0, 0.0), []),  # two earlier runs: too few to judge
        (
            (100, 96, 4),
            Health(min_history=2),
            (0.0, 0.0),
            ["quarantined share jumped to 4.0% from a median of 0.0% over its last 2 runs"],
        ),
        ((100, 96, 4), Health(), (0.03, 0.03, 0.03), []),  # usual for this source
        # +2.5 points, but not doubled
        ((1000, 945, 55), Health(max_quarantined_share=0.5), (0.03, 0.03, 0.03), []),
        ((100, 96, 4), Health(), (0.02, 0.02, 0.02), []),  # +2 points, doubled: not more
        (
            (100, 95, 5),
            Health(),
            (0.02, 0.02, 0.02),
            ["quarantined share jumped to 5.0% from a median of 2.0% over its last 3 runs"],
        ),
        (
            (1000, 950, 50),
            Health(),
            (0.01, 0.01, 0.01),
            ["quarantined share jumped to 5.0% from a median of 1.0% over its last 3 runs"],
        ),
        # only the newest `history` runs count (newest first)
        (
            (100, 96, 4),
            Health(history=3),
            (0.0, 0.0, 0.0, 0.5, 0.5),
            ["quarantined share jumped to 4.0% from a median of 0.0% over its last 3 runs"],
        ),
        ((100, 96, 4), Health(history=5), (0.0, 0.0, 0.5, 0.5, 0.5), []),
    ],
)
def test_health_rules(
    counts: tuple[int, int, int], policy: Health, history: tuple[float, ...], expected: list[str]
) -> None:
    rows_in, rows_ok, rows_quarantined = counts
    assert assess_health(rows_in, rows_ok, rows_quarantined, policy, history) == expected


def ledger(lake: Path) -> list[dict[str, object]]:
    return (
        Lake(lake)
        .query(
            "SELECT run_id, source, status, error, rows_in FROM runs "
            "ORDER BY started, run_id, source"
        )
        .to_pylist()
    )


@pytest.mark.exact
def test_default_threshold_degrades_a_source_and_the_ledger_says_why(
    tmp_path: Path, tiny: None
) -> None:
    write_csv(tmp_path / "data" / "a.csv", GOOD)
    write_csv(tmp_path / "data" / "drop" / "b.csv", A_V1)  # 2 of 6 quarantined
    cfg = write_config(tmp_path)
    report = run_sync(load_config(cfg), tmp_path / "lake")
    beta = report.sources["beta"]
    assert beta.status == "degraded"
    assert beta.reasons == ["quarantined 33.3% of 6 rows (threshold 5.0%)"]
    assert beta.rows_ok == 3  # degraded rows still land
    assert report.sources["alpha"].status == "ok"
    assert report.status == "degraded"
    assert report.problems == ["beta degraded: quarantined 33.3% of 6 rows (threshold 5.0%)"]
    assert report.to_dict()["sources"]["beta"]["reasons"] == beta.reasons
    rows = {r["source"]: r for r in ledger(tmp_path / "lake")}
    assert rows["beta"]["status"] == "degraded"
    assert rows["beta"]["error"] == "quarantined 33.3% of 6 rows (threshold 5.0%)"
    assert (rows["alpha"]["status"], rows["alpha"]["error"]) == ("ok", None)
    count = Lake(tmp_path / "lake").query("SELECT count(*) AS n FROM incidents WHERE source='beta'")
    assert count.column("n")[0].as_py() == 3


@pytest.mark.exact
def test_a_source_that_lands_nothing_is_degraded(tmp_path: Path, tiny: None) -> None:
    write_csv(tmp_path / "data" / "a.csv", [",2020-01-01T10:00:00+00:00,x", "9,never,y"])
    write_csv(tmp_path / "data" / "drop" / "b.csv", GOOD)
    cfg = write_config(tmp_path)  # alpha's threshold is 50%: only the 0 rows count
    report = run_sync(load_config(cfg), tmp_path / "lake", only=["alpha"])
    alpha = report.sources["alpha"]
    assert (alpha.status, alpha.rows_in, alpha.rows_ok) == ("degraded", 2, 0)
    assert alpha.reasons[0] == "landed 0 rows (2 read, 2 quarantined)"


@pytest.mark.exact
def test_a_jump_above_the_recent_runs_degrades_below_the_threshold(
    tmp_path: Path, tiny: None
) -> None:
    # 1 bad row in 21 (4.8%) passes the 5% threshold but jumps from the 0% of earlier runs
    data = tmp_path / "data" / "drop" / "b.csv"
    write_csv(data, GOOD)
    write_csv(tmp_path / "data" / "a.csv", GOOD)
    config = load_config(write_config(tmp_path))
    lake = tmp_path / "lake"
    write_csv(data, [*GOOD, "99,not a time,x"])
    assert run_sync(config, lake, only=["beta"]).sources["beta"].status == "ok"  # no history
    write_csv(data, GOOD)
    for _ in range(3):
        assert run_sync(config, lake, only=["beta"]).sources["beta"].status == "ok"
    assert quarantine_history(Lake(lake), "beta", 5) == [0.0, 0.0, 0.0, pytest.approx(1 / 21)]
    write_csv(data, [*GOOD, "99,not a time,x"])
    result = run_sync(config, lake, only=["beta"]).sources["beta"]
    assert result.status == "degraded"
    assert result.reasons == [
        "quarantined share jumped to 4.8% from a median of 0.0% over its last 4 runs"
    ]
    # the next run compares with a history that now holds the degraded run too
    assert quarantine_history(Lake(lake), "beta", 2) == [pytest.approx(1 / 21), 0.0]


@pytest.mark.exact
def test_failed_sources_keep_their_reason(tmp_path: Path, tiny: None) -> None:
    write_csv(tmp_path / "data" / "a.csv", GOOD)
    write_csv(tmp_path / "data" / "drop" / "b.csv", GOOD)
    cfg = write_config(
        tmp_path, extra="  - {name: gone, adapter: tiny_csv, path: gone.csv, city: testville}\n"
    )
    report = run_sync(load_config(cfg), tmp_path / "lake")
    gone = report.sources["gone"]
    assert gone.status == "failed"
    assert gone.reasons == [gone.error]
    assert "gone.csv does not exist" in (gone.error or "")
    assert report.status == "failed"
    assert report.failed == ["gone"]


@pytest.mark.e2e
def test_a_sync_killed_mid_run_is_recorded_as_interrupted_by_the_next(
    tmp_path: Path, tiny: None
) -> None:
    write_csv(tmp_path / "data" / "a.csv", GOOD)
    write_csv(tmp_path / "data" / "drop" / "b.csv", GOOD)
    cfg = write_config(tmp_path)
    lake = tmp_path / "lake"
    # a real SIGKILL of the syncing process just before its second commit (beta's)
    assert sync_in_subprocess(cfg, lake, "commit:2") == -signal.SIGKILL
    marker = json.loads((lake / MARKER).read_text())
    assert marker["sources"] == ["alpha", "beta"]
    killed = marker["run_id"]
    assert [(r["source"], r["status"]) for r in ledger(lake)] == [("alpha", "ok")]
    report = run_sync(load_config(cfg), lake)
    assert report.interrupted == [{"run_id": killed, "sources": ["beta"]}]
    assert report.to_dict()["interrupted"] == report.interrupted
    assert not (lake / MARKER).exists()
    rows = sorted(
        (r for r in ledger(lake) if r["run_id"] == killed), key=lambda r: str(r["source"])
    )
    assert [(r["source"], r["status"]) for r in rows] == [("alpha", "ok"), ("beta", "interrupted")]
    why = str(rows[1]["error"])
    assert why.startswith(f"sync killed mid-run (pid {marker['pid']} on ")
    assert why.endswith(f"recorded by run {report.run_id}")
    assert report.status == "ok"  # this run itself went fine
    again = run_sync(load_config(cfg), lake)
    assert again.interrupted == []  # recorded once
