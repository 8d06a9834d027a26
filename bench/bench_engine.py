"""Benchmark: the twin engine vs a plain simpy model of the same system (issue 3, part 8).

Both run ``scenarios/bench_grid.yaml`` (30 units, 100 zones, closest unit by Manhattan
distance at 30 km/h, priority queue, return to post with re-dispatch en route) on the same
incident stream (the engine's Poisson demand for the seed, drawn before the baseline's clock
starts; the engine draws its own inside its timed run). The baseline is written the usual way:
a process per incident, a loop over all units to find the closest free one (computing the
position of units on their way back), a list of waiting calls, and a tuple appended per
incident. The engine's timed run includes drawing the arrivals, the mesa steps, building every
per-incident record and writing ``incidents.parquet``.

    .venv/bin/python bench/bench_engine.py                # 1M incidents, medians of 3
    .venv/bin/python bench/bench_engine.py --incidents 100000 --repeats 3

Prints incidents per CPU second for both (``--wall`` for wall-clock), the ratio (target >= 1.3),
and a cross-check of the two models' mean response and wait on the same incidents (they
implement the same rules and make the same decisions).
"""

from __future__ import annotations

import argparse
import heapq
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import simpy

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from twin.model import Simulation  # noqa: E402
from twin.model.demand import ArrivalBlock, PoissonDemand  # noqa: E402
from twin.model.engine import STREAMS  # noqa: E402
from twin.model.outputs import incidents_table  # noqa: E402
from twin.scenario import Scenario, load_scenario  # noqa: E402

SCENARIO = REPO / "scenarios" / "bench_grid.yaml"
CLOCK = time.process_time
"""CPU seconds of this process: both models are single-threaded, and on a shared machine the
wall clock mostly measures the neighbours (``--wall`` switches to ``time.perf_counter``)."""


# ----------------------------------------------------------------------------- baseline
class _Unit:
    def __init__(self, uid: int, x: float, y: float) -> None:
        self.uid = uid
        self.post_x = x
        self.post_y = y
        self.x = x
        self.y = y
        self.busy = False
        self.ret_t0 = 0.0
        self.ret_t1 = 0.0
        self.ret_x0 = x
        self.ret_y0 = y

    def position(self, now: float) -> tuple[float, float]:
        if now >= self.ret_t1:
            return self.post_x, self.post_y
        f = (now - self.ret_t0) / (self.ret_t1 - self.ret_t0)
        return (
            self.ret_x0 + f * (self.post_x - self.ret_x0),
            self.ret_y0 + f * (self.post_y - self.ret_y0),
        )


def baseline(sc: Scenario, arrivals: ArrivalBlock) -> list[tuple[Any, ...]]:
    """Plain simpy: a process per incident, a loop over the units, a list of waiting calls."""
    env = simpy.Environment()
    zx = [z.location[0] for z in sc.zones]
    zy = [z.location[1] for z in sc.zones]
    zidx = {z.id: i for i, z in enumerate(sc.zones)}
    units = [_Unit(i, zx[zidx[u.post]], zy[zidx[u.post]]) for i, u in enumerate(sc.units)]
    min_per_km = 60.0 / sc.travel.speed_kmh
    waiting: list[tuple[int, int, simpy.Event]] = []
    records: list[tuple[Any, ...]] = []

    def incident(seq: int, zone: int, prio: int, svc: float) -> Any:
        received = env.now
        x, y = zx[zone], zy[zone]
        best: _Unit | None = None
        best_t = float("inf")
        for unit in units:
            if not unit.busy:
                px, py = unit.position(env.now)
                t = (abs(px - x) + abs(py - y)) * min_per_km
                if t < best_t:
                    best, best_t = unit, t
        if best is None:
            ev = env.event()
            heapq.heappush(waiting, (prio, seq, ev))
            best = yield ev
            assert best is not None
            best_t = (abs(best.x - x) + abs(best.y - y)) * min_per_km
        best.busy = True
        dispatched = env.now
        yield env.timeout(best_t)
        onscene = env.now
        yield env.timeout(svc)
        cleared = env.now
        records.append((seq, zone, prio, received, dispatched, onscene, cleared, best.uid, best_t))
        best.x, best.y = x, y
        if waiting:
            _, _, ev = heapq.heappop(waiting)
            ev.succeed(best)
        else:
            best.busy = False
            best.ret_t0 = env.now
            best.ret_x0, best.ret_y0 = x, y
            best.ret_t1 = env.now + (abs(best.post_x - x) + abs(best.post_y - y)) * min_per_km

    def source() -> Any:
        times = arrivals.received.tolist()
        zones = arrivals.zone.tolist()
        prios = arrivals.priority.tolist()
        svcs = arrivals.service.tolist()
        for k in range(len(times)):
            yield env.timeout(times[k] - env.now)
            env.process(incident(k, zones[k], prios[k], svcs[k]))

    env.process(source())
    env.run()
    return records


# ----------------------------------------------------------------------------- runs
def _scenario(n_incidents: int) -> Scenario:
    sc = load_scenario(SCENARIO)
    rate = sc.total_rate_per_hour / 60.0
    return sc.model_copy(update={"horizon": n_incidents / rate, "warmup": 0.0})


def _arrivals(sc: Scenario, seed: int) -> ArrivalBlock:
    ss = np.random.SeedSequence(seed, spawn_key=(0,))
    streams = {
        n: np.random.default_rng(c) for n, c in zip(STREAMS, ss.spawn(len(STREAMS)), strict=True)
    }
    blocks = list(PoissonDemand(sc, streams).blocks(sc.warmup + sc.horizon))
    return ArrivalBlock.concat(blocks)


def run_engine(sc: Scenario, seed: int, out: Path) -> tuple[float, int, dict[str, float]]:
    t0 = CLOCK()
    run = Simulation(sc, seed=seed).run()
    import pyarrow.parquet as pq

    pq.write_table(
        incidents_table([run]), out / "incidents.parquet", use_dictionary=["origin", "zone", "unit"]
    )
    dt = CLOCK() - t0
    inc = run.incidents
    n = int(inc["incident"].size)
    return (
        dt,
        n,
        {
            "response": float(np.nanmean(inc["response_min"])),
            "wait": float(np.nanmean(inc["wait_min"])),
        },
    )


def run_baseline(sc: Scenario, arrivals: ArrivalBlock) -> tuple[float, int, dict[str, float]]:
    t0 = CLOCK()
    recs = baseline(sc, arrivals)
    dt = CLOCK() - t0
    a = np.asarray([(r[3], r[4], r[5]) for r in recs])
    return (
        dt,
        len(recs),
        {
            "response": float((a[:, 2] - a[:, 0]).mean()),
            "wait": float((a[:, 1] - a[:, 0]).mean()),
        },
    )


def run(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print incidents/s for engine and baseline and their ratio."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--incidents", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--wall", action="store_true", help="time with the wall clock, not CPU time")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.perf_counter if args.wall else time.process_time
    sc = _scenario(args.incidents)
    arrivals = _arrivals(sc, args.seed)
    eng: list[float] = []
    base: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.repeats):
            dt_b, n_b, stats_b = run_baseline(sc, arrivals)
            base.append(n_b / dt_b)
            dt_e, n_e, stats_e = run_engine(sc, args.seed, Path(tmp))
            eng.append(n_e / dt_e)
    e, b = statistics.median(eng), statistics.median(base)
    result = {
        "incidents": n_e,
        "engine_per_s": e,
        "baseline_per_s": b,
        "ratio": e / b,
        "engine_runs": eng,
        "baseline_runs": base,
        "engine_check": stats_e,
        "baseline_check": stats_b,
    }
    clock = "wall-clock" if args.wall else "CPU"
    print(f"bench_grid: {n_e} incidents (baseline {n_b}), medians of {args.repeats}, {clock} time")
    print(f"  engine   {e:10.0f} incidents/s  (runs: {', '.join(f'{x:.0f}' for x in eng)})")
    print(f"  baseline {b:10.0f} incidents/s  (runs: {', '.join(f'{x:.0f}' for x in base)})")
    print(f"  ratio    {e / b:10.2f}x  (target >= 1.3)")
    print(
        f"  cross-check mean response {stats_e['response']:.3f} vs {stats_b['response']:.3f} min,"
        f" mean wait {stats_e['wait']:.4f} vs {stats_b['wait']:.4f} min"
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m bench``: run and print; the exit status is always 0."""
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
