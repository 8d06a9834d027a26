"""Check that a change to the engine keeps the twin's statistics: paired runs against a reference.

A change that reorders how moments are played (e.g. officer-initiated work settled in time order
instead of lazily) changes a run's records bit for bit but must not change what the twin says.
This runs the same scenario with the same seeds under a reference checkout of the repository
and under this one, and gives for each statistic the mean paired difference (this - reference)
with a 95 % confidence interval (t over seeds). With no real difference about 1 in 20 intervals
exclude 0 by chance; many more, or an interval far from 0, means the change moved the twin.

    git worktree add /tmp/ref main
    .venv/bin/python bench/engine_equivalence.py --ref /tmp/ref --seeds 20 --days 30

Statistics: mean response and P(wait) per agency and priority and the utilisation (the
project's KPIs, :func:`twin.model.kpis.area_kpis`), the share of calls answered out of area and
officer-initiated pieces per unit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy import stats

REPO = Path(__file__).resolve().parents[1]
SCENARIO = REPO / "scenarios" / "seattle_baseline.yaml"

_RUN = r"""
import json, sys
from pathlib import Path
from twin.model import Simulation
from twin.model.kpis import AreaMaps, IncidentFilter, area_kpis
from twin.scenario import load_scenario

path, days, first, n = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sc = load_scenario(Path(path))
sc = sc.model_copy(update={"horizon": days * 1440.0})
out = []
for seed in range(first, first + n):
    r = Simulation(sc, seed=seed).run()
    maps = AreaMaps.of_run(r)
    row = {}
    for a, agency in enumerate(r.agencies):
        for level in sorted(set(r.incidents["priority"][r.incidents["agency"] == a].tolist())):
            k = area_kpis(r.incidents, r.units, maps, (5.0,), IncidentFilter(agency, level))
            if k["overall"]["incidents"] >= 30:
                row[f"{agency} P{level} response"] = k["overall"]["response_mean_min"]
                row[f"{agency} P{level} P(wait)"] = k["overall"]["p_wait"]
    done = ~r.incidents["lost"]
    row["out of area"] = float(r.incidents["out_of_area"][done].mean())
    row["utilisation"] = area_kpis(r.incidents, r.units, maps, (5.0,))["overall"]["utilisation"]
    row["officer-initiated per unit"] = float(r.units["self_initiated"].mean())
    out.append(row)
print(json.dumps(out))
"""


def _runs(root: Path, scenario: Path, days: float, first: int, n: int) -> list[dict[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    cmd = [sys.executable, "-c", _RUN, str(scenario), str(days), str(first), str(n)]
    done = subprocess.run(cmd, env=env, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"runs under {root} failed:\n{done.stderr[-2000:]}")
    rows: list[dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])
    return rows


def run(argv: list[str] | None = None) -> list[dict[str, float | str]]:
    """Run the paired comparison; return one row per statistic."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ref", type=Path, required=True, help="checkout of the reference engine")
    ap.add_argument("--scenario", type=Path, default=SCENARIO)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--first-seed", type=int, default=1)
    ap.add_argument("--days", type=float, default=30.0)
    args = ap.parse_args(argv)
    if not (args.ref / "twin" / "model" / "engine.py").is_file():
        raise SystemExit(f"--ref {args.ref}: not a checkout of this repository (no twin/model)")
    scenario = args.scenario.resolve()
    ref = _runs(args.ref.resolve(), scenario, args.days, args.first_seed, args.seeds)
    new = _runs(REPO, scenario, args.days, args.first_seed, args.seeds)
    rows: list[dict[str, float | str]] = []
    for key in ref[0]:
        d = np.array([n[key] - r[key] for n, r in zip(new, ref, strict=True)])
        base = float(np.mean([r[key] for r in ref]))
        half = float(stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d)))
        lo, hi = float(d.mean()) - half, float(d.mean()) + half
        rows.append(
            {"statistic": key, "reference": base, "diff": float(d.mean()), "lo": lo, "hi": hi}
        )
    print(
        f"{args.seeds} seeds from {args.first_seed}, {args.days:g} days of {scenario.name}: "
        "this - reference, mean and 95 % CI"
    )
    for r in rows:
        flag = "" if float(r["lo"]) <= 0.0 <= float(r["hi"]) else "  <- excludes 0"
        print(
            f"  {r['statistic']:<28} ref {float(r['reference']):9.4f}  diff {float(r['diff']):+.4f}"
            f"  [{float(r['lo']):+.4f}, {float(r['hi']):+.4f}]{flag}"
        )
    excl = sum(not (float(r["lo"]) <= 0.0 <= float(r["hi"])) for r in rows)
    print(f"{excl} of {len(rows)} intervals exclude 0")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    run(argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
