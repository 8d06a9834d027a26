"""The lever check: does the twin answer "one unit fewer" the way the data's load curve does.

For a city that publishes only mean response per zone and class (Seattle), the real
load-response evidence is cross-sectional: zones with more calls against their published
means (:func:`twin.calibrate.load.beat_load_response`). This module

* simulates a scenario and returns per zone x class the mean response, the mean wait for a
  free unit and the count (:func:`zone_means`);
* lays the twin's zone curve beside the real one (:func:`zone_curve_check`), with a stated
  tolerance: every volume bin's class gap (lower class minus the urgent class) within
  ``abs_tol`` minutes of the real one, and the gap's change from the quietest to the busiest
  bin of the same sign;
* moves the fleet by whole units per group of units (district x shift start; one unit fewer
  or more in every group) and reports how each class's mean response and wait move
  (:func:`lever_check`).

Nothing here knows a city: units are grouped by their post's district and shift start.
"""

from __future__ import annotations

import copy
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from twin.calibrate.load import beat_load_response

__all__ = ["fleet_variant", "lever_check", "unit_groups", "zone_curve_check", "zone_means"]


def unit_groups(scenario: Mapping[str, Any], agency: str | None = None) -> dict[str, list[str]]:
    """Group an agency's units by ``district of the post / shift start`` (ids in file order)."""
    district = {str(z["id"]): str(z.get("district", "")) for z in scenario["zones"]}
    groups: dict[str, list[str]] = defaultdict(list)
    for u in scenario["units"]:
        if agency is not None and u.get("agency", agency) != agency:
            continue
        shift = (u.get("shift") or {}).get("start", "24h")
        groups[f"{district.get(str(u['post']), '')}/{shift}"].append(str(u["id"]))
    return dict(groups)


def fleet_variant(
    scenario: Mapping[str, Any], delta: int, agency: str | None = None
) -> tuple[dict[str, Any], int]:
    """Return a copy of *scenario* with ``delta`` units more (or fewer) in every unit group.

    A removed unit is the group's last; an added one copies the group's first (same post,
    area, shift) under the id ``<id>+<k>``. Groups keep at least one unit.

    Returns:
        The scenario and its number of units of *agency*.

    """
    sc = copy.deepcopy(dict(scenario))
    groups = unit_groups(sc, agency)
    by_id = {str(u["id"]): u for u in sc["units"]}
    drop: set[str] = set()
    add: list[dict[str, Any]] = []
    for ids in groups.values():
        if delta < 0:
            drop.update(ids[max(1, len(ids) + delta) :])
        for k in range(max(delta, 0)):
            extra = copy.deepcopy(by_id[ids[0]])
            extra["id"] = f"{ids[0]}+{k + 1}"
            add.append(extra)
    sc["units"] = [u for u in sc["units"] if str(u["id"]) not in drop] + add
    n = sum(1 for u in sc["units"] if agency is None or u.get("agency", agency) == agency)
    return sc, n


def zone_means(
    scenario: Mapping[str, Any],
    *,
    weeks: float,
    seed: int = 7,
    replications: int = 1,
    agency: str | None = None,
) -> pd.DataFrame:
    """Simulate and return per zone x class: ``mean`` response, ``wait``, ``count``."""
    from twin.model import Simulation
    from twin.scenario import parse_scenario

    data = dict(scenario)
    data["horizon"] = float(weeks) * 10080.0
    sc = parse_scenario(data, source="lever check")
    frames = []
    for r in range(replications):
        run = Simulation(sc, seed=seed, replication=r, collect=False).run()
        inc = run.incidents
        f = pd.DataFrame(
            {
                "zone_id": np.asarray(run.zone_ids, dtype=object)[inc["zone"]],
                "priority": inc["priority"],
                "response": inc["response_min"],
                "wait": inc["wait_min"],
            }
        )
        if agency is not None and len(run.agencies) > 1:
            f = f.loc[np.asarray(inc["agency"]) == run.agencies.index(agency)]
        frames.append(f)
    f = pd.concat(frames, ignore_index=True).dropna(subset=["response"])
    g = f.groupby(["zone_id", "priority"])
    return pd.DataFrame(
        {"mean": g["response"].mean(), "wait": g["wait"].mean(), "count": g.size()}
    ).reset_index()


def _weighted(frame: pd.DataFrame, col: str) -> float:
    w = frame["count"].to_numpy(dtype=float)
    return float(np.average(frame[col].to_numpy(dtype=float), weights=w)) if w.sum() else math.nan


def lever_check(
    scenario: Mapping[str, Any],
    *,
    agency: str | None = None,
    deltas: Sequence[int] = (-1, 0, 1),
    weeks: float = 8,
    seed: int = 7,
    classes: Sequence[int] = (1, 2),
) -> pd.DataFrame:
    """Move the fleet by ``delta`` units per group and report each class's response.

    The same seed is used for every variant (common random numbers: the same calls).

    Returns:
        One row per delta: ``delta``, ``units``, ``mean_<k>`` and ``wait_<k>`` (minutes,
        call-weighted over zones) per class, and ``change_mean_<k>`` vs ``delta = 0``.

    """
    rows: list[dict[str, Any]] = []
    for d in deltas:
        sc, n = fleet_variant(scenario, d, agency)
        zm = zone_means(sc, weeks=weeks, seed=seed, agency=agency)
        row: dict[str, Any] = {"delta": d, "units": n}
        for k in classes:
            part = zm.loc[zm["priority"] == k]
            row[f"mean_{k}"] = _weighted(part, "mean")
            row[f"wait_{k}"] = _weighted(part, "wait")
        rows.append(row)
    out = pd.DataFrame(rows)
    if 0 in set(deltas):
        base = out.loc[out["delta"] == 0].iloc[0]
        for k in classes:
            out[f"change_mean_{k}"] = out[f"mean_{k}"] - float(base[f"mean_{k}"])
    return out


def zone_curve_check(
    volume: pd.DataFrame,
    real_means: pd.DataFrame,
    twin_means: pd.DataFrame,
    *,
    bins: int = 5,
    abs_tol: float = 2.0,
    classes: tuple[int, int] = (1, 2),
) -> dict[str, Any]:
    """Compare the twin's zone load-response curve with the real one.

    Args:
        volume: ``zone``, ``calls_per_day``.
        real_means: ``zone``, ``klass``, ``mean_min`` (published).
        twin_means: :func:`zone_means` output (``zone_id``, ``priority``, ``mean``).
        bins: Volume bins.
        abs_tol: Tolerance (minutes) of each bin's class gap.
        classes: ``(urgent, lower)`` classes whose gap is compared.

    Returns:
        ``real`` and ``twin`` curves (records), ``gap_real``/``gap_twin`` per bin, the
        change of the gap from the quietest to the busiest bin in each, ``within`` per bin,
        ``same_direction`` and ``passed``.

    """
    k1, k2 = classes
    tw = twin_means.rename(columns={"zone_id": "zone", "priority": "klass", "mean": "mean_min"})
    real = beat_load_response(volume, real_means.loc[real_means["klass"].isin(classes)], bins=bins)
    twin = beat_load_response(volume, tw.loc[tw["klass"].isin(classes)], bins=bins)
    col = f"gap_{k2}_{k1}"
    gr = real[col].to_numpy(dtype=float)
    gt = twin[col].to_numpy(dtype=float)
    within = [bool(abs(a - b) <= abs_tol) for a, b in zip(gr, gt, strict=True)]
    dr, dt = float(gr[-1] - gr[0]), float(gt[-1] - gt[0])
    same = bool(np.sign(dr) == np.sign(dt))
    return {
        "tolerance": {"gap_abs_min": abs_tol, "direction": "same sign of busiest - quietest"},
        "real": real.to_dict("records"),
        "twin": twin.to_dict("records"),
        "gap_real": gr.tolist(),
        "gap_twin": gt.tolist(),
        "gap_change_real": dr,
        "gap_change_twin": dt,
        "within": within,
        "same_direction": same,
        "passed": bool(all(within) and same),
    }
