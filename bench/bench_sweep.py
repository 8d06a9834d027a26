"""Benchmark: sweep throughput on Dask (1 vs 2 workers) and orchestration overhead (issue 10).

Runs the same sweep (``scenarios/example.yaml`` with a longer horizon, 2 variants x R
replications) three ways, each timed as wall-clock around the whole sweep:

* **plain loop**: :func:`twin.experiments.sweep.run_sweep` with the in-process executor (no
  Prefect, no Dask) - the baseline;
* **flow, 1 worker** and **flow, 2 workers**: ``flows.sweep.run_sweep_flow`` on a local Dask
  cluster of 1 or 2 single-thread worker processes, started once before the timed runs (as a
  standing cluster would be), with one Prefect server started once for all runs (start-ups are
  printed, not counted).

Prints replications per second (medians of ``--repeats``), the 2-vs-1 worker speed-up (target
>= 1.8 on a quiet 2-core machine) and the orchestration overhead per replication (flow with one
worker minus the plain loop, divided by replications). These machines are shared: read the
figures beside each other, not as absolutes.

    .venv/bin/python -m bench bench_sweep
    .venv/bin/python bench/bench_sweep.py --replications 16 --horizon 10080 --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run(argv: list[str] | None = None) -> dict[str, float]:
    from flows.sweep import local_prefect_server, run_sweep_flow
    from twin.experiments.sweep import build_variants, run_sweep

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--replications", type=int, default=16)
    ap.add_argument("--horizon", type=float, default=80640.0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)
    scenario = REPO / "scenarios" / "example.yaml"
    variants = build_variants([scenario], vary=["travel.speed_kmh=30,40"], horizon=args.horizon)
    reps = args.replications
    n = len(variants) * reps
    times: dict[str, list[float]] = {"loop": [], "flow1": [], "flow2": []}
    root = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    from distributed import LocalCluster

    try:
        t0 = time.perf_counter()
        with local_prefect_server():
            print(f"  Prefect server up in {time.perf_counter() - t0:.1f} s", flush=True)
            for workers in (1, 2):
                t0 = time.perf_counter()
                with LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                    silence_logs=logging.ERROR,
                ) as cluster:
                    print(f"  {workers}-worker cluster up in {time.perf_counter() - t0:.1f} s")
                    for k in range(args.repeats):
                        for name in ("loop", f"flow{workers}"):
                            if name == "loop" and workers == 2:
                                continue
                            out = root / f"{name}-{k}"
                            t0 = time.perf_counter()
                            if name == "loop":
                                run_sweep(variants, out, replications=reps, seed=k, batch=reps)
                            else:
                                run_sweep_flow(
                                    variants,
                                    out,
                                    address=cluster.scheduler_address,
                                    replications=reps,
                                    seed=k,
                                    batch=max(1, reps // 4),
                                )
                            times[name].append(time.perf_counter() - t0)
                            print(f"  {name} repeat {k}: {times[name][-1]:.2f} s", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: n / v for k, v in med.items()}
    speedup = med["flow1"] / med["flow2"]
    overhead = (med["flow1"] - med["loop"]) / n
    print(f"{n} replications (2 variants x {reps}), horizon {args.horizon:g} min, medians:")
    print(f"  plain loop      {rate['loop']:.2f} replications/s")
    print(f"  flow, 1 worker  {rate['flow1']:.2f} replications/s")
    print(f"  flow, 2 workers {rate['flow2']:.2f} replications/s")
    print(f"  2 vs 1 worker speed-up {speedup:.2f}x (target >= 1.8)")
    print(
        f"  orchestration overhead {overhead * 1000:.0f} ms per replication (flow on a running "
        "1-worker cluster - plain loop)"
    )
    return {"speedup": speedup, "overhead_s": overhead, **rate}


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bench``: run and print; the exit status is always 0."""
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
