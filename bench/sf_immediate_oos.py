"""San Francisco: does the load-dependent immediate dispatch hold on the week it was not fitted on?

For each of the two day blocks (weeks), calibrate on the other one (``holdout_start/end`` =
the block), replay the block (5 replications pooled) and print, by calls in the previous hour
(5 quantile bins): the received -> dispatched and received -> on scene curves (pooled and
priority 2: pass/fail under the fit report's tolerance, elasticity real vs twin) and priority
2's share of calls dispatched the moment they were received, real vs twin.

    .venv/bin/python bench/sf_immediate_oos.py lake

An analysis, not a pass/fail test: it measures what the in-sample fit report cannot.
"""

from __future__ import annotations

import sys

import pandas as pd

from twin.calibrate.assemble import calibrate
from twin.calibrate.crossval import day_blocks
from twin.calibrate.data import load_city
from twin.calibrate.load import (
    call_lifecycle,
    compare_curves,
    immediate_dispatch,
    load_response_curve,
    twin_lifecycle,
)
from twin.replay import replay
from twin.scenario import parse_scenario


def main(lake: str) -> None:
    """Print the out-of-sample curves and shares of both folds."""
    data = load_city(lake, "sanfrancisco")
    life = call_lifecycle(data.incidents, data.unit_responses, data.tz)
    for t0, t1 in day_blocks(data, 2, None):
        cal = calibrate(lake, "sanfrancisco", holdout_start=t0, holdout_end=t1)
        sc = parse_scenario(cal.scenario, source="out-of-sample check")
        out = replay(sc, lake, t0, t1, seed=1, replications=5, data=data)
        real = life.loc[life["call"].isin(set(out.records["incident_id"].astype(str)))]
        tz0 = pd.Timestamp(out.summary["replay"]["t_zero_utc"]).tz_convert(data.tz)
        how = int(tz0.day_of_week * 24 + tz0.hour)
        twin = twin_lifecycle(out.records, t_zero_hour_of_week=how, replication="all")
        rc = load_response_curve(real, "calls_prev_hour", bins=5)
        tc = load_response_curve(twin, "calls_prev_hour", bins=5)
        print(f"score {t0}..{t1} (fit on the other week)")
        for p in ("all", "2"):
            for m in ("received_dispatched", "received_onscene"):
                c = compare_curves(rc, tc, priority=p, measure=m)
                print(
                    f"  P{p} {m}: {'pass' if c.passed else 'FAIL'} bins {c.share_within:.1f} "
                    f"elasticity real {c.real_elasticity:+.3f} twin {c.twin_elasticity:+.3f}"
                )
        ir, it = immediate_dispatch(real, bins=5), immediate_dispatch(twin, bins=5)
        for name, frame in (("real", ir), ("twin", it)):
            share = frame.loc[frame["priority"] == "2", "immediate_share"]
            print(f"  P2 immediate {name}", [round(float(x), 3) for x in share])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "lake")
