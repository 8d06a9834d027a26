"""Tier 1: the engine against a plain reference model of the same rules, record by record.

The reference is written the obvious way (a simpy process per incident, a loop over every unit
for the closest free one, the position of a returning unit interpolated on its way back, a
heap of waiting calls). Fed the engine's own incident stream, it must make the same dispatch
decisions at the same times: this pins the engine's optimised hot path (free lists, ordered
scans, one event per call) to the straightforward semantics.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
import pytest
import simpy

from twin.model import Simulation
from twin.model.demand import ArrivalBlock
from twin.scenario import parse_scenario

pytestmark = pytest.mark.exact


def _grid(queue: str, turnout: float) -> Any:
    rng = np.random.default_rng(11)
    zones = [
        {"id": f"z{i}{j}", "location": [i + 0.5, j + 0.5], "rate_per_hour": float(r)}
        for (i, j), r in zip(
            [(i, j) for j in range(4) for i in range(4)], rng.gamma(2.0, 0.2, 16), strict=True
        )
    ]
    posts = ["z00", "z30", "z11", "z22", "z03", "z33"]
    return parse_scenario(
        {
            "name": "ref",
            "warmup": 0,
            "horizon": 8000,
            "zones": zones,
            "units": [{"id": f"u{k}", "post": p} for k, p in enumerate(posts)],
            "priorities": [
                {"level": 1, "share": 0.2, "service": {"dist": "exponential", "mean": 40}},
                {"level": 2, "share": 0.8, "service": {"dist": "exponential", "mean": 25}},
            ],
            "travel": {"model": "manhattan", "speed_kmh": 20, "turnout_min": turnout},
            "queue": {"discipline": queue},
            "patrol": {"policy": "post", "interval_min": 60},
        }
    )


def reference(sc: Any, arr: ArrivalBlock, priority_queue: bool) -> dict[int, tuple[int, float]]:
    env = simpy.Environment()
    loc = [tuple(z.location) for z in sc.zones]
    zid = {z.id: i for i, z in enumerate(sc.zones)}
    mpk = 60.0 / sc.travel.speed_kmh
    turnout = sc.travel.turnout_min
    n = len(sc.units)
    post = [zid[u.post] for u in sc.units]
    busy = [False] * n
    at = list(post)  # zone where an idle unit stands, or the call it cleared
    ret = [None] * n  # (x0, y0, vx, vy, t0, t1) while driving back
    waiting: list[tuple[Any, int, simpy.Event]] = []
    out: dict[int, tuple[int, float]] = {}

    def tt(a: int, b: int) -> float:
        return (abs(loc[a][0] - loc[b][0]) + abs(loc[a][1] - loc[b][1])) * mpk

    def time_to(u: int, z: int, now: float) -> float:
        r = ret[u]
        if r is None or now >= r[5]:
            return tt(post[u] if r is not None else at[u], z)
        el = now - r[4]
        x, y = r[0] + r[2] * el, r[1] + r[3] * el
        return (abs(x - loc[z][0]) + abs(y - loc[z][1])) * mpk

    def incident(inc: int, z: int, prio: int, svc: float) -> Any:
        best, best_t = -1, float("inf")
        for u in range(n):
            if not busy[u]:
                t = time_to(u, z, env.now)
                if t < best_t:
                    best, best_t = u, t
        if best < 0:
            ev = env.event()
            heapq.heappush(waiting, ((prio, inc) if priority_queue else inc, inc, ev))
            best = yield ev
            best_t = tt(at[best], z)
        busy[best] = True
        ret[best] = None
        out[inc] = (best, env.now)
        yield env.timeout(turnout + best_t + svc)
        at[best] = z
        if waiting:
            _, _, ev = heapq.heappop(waiting)
            ev.succeed(best)
            return
        busy[best] = False
        back = tt(z, post[best])
        if back > 0:
            x0, y0 = loc[z]
            px, py = loc[post[best]]
            ret[best] = (x0, y0, (px - x0) / back, (py - y0) / back, env.now, env.now + back)
        at[best] = post[best]

    def source() -> Any:
        for inc, t, z, p, s in zip(
            arr.incident.tolist(),
            arr.received.tolist(),
            arr.zone.tolist(),
            arr.priority.tolist(),
            arr.service.tolist(),
            strict=True,
        ):
            if t > env.now:
                yield env.timeout(t - env.now)
            env.process(incident(inc, z, p, s))

    env.process(source())
    env.run()
    return out


@pytest.mark.parametrize(("queue", "turnout", "seed"), [("fcfs", 0.0, 1), ("priority", 1.5, 2)])
def test_engine_matches_reference_record_by_record(queue: str, turnout: float, seed: int) -> None:
    sc = _grid(queue, turnout)
    sim = Simulation(sc, seed=seed)
    run = sim.run()
    inc = run.incidents
    arr = ArrivalBlock.concat(sim._blocks)
    ref = reference(sc, arr, priority_queue=queue == "priority")
    assert len(ref) == inc["incident"].size > 500
    assert inc["waited"].sum() > 20  # the queue is exercised
    ref_unit = np.array([ref[i][0] for i in inc["incident"].tolist()])
    ref_disp = np.array([ref[i][1] for i in inc["incident"].tolist()])
    np.testing.assert_array_equal(inc["unit"], ref_unit)
    np.testing.assert_allclose(inc["dispatched"], ref_disp, rtol=0, atol=1e-9)
