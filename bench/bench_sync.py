"""Sync throughput on >= 1M incident rows, beside a same-run floor (``python -m bench bench_sync``).

Workload: the Seattle Fire 911 sample copied 16 times into a temporary drop folder with fresh
incident ids (16 x 65,486 = 1,047,776 rows, gzip CSV like the original). Each copy is a file of
one ``seattle_fire_911`` source; SPD beats are synced first (untimed) so the adapter joins
every point to a beat, as in production.

- sync: ``twin.sync.run_sync`` of that source into an empty lake (adapter: CSV parse, time zone,
  validation, zone join; lake: merge by key, date partitions, atomic commit with fsync).
- re-sync: the same files again (nothing changes; merge path), reported for information.
- floor: ``pyarrow.csv.read_csv`` + ``pyarrow.parquet.write_table`` of the same files (type
  inference, pyarrow's own gzip reader, default Parquet options: snappy), nothing else. It runs
  with the same Arrow allocator as the sync (``twin.sync.prefer_jemalloc``; the floor's own time
  barely depends on it), so the two differ only in the work they do.

Each measurement runs in its own child process, 3 repetitions each, interleaved; figures are
medians. Rates are input rows per wall-clock second and per CPU-second (``time.process_time``
of the child: user + system time of all its threads).

**Headline: the CPU ratio** ``(sync rows per CPU-second) / (floor rows per CPU-second)``,
target >= 0.50. The machine is shared, so wall-clock rates swing with other load (the wall ratio
is printed too, for a quiet machine they agree within a few per cent); CPU time is what the
sync costs. Peak memory is the child's peak resident set size (``resource.getrusage``
ru_maxrss), which includes the interpreter and imports (~150 MB for the sync child: DuckDB,
shapely, pandas).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

COPIES = 16
REPS = 3
SAMPLE = "seattle/seattle_fire_911_2015-06_2016-02.csv.gz"
REPO = Path(__file__).resolve().parent.parent


def make_drop(data_dir: Path, drop: Path, copies: int = COPIES) -> int:
    """Write *copies* of the Seattle Fire sample with fresh incident ids; return the row count."""
    import pyarrow as pa
    import pyarrow.compute as _pc
    import pyarrow.csv as pcsv

    pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls
    src = data_dir / SAMPLE
    opts = pcsv.ConvertOptions(column_types={}, strings_can_be_null=False)
    table = pcsv.read_csv(src, convert_options=opts)
    table = table.cast(pa.schema([pa.field(n, pa.string()) for n in table.column_names]))
    drop.mkdir(parents=True, exist_ok=True)
    col = table.column_names.index("Incident Number")
    for i in range(copies):
        ids = pc.binary_join_element_wise(f"B{i:02d}", table.column(col), "")
        copy = table.set_column(col, "Incident Number", ids)
        with pa.CompressedOutputStream(str(drop / f"fire_{i:02d}.csv.gz"), "gzip") as out:
            pcsv.write_csv(copy, out)
    return table.num_rows * copies


def _config(root: Path, data_dir: Path, drop: Path) -> Path:
    path = root / "bench_sources.yaml"
    path.write_text(
        f"""
data_dir: {json.dumps(str(data_dir))}
cities:
  - {{name: seattle, tz: America/Los_Angeles, bbox: [-122.50, 47.45, -122.20, 47.78]}}
sources:
  - {{name: spd_beats, adapter: spd_beats, path: seattle/spd_beats_2018_present.geojson,
      city: seattle}}
  - {{name: fire_bench, adapter: seattle_fire_911, path: {json.dumps(str(drop))},
      city: seattle, kind: csv_drop}}
"""
    )
    return path


def child_sync(config: str, lake: str) -> dict[str, object]:
    """Sync the beats (untimed), then time the bench source into *lake*."""
    import pyarrow as pa

    from twin.sources import load_config
    from twin.sync import run_sync

    cfg = load_config(config)
    run_sync(cfg, lake, only=["spd_beats"])
    t0, c0 = time.perf_counter(), time.process_time()
    report = run_sync(cfg, lake, only=["fire_bench"])
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    result = report.sources["fire_bench"]
    if result.status != "ok":
        raise SystemExit(f"bench sync failed: {result.error}")
    t1 = time.perf_counter()
    again = run_sync(cfg, lake, only=["fire_bench"]).sources["fire_bench"]
    resync = time.perf_counter() - t1
    if again.rows_new != 0:
        raise SystemExit(f"bench resync not idempotent: rows_new={again.rows_new}")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rows": result.rows_in,
        "rows_ok": result.rows_ok,
        "rows_new": result.rows_new,
        "resync_seconds": resync,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pool": pa.default_memory_pool().backend_name,
    }


def child_floor(drop: str, out: str, pool: str = "") -> dict[str, object]:
    """Read every CSV of *drop* with pyarrow and write it as Parquet into *out*.

    *pool* names the Arrow allocator to use (``jemalloc``, ``mimalloc``, ``system``; empty:
    pyarrow's default), the one the sync child uses.
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if pool:
        pa.set_memory_pool(getattr(pa, f"{pool}_memory_pool")())
    Path(out).mkdir(parents=True, exist_ok=True)
    t0, c0 = time.perf_counter(), time.process_time()
    rows = 0
    for f in sorted(Path(drop).iterdir()):
        table = pcsv.read_csv(f)
        pq.write_table(table, Path(out) / (f.name + ".parquet"))
        rows += table.num_rows
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "seconds": seconds,
        "cpu": cpu,
        "rows": rows,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "pool": pa.default_memory_pool().backend_name,
    }


def _run_child(kind: str, *args: str) -> dict[str, Any]:
    code = (
        "import json, sys; from bench.bench_sync import child_sync, child_floor; "
        f"print(json.dumps(child_{kind}(*sys.argv[1:])))"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"bench child {kind} failed:\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures (always returns 0: not a pass/fail test)."""
    import argparse

    from twin.paths import default_data_dir
    from twin.sync import prefer_jemalloc

    parser = argparse.ArgumentParser(prog="python -m bench.bench_sync")
    parser.add_argument("--copies", type=int, default=COPIES, help="copies of the sample")
    parser.add_argument("--reps", type=int, default=REPS, help="repetitions of each child")
    args = parser.parse_args(argv or [])
    data_dir = default_data_dir()
    pool = prefer_jemalloc()  # what the sync child will use; the floor child gets the same
    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmp:
        root = Path(tmp)
        drop = root / "drop"
        t0 = time.perf_counter()
        rows = make_drop(data_dir, drop, args.copies)
        print(
            f"workload: {args.copies} copies of {SAMPLE} = {rows:,} rows "
            f"({time.perf_counter() - t0:.1f} s to prepare)",
            flush=True,
        )
        config = _config(root, data_dir, drop)
        syncs: list[dict[str, Any]] = []
        floors: list[dict[str, Any]] = []
        for rep in range(args.reps):
            floors.append(_run_child("floor", str(drop), str(root / f"floor{rep}"), pool))
            syncs.append(_run_child("sync", str(config), str(root / f"lake{rep}")))
            s, f = syncs[-1], floors[-1]
            print(
                f"rep {rep + 1}: sync {s['seconds']:.2f} s wall, {s['cpu']:.2f} s CPU; "
                f"floor {f['seconds']:.2f} s wall, {f['cpu']:.2f} s CPU; "
                f"CPU ratio {f['cpu'] / s['cpu']:.2f}",
                flush=True,
            )
    med = statistics.median
    sync_wall = med(s["rows"] / s["seconds"] for s in syncs)
    floor_wall = med(f["rows"] / f["seconds"] for f in floors)
    sync_cpu = med(s["rows"] / s["cpu"] for s in syncs)
    floor_cpu = med(f["rows"] / f["cpu"] for f in floors)
    ratio_cpu = sync_cpu / floor_cpu
    sync_mb = max(s["peak_rss_mb"] for s in syncs)
    floor_mb = max(f["peak_rss_mb"] for f in floors)
    resync_rate = med(s["rows"] / s["resync_seconds"] for s in syncs)
    print(
        f"rows per sync: {int(syncs[0]['rows']):,} in, {int(syncs[0]['rows_ok']):,} ok, "
        f"{int(syncs[0]['rows_new']):,} new; Arrow allocator: sync "
        f"{syncs[0]['pool']}, floor {floors[0]['pool']}"
    )
    print(f"median of {args.reps} reps        rows/s (wall)   rows/CPU-s   peak RSS")
    print(f"  sync                {sync_wall:>13,.0f} {sync_cpu:>12,.0f} {sync_mb:>7,.0f} MB")
    print(f"  floor               {floor_wall:>13,.0f} {floor_cpu:>12,.0f} {floor_mb:>7,.0f} MB")
    print(
        f"ratio sync/floor (CPU, headline): {ratio_cpu:.2f} (target >= 0.50): "
        f"{'OK' if ratio_cpu >= 0.5 else 'BELOW'}"
    )
    print(f"ratio sync/floor (wall, load-sensitive): {sync_wall / floor_wall:.2f}")
    print(f"idempotent re-sync of the same files (rows_new 0): {resync_rate:,.0f} rows/s (wall)")
    print("peak RSS: ru_maxrss of each child process (resource.getrusage), max over reps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
