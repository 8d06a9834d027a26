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
  (:func:`lever_check`);
* scales one district's fleet at a time (e.g. +-10 %) and reports the change of that
  district's response per class (:func:`district_fleet_lever`), beside what the real
  cross-sectional load-response slope predicts for the same change of load per unit
  (:func:`load_slope`).

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
from twin.calibrate.refine import incident_frame

__all__ = [
    "district_fleet_lever",
    "district_fleet_variant",
    "fleet_variant",
    "gap_slope",
    "lever_check",
    "load_slope",
    "unit_groups",
    "zone_curve_check",
    "zone_means",
]


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


def _area_demand(
    scenario: Mapping[str, Any], agency: str | None
) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], float]]:
    """Return each zone's dispatch area ``(district, sector)`` and each area's call rate."""
    area: dict[str, tuple[str, str]] = {}
    rate: dict[tuple[str, str], float] = defaultdict(float)
    for z in scenario["zones"]:
        a = (str(z.get("district", "")), str(z.get("sector") or ""))
        area[str(z["id"])] = a
        rates = z.get("rates") or {}
        r = rates.get(agency) if agency is not None and agency in rates else None
        if r is None:
            r = z.get("rate_per_hour") or (sum(rates.values()) if rates else 0.0)
        rate[a] += float(r)
    return area, dict(rate)


def _resize(
    ids: list[str],
    m: int,
    by_id: Mapping[str, Mapping[str, Any]],
    area: Mapping[str, tuple[str, str]],
    demand: Mapping[tuple[str, str], float],
) -> tuple[list[str], list[dict[str, Any]]]:
    """Bring one unit group to *m* units: the ids removed and the copies added.

    Units come off the dispatch area (zones' ``sector`` within the district) with the least
    demand per unit left after the removal, its last unit first; a unit is added to the area
    with the most demand per unit, copying that area's first unit (same post, area, shift)
    under the id ``<id>+<k>``. With one area (no sectors) this removes the group's last units
    and copies its first.
    """
    of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for i in ids:
        of[area[str(by_id[i]["post"])]].append(i)
    order = list(of)
    drop: list[str] = []
    while len(ids) - len(drop) > m:
        a = min(
            (a for a in order if of[a]),
            key=lambda a: (
                demand.get(a, 0.0) / (len(of[a]) - 1) if len(of[a]) > 1 else math.inf,
                -order.index(a),
            ),
        )
        drop.append(of[a].pop())
    add: list[dict[str, Any]] = []
    n_now = {a: len(v) for a, v in of.items()}
    first = {a: v[0] for a, v in of.items() if v}
    for k in range(max(0, m - len(ids))):
        a = max(
            (a for a in order if a in first),
            key=lambda a: (demand.get(a, 0.0) / n_now[a], -order.index(a)),
        )
        extra = copy.deepcopy(dict(by_id[first[a]]))
        extra["id"] = f"{first[a]}+{k + 1}"
        add.append(extra)
        n_now[a] += 1
    return drop, add


def fleet_variant(
    scenario: Mapping[str, Any], delta: int, agency: str | None = None
) -> tuple[dict[str, Any], int]:
    """Return a copy of *scenario* with ``delta`` units more (or fewer) in every unit group.

    Units are removed and added as :func:`_resize` says (without sectors: the group's last
    removed, copies of its first added, ids ``<id>+<k>``). Groups keep at least one unit.

    Returns:
        The scenario and its number of units of *agency*.

    """
    sc = copy.deepcopy(dict(scenario))
    groups = unit_groups(sc, agency)
    by_id = {str(u["id"]): u for u in sc["units"]}
    area, demand = _area_demand(sc, agency)
    drop: set[str] = set()
    add: list[dict[str, Any]] = []
    for ids in groups.values():
        gone, extra = _resize(ids, max(1, len(ids) + delta), by_id, area, demand)
        drop.update(gone)
        add.extend(extra)
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
    """Simulate and return per zone x class: ``mean`` response, ``wait``, ``drive``, ``count``."""
    f, _units = incident_frame(
        scenario,
        horizon=float(weeks) * 10080.0,
        seed=seed,
        replications=replications,
        agency=agency,
        source="lever check",
    )
    g = f.groupby(["zone_id", "priority"])
    return pd.DataFrame(
        {
            "mean": g["response"].mean(),
            "wait": g["wait"].mean(),
            "drive": g["drive"].mean(),
            "count": g.size(),
        }
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
    slope_z: float = 1.96,
) -> dict[str, Any]:
    """Compare the twin's zone load-response curve with the real one.

    Three criteria, all needed to pass: every bin's class gap within ``abs_tol`` minutes, the
    same sign of the busiest-minus-quietest change, and the least-squares slope of the gap on
    ln(calls per day) over the same zones (far less noisy than two end bins) inside the real
    slope's interval ``slope -+ slope_z x its standard error`` (the real beats' scatter about
    their line; ``slope_z = 1.96``: a 95 % interval).

    Both curves bin the same zones: those with a mean of both classes in the real table and
    in the twin (a zone with only an urgent-class figure, such as Seattle's harbour beat H3
    with one priority-1 mean of 27 min and no priority 2, would otherwise lower its bin's
    gap by the difference of the class-1 average alone).

    Args:
        volume: ``zone``, ``calls_per_day``.
        real_means: ``zone``, ``klass``, ``mean_min`` (published).
        twin_means: :func:`zone_means` output (``zone_id``, ``priority``, ``mean``).
        bins: Volume bins.
        abs_tol: Tolerance (minutes) of each bin's class gap.
        classes: ``(urgent, lower)`` classes whose gap is compared.
        slope_z: Half-width of the slope's interval in standard errors of the real slope.

    Returns:
        ``real`` and ``twin`` curves (records), ``gap_real``/``gap_twin`` per bin, the
        change of the gap from the quietest to the busiest bin in each, ``within`` per bin,
        ``same_direction`` and ``passed``.

    """
    k1, k2 = classes
    tw = twin_means.rename(columns={"zone_id": "zone", "priority": "klass", "mean": "mean_min"})
    rm = real_means.loc[real_means["klass"].isin(classes)]
    tw = tw.loc[tw["klass"].isin(classes)]
    both = _with_both(rm, classes) & _with_both(tw, classes)
    real = beat_load_response(volume, rm.loc[rm["zone"].isin(both)], bins=bins)
    twin = beat_load_response(volume, tw.loc[tw["zone"].isin(both)], bins=bins)
    col = f"gap_{k2}_{k1}"
    gr = real[col].to_numpy(dtype=float)
    gt = twin[col].to_numpy(dtype=float)
    within = [bool(abs(a - b) <= abs_tol) for a, b in zip(gr, gt, strict=True)]
    dr, dt = float(gr[-1] - gr[0]), float(gt[-1] - gt[0])
    same = bool(np.sign(dr) == np.sign(dt))
    s_real, se_real = gap_slope(volume, rm.loc[rm["zone"].isin(both)], classes)
    s_twin, _ = gap_slope(volume, tw.loc[tw["zone"].isin(both)], classes)
    slope_ok = bool(
        math.isfinite(s_real)
        and math.isfinite(s_twin)
        and abs(s_twin - s_real) <= slope_z * se_real
    )
    return {
        "tolerance": {
            "gap_abs_min": abs_tol,
            "direction": "same sign of busiest - quietest",
            "slope": f"twin gap slope within the real slope -+ {slope_z:g} x its standard error",
        },
        "real": real.to_dict("records"),
        "twin": twin.to_dict("records"),
        "gap_real": gr.tolist(),
        "gap_twin": gt.tolist(),
        "gap_change_real": dr,
        "gap_change_twin": dt,
        "within": within,
        "same_direction": same,
        "slope_real": s_real,
        "slope_real_se": se_real,
        "slope_twin": s_twin,
        "slope_within": slope_ok,
        "passed": bool(all(within) and same and slope_ok),
    }


def gap_slope(
    volume: pd.DataFrame, means: pd.DataFrame, classes: tuple[int, int] = (1, 2)
) -> tuple[float, float]:
    """Least-squares slope of the zones' class gap on ln(calls per day), and its standard error.

    Args:
        volume: ``zone``, ``calls_per_day``.
        means: ``zone``, ``klass``, ``mean_min``.
        classes: ``(urgent, lower)``: the gap is lower minus urgent.

    Returns:
        ``(slope, standard error)`` in minutes per unit of ln(calls per day); NaN with fewer
        than 3 zones.

    """
    k1, k2 = classes
    wide = means.pivot_table(index="zone", columns="klass", values="mean_min", aggfunc="mean")
    if k1 not in wide.columns or k2 not in wide.columns:
        return math.nan, math.nan
    d = volume.merge((wide[k2] - wide[k1]).rename("gap").reset_index(), on="zone")
    d = d.loc[(d["calls_per_day"] > 0) & np.isfinite(d["gap"])]
    if len(d) < 3:
        return math.nan, math.nan
    x = np.log(d["calls_per_day"].to_numpy(dtype=float))
    y = d["gap"].to_numpy(dtype=float)
    xc = x - x.mean()
    sxx = float((xc**2).sum())
    if sxx <= 0:
        return math.nan, math.nan
    b = float((xc * (y - y.mean())).sum() / sxx)
    resid = y - y.mean() - b * xc
    se = math.sqrt(float((resid**2).sum()) / (len(d) - 2) / sxx) if len(d) > 2 else math.nan
    return b, se


def _with_both(means: pd.DataFrame, classes: tuple[int, int]) -> set[str]:
    """Return the zones of *means* (``zone, klass, mean_min``) with a mean of both classes."""
    ok = means.dropna(subset=["mean_min"])
    n = ok.loc[ok["klass"].isin(classes)].groupby("zone")["klass"].nunique()
    return {str(z) for z, k in n.items() if int(k) == len(set(classes))}


def district_fleet_variant(
    scenario: Mapping[str, Any], district: str, factor: float, agency: str | None = None
) -> tuple[dict[str, Any], int, int]:
    """Return a copy of *scenario* with *district*'s units (of *agency*) scaled by *factor*.

    Each of the district's unit groups (shift start) gets ``max(1, round(n x factor))`` units,
    removed or added as :func:`_resize` says (without sectors: the group's last units removed,
    copies of its first added, ``<id>+<k>``).

    Returns:
        ``(scenario, units before, units after)`` of the district.

    """
    sc = copy.deepcopy(dict(scenario))
    groups = {
        k: v for k, v in unit_groups(sc, agency).items() if k.rsplit("/", 1)[0] == str(district)
    }
    by_id = {str(u["id"]): u for u in sc["units"]}
    area, demand = _area_demand(sc, agency)
    drop: set[str] = set()
    add: list[dict[str, Any]] = []
    before = after = 0
    for ids in groups.values():
        n = len(ids)
        m = max(1, round(n * factor))
        before += n
        after += m
        gone, extra = _resize(ids, m, by_id, area, demand)
        drop.update(gone)
        add.extend(extra)
    sc["units"] = [u for u in sc["units"] if str(u["id"]) not in drop] + add
    return sc, before, after


def district_fleet_lever(
    scenario: Mapping[str, Any],
    *,
    agency: str | None = None,
    fraction: float = 0.10,
    weeks: float = 8,
    seed: int = 7,
    classes: Sequence[int] = (1, 2),
) -> pd.DataFrame:
    """Scale each district's fleet by ``1 -+ fraction`` and report that district's response.

    One district at a time (the others unchanged), the same seed for every run (common random
    numbers). Means are over the district's calls (call-weighted zone means).

    Returns:
        One row per (district, change): ``district``, ``factor``, ``units_before``,
        ``units_after``, ``mean_<k>`` / ``wait_<k>`` and ``change_mean_<k>`` /
        ``change_wait_<k>`` vs the unchanged scenario.

    """
    district_of = {str(z["id"]): str(z.get("district", "")) for z in scenario["zones"]}
    base = zone_means(scenario, weeks=weeks, seed=seed, agency=agency)

    def by_district(zm: pd.DataFrame) -> dict[tuple[str, int], tuple[float, float]]:
        zm = zm.assign(district=zm["zone_id"].map(district_of))
        return {
            (str(d), int(str(k))): (_weighted(g, "mean"), _weighted(g, "wait"))
            for (d, k), g in zm.groupby(["district", "priority"])
        }

    b = by_district(base)
    groups = unit_groups(scenario, agency)
    districts = sorted({k.rsplit("/", 1)[0] for k in groups})
    rows: list[dict[str, Any]] = []
    for d in districts:
        for f in (1.0 - fraction, 1.0 + fraction):
            sc, n0, n1 = district_fleet_variant(scenario, d, f, agency)
            v = by_district(zone_means(sc, weeks=weeks, seed=seed, agency=agency))
            row: dict[str, Any] = {
                "district": d,
                "factor": round(f, 4),
                "units_before": n0,
                "units_after": n1,
            }
            for k in classes:
                if (d, k) not in v or (d, k) not in b:
                    continue
                vm, vw = v[(d, k)]
                bm, bw = b[(d, k)]
                row[f"mean_{k}"] = vm
                row[f"wait_{k}"] = vw
                row[f"change_mean_{k}"] = vm - bm
                row[f"change_wait_{k}"] = vw - bw
            rows.append(row)
    return pd.DataFrame(rows)


def load_slope(
    volume: pd.DataFrame, means: pd.DataFrame, *, classes: tuple[int, int] = (1, 2)
) -> dict[str, float]:
    """Least-squares slope of each class's zone mean (and of their gap) on ln(calls per day).

    The real cross-sectional load-response: minutes per unit of ln(volume), so a change of
    load per unit of ``x`` (a fleet ``1 - fraction`` carries ``1 / (1 - fraction)`` the load
    per unit) predicts ``slope x ln(x)`` minutes. Zones are the published ones with a volume.

    Returns:
        ``{"mean_<k>": slope, "gap_<k2>_<k1>": slope, "zones": n}``.

    """
    wide = means.pivot_table(index="zone", columns="klass", values="mean_min", aggfunc="mean")
    d = volume.merge(wide.reset_index(), on="zone", how="inner")
    d = d.loc[d["calls_per_day"] > 0]
    x = np.log(d["calls_per_day"].to_numpy(dtype=float))
    out: dict[str, float] = {"zones": float(len(d))}
    k1, k2 = classes
    series = {f"mean_{k}": d[k] for k in classes if k in d.columns}
    if k1 in d.columns and k2 in d.columns:
        series[f"gap_{k2}_{k1}"] = d[k2] - d[k1]
    for name, y in series.items():
        yy = y.to_numpy(dtype=float)
        ok = np.isfinite(yy)
        out[name] = float(np.polyfit(x[ok], yy[ok], 1)[0]) if ok.sum() >= 3 else math.nan
    return out
