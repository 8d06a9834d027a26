"""Benchmark: one replication of a year of the Seattle twin vs a plain simpy dispatch model.

Issue 9 ("a city-year in seconds"): one replication of a year of
``scenarios/seattle_baseline.yaml`` (police and fire, ~190k incidents, patrols on, 96 mesa
steps a day) must take at most 2x the CPU time of a plain simpy dispatch model of the same
number of incidents. The baseline is :func:`bench.bench_engine.baseline` (a process per
incident, a loop over the units for the closest free one, a list of waiting calls) on
``bench_grid`` with its horizon scaled to the Seattle year's incident count, timed in the
same run; its arrivals are drawn before its clock starts.

The twin's timed run is ``Simulation(scenario, seed).run()`` exactly as ``twin simulate`` runs
a replication: building the model, drawing the incidents, the simpy clock, the mesa steps
(patrol, presence, DataCollector snapshots) and building every per-incident record.

    .venv/bin/python bench/bench_city_year.py                 # medians of 3
    .venv/bin/python bench/bench_city_year.py --repeats 1 --days 365

Prints CPU seconds (``--wall`` for wall-clock) of both, and the ratio (target <= 2.0).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.bench_engine import _arrivals, _scenario, baseline  # noqa: E402
from twin.model import Simulation  # noqa: E402
from twin.scenario import Scenario, load_scenario  # noqa: E402

SCENARIO = REPO / "scenarios" / "seattle_baseline.yaml"
TARGET = 2.0
"""The twin's CPU time over the baseline's must not exceed this (issue 9)."""


def city_year(days: float, path: Path = SCENARIO) -> Scenario:
    """Return the Seattle scenario (or *path*) with a horizon of *days* (warm-up as in the file)."""
    sc = load_scenario(path)
    return sc.model_copy(update={"horizon": days * 1440.0})


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; print CPU seconds of the twin and the baseline, and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--days", type=float, default=365.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    ap.add_argument(
        "--scenario",
        type=Path,
        default=SCENARIO,
        help="another city scenario (e.g. an older Seattle baseline, to see what a feature costs)",
    )
    args = ap.parse_args(argv)
    clock = time.perf_counter if args.wall else time.process_time
    sc = city_year(args.days, args.scenario)
    twin_s: list[float] = []
    base_s: list[float] = []
    n_twin = n_base = 0
    for _ in range(args.repeats):
        t0 = clock()
        result = Simulation(sc, seed=args.seed).run()
        twin_s.append(clock() - t0)
        n_twin = int(result.incidents["incident"].size)
        bsc = _scenario(int(n_twin * 1.02) + 100)
        arrivals = _arrivals(bsc, args.seed)
        arrivals = arrivals.take(np.arange(min(n_twin, len(arrivals))))  # the same count
        t0 = clock()
        n_base = len(baseline(bsc, arrivals))
        base_s.append(clock() - t0)
    e, b = statistics.median(twin_s), statistics.median(base_s)
    paired = statistics.median(t / s for t, s in zip(twin_s, base_s, strict=True))
    kind = "wall-clock" if args.wall else "CPU"
    print(
        f"city-year: {sc.name}, {args.days:g} days, 1 replication, {n_twin} incidents "
        f"(baseline {n_base}), medians of {args.repeats}, {kind} seconds"
    )
    print(
        f"  twin     {e:8.2f} s  {n_twin / e:8.0f} incidents/s  (runs: "
        f"{', '.join(f'{x:.2f}' for x in twin_s)})"
    )
    print(
        f"  baseline {b:8.2f} s  {n_base / b:8.0f} incidents/s  (runs: "
        f"{', '.join(f'{x:.2f}' for x in base_s)})"
    )
    print(
        f"  ratio    {e / b:8.2f}x  (target <= {TARGET:g}; median of the runs' paired ratios "
        f"{paired:.2f}x)"
    )
    return {"incidents": n_twin, "twin_s": e, "baseline_s": b, "ratio": e / b, "paired": paired}


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bench``: run and print; the exit status is always 0."""
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
