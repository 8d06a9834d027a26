"""Sync orchestration: config validation, per-source failure, idempotency, crash safety.

A tiny adapter defined here (a real function returning real Arrow tables) is registered in the
ingest registry for these tests, so the lake and sync logic are tested on inputs whose answers
are known by hand. The full sync of the real embedded data is in ``test_flow.py``.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pytest

from twin.errors import ConfigError
from twin.ingest.base import AdapterContext, AdapterOutput, QuarantineReason
from twin.schemas import INCIDENTS, QUARANTINE, SCHEMAS
from twin.sources import load_config
from twin.store import Lake
from twin.store.lake import CRASH_ENV
from twin.sync import run_sync

HERE = Path(__file__).resolve().parent


def tiny_csv(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """Adapter for ``id,time,type`` CSVs: time ISO 8601 UTC; empty id or bad time quarantined."""
    table = pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            column_types={"id": pa.string(), "time": pa.string(), "type": pa.string()},
            strings_can_be_null=True,
        ),
    )
    rows = table.to_pylist()
    good: list[dict[str, object]] = []
    bad: list[dict[str, object]] = []
    seen: set[tuple[object, ...]] = set()
    dup = 0
    for n, row in enumerate(rows, start=1):
        key = tuple(row.values())
        if key in seen:
            dup += 1
            continue
        seen.add(key)
        reason = None
        if not row["id"]:
            reason = QuarantineReason.MISSING_ID
        else:
            try:
                received = dt.datetime.fromisoformat(str(row["time"]))
            except ValueError:
                reason = QuarantineReason.UNPARSEABLE_TIME
        if reason:
            bad.append(
                {
                    "source": ctx.source,
                    "run_id": ctx.run_id,
                    "file": str(path),
                    "row_number": n,
                    "raw": json.dumps(row),
                    "reason": reason,
                    "detail": None,
                }
            )
            continue
        good.append(
            {
                "incident_id": f"{ctx.source}:{row['id']}",
                "source": ctx.source,
                "source_id": row["id"],
                "city": ctx.city,
                "agency": ctx.options.get("agency", "fire"),
                "call_type": row["type"],
                "event_time": received,
                "received": received,
            }
        )
    incidents = pa.Table.from_pylist(good, schema=INCIDENTS)
    return AdapterOutput(
        tables={"incidents": incidents},
        quarantine=pa.Table.from_pylist(bad, schema=QUARANTINE),
        rows_in=len(rows),
        rows_ok=len(good),
        rows_quarantined=len(bad),
        rows_duplicate=dup,
        watermark=max(r["received"] for r in good).isoformat() if good else None,  # type: ignore[type-var]
    )


def register_tiny() -> None:
    """Put ``tiny_csv`` into the ingest registry (also used by the crash subprocesses)."""
    from twin.ingest.registry import ADAPTERS

    ADAPTERS["tiny_csv"] = tiny_csv


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.ingest.registry import ADAPTERS

    monkeypatch.setitem(ADAPTERS, "tiny_csv", tiny_csv)


def write_csv(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("id,time,type\n" + "".join(r + "\n" for r in rows))
    return path


A_V1 = [
    "1,2020-01-01T10:00:00+00:00,fire",
    "2,2020-01-01T23:30:00+00:00,aid",
    "2,2020-01-01T23:30:00+00:00,aid",  # exact duplicate
    ",2020-01-02T10:00:00+00:00,aid",  # missing id
    "3,yesterday,aid",  # unparseable time
    "4,2020-01-03T01:00:00+00:00,fire",
]
B_V1 = ["10,2020-02-01T10:00:00+00:00,alarm", "11,2020-02-02T10:00:00+00:00,alarm"]


def write_config(root: Path, *, extra: str = "") -> Path:
    cfg = root / "sources.yaml"
    cfg.write_text(
        textwrap.dedent(
            """
            data_dir: data
            cities:
              - {name: testville, tz: UTC, bbox: [-1, -1, 1, 1]}
            sources:
              # alpha quarantines 2 of its 6 rows on purpose: its threshold is 50%
              - {name: alpha, adapter: tiny_csv, path: a.csv, health: {max_quarantined_share: 0.5},
                 city: testville}
              - {name: beta, adapter: tiny_csv, path: drop, city: testville, kind: csv_drop}
            """
        )
        + extra
    )
    return cfg


@pytest.fixture
def setup(tmp_path: Path, tiny: None) -> tuple[Path, Path]:
    write_csv(tmp_path / "data" / "a.csv", A_V1)
    write_csv(tmp_path / "data" / "drop" / "b1.csv", B_V1[:1])
    write_csv(tmp_path / "data" / "drop" / "b2.csv", B_V1[1:])
    return write_config(tmp_path), tmp_path / "lake"


def data_snapshot(root: Path) -> dict[str, bytes]:
    """Every data and quarantine file (not the ledger, manifest or lock) with its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*.parquet"))
        if not str(p.relative_to(root)).startswith("runs/")
    }


def lake_content(root: Path) -> dict[str, list[dict[str, object]]]:
    """All rows of every data table and quarantine (minus run ids), sorted; ledger counts."""
    lake = Lake(root)
    out: dict[str, list[dict[str, object]]] = {}
    for table, schema in SCHEMAS.items():
        if table == "runs":
            continue
        cols = [c for c in schema.names if c != "run_id"]
        sql = f"SELECT {', '.join(cols)} FROM {table} ORDER BY ALL"
        out[table] = lake.query(sql).to_pylist()
    return out


@pytest.mark.exact
def test_sync_accounts_for_every_row_and_is_idempotent(setup: tuple[Path, Path]) -> None:
    cfg, lake_dir = setup
    config = load_config(cfg)
    first = run_sync(config, lake_dir).to_dict()
    assert first["sources"] == {
        "alpha": {
            "rows_in": 6,
            "rows_ok": 3,
            "rows_quarantined": 2,
            "rows_duplicate": 1,
            "rows_new": 3,
            "status": "ok",
            "reasons": [],
        },
        "beta": {
            "rows_in": 2,
            "rows_ok": 2,
            "rows_quarantined": 0,
            "rows_duplicate": 0,
            "rows_new": 2,
            "status": "ok",
            "reasons": [],
        },
    }
    before = data_snapshot(lake_dir)
    second = run_sync(config, lake_dir).to_dict()
    assert second["run_id"] != first["run_id"]
    assert {n: r["rows_new"] for n, r in second["sources"].items()} == {"alpha": 0, "beta": 0}
    assert data_snapshot(lake_dir) == before  # same files, same bytes
    lake = Lake(lake_dir)
    ledger = lake.query(
        "SELECT run_id, source, rows_in, rows_ok, rows_quarantined, rows_duplicate, rows_new, "
        "status FROM runs ORDER BY started, source"
    ).to_pylist()
    assert [(r["source"], r["rows_new"], r["status"]) for r in ledger] == [
        ("alpha", 3, "ok"),
        ("beta", 2, "ok"),
        ("alpha", 0, "ok"),
        ("beta", 0, "ok"),
    ]
    for r in ledger:
        assert r["rows_in"] == r["rows_ok"] + r["rows_quarantined"] + r["rows_duplicate"]
    q = lake.query("SELECT row_number, reason, run_id FROM quarantine ORDER BY row_number")
    assert q.to_pylist() == [
        {"row_number": 4, "reason": "missing_id", "run_id": first["run_id"]},
        {"row_number": 5, "reason": "unparseable_time", "run_id": first["run_id"]},
    ]
    assert lake.last_watermark("alpha") == "2020-01-03T01:00:00+00:00"


@pytest.mark.exact
def test_changed_record_replaces_its_older_version(setup: tuple[Path, Path]) -> None:
    cfg, lake_dir = setup
    config = load_config(cfg)
    run_sync(config, lake_dir)
    # row 1 changes type, row 2 moves to another day, row 3 is fixed (leaves the quarantine)
    write_csv(
        cfg.parent / "data" / "a.csv",
        [
            "1,2020-01-01T10:00:00+00:00,rescue",
            "2,2020-01-05T08:00:00+00:00,aid",
            "3,2020-01-02T12:00:00+00:00,aid",
            "4,2020-01-03T01:00:00+00:00,fire",
        ],
    )
    report = run_sync(config, lake_dir, only=["alpha"]).to_dict()
    assert report["sources"]["alpha"]["rows_new"] == 3
    rows = Lake(lake_dir).query(
        "SELECT source_id, call_type, received FROM incidents WHERE source = 'alpha' ORDER BY 1"
    )
    assert [(r["source_id"], r["call_type"], r["received"].day) for r in rows.to_pylist()] == [
        ("1", "rescue", 1),
        ("2", "aid", 5),
        ("3", "aid", 2),
        ("4", "fire", 3),
    ]
    assert Lake(lake_dir).query("SELECT count(*) FROM quarantine").column(0)[0].as_py() == 0


@pytest.mark.exact
def test_missing_and_corrupt_files_fail_alone(setup: tuple[Path, Path]) -> None:
    cfg, lake_dir = setup
    data = cfg.parent / "data"
    with gzip.open(data / "c.csv.gz", "wt") as fh:
        fh.write("id,time,type\n" + "5,2020-01-01T00:00:00+00:00,x\n" * 2000)
    raw = (data / "c.csv.gz").read_bytes()
    (data / "c.csv.gz").write_bytes(raw[: len(raw) // 2])  # truncated download
    write_config(
        cfg.parent,
        extra=(
            "  - {name: gamma, adapter: tiny_csv, path: missing.csv, city: testville}\n"
            "  - {name: delta, adapter: tiny_csv, path: c.csv.gz, city: testville}\n"
        ),
    )
    report = run_sync(load_config(cfg), lake_dir)
    assert report.failed == ["gamma", "delta"]
    gamma = report.to_dict()["sources"]["gamma"]
    assert gamma["status"] == "failed"
    assert "missing.csv does not exist" in gamma["error"]
    assert "delta" in report.sources["delta"].error  # type: ignore[operator]
    assert report.sources["alpha"].status == report.sources["beta"].status == "ok"
    lake = Lake(lake_dir)
    assert lake.query("SELECT count(*) FROM incidents").column(0)[0].as_py() == 5
    failed = lake.query("SELECT source, error FROM runs WHERE status = 'failed' ORDER BY source")
    assert failed.column("source").to_pylist() == ["delta", "gamma"]


@pytest.mark.exact
@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            ("adapter: tiny_csv, path: a.csv", "adapter: nope, path: a.csv"),
            r"sources\[0\]\.adapter: unknown adapter 'nope'; known: .*tiny_csv",
        ),
        (("kind: csv_drop", "kind: ftp"), r"sources\[1\]\.kind: Input should be"),
        (("city: testville}", "city: gotham}"), r"sources\[0\]\.city: unknown city 'gotham'"),
        (("tz: UTC", "tz: Mars/Olympus"), r"cities\[0\]\.tz: unknown time zone 'Mars/Olympus'"),
        (("bbox: [-1, -1, 1, 1]", "bbox: [1, 1, -1, -1]"), r"cities\[0\]\.bbox: bbox must be"),
        (("data_dir: data", "data_dir: data\ncolour: red"), r"colour: unknown field"),
        (("- {name: alpha", "- {nme: alpha"), r"sources\[0\]\.nme: unknown field"),
        (("cities:", "cities: [oops"), r"not valid YAML"),
    ],
)
def test_malformed_config_names_the_field(
    tmp_path: Path, tiny: None, patch: tuple[str, str], message: str
) -> None:
    cfg = write_config(tmp_path)
    text = cfg.read_text()
    assert patch[0] in text
    cfg.write_text(text.replace(patch[0], patch[1], 1))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(cfg)
    assert str(cfg) in str(info.value)


@pytest.mark.exact
def test_bundled_config_is_valid(data_dir: Path) -> None:
    config = load_config()
    assert [c.name for c in config.cities] == ["seattle", "sanfrancisco", "jiaxing"]
    for source in config.enabled_sources():
        assert config.input_files(source), source.name
    assert config.home_city.tz == "America/Los_Angeles"


@pytest.mark.exact
def test_cli_bad_config_exits_nonzero_and_writes_nothing(tmp_path: Path) -> None:
    from twin.cli import main

    cfg = tmp_path / "bad.yaml"
    cfg.write_text("cities: []\nsources: []\n")
    lake = tmp_path / "lake"
    assert main(["sync", "--config", str(cfg), "--lake", str(lake), "--json"]) == 2
    assert not lake.exists()


# ------------------------------------------------------------------ crash safety
CRASH_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
import test_sync
test_sync.register_tiny()
from twin.sources import load_config
from twin.sync import run_sync
run_sync(load_config({cfg!r}), {lake!r})
"""


def sync_in_subprocess(cfg: Path, lake: Path, crash_at: str | None) -> int:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if crash_at:
        env[CRASH_ENV] = crash_at
    code = CRASH_SCRIPT.format(tests=str(HERE), cfg=str(cfg), lake=str(lake))
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    if crash_at is None:
        assert proc.returncode == 0, proc.stderr
    return proc.returncode


@pytest.mark.e2e
@pytest.mark.slow
def test_sigkill_mid_write_then_resync_gives_the_uninterrupted_lake(
    setup: tuple[Path, Path],
) -> None:
    cfg, _ = setup
    root = cfg.parent
    a_v2 = ["1,2020-01-01T10:00:00+00:00,rescue", "2,2020-01-07T08:00:00+00:00,aid"] + [
        f"{i},2020-01-{1 + i % 9:02d}T0{i % 10}:00:00+00:00,t{i % 3}" for i in range(20, 60)
    ]
    b_v2 = ["10,2020-02-01T10:00:00+00:00,changed", "12,2020-03-01T10:00:00+00:00,new"]

    def v1() -> None:
        write_csv(root / "data" / "a.csv", A_V1)
        write_csv(root / "data" / "drop" / "b1.csv", B_V1[:1])

    def v2() -> None:
        write_csv(root / "data" / "a.csv", a_v2)
        write_csv(root / "data" / "drop" / "b1.csv", b_v2)

    # the reference: v1 then v2 without interruption (in-process)
    v1()
    reference = root / "reference"
    run_sync(load_config(cfg), reference)
    v1_content = lake_content(reference)
    v1_lake = root / "v1-lake"
    shutil.copytree(reference, v1_lake)
    v2()
    run_sync(load_config(cfg), reference)
    expected = lake_content(reference)
    assert expected != v1_content
    expected_files = sorted(data_snapshot(reference))

    points = ["stage:1", "publish:3", "commit:1", "commit:2", "committed:1", "gc:2"]
    for point in points:
        lake = root / f"lake-{point.replace(':', '-')}"
        shutil.copytree(v1_lake, lake)
        assert sync_in_subprocess(cfg, lake, point) == -signal.SIGKILL, point
        # right after the kill the lake is readable and every source is at v1 or v2
        after_kill = lake_content(lake)
        if point in ("stage:1", "publish:3", "commit:1"):
            assert after_kill == v1_content, point  # the first source had not committed
        else:
            assert after_kill["incidents"] != v1_content["incidents"], point
        run_sync(load_config(cfg), lake)
        assert lake_content(lake) == expected, point
        assert sorted(data_snapshot(lake)) == expected_files, point  # no leftovers
        assert not (lake / "_staging").exists()
        runs = Lake(lake).query(
            "SELECT rows_in, rows_ok, rows_quarantined, rows_duplicate FROM runs"
        )
        for r in runs.to_pylist():
            assert r["rows_in"] == r["rows_ok"] + r["rows_quarantined"] + r["rows_duplicate"]


def feed_adapter(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """An incremental 'API' source: rows of ``options['feed']`` newer than the watermark."""
    seen = ctx.options.get("watermark")
    log = Path(ctx.options["log"])
    log.write_text(log.read_text() + f"{seen}\n" if log.exists() else f"{seen}\n")
    out = tiny_csv(Path(ctx.options["feed"]), ctx)
    if seen is not None:
        times = out.tables["incidents"].column("event_time")
        newer = pc.greater(times, pa.scalar(dt.datetime.fromisoformat(seen), times.type))
        kept = out.tables["incidents"].filter(newer)
        skipped = out.tables["incidents"].num_rows - kept.num_rows
        out.tables["incidents"] = kept
        out.rows_in -= skipped
        out.rows_ok -= skipped
    return out


@pytest.mark.exact
def test_api_sources_get_the_last_watermark(
    tmp_path: Path, tiny: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from twin.ingest.registry import ADAPTERS

    monkeypatch.setitem(ADAPTERS, "feed", feed_adapter)
    feed, log = tmp_path / "feed.csv", tmp_path / "calls.log"
    write_csv(feed, ["1,2020-01-01T10:00:00+00:00,a", "2,2020-01-02T10:00:00+00:00,b"])
    cfg = write_config(
        tmp_path,
        extra=(
            f"  - {{name: api, adapter: feed, city: testville, kind: socrata,\n"
            f"      options: {{feed: {json.dumps(str(feed))}, log: {json.dumps(str(log))}}}}}\n"
        ),
    )
    config = load_config(cfg)
    first = run_sync(config, tmp_path / "lake", only=["api"]).sources["api"]
    assert (first.rows_in, first.rows_new) == (2, 2)
    write_csv(
        feed,
        [
            "1,2020-01-01T10:00:00+00:00,a",
            "2,2020-01-02T10:00:00+00:00,b",
            "3,2020-01-03T10:00:00+00:00,c",
        ],
    )
    second = run_sync(config, tmp_path / "lake", only=["api"]).sources["api"]
    assert (second.rows_in, second.rows_new) == (1, 1)
    assert log.read_text().splitlines() == ["None", "2020-01-02T10:00:00+00:00"]
    assert Lake(tmp_path / "lake").last_watermark("api") == "2020-01-03T10:00:00+00:00"


FREMONT_CONFIG = """
data_dir: data
cities:
  - {name: seattle, tz: America/Los_Angeles, bbox: [-122.5, 47.4, -122.2, 47.8]}
sources:
  - {name: fremont_counter, adapter: fremont_counter, path: fremont.csv, city: seattle}
"""


@pytest.mark.exact
def test_rows_new_counts_input_rows_on_the_real_fremont_counter(
    tmp_path: Path, data_dir: Path
) -> None:
    # One input row (an hour) lands as two readings (east, west): rows_new counts the row once.
    src = data_dir / "seattle/fremont_bridge_hourly_2012-10_2019-03.csv.gz"
    (tmp_path / "data").mkdir()
    shutil.copy(src, tmp_path / "data" / "fremont.csv.gz")
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(FREMONT_CONFIG.replace("fremont.csv", "fremont.csv.gz"))
    config = load_config(cfg)
    first = run_sync(config, tmp_path / "lake").sources["fremont_counter"]
    assert first.status == "ok", first.error
    assert first.rows_in == 56_904
    assert 0 < first.rows_new <= first.rows_ok <= first.rows_in
    assert first.rows_new == first.rows_ok  # a new lake: every landed hour is new
    readings = Lake(tmp_path / "lake").query("SELECT count(*) AS n FROM device_readings")
    assert readings.column("n")[0].as_py() == 2 * first.rows_ok  # two records per input row
    again = run_sync(config, tmp_path / "lake").sources["fremont_counter"]
    assert (again.rows_ok, again.rows_new) == (first.rows_ok, 0)


@pytest.mark.exact
def test_rows_new_counts_a_changed_fremont_hour_once(tmp_path: Path) -> None:
    header = "Date,Fremont Bridge East Sidewalk,Fremont Bridge West Sidewalk\n"
    hours = [f"01/0{d}/2019 0{h}:00:00 PM,{d + h},{2 * h}\n" for d in (1, 2) for h in range(1, 6)]
    data = tmp_path / "data" / "fremont.csv"
    data.parent.mkdir()
    data.write_text(header + "".join(hours))
    cfg = tmp_path / "sources.yaml"
    cfg.write_text(FREMONT_CONFIG)
    config = load_config(cfg)
    first = run_sync(config, tmp_path / "lake").sources["fremont_counter"]
    assert (first.rows_in, first.rows_ok, first.rows_new) == (10, 10, 10)
    # both channels of one hour change, one hour is added: two input rows, four readings
    hours[0] = "01/01/2019 01:00:00 PM,99,98\n"
    data.write_text(header + "".join(hours) + "01/03/2019 01:00:00 PM,1,2\n")
    second = run_sync(config, tmp_path / "lake").sources["fremont_counter"]
    assert (second.rows_in, second.rows_ok, second.rows_new) == (11, 11, 2)
    values = Lake(tmp_path / "lake").query(
        "SELECT metric, value FROM device_readings WHERE time = '2019-01-01 21:00:00+00' "
        "ORDER BY metric"
    )
    assert values.to_pylist() == [
        {"metric": "count_east", "value": 99.0},
        {"metric": "count_west", "value": 98.0},
    ]
