"""Drill: SIGKILL real ``twin sync`` runs at random moments while readers query the lake.

Two versions of two real samples (Seattle Fire 911, SPD allbeats; version B renames every
third call type) alternate, so every sync rewrites partitions. Each round starts ``twin sync
--json`` in its own process group, SIGKILLs the ``twin`` process at a random moment, then checks
that every source holds exactly version A or version B (row count, distinct ids, a content
hash: nothing lost, nothing duplicated) and that the ledger's accounting adds up. Reader threads
query the lake the whole time (``Lake.query`` per call, and pinned ``Lake.connect``
connections). A final uninterrupted sync must give the reference lake.

    .venv/bin/python bench/lake_drill.py --kills 12                  # any moment of the run
    .venv/bin/python bench/lake_drill.py --kills 12 --write-window   # while it writes

Not part of the test suite (it takes minutes); prints the figures.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

from twin.paths import default_data_dir
from twin.sources import load_config
from twin.store import Lake
from twin.sync import run_sync

SOURCES = {
    "fire": ("seattle/seattle_fire_911_2015-06_2016-02.csv.gz", "seattle_fire_911", "Type"),
    "spd": (
        "seattle/seattle_spd_911_incident_response_2016-03-25_allbeats.csv",
        "spd_911_allbeats",
        "Event Clearance Description",
    ),
}
CONTENT = (
    "SELECT source, count(*) AS n, count(DISTINCT incident_id) AS ids, "
    "sum(hash(incident_id, call_type, received, onscene, cleared, lon, lat)) AS h "
    "FROM incidents GROUP BY source ORDER BY source"
)


def versions(data: Path, out: Path) -> dict[str, dict[str, bytes]]:
    """Return version -> file name -> bytes for A (as published) and B (renamed types)."""
    result: dict[str, dict[str, bytes]] = {"A": {}, "B": {}}
    for name, (rel, _, column) in SOURCES.items():
        raw = (data / rel).read_bytes()
        text = (gzip.decompress(raw) if rel.endswith(".gz") else raw).decode("utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        col = rows[0].index(column)
        for version in ("A", "B"):
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(rows[0])
            for i, r in enumerate(rows[1:]):
                if version == "B" and i % 3 == 0:
                    r = [*r[:col], r[col] + " (B)", *r[col + 1 :]]
                w.writerow(r)
            result[version][f"{name}.csv"] = buf.getvalue().encode()
    return result


def put(folder: Path, files: dict[str, bytes]) -> None:
    for name, blob in files.items():
        tmp = folder / (name + ".tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, folder / name)


def content(lake: Path) -> dict[str, tuple[int, int, int]]:
    rows = Lake(lake).query(CONTENT).to_pylist()
    return {r["source"]: (r["n"], r["ids"], r["h"]) for r in rows}


def descendants(pid: int) -> list[int]:
    """Return the pids of every live descendant of *pid* (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def reap(pids: list[int]) -> None:
    """SIGKILL processes this drill started (by pid)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=12)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--write-window",
        action="store_true",
        help="kill 0-3 s after the first file is staged (the commit window), not at any moment",
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="lake-drill-"))
    data = root / "data"
    data.mkdir()
    cfg = root / "sources.yaml"
    cfg.write_text(
        textwrap.dedent(
            """
            data_dir: data
            cities:
              - {name: seattle, tz: America/Los_Angeles, bbox: [-122.50, 47.45, -122.20, 47.78]}
            sources:
            """
        )
        + "".join(
            f"  - {{name: {n}, adapter: {a}, path: {n}.csv, city: seattle}}\n"
            for n, (_, a, _) in SOURCES.items()
        )
    )
    files = versions(default_data_dir(), root)
    # The lake merges by key (ids an input does not land keep their older version), so the
    # reference of a B sync is "A, then B"; an A sync lands every id B ever landed.
    refs: dict[str, dict[str, tuple[int, int, int]]] = {}
    for version in ("A", "B"):
        put(data, files[version])
        run_sync(load_config(cfg), root / "ref")
        refs[version] = content(root / "ref")
    assert refs["A"] != refs["B"]
    lake = root / "lake"
    put(data, files["A"])
    run_sync(load_config(cfg), lake)

    stop = threading.Event()
    stats = {"queries": 0, "failed": 0}
    errors: list[str] = []

    def reader(pinned: bool) -> None:
        con = Lake(lake).connect() if pinned else None
        n = 0
        while not stop.is_set():
            try:
                if con is not None:
                    cur = con.cursor()
                    cur.execute(CONTENT).fetchall()
                    cur.close()
                    n += 1
                    if n % 40 == 0:
                        con = Lake(lake).connect()
                else:
                    Lake(lake).query(CONTENT)
            except Exception as exc:  # every failure is a finding
                stats["failed"] += 1
                errors.append(f"{type(exc).__name__}: {str(exc)[:200]}")
            stats["queries"] += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=reader, args=(p,), daemon=True) for p in (False, True)]
    for t in threads:
        t.start()

    twin = [sys.executable, "-m", "twin", "sync", "--config", str(cfg), "--lake", str(lake)]

    def start(version: str) -> subprocess.Popen[bytes]:
        put(data, files[version])
        return subprocess.Popen(
            [*twin, "--json"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    t0 = time.monotonic()
    proc = start("B")
    proc.wait()
    full = time.monotonic() - t0
    print(f"one uninterrupted twin sync: {full:.1f} s (exit {proc.returncode})")
    kills = survived = bad = orphans = 0
    version = "A"
    for _ in range(args.kills):
        staging = lake / "_staging"
        before = set(os.listdir(staging)) if staging.exists() else set()  # a killed run's
        proc = start(version)
        began = time.monotonic()
        if args.write_window:  # wait for this writer to stage its first file, then a bit more
            while proc.poll() is None and not (
                staging.exists() and set(os.listdir(staging)) - before
            ):
                time.sleep(0.01)
            time.sleep(rng.uniform(0.0, 3.0))
        else:
            time.sleep(rng.uniform(0.2 * full, 1.1 * full))
        delay = time.monotonic() - began
        children = descendants(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)  # the twin process, as an operator's kill -9
            kills += 1
        proc.wait()
        time.sleep(1.0)
        orphans += sum(1 for c in children if Path(f"/proc/{c}").exists())
        reap(children)  # our own leftovers (its Prefect server), by pid
        got = content(lake)
        ok = all(got.get(s) in (refs["A"][s], refs["B"][s]) for s in refs["A"])
        runs = (
            Lake(lake)
            .query(
                "SELECT count(*) FILTER (WHERE rows_in <> rows_ok + rows_quarantined + "
                "rows_duplicate) AS broken FROM runs"
            )
            .to_pylist()[0]["broken"]
        )
        ok = ok and runs == 0
        survived += ok
        bad += not ok
        held = {
            s: next((v for v in ("A", "B") if got.get(s) == refs[v][s]), "BAD") for s in refs["A"]
        }
        print(
            f"kill at {delay:5.1f} s ({'killed' if proc.returncode == -9 else 'finished'}): "
            + ", ".join(f"{s}={v}" for s, v in held.items())
        )
        version = "A" if held["fire"] == "B" else "B"  # always a change to write
    proc = start(version)
    proc.wait()
    final_ok = content(lake) == refs[version]
    stop.set()
    for t in threads:
        t.join()
    print(
        f"kills: {kills} SIGKILLs, lake consistent after {survived} of {args.kills} rounds "
        f"({bad} with lost/duplicated rows or broken accounting); final sync equals reference: "
        f"{final_ok}"
    )
    print(f"readers: {stats['failed']} failed of {stats['queries']} queries")
    print(f"processes left alive 1 s after a kill (reaped by the drill): {orphans}")
    for e in errors[:5]:
        print("  ", e)
    shutil.rmtree(root, ignore_errors=True)
    return 0 if (bad == 0 and final_ok and stats["failed"] == 0) else 1


if __name__ == "__main__":
    raise SystemExit(main())
