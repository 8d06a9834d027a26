"""The dashboard's data access on a lake filled by the real sync of a few real samples:
what the pages show must agree with what the sync reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboards.data import LakeReader

pytestmark = [pytest.mark.e2e]

SOURCES = ["spd_beats", "spd_precincts", "spd_911_allbeats", "spd_call_data", "sdot_cameras"]


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> tuple[Path, object]:
    from twin.sources import load_config
    from twin.sync import run_sync

    lake = tmp_path_factory.mktemp("synced") / "lake"
    report = run_sync(load_config(), lake, only=SOURCES, durable=False)
    return lake, report


def test_ledger_and_quarantine_match_the_run_report(synced: tuple[Path, object]) -> None:
    lake, report = synced
    reader = LakeReader(lake)
    sources = report.sources  # type: ignore[attr-defined]
    assert set(sources) == set(SOURCES)
    rollups = reader.rollups()  # what the data-quality page reads
    last = rollups.ledger.set_index("source")
    assert sorted(last.index) == sorted(SOURCES)
    for name, result in sources.items():
        row = last.loc[name]
        assert row["run_id"] == report.run_id  # type: ignore[attr-defined]
        assert row["status"] == result.status
        for col in ("rows_in", "rows_ok", "rows_quarantined", "rows_duplicate", "rows_new"):
            assert row[col] == getattr(result, col), (name, col)
    # every quarantined input row is in the quarantine table the page counts
    counts = rollups.quarantine.groupby("source")["n"].sum().to_dict()
    for name, result in sources.items():
        assert counts.get(name, 0) == result.rows_quarantined, name


def test_rollups_add_up_to_what_the_sync_landed(synced: tuple[Path, object]) -> None:
    lake, report = synced
    reader = LakeReader(lake)
    r = reader.rollups()
    sources = report.sources  # type: ignore[attr-defined]
    landed = sources["spd_911_allbeats"].rows_ok + sources["spd_call_data"].rows_ok
    assert r.cities[0] == "seattle"
    assert int(r.daily["n"].sum()) == landed
    assert int(r.weekly["n"].sum()) == landed
    assert int(r.monthly["n"].sum()) == landed
    assert int(r.hour_of_week["n"].sum()) == landed
    assert int(r.basis["n"].sum()) == landed
    # every zone the incidents name is a beat of the lake
    beats = set(r.zones.loc[r.zones["kind"] == "beat", "zone_id"])
    assert set(r.zone["zone"]) <= beats
    assert int(r.zone["n"].sum()) <= landed
    assert len(beats) == sources["spd_beats"].rows_ok
    # the response basis: SPD Call Data has arrived times for one beat only (C3)
    call_data = r.basis.set_index("source").loc["spd_call_data"]
    assert int(call_data["zones_resp"]) == 1
    assert int(r.ledger["rows_in"].sum()) == sum(s.rows_in for s in sources.values())
    assert (r.devices["kind"] == "camera").sum() == sources["sdot_cameras"].rows_ok
