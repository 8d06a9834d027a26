"""Readers never fail during commits: reader leases, pinned versions, deferred collection.

The reader loop runs real syncs of (a slice of) the real Seattle Fire sample, alternating two
versions of the file so that every sync rewrites every partition, while threads query the lake.
Before leases, a commit deleted the files that a reader's views still named (DuckDB:
``IOException: No files found``).
"""

from __future__ import annotations

import gc
import gzip
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from twin.sources import load_config
from twin.store import Lake
from twin.store.lake import LEASES
from twin.sync import run_sync

ROWS = 3000
MARK = " (drill)"


def fire_versions(data_dir: Path, out: Path) -> tuple[Path, list[bytes], list[bytes]]:
    """Return (config, version A lines, version B lines): B renames every 3rd call type."""
    with gzip.open(data_dir / "seattle/seattle_fire_911_2015-06_2016-02.csv.gz", "rb") as fh:
        lines = fh.read().splitlines(keepends=True)[: ROWS + 1]
    header, rows = lines[0], lines[1:]
    b = [header]
    for i, line in enumerate(rows):
        if i % 3 == 0:
            address, kind, rest = line.split(b",", 2)
            line = b",".join([address, kind + MARK.encode(), rest])
        b.append(line)
    (out / "data").mkdir(parents=True)
    cfg = out / "sources.yaml"
    cfg.write_text(
        textwrap.dedent(
            """
            data_dir: data
            cities:
              - {name: seattle, tz: America/Los_Angeles, bbox: [-122.50, 47.45, -122.20, 47.78]}
            sources:
              - {name: seattle_fire_911, adapter: seattle_fire_911, path: fire.csv, city: seattle}
            """
        )
    )
    return cfg, lines, b


def write(path: Path, lines: list[bytes]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(b"".join(lines))
    os.replace(tmp, path)


@pytest.mark.e2e
def test_readers_never_fail_during_real_syncs(data_dir: Path, tmp_path: Path) -> None:
    cfg, version_a, version_b = fire_versions(data_dir, tmp_path)
    lake_dir = tmp_path / "lake"
    source = tmp_path / "data" / "fire.csv"
    write(source, version_a)
    config = load_config(cfg)
    run_sync(config, lake_dir)
    lake = Lake(lake_dir)
    (n_rows,) = lake.query("SELECT count(*) FROM incidents").to_pylist()[0].values()
    assert n_rows > 0.9 * ROWS
    sql = (
        "SELECT count(*) AS n, count(*) FILTER (WHERE call_type LIKE '%(drill)') AS m "
        "FROM incidents"
    )
    marked = {0}
    failures: list[str] = []
    answers: list[tuple[int, int]] = []
    done = threading.Event()
    counts = [0, 0]

    def short_reader() -> None:  # one Lake.query per call (the CLI, calibration, replay)
        while not done.is_set() or counts[0] < 300:
            try:
                row = Lake(lake_dir).query(sql).to_pylist()[0]
                answers.append((row["n"], row["m"]))
            except Exception as exc:  # every failure is the finding
                failures.append(f"query: {type(exc).__name__}: {exc}")
            counts[0] += 1

    def pinned_reader() -> None:  # a long-lived connection with cursors (the dashboards)
        con = Lake(lake_dir).connect()
        first: tuple[int, int] | None = None
        while not done.is_set() or counts[1] < 300:
            try:
                cur = con.cursor()
                row = cur.execute(sql).fetchall()[0]
                cur.close()
                if first is None:
                    first = row
                elif row != first:
                    failures.append(f"pinned connection changed from {first} to {row}")
            except Exception as exc:
                failures.append(f"pinned: {type(exc).__name__}: {exc}")
            counts[1] += 1
            if counts[1] % 50 == 0:  # reopen now and then: the next version gets pinned
                con = Lake(lake_dir).connect()
                first = None
        con.close()

    threads = [threading.Thread(target=short_reader), threading.Thread(target=pinned_reader)]
    for t in threads:
        t.start()
    syncs = 0
    retired = 0
    try:
        while syncs < 4 or counts[0] + counts[1] < 600:
            write(source, version_b if syncs % 2 == 0 else version_a)
            report = run_sync(config, lake_dir)
            assert report.ok, report.to_dict()
            syncs += 1
            retired += len(lake._manifest().retired)
            marked.add(lake.query(sql).to_pylist()[0]["m"])
            if syncs > 200:
                break
    finally:
        done.set()
        for t in threads:
            t.join()
    assert failures == [], f"{len(failures)} of {sum(counts)} queries failed: {failures[:3]}"
    assert sum(counts) >= 600
    assert syncs >= 4
    assert retired > 0  # commits did supersede files that readers still held
    assert {a for a, _ in answers} == {n_rows}
    assert len(marked) == 2  # version A and version B
    assert {m for _, m in answers} <= marked  # never a half-written sync


def test_a_pinned_connection_outlives_commits_and_its_files_go_afterwards(
    tmp_path: Path,
) -> None:
    from test_lake import incidents, upsert

    lake = Lake(tmp_path / "lake")
    upsert(lake, "incidents", "src", incidents([(1, 1, "a"), (2, 2, "b")]))
    con = lake.connect()
    v1_files = set(lake.files("incidents"))
    upsert(lake, "incidents", "src", incidents([(1, 1, "x"), (2, 2, "y")]))
    v2_files = set(lake.files("incidents"))
    upsert(lake, "incidents", "src", incidents([(1, 1, "p"), (2, 2, "q")]))
    assert all(f.exists() for f in v1_files)  # kept for the pinned reader
    rows = con.execute("SELECT call_type FROM incidents ORDER BY 1").fetchall()
    assert rows == [("a",), ("b",)]
    assert lake.query("SELECT call_type FROM incidents ORDER BY 1").column(0).to_pylist() == [
        "p",
        "q",
    ]
    # Conservative: a lease on version 1 keeps every file retired after it (version 2's too).
    on_disk = set(lake.root.rglob("*.parquet"))
    assert on_disk == v1_files | v2_files | set(lake.files("incidents"))
    assert len(on_disk) == 6
    # A reader whose process died (SIGKILL) holds nothing: the next writer collects.
    code = textwrap.dedent(
        f"""
        import os, signal
        from twin.store import Lake
        con = Lake({str(lake.root)!r}).connect()
        print("pinned", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert "pinned" in proc.stdout
    del con
    gc.collect()  # our own connection is gone too; its lease has a grace period
    leases = list((lake.root / LEASES).iterdir())
    assert len(leases) == 2
    assert sum(".released-" in p.name for p in leases) == 1
    with lake.lock():  # the writer's cleanup: dead reader pruned, released one in its grace
        pass
    assert all(f.exists() for f in v1_files | v2_files)
    assert [p.name for p in (lake.root / LEASES).iterdir()] == [
        p.name for p in leases if ".released-" in p.name
    ]
    # Once the released lease expires (removed here, as its grace period would), the next
    # writer's collection removes every retired file.
    for p in (lake.root / LEASES).iterdir():
        p.unlink()
    with lake.lock():
        pass
    assert set(lake.root.rglob("*.parquet")) == set(lake.files("incidents"))
    assert not any(f.exists() for f in v1_files | v2_files)


def test_retention_window_keeps_retired_files_without_any_reader(tmp_path: Path) -> None:
    from test_lake import incidents, upsert

    kept = Lake(tmp_path / "kept", retain_seconds=3600)
    upsert(kept, "incidents", "src", incidents([(1, 1, "a")]))
    first = set(kept.files("incidents"))
    upsert(kept, "incidents", "src", incidents([(1, 1, "b")]))
    assert all(f.exists() for f in first)
    assert {str(kept.root / f) for f in kept._manifest().retired} == {str(f) for f in first}
    gone = Lake(tmp_path / "gone")  # default: no window, no lease -> removed at the commit
    upsert(gone, "incidents", "src", incidents([(1, 1, "a")]))
    first = set(gone.files("incidents"))
    upsert(gone, "incidents", "src", incidents([(1, 1, "b")]))
    assert not any(f.exists() for f in first)
    assert set(gone.root.rglob("*.parquet")) == set(gone.files("incidents"))
