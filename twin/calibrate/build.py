"""Calibrate a scenario from the lake: demand, service, travel and fleet, plus a fit report.

:func:`calibrate` reads one city from the lake, leaves the held-out days out, fits every part
(:mod:`~twin.calibrate.demand`, :mod:`~twin.calibrate.service`, :mod:`~twin.calibrate.travel`,
:mod:`~twin.calibrate.fleet`) and returns the scenario as YAML text (loadable by
:func:`twin.model.load_scenario`; assumptions as comments *and* in an ``assumptions:`` list,
calibration facts under ``calibration:``) together with the :class:`FitReport`.

Cities and agencies:

* ``sanfrancisco`` (fire/EMS): zones are station areas located at the centroid of their calls,
  districts are battalions, units are the units that responded first to calls (posted at their
  home station area), travel is a zone-to-zone matrix fitted to per-call drive times.
* ``seattle``/``police``: zones are SPD beats (their polygon centroids), districts precincts;
  travel speed and dispatch delay are fitted to the priority-1 mean response per beat, the fleet
  per precinct to the extra delay of priority 2 (both from the ``response_stats`` table).
* ``seattle``/``fire``: zones are beats too (no fire geography is published); service, turnout
  and speed are borrowed from San Francisco's life cycle, the fleet from San Francisco's
  first-unit utilisation. The Scenario vocabulary has no agency field, so police and fire are
  two scenario files.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from twin.calibrate.data import (
    CityData,
    default_holdout,
    load_city,
    local_dates,
    parse_date,
    split_days,
)
from twin.calibrate.demand import DemandFit, fit_demand
from twin.calibrate.fleet import (
    SPD_SHIFT_STARTS_H,
    FleetFit,
    ShiftFleet,
    fleet_for_gap,
    fleet_for_utilisation,
    shift_fleet,
)
from twin.calibrate.refine import beat_means, refine_police, relabel_units
from twin.calibrate.report import FitReport, Parameter, jsonable
from twin.calibrate.service import DistFit, durations_min, fit_by_group, fit_duration
from twin.calibrate.travel import (
    INTRA_PATROL,
    INTRA_POST,
    DriveFit,
    expected_min_distance,
    fit_beat_response,
    fit_drive_time,
    haversine_km,
    travel_matrix,
)
from twin.errors import DataError
from twin.scenario import parse_scenario

__all__ = [
    "AGENCIES",
    "Calibration",
    "calibrate",
    "first_units",
    "response_table",
    "seattle_class",
    "to_yaml",
    "write_calibration",
]

AGENCIES: dict[str, tuple[str, ...]] = {
    "seattle": ("all", "police", "fire"),
    "sanfrancisco": ("fire",),
}
"""Agencies the calibration can model per city (the first is the default; ``all``: one file
with every agency of the city, each with its own fleet, demand and dispatch)."""

SEATTLE_CLASSES: dict[int, str] = {1: "1", 2: "2", 3: "3 & 4", 4: "5+"}
"""Seattle police priority classes: scenario level -> the SPD response table's class label."""


@dataclass
class Calibration:
    """The result of :func:`calibrate`.

    Attributes:
        scenario: The scenario as a plain mapping (validated by ``parse_scenario``).
        yaml_text: The scenario file's text (header comments + YAML).
        report: The fit report.

    """

    scenario: dict[str, Any]
    yaml_text: str
    report: FitReport


def seattle_class(priority: pd.Series) -> pd.Series:
    """Map SPD priorities 1..9 to the response table's classes 1, 2, 3 (3 & 4), 4 (5+)."""
    p = pd.to_numeric(priority, errors="coerce")
    out = pd.Series(np.nan, index=p.index)
    out[p == 1] = 1
    out[p == 2] = 2
    out[(p == 3) | (p == 4)] = 3
    out[p >= 5] = 4
    return out


def response_table(stats: pd.DataFrame, city: str = "seattle") -> pd.DataFrame:
    """Normalise the synced average-response table to ``year, zone_id, klass, mean_min``.

    Accepts the column names the ingest writes (``year``; ``zone``/``zone_id``/``beat``;
    ``priority_class``/``priority``; a mean column named like ``avg``/``mean``). Class labels
    ``1``, ``2``, ``3 & 4``, ``5+`` become 1, 2, 3, 4; beats become zone ids
    ``<city>:beat:<code>`` when they are bare codes.

    Raises:
        DataError: When a needed column is missing.

    """
    cols = {c.lower(): c for c in stats.columns}

    def pick(*names: str, contains: str | None = None) -> str:
        for n in names:
            if n in cols:
                return cols[n]
        if contains:
            for lc, c in cols.items():
                if contains in lc:
                    return c
        raise DataError(
            f"response_stats: no column {names[0]!r} (found {list(stats.columns)}); "
            "re-sync the spd_avg_response source"
        )

    year = pick("year")
    zone = pick("zone", "zone_id", "beat")
    pri = pick("priority_class", "priority")
    try:
        mean = pick("avg_response_min", "mean_response_min", "avg_response_time", contains="avg")
    except DataError:
        mean = pick("mean_min", contains="mean")
    labels = {v: k for k, v in SEATTLE_CLASSES.items()}
    out = pd.DataFrame(
        {
            "year": pd.to_numeric(stats[year], errors="coerce"),
            "zone_id": stats[zone].astype(str),
            "klass": stats[pri].astype(str).str.strip().map(labels),
            "mean_min": pd.to_numeric(stats[mean], errors="coerce"),
        }
    )
    bare = ~out["zone_id"].str.contains(":")
    out.loc[bare, "zone_id"] = f"{city}:beat:" + out.loc[bare, "zone_id"]
    return out.dropna().astype({"year": "int64", "klass": "int64"}).reset_index(drop=True)


def first_units(units: pd.DataFrame) -> pd.DataFrame:
    """Return each call's first dispatched unit (lowest ``sequence``, then earliest dispatch)."""
    if units.empty:
        return units
    u = units.sort_values(["incident_id", "sequence", "dispatched"], na_position="last")
    return u.drop_duplicates("incident_id", keep="first").reset_index(drop=True)


def _date_range(incidents: pd.DataFrame, tz: str) -> dict[str, str | None]:
    if incidents.empty:
        return {"start": None, "end": None}
    d = local_dates(incidents["event_time"], tz)
    return {"start": str(d.min()), "end": str(d.max())}


def _allocate(weights: dict[str, float], n: int) -> dict[str, int]:
    """Largest-remainder allocation of n units over keys by weight."""
    total = sum(weights.values()) or 1.0
    raw = {k: n * w / total for k, w in weights.items()}
    out = {k: math.floor(v) for k, v in raw.items()}
    rest = n - sum(out.values())
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[:rest]:
        out[k] += 1
    return out


def _demand_param(report: FitReport, fit: DemandFit, data: str) -> None:
    diag = fit.diagnostics
    report.add(
        Parameter(
            name="zones[].rate_per_hour, zones[].profile, priorities[].share, zones[].shares",
            value={
                "city_rate_per_hour": diag["smoothed_city_rate_per_hour"],
                "zones": diag["zones"],
                "classes": fit.city_shares,
            },
            data=data,
            n=diag["calls"],
            fit={
                "dispersion (Pearson chi2/dof, zone x hour of week)": diag["dispersion"],
                "observed_days": diag["observed_days"],
                "zones_pooled": diag["zones_pooled"],
                "zones_without_calls": diag["zones_without_calls"],
                "profile_strength (Dirichlet pseudo-counts, estimated)": diag["profile_strength"],
            },
            notes=[
                f"{diag['calls_without_zone']} calls without a zone and "
                f"{diag['calls_in_unknown_zone']} in zones outside the zone list were left out"
            ],
        )
    )
    for _, z in fit.zones.loc[fit.zones["pooled"]].iterrows():
        report.fallback(f"zone {z['zone_id']}: {z['method']} (rate {z['rate_per_hour']:.4f}/h)")
    report.details["demand_zones"] = fit.zones
    # zones[].shares: each zone's calls per class and the smoothed share written
    n_zc = fit.counts.groupby(["zone_id", "klass"], sort=True)["n"].sum(min_count=1)
    report.details["demand_zone_class_shares"] = pd.DataFrame(
        [
            {"zone_id": z, "klass": k, "n": n_zc.get((z, k), np.nan), "share": s}
            for z, mix in fit.shares.items()
            for k, s in mix.items()
        ]
    )
    report.details["demand_counts_zone_how"] = diag["zone_hour_counts"].loc[lambda f: f["n"] > 0]
    report.details["demand_gamma_priors"] = diag["gamma_priors"]
    report.assume(*fit.assumptions)


def _dist_param(report: FitReport, name: str, fit: DistFit) -> None:
    report.add(
        Parameter(
            name=name,
            value=fit.spec,
            data=fit.source,
            n=fit.n,
            fit={
                "chosen": fit.chosen,
                "ks": fit.candidates[fit.chosen]["ks"],
                **{f"ks_{k}": v["ks"] for k, v in fit.candidates.items() if k != fit.chosen},
                "observed_median": fit.summary["median"],
                "observed_p90": fit.summary["p90"],
            },
            notes=fit.notes
            + (
                [f"{fit.n_dropped} durations dropped (null, <= 0, > 24 h)"] if fit.n_dropped else []
            ),
        )
    )
    report.details.setdefault("distributions", {})[name] = fit.to_dict()
    if fit.pooled:
        report.fallback(f"{name}: {'; '.join(fit.notes)}")


def _priorities(
    shares: dict[int, float],
    service: dict[int, DistFit] | None,
    names: dict[int, str] | None,
    *,
    travel_factor: dict[int, float] | None = None,
    dispatch_delay: dict[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    levels = sorted(shares)
    vals = np.array([max(shares[k], 1e-6) for k in levels])
    vals = np.round(vals / vals.sum(), 6)
    vals[-1] = round(1.0 - float(vals[:-1].sum()), 6)
    out = []
    for k, s in zip(levels, vals, strict=True):
        entry: dict[str, Any] = {"level": int(k), "share": float(s)}
        if names and k in names:
            entry["name"] = names[k]
        if service and k in service:
            entry["service"] = service[k].spec
        if travel_factor and int(k) in travel_factor:
            entry["travel_factor"] = float(travel_factor[int(k)])
        if dispatch_delay and int(k) in dispatch_delay:
            entry["dispatch_delay"] = dispatch_delay[int(k)]
        out.append(entry)
    return out


def _round_shares(shares: dict[int, float]) -> dict[int, float]:
    """Round shares to 6 decimals summing to exactly 1 (the last takes the remainder)."""
    levels = sorted(shares)
    vals = np.array([max(float(shares[k]), 0.0) for k in levels])
    vals = np.round(vals / vals.sum(), 6)
    vals[-1] = round(1.0 - float(vals[:-1].sum()), 6)
    return {int(k): float(max(v, 0.0)) for k, v in zip(levels, vals, strict=True)}


def _int_share_keys(scenario: dict[str, Any]) -> dict[str, Any]:
    """Return *scenario* with integer priority levels as keys of ``zones[].shares``.

    JSON turns them into strings; the YAML file reads better (and like ``priorities[].level``)
    with plain integers.
    """
    for z in scenario.get("zones", []):
        sh = z.get("shares")
        if not sh:
            continue
        if all(isinstance(v, dict) for v in sh.values()):
            z["shares"] = {a: {int(k): v for k, v in m.items()} for a, m in sh.items()}
        else:
            z["shares"] = {int(k): v for k, v in sh.items()}
    return scenario


def _zone_entries(
    fit: DemandFit, locations: dict[str, tuple[float, float]], names: dict[str, str]
) -> list[dict[str, Any]]:
    """Return the scenario's zones; ``shares`` where a zone's smoothed class mix differs.

    The zone's class shares (Dirichlet-smoothed toward its district and the city, see
    :func:`twin.calibrate.demand.fit_demand`) are written as ``zones[].shares`` only when
    they differ from the city-wide ``priorities[].share`` after rounding (a zone that uses its
    district's or the fixed city mix repeats nothing).
    """
    city = {p["level"]: p["share"] for p in _priorities(fit.city_shares, None, None)}
    out = []
    for _, z in fit.zones.iterrows():
        zid = str(z["zone_id"])
        lon, lat = locations[zid]
        entry: dict[str, Any] = {
            "id": zid,
            "district": str(z["district"]),
            "location": [round(float(lon), 6), round(float(lat), 6)],
            "rate_per_hour": round(float(z["rate_per_hour"]), 6),
            "profile": [round(v, 4) for v in fit.profiles[zid]],
            "name": names.get(zid, zid),
        }
        own = fit.shares.get(zid)
        if own and len(city) > 1:
            mix = _round_shares(own)
            if any(abs(mix.get(k, 0.0) - v) > 1e-9 for k, v in city.items()):
                entry["shares"] = mix
        out.append(entry)
    return out


# --------------------------------------------------------------------------- San Francisco
def _sf_zones(fit_data: CityData) -> pd.DataFrame:
    """Station-area zones of SF: id, district (battalion), centroid of the calls."""
    inc = fit_data.incidents
    fu = first_units(fit_data.unit_responses)
    zone = inc["zone"].copy()
    district = inc["district"].copy()
    if not fu.empty:
        sa = inc["incident_id"].map(dict(zip(fu["incident_id"], fu["station_area"], strict=False)))
        bt = inc["incident_id"].map(dict(zip(fu["incident_id"], fu["battalion"], strict=False)))
        zone = zone.fillna("sanfrancisco:station:" + sa.astype("string"))
        district = district.fillna(bt)
    frame = pd.DataFrame(
        {"zone": zone, "district": district, "lon": inc["lon"], "lat": inc["lat"]}
    ).dropna(subset=["zone"])
    located = frame.dropna(subset=["lon", "lat"])
    cent = located.groupby("zone")[["lon", "lat"]].median()
    dist = (
        frame.dropna(subset=["district"])
        .groupby("zone")["district"]
        .agg(lambda s: s.value_counts().index[0])
    )
    out = pd.DataFrame(
        {"zone_id": cent.index, "lon": cent["lon"].to_numpy(), "lat": cent["lat"].to_numpy()}
    )
    out["district"] = out["zone_id"].map(dist).fillna("?")
    out["n_located"] = out["zone_id"].map(located.groupby("zone").size()).astype(int)
    return out.sort_values("zone_id").reset_index(drop=True)


def _calibrate_sanfrancisco(
    fit_data: CityData, report: FitReport, name: str, refine_rounds: int = 3
) -> dict[str, Any]:
    inc = fit_data.incidents.copy()
    units = fit_data.unit_responses
    if units.empty:
        raise DataError(
            "sanfrancisco: the lake has no unit_responses; sync the sffd_calls source first"
        )
    zones = _sf_zones(fit_data)
    zone_of_station = {str(z).rsplit(":", 1)[-1]: z for z in zones["zone_id"]}
    inc = (
        inc.merge(zones[["zone_id"]].rename(columns={"zone_id": "zone"}), on="zone", how="left")
        if inc["zone"].notna().any()
        else inc
    )
    # incident zone: lake zone, else the first unit's station area
    fu = first_units(units)
    sa_of = dict(zip(fu["incident_id"], fu["station_area"], strict=False))
    inc["zone"] = inc["zone"].fillna(
        inc["incident_id"].map(sa_of).map(lambda s: zone_of_station.get(str(s)))
    )
    demand = fit_demand(inc, zones[["zone_id", "district"]], fit_data.tz)
    _demand_param(report, demand, "incidents of sanfrancisco (sffd_calls), fit days only")

    # ---- life cycle of the first unit per call
    fu = fu.merge(
        inc[["incident_id", "zone", "priority", "lon", "lat"]], on="incident_id", how="inner"
    )
    fu["klass"] = fu["priority"]
    fu["dispatch_delay"] = durations_min(fu["received"], fu["dispatched"])
    fu["turnout"] = durations_min(fu["dispatched"], fu["enroute"])
    fu["drive"] = durations_min(fu["enroute"], fu["onscene"])
    fu["disp_onscene"] = durations_min(fu["dispatched"], fu["onscene"])
    fu["onscene_avail"] = durations_min(fu["onscene"], fu["available"])
    src = "unit_responses (first unit per call) of sanfrancisco, fit days"
    pooled_svc, by_class = fit_by_group(
        fu, "onscene_avail", "klass", "on scene -> available", source=src
    )
    dd = fit_duration(fu["dispatch_delay"], "received -> dispatched", source=src, max_min=120)
    to = fit_duration(fu["turnout"], "dispatched -> en route (turnout)", source=src, max_min=60)
    _dist_param(report, "service", pooled_svc)
    for k, f in by_class.items():
        _dist_param(report, f"priorities[level={int(k)}].service", f)
    _dist_param(report, "dispatch.delay (received -> dispatched, all classes)", dd)
    top = int(fu["klass"].dropna().min()) if fu["klass"].notna().any() else 1
    emerg = fu["klass"] == top
    if int((emerg & fu["turnout"].notna()).sum()) < 20:
        emerg = fu["klass"].notna() | fu["klass"].isna()
    turnout = float(np.nanmedian(fu.loc[emerg, "turnout"].where(fu["turnout"] >= 0)))
    report.add(
        Parameter(
            name="travel.turnout_min",
            value=round(turnout, 3),
            data=src + f": median dispatched -> en route of priority-{top} (emergency) calls",
            n=int(fu.loc[emerg, "turnout"].notna().sum()),
            fit={
                "mean_all": to.summary["mean"],
                "p90_all": to.summary["p90"],
                "dist_all": to.spec,
                "median_by_priority": {
                    int(k): float(v)  # type: ignore[call-overload]
                    for k, v in fu.groupby("klass")["turnout"].median().dropna().items()
                },
            },
            notes=[
                "the engine's turnout is deterministic and shared by all classes: the "
                "emergency median is used; other classes' difference is in their "
                "travel_factor (fitted on dispatched -> on scene beyond this turnout), its "
                "spread in travel.noise"
            ],
        )
    )
    # ---- units and posts: units that responded first, posted at their modal station area
    fu["zone_of_unit_station"] = fu["station_area"].map(lambda s: zone_of_station.get(str(s)))
    counts = fu.groupby("unit_id").size()
    min_first = 3
    keep = counts[counts >= min_first].index
    posts = (
        fu.loc[fu["unit_id"].isin(keep)]
        .dropna(subset=["zone_of_unit_station"])
        .groupby("unit_id")["zone_of_unit_station"]
        .agg(lambda s: s.value_counts().index[0])
    )
    unit_types = fu.groupby("unit_id")["unit_type"].agg(
        lambda s: s.dropna().value_counts().index[0] if s.notna().any() else "unit"
    )
    report.add(
        Parameter(
            name="units",
            value=len(posts),
            data=src + f": units with >= {min_first} first responses; post = their most "
            "frequent station area",
            n=int(counts.sum()),
            fit={
                "units_seen_first": len(counts),
                "dropped_rare_units": int(len(counts) - len(posts)),
            },
        )
    )
    report.assume(
        "the twin sends one unit per call (the first dispatched unit); later units of "
        "multi-unit calls are not modelled",
        "every unit that responded first at least 3 times in the fit days is on duty 24 h at "
        "its most frequent station area",
        "zone (station area) locations are the median location of its calls, a proxy for the "
        "station: stations' addresses are not in the data",
    )
    # ---- dispatch delay (received -> dispatched) per class
    _, dd_by = fit_by_group(
        fu, "dispatch_delay", "klass", "received -> dispatched", source=src, max_min=120
    )
    for k, f in dd_by.items():
        _dist_param(report, f"priorities[level={int(k)}].dispatch_delay", f)
    report.assume(
        "call taking and dispatch processing (received -> dispatched) is a random delay per "
        "call, fitted per priority class (dispatch.delay holds the pooled fit); queueing for a "
        "free unit comes on top of it in the twin"
    )
    # ---- drive time: distance from the unit's post to the call
    loc: dict[str, tuple[float, float]] = {
        str(z): (float(x), float(y))
        for z, x, y in zip(zones["zone_id"], zones["lon"], zones["lat"], strict=True)
    }
    fu["post"] = fu["unit_id"].map(posts)
    ok = fu["post"].notna() & fu["lon"].notna() & fu["lat"].notna()
    plon = fu.loc[ok, "post"].map(lambda z: loc[z][0]).to_numpy(dtype=float)
    plat = fu.loc[ok, "post"].map(lambda z: loc[z][1]).to_numpy(dtype=float)
    fu.loc[ok, "dist_km"] = haversine_km(
        plon, plat, fu.loc[ok, "lon"].to_numpy(dtype=float), fu.loc[ok, "lat"].to_numpy(dtype=float)
    )
    line_rows = ok & emerg
    if int(line_rows.sum()) < 20:
        line_rows = ok
    drive = fit_drive_time(
        fu.loc[line_rows, "dist_km"].to_numpy(), fu.loc[line_rows, "drive"].to_numpy()
    )
    # diagonal: each zone's median dispatch -> on scene of its emergency calls (whichever unit
    # came first: a busy or out-of-position home unit is part of the zone's reality), less the
    # turnout, so that turnout + diagonal has the zone's observed emergency median
    fu["beyond"] = fu["disp_onscene"] - turnout
    em = fu.loc[emerg & fu["disp_onscene"].notna()]
    med = em.groupby("zone")["beyond"].agg(["median", "size"])
    med["median"] = med["median"].clip(lower=0.0)
    mean_dist = fu.loc[ok].groupby("zone")["dist_km"].median()
    diagonal: dict[str, float] = {}
    n_model = 0
    for z in zones["zone_id"]:
        if z in med.index and med.loc[z, "size"] >= 10:
            diagonal[z] = float(med.loc[z, "median"])
        else:
            d_km = float(mean_dist.get(z, 1.0)) if z in mean_dist.index else 1.0
            diagonal[z] = float(drive.minutes(d_km))
            n_model += 1
    if n_model:
        report.fallback(
            f"travel.matrix diagonal: {n_model} zones with < 10 timed emergency calls use the "
            "fitted drive line at the zone's median call distance"
        )
    matrix = travel_matrix(loc, drive, diagonal)
    chk = fu.loc[ok & fu["zone"].isin(loc) & fu["disp_onscene"].notna()].copy()
    chk["base"] = [matrix[p][z] for p, z in zip(chk["post"], chk["zone"], strict=True)]
    report.add(
        Parameter(
            name="travel (matrix: t0 + distance x circuity / speed; diagonal per zone)",
            value={
                "speed_kmh": drive.speed_kmh,
                "circuity": drive.circuity,
                "t0_min": drive.t0_min,
            },
            data=src + f": en route -> on scene of priority-{top} (emergency) calls vs "
            "distance from the unit's post to the call; diagonal: the zone's median emergency "
            "dispatched -> on scene less turnout",
            n=drive.n,
            fit={"r2_binned": drive.r2, "rmse_min": drive.rmse_min},
            notes=drive.notes,
        )
    )
    report.details["drive_bins"] = drive.bins
    # ---- per-class travel factor: median of (dispatched -> on scene - turnout) / matrix
    chk = chk.loc[chk["base"] > 0.05]
    chk["ratio"] = chk["beyond"] / chk["base"]
    factors: dict[int, float] = {}
    factor_n: dict[int, int] = {}
    for k, g in chk.dropna(subset=["klass"]).groupby("klass"):
        r = g["ratio"].to_numpy(dtype=float)
        r = r[np.isfinite(r)]
        if len(r) >= 30:
            factors[int(str(k).split(".")[0])] = round(float(np.median(r)), 4)
            factor_n[int(str(k).split(".")[0])] = len(r)
    if top in factors and factors[top] > 0:
        base_f = factors[top]
        factors = {k: round(v / base_f, 4) for k, v in factors.items()}
    report.add(
        Parameter(
            name="priorities[].travel_factor",
            value=dict(factors),
            data=src + ": per call, (dispatched -> on scene - turnout) / matrix[post][zone]; "
            f"median per class, relative to priority {top}",
            n=int(sum(factor_n.values())),
            fit={
                "calls_per_class": factor_n,
                "median_dispatch_onscene_by_class": {
                    int(k): float(v)  # type: ignore[call-overload]
                    for k, v in chk.groupby("klass")["disp_onscene"].median().items()
                },
            },
            notes=[
                "non-emergency calls are driven without lights and sirens (and often by a "
                "unit that is not at its station): their drive beyond turnout is this many "
                "times the emergency one to the same place"
            ],
        )
    )
    report.assume(
        "each priority class drives at its own pace: priorities[].travel_factor multiplies the "
        "emergency travel matrix (fitted per class on dispatched -> on scene beyond turnout)"
    )
    # ---- per-trip noise: spread of each call around its class x (post, zone) prediction
    chk["fk"] = chk["klass"].map(lambda k: factors.get(int(k), 1.0) if pd.notna(k) else 1.0)
    chk["resid"] = chk["ratio"] / chk["fk"]
    noise = fit_duration(
        chk["resid"],
        "per-trip drive multiplier (observed / class x matrix prediction)",
        source=src,
        max_min=50.0,
    )
    pair = chk.groupby(["post", "zone"])["beyond"]
    pair_stats = pd.DataFrame({"mean": pair.mean(), "sd": pair.std(), "n": pair.size()})
    pair_stats = pair_stats.loc[(pair_stats["n"] >= 5) & (pair_stats["mean"] > 0)]
    pair_cv = (
        float(np.average(pair_stats["sd"] / pair_stats["mean"], weights=pair_stats["n"]))
        if len(pair_stats)
        else None
    )
    noise_spec = noise.spec
    _dist_param(report, "travel.noise", noise)
    report.details["travel_noise"] = {
        "fit": noise.to_dict(),
        "within_station_pair_cv": pair_cv,
        "station_pairs_with_5_calls": len(pair_stats),
        "calls_in_those_pairs": int(pair_stats["n"].sum()) if len(pair_stats) else 0,
    }
    report.assume(
        "each trip's drive time is the class's matrix time x a random multiplier "
        f"(travel.noise, {noise.chosen}, CV "
        f"{noise.candidates[noise.chosen]['sd'] / noise.candidates[noise.chosen]['mean']:.2f}"
        "), fitted to every call's observed / predicted drive beyond turnout; it carries the "
        "spread within a station pair (CV "
        f"{(pair_cv if pair_cv is not None else float('nan')):.2f} in pairs with >= 5 calls) "
        "and the error of the matrix itself"
    )
    # in-sample check with the noise: turnout + factor x matrix x noise vs observed
    rng = np.random.default_rng(11)
    cand = noise.candidates[noise.chosen]["params"]
    if noise.chosen == "lognormal":
        draws = rng.lognormal(cand["mu"], cand["sigma"], len(chk))
    elif noise.chosen == "gamma":
        draws = rng.gamma(cand["shape"], cand["scale"], len(chk))
    else:
        draws = rng.exponential(cand["scale"], len(chk))
    pred = turnout + chk["fk"].to_numpy() * chk["base"].to_numpy() * draws
    obs = chk["disp_onscene"].to_numpy(dtype=float)
    report.details["sf_in_sample_dispatch_onscene"] = {
        "pred_median": float(np.median(pred)) if len(pred) else None,
        "obs_median": float(np.median(obs)) if len(obs) else None,
        "pred_p90": float(np.quantile(pred, 0.9)) if len(pred) else None,
        "obs_p90": float(np.quantile(obs, 0.9)) if len(obs) else None,
        "note": "first unit at its post; no queueing or busy units (the replay adds those)",
    }
    shares = demand.city_shares
    scenario: dict[str, Any] = {
        "name": name,
        "description": "San Francisco Fire Department (fire/EMS), calibrated from the lake",
        "time_unit": "min",
        "warmup": 1440,
        "horizon": 10080,
        "crs": "wgs84",
        "zones": _zone_entries(demand, loc, {}),
        "units": [
            {"id": str(u), "post": str(p), "kind": str(unit_types.get(u, "unit")).lower()}
            for u, p in sorted(posts.items())
        ],
        "priorities": _priorities(
            shares,
            by_class,
            None,
            travel_factor=factors,
            dispatch_delay={int(k): f.spec for k, f in dd_by.items()},
        ),
        "service": pooled_svc.spec,
        "travel": {
            "model": "matrix",
            "turnout_min": round(turnout, 3),
            "noise": noise_spec,
            "matrix": matrix,
        },
        "dispatch": {"policy": "closest", "delay": dd.spec},
        "queue": {"discipline": "priority", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "patrol": {"interval_min": 60, "policy": "post"},
    }
    report.details["sf_utilisation"] = _unit_utilisation(units)
    if refine_rounds > 0:
        scales = (0.55, 0.65, 0.75, 0.85, 1.0) if refine_rounds >= 3 else (0.75,)
        _refine_sf_factors(scenario, fit_data, report, factors, top, turnout, noise_scales=scales)
    else:
        report.fallback(
            "travel factors and noise not refined by replay (refine_rounds=0): the first fit, "
            "which ignores that the twin sends the closest free unit, is used"
        )
    return scenario


def _sf_replay_errors(
    scenario: dict[str, Any], fit_data: CityData, start: date, end: date, turnout: float
) -> tuple[dict[int, float], dict[str, float]]:
    """Replay the fit days under *scenario* and compare with the data.

    Returns per class the observed / simulated median drive beyond turnout, and the pooled
    relative errors of the median and p90 of dispatched -> on scene.
    """
    from twin.replay import replay

    sc = parse_scenario(jsonable(scenario), source="sanfrancisco refinement")
    res = replay(sc, "", start, end, seed=3, replications=1, data=fit_data)
    rec = res.records
    ratios: dict[int, float] = {}
    for k in sorted(set(rec["priority"].dropna().astype(int))):
        sim = (rec.loc[rec["priority"] == k, "sim_dispatch_onscene_min"] - turnout).dropna()
        act = (rec.loc[rec["priority"] == k, "actual_dispatch_onscene_min"] - turnout).dropna()
        if len(sim) >= 30 and len(act) >= 30 and float(sim.median()) > 0:
            ratios[int(k)] = float(act.median() / sim.median())
    sim_all = rec["sim_dispatch_onscene_min"].dropna().to_numpy(dtype=float)
    act_all = rec["actual_dispatch_onscene_min"].dropna().to_numpy(dtype=float)
    errs = {
        "median_rel_err": float(np.median(sim_all) / np.median(act_all) - 1),
        "p90_rel_err": float(np.quantile(sim_all, 0.9) / np.quantile(act_all, 0.9) - 1),
    }
    return ratios, errs


def _refine_sf_factors(
    scenario: dict[str, Any],
    fit_data: CityData,
    report: FitReport,
    factors: dict[int, float],
    top: int,
    turnout: float,
    rounds: int = 2,
    noise_scales: tuple[float, ...] = (0.55, 0.65, 0.75, 0.85, 1.0),
) -> None:
    """Tune the class travel factors and the noise spread by replaying the fit days.

    The first fit divides each call's drive by the matrix time from the post of the unit that
    really came; the twin sends the closest free unit, often nearer (non-emergency calls in
    reality are often answered from further away). A replay of the fit days shows the gap:
    each class's factor is scaled by the ratio of the observed to the simulated median drive
    beyond turnout (``rounds`` times). This is repeated for a few scales of the noise's
    standard deviation (the first fit's noise also holds the spread of the post-based
    matrix); the scale whose replay matches the pooled median and p90 of dispatched -> on
    scene best is kept. Only fit days are replayed.
    """
    d = local_dates(fit_data.incidents["event_time"], fit_data.tz)
    noise0 = dict(scenario["travel"].get("noise") or {})
    if d.empty or not factors:
        return
    start, end = d.min(), d.max()
    history: list[dict[str, Any]] = []
    best: tuple[float, float, dict[int, float]] | None = None
    base_factors = dict(factors)
    for scale in noise_scales if "sd" in noise0 else (1.0,):
        fac = dict(base_factors)
        if "sd" in noise0:
            scenario["travel"]["noise"] = {**noise0, "sd": round(noise0["sd"] * scale, 4)}
        errs: dict[str, float] = {}
        for _ in range(rounds):
            for entry in scenario["priorities"]:
                if int(entry["level"]) in fac:
                    entry["travel_factor"] = float(fac[int(entry["level"])])
            ratios, errs = _sf_replay_errors(scenario, fit_data, start, end, turnout)
            history.append(
                {"noise_sd_scale": scale, "factors": dict(fac), "obs_over_sim": ratios, **errs}
            )
            fac = {k: round(v * ratios.get(k, 1.0), 4) for k, v in fac.items()}
        for entry in scenario["priorities"]:
            if int(entry["level"]) in fac:
                entry["travel_factor"] = float(fac[int(entry["level"])])
        _, errs = _sf_replay_errors(scenario, fit_data, start, end, turnout)
        history.append({"noise_sd_scale": scale, "factors": dict(fac), "final": True, **errs})
        score = max(abs(errs["median_rel_err"]), abs(errs["p90_rel_err"]))
        if best is None or score < best[0]:
            best = (score, scale, fac)
    assert best is not None
    score, scale, fac = best
    factors.clear()
    factors.update(fac)
    if "sd" in noise0:
        scenario["travel"]["noise"] = {**noise0, "sd": round(noise0["sd"] * scale, 4)}
    for entry in scenario["priorities"]:
        if int(entry["level"]) in fac:
            entry["travel_factor"] = float(fac[int(entry["level"])])
    report.add(
        Parameter(
            name="priorities[].travel_factor, travel.noise (refined by replaying the fit days)",
            value={"travel_factor": dict(fac), "noise": scenario["travel"].get("noise")},
            data=f"replays of the fit days {start} .. {end} under the scenario (seed 3, one "
            "replication each): observed / simulated median dispatched -> on scene beyond "
            "turnout per class; noise sd scales "
            f"{list(noise_scales)} of the first fit, the best pooled median + p90 kept",
            n=len(fit_data.incidents),
            fit={"in_sample_worst_rel_err": score, "noise_sd_scale": scale},
            notes=[
                "the twin sends the closest free unit; the data's first unit was often further "
                f"away: the factors absorb that (priority {top} included, so it may leave 1)"
            ],
        )
    )
    report.details["sf_refinement"] = history
    if "sd" in noise0 and scale != 1.0:
        report.assume(
            f"the noise's spread was narrowed to {scale:g} x the first fit by replaying the fit "
            "days: the first fit also holds the error of predicting from the post of the unit "
            "that really came, which the twin's closest-unit dispatch partly removes"
        )


def _unit_utilisation(units: pd.DataFrame) -> dict[str, float]:
    """Mean share of time a unit is busy (dispatched -> available) over the data's span."""
    busy = durations_min(units["dispatched"], units["available"]).clip(lower=0, upper=24 * 60)
    span_min = (units["received"].max() - units["received"].min()).total_seconds() / 60
    n_units = units["unit_id"].nunique()
    if span_min <= 0 or n_units == 0:
        return {"utilisation": float("nan"), "units": float(n_units), "span_days": 0.0}
    return {
        "utilisation": float(busy.sum() / (n_units * span_min)),
        "units": float(n_units),
        "span_days": span_min / 1440,
    }


# --------------------------------------------------------------------------- Seattle
def _seattle_zones(data: CityData) -> pd.DataFrame:
    z = data.zones
    beats = z.loc[(z["kind"] == "beat") & (z["code"].astype(str) != "99")].copy()
    if beats.empty:
        raise DataError(
            "seattle: the lake has no beat zones; sync the spd_beats source before calibrating"
        )
    missing = beats["district"].isna()
    if missing.any() and (~missing).any():
        # beats without a precinct (harbour beats) join the precinct of the nearest beat
        have = beats.loc[~missing]
        for i in beats.index[missing]:
            d = haversine_km(
                float(beats.at[i, "centroid_lon"]),  # type: ignore[arg-type]
                float(beats.at[i, "centroid_lat"]),  # type: ignore[arg-type]
                have["centroid_lon"].to_numpy(),
                have["centroid_lat"].to_numpy(),
            )
            beats.at[i, "district"] = have["district"].iloc[int(np.argmin(d))]
    beats["district"] = beats["district"].fillna("?")
    return beats.sort_values("zone_id").reset_index(drop=True)


def _demand_source(inc: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    with_zone = inc.loc[inc["zone"].notna()]
    if with_zone.empty:
        raise DataError("seattle: no incidents joined to a beat; sync the beats and incidents")
    src = str(with_zone["source"].value_counts().index[0])
    return with_zone.loc[with_zone["source"] == src], src


def _calibrate_seattle(
    fit_data: CityData,
    report: FitReport,
    name: str,
    agency: str,
    sf: CityData | None,
    holdout: tuple[date, date] | None,
    refine_rounds: int = 0,
    refine_horizon: float = 13 * 10080.0,
) -> dict[str, Any]:
    zones = _seattle_zones(fit_data)
    orphan = fit_data.zones.loc[
        (fit_data.zones["kind"] == "beat")
        & fit_data.zones["district"].isna()
        & (fit_data.zones["code"].astype(str) != "99"),
        "code",
    ]
    if len(orphan):
        report.assume(
            f"beats without a precinct in the beat file ({', '.join(sorted(orphan))}) join "
            "the precinct of the nearest beat"
        )
    inc_all = fit_data.incidents.loc[fit_data.incidents["agency"] == agency]
    if inc_all.empty:
        raise DataError(
            f"seattle: no {agency} incidents in the lake; sync "
            f"{'spd_911_2015' if agency == 'police' else 'seattle_fire_911'} first"
        )
    inc, src = _demand_source(inc_all)
    report.assume(
        f"{agency} demand comes from the largest source only ({src}); sources with other "
        "coverage (one beat, one day) would bias zone rates"
    )
    loc: dict[str, tuple[float, float]] = {
        str(z): (float(x), float(y))
        for z, x, y in zip(
            zones["zone_id"], zones["centroid_lon"], zones["centroid_lat"], strict=True
        )
    }
    names = {str(z): f"beat {c}" for z, c in zip(zones["zone_id"], zones["code"], strict=True)}
    class_shares: dict[int, float] | None = None
    classify = None
    names_cls: dict[int, str] | None = None
    if agency == "police":
        pri = seattle_class(inc_all["priority"]).dropna()
        if inc["priority"].notna().sum() < 30:
            if len(pri) < 10:
                raise DataError(
                    "seattle: fewer than 10 police calls with a priority; sync spd_call_data"
                )
            vc = pri.value_counts()
            class_shares = {int(k): float(vc.get(k, 0) + 0.5) for k in SEATTLE_CLASSES}
            tot = sum(class_shares.values())
            class_shares = {k: v / tot for k, v in class_shares.items()}
            srcs = sorted(inc_all.loc[inc_all["priority"].notna(), "source"].unique())
            report.add(
                Parameter(
                    name="priorities[].share",
                    value=class_shares,
                    data=f"police incidents with a priority ({', '.join(srcs)})",
                    n=len(pri),
                    notes=["+0.5 pseudo-count per class"],
                )
            )
            report.assume(
                f"{src} has no priorities: the class mix of the police calls that have one "
                f"({', '.join(srcs)}; n={len(pri)}) is used city-wide"
            )
        else:
            classify = seattle_class
        names_cls = {k: f"SPD priority {v}" for k, v in SEATTLE_CLASSES.items()}
    elif inc["priority"].notna().sum() < 30:
        class_shares = {1: 1.0}
        report.assume("fire calls carry no priority: a single class")
    demand = fit_demand(
        inc,
        zones[["zone_id", "district"]],
        fit_data.tz,
        classify=classify,
        class_shares=class_shares,
    )
    _demand_param(report, demand, f"incidents of {src}, fit days only")
    precinct_of = dict(zip(zones["zone_id"], zones["district"], strict=True))
    precincts = sorted(set(precinct_of.values()))
    rate_d = {
        str(k): float(v) for k, v in demand.zones.groupby("district")["rate_per_hour"].sum().items()
    }

    if agency == "police":
        return _seattle_police(
            fit_data,
            report,
            name,
            demand,
            zones,
            loc,
            names,
            names_cls,
            precincts,
            rate_d,
            holdout,
            inc,
            refine_rounds,
            refine_horizon,
        )
    return _seattle_fire(report, name, demand, zones, loc, names, precincts, rate_d, sf)


def _service_or_sf(
    frame: pd.Series, what: str, source: str, sf: CityData | None, report: FitReport
) -> DistFit:
    try:
        return fit_duration(frame, what, source=source)
    except ValueError:
        if sf is None:
            raise DataError(
                f"seattle: too few {what} durations and no sanfrancisco data to borrow from; "
                "sync the sffd_calls source"
            ) from None
        fu = first_units(sf.unit_responses)
        fit = fit_duration(
            durations_min(fu["onscene"], fu["available"]),
            "on scene -> available (borrowed from sanfrancisco)",
            source="unit_responses of sanfrancisco, first unit per call",
        )
        fit.pooled = True
        fit.notes.append(f"too few local {what} durations: San Francisco's fit borrowed")
        report.fallback(f"service: borrowed from sanfrancisco ({what} too thin locally)")
        return fit


def _seattle_police(
    fit_data: CityData,
    report: FitReport,
    name: str,
    demand: DemandFit,
    zones: pd.DataFrame,
    loc: dict[str, tuple[float, float]],
    names: dict[str, str],
    names_cls: dict[int, str] | None,
    precincts: list[str],
    rate_d: dict[str, float],
    holdout: tuple[date, date] | None,
    inc: pd.DataFrame,
    refine_rounds: int,
    refine_horizon: float,
) -> dict[str, Any]:
    pol = fit_data.incidents.loc[fit_data.incidents["agency"] == "police"]
    svc_frame = durations_min(pol["onscene"], pol["cleared"])
    srcs = sorted(pol.loc[pol["onscene"].notna() & pol["cleared"].notna(), "source"].unique())
    service = _service_or_sf(
        svc_frame,
        "on scene -> cleared",
        f"police incidents with both times ({', '.join(srcs)})",
        None,
        report,
    )
    _dist_param(report, "service", service)
    report.assume(
        "police on-scene time (on scene -> event cleared) is the same for every priority "
        "class: the only source with both times has no priority"
    )
    if fit_data.response_stats is None:
        raise DataError(
            "seattle: the lake has no response_stats table; sync the spd_avg_response source "
            "(average response by year, beat and priority) before calibrating police"
        )
    table = response_table(fit_data.response_stats)
    table = table.loc[table["zone_id"].isin(set(loc))]
    data_years = pd.to_datetime(inc["event_time"], utc=True).dt.year
    year_target = int(data_years.median())
    held_years = set(range(holdout[0].year, holdout[1].year + 1)) if holdout else set()
    years = sorted(set(table["year"]))
    usable = [y for y in years if y not in held_years or y == year_target]
    fit_year = min(usable, key=lambda y: (abs(y - year_target), -y)) if usable else years[-1]
    ty = table.loc[table["year"] == fit_year]
    p1 = ty.loc[ty["klass"] == 1, ["zone_id", "mean_min"]]
    p2 = ty.loc[ty["klass"] == 2, ["zone_id", "mean_min"]]
    report.assume(
        f"response figures of {fit_year} (the year of the demand data) fix speed, dispatch "
        "delay, fleet and the non-emergency travel factor; other years are left for fidelity "
        "checks",
        "priority-1 mean response = dispatch delay and turnout (t0) + drive from the nearest "
        "free patrolling unit; idle units patrol the beats of their precinct uniformly",
        "circuity fixed at 1.3 (road / great-circle distance; not identifiable from means)",
        "analytic first guess of the fleet: the extra mean delay of priority 2 over priority 1 "
        "in a precinct is queueing for a free unit (non-preemptive priority M/M/c, one "
        "exponential busy time for all classes); the simulation refinement then splits it "
        "between queueing and slower driving",
    )
    shares = demand.city_shares
    by_precinct = {
        d: [rate_d.get(d, 0.0) * shares.get(k, 0.0) for k in sorted(shares)] for d in precincts
    }
    beats_of = {
        d: [z for z in loc if zones.set_index("zone_id").loc[z, "district"] == d] for d in precincts
    }
    area = dict(zip(zones["zone_id"].astype(str), zones["area_km2"].astype(float), strict=True))
    intra_km = {z: INTRA_PATROL * math.sqrt(max(area.get(z, 1.0), 0.01)) for z in loc}
    report.assume(
        "travel is a beat-to-beat matrix: centroid distances x circuity / speed between beats, "
        f"and {INTRA_PATROL} x sqrt(beat area) within a beat (the mean distance between a "
        "patrolling unit and a call in the same beat, for a square beat)"
    )
    k_free = {d: 3 for d in precincts}
    fleets: dict[str, FleetFit] = {}
    t0 = speed = 0.0
    diag: dict[str, Any] = {}
    mean_drive: dict[str, float] = {}
    zone_rate = demand.zones.set_index("zone_id")["rate_per_hour"]
    for _ in range(3):
        exp_km = {
            z: expected_min_distance(
                loc[z], [loc[b] for b in beats_of[d]], k_free[d], own_km=intra_km[z]
            )
            for d in precincts
            for z in beats_of[d]
        }
        t0, speed, diag = fit_beat_response(p1, exp_km)
        fleets = {}
        for d in precincts:
            zs = beats_of[d]
            w = np.array([zone_rate.loc[z] for z in zs])
            drive_min = float(np.average([exp_km[z] for z in zs], weights=w)) * 1.3 / speed * 60
            mean_drive[d] = drive_min
            busy = t0 + drive_min + service.mean
            obs1 = p1.loc[p1["zone_id"].isin(zs), "mean_min"]
            obs2 = p2.loc[p2["zone_id"].isin(zs), "mean_min"]
            if len(obs1) and len(obs2):
                gap = max(float(obs2.mean() - obs1.mean()), 0.1)
                fleets[d] = fleet_for_gap(d, by_precinct[d], busy, gap, 0.25 * float(obs1.mean()))
            else:
                fleets[d] = fleet_for_utilisation(d, sum(by_precinct[d]), busy, 0.6)
                report.fallback(f"fleet {d}: no response figures; utilisation 0.6 assumed")
        k_new = {d: max(1, round(f.units * (1 - f.utilisation))) for d, f in fleets.items()}
        if k_new == k_free:
            break
        k_free = k_new
    report.add(
        Parameter(
            name="analytic first guess: travel.speed_kmh, travel.turnout_min (t0)",
            value={"speed_kmh": speed, "turnout_min": t0, "circuity": 1.3},
            data=f"response_stats {fit_year}: priority-1 mean response of {diag['beats']} beats",
            n=int(diag["beats"]),
            fit={"r2": diag["r2"], "rmse_min": diag["rmse_min"], "mape_in_sample": diag["mape"]},
            notes=diag["notes"] + [f"free units assumed per precinct: {k_free}"],
        )
    )
    for d, f in fleets.items():
        report.add(
            Parameter(
                name=f"analytic first guess: fleet[{d}]",
                value=f.units,
                data=f"response_stats {fit_year}: P2 - P1 mean response of precinct {d}; "
                f"demand rates; busy time {t0:.1f} + {mean_drive.get(d, 0):.1f} + "
                f"{service.mean:.1f} min",
                fit={
                    "method": f.method,
                    "target_gap_min": f.target,
                    "predicted_gap_min": f.predicted,
                    "offered_load_erlang": f.offered_load,
                    "utilisation": f.utilisation,
                },
            )
        )
    report.details["fleet_search"] = {d: f.details for d, f in fleets.items()}
    report.details["response_fit_year"] = fit_year
    rates = {str(k): float(v) for k, v in zone_rate.items()}
    fleet = {d: f.units for d, f in fleets.items()}
    scenario: dict[str, Any] = {
        "name": name,
        "description": "Seattle Police (SPD) patrol, calibrated from the lake",
        "time_unit": "min",
        "warmup": 1440,
        "horizon": 10080,
        "crs": "wgs84",
        "zones": _zone_entries(demand, loc, names),
        "units": [],
        "priorities": _priorities(demand.city_shares, None, names_cls),
        "service": service.spec,
        "travel": {
            "model": "matrix",
            "speed_kmh": round(speed, 3),
            "circuity": 1.3,
            "turnout_min": round(t0, 3),
            "matrix": _beat_matrix(loc, speed, intra_km),
        },
        "dispatch": {"policy": "closest"},
        "queue": {"discipline": "priority", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "patrol": {"interval_min": 15, "policy": "area"},
    }
    busy0 = {d: t0 + mean_drive.get(d, 0.0) + service.mean for d in precincts}
    place = functools.partial(_place_shifted, busy_of=busy0)
    place(scenario, fleet, rates, beats_of)
    if refine_rounds > 0:
        observed = pd.concat([p1.assign(priority=1), p2.assign(priority=2)], ignore_index=True)
        factors = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5)[: max(1, 2 * refine_rounds)]
        scenario, fleet, history = refine_police(
            scenario,
            observed,
            fleet,
            rates,
            beats_of,
            factors=factors,
            horizon=refine_horizon,
            polish_rounds=min(2, refine_rounds),
            precinct_rounds=min(4, refine_rounds + 1),
            place_units=place,
        )
        last = history[-1] if history else {}
        tf = next(
            (float(e.get("travel_factor", 1.0)) for e in scenario["priorities"] if e["level"] == 2),
            1.0,
        )
        report.add(
            Parameter(
                name="travel.turnout_min, priorities[level>=2].travel_factor "
                "(refined by simulation)",
                value={
                    "speed_kmh": scenario["travel"]["speed_kmh"],
                    "turnout_min": scenario["travel"]["turnout_min"],
                    "travel_factor_p2_p3_p4": tf,
                    "circuity": 1.3,
                },
                data=f"response_stats {fit_year}: priority-1 and -2 mean response per beat vs "
                f"the twin ({len(history)} runs of {refine_horizon / 1440:.0f} days: fleet "
                "scales, then polishing the chosen fleet)",
                n=len(observed),
                fit={
                    "mape_p1_in_sample": last.get("mape_p1"),
                    "mape_p2_in_sample": last.get("mape_p2"),
                    "mape_p2_without_factor_at_chosen_fleet": next(
                        (
                            h.get("mape_p2_without_factor")
                            for h in history
                            if h.get("stage") == "fleet search" and h["fleet"] == fleet
                        ),
                        None,
                    ),
                },
                notes=[
                    "turnout_min holds call taking, dispatch and turnout together (the means "
                    "cannot separate them); the combined Seattle file moves all but the "
                    "shared turnout into the police dispatch delay",
                    "priority 2's extra mean response over priority 1 is split between "
                    "queueing (the fleet) and slower driving (the travel factor): the split is "
                    "the one whose simulated beat means fit both priorities best",
                ],
            )
        )
        report.details["refinement"] = history
    for d in precincts:
        report.add(
            Parameter(
                name=f"fleet[{d}]",
                value=fleet[d],
                data=f"precinct {d}: "
                + (
                    f"refined by simulation from the analytic guess {fleets[d].units}"
                    if refine_rounds > 0
                    else "analytic (priority M/M/c)"
                ),
                fit={"offered_load_erlang": fleets[d].offered_load},
            )
        )
    busy_of = {
        d: float(scenario["travel"]["turnout_min"]) + mean_drive.get(d, 0.0) + service.mean
        for d in precincts
    }
    _shift_police_units(scenario, fleet, beats_of, busy_of, report)
    _call_data_check(fit_data, scenario, report, refine_horizon)
    report.assume(
        "units are posted in proportion to beat demand within their precinct and answer calls "
        "city-wide (closest free unit), patrolling their precinct when idle",
        "the engine's priority queue is non-preemptive, so a priority-2 gap as large as "
        "Seattle's cannot come from queueing alone without delaying priority 1 too: part of "
        "it is slower driving without lights and sirens (priorities[].travel_factor of "
        "classes 2-4, fitted with the fleet so that priority-1 and -2 beat means both match "
        "on the fit year)",
        "priority 3-4 and 5+ calls drive like priority 2 (same travel factor): the SPD table's "
        "lower classes are not fitted",
    )
    return scenario


def _shift_police_units(
    scenario: dict[str, Any],
    fleet: dict[str, int],
    beats_of: dict[str, list[str]],
    busy_of: dict[str, float],
    report: FitReport,
) -> dict[str, ShiftFleet]:
    """Put the police fleet on three daily 8-hour watches sized by each watch's demand.

    Each precinct keeps the unit-hours of its round-the-clock fit (``fleet[d] x 24``) as
    ``3 x fleet[d]`` shift slots split by the offered load (calls x mean busy time) in each
    watch's hours; units of a watch are posted by beat demand in those hours. Rebuilds
    ``scenario['units']`` in place, reports the split and returns it per precinct.
    """
    splits = _place_shifted(scenario, fleet, {}, beats_of, busy_of=busy_of)
    for d, sf in splits.items():
        report.add(
            Parameter(
                name=f"units by shift[{d}]",
                value=dict(sf.counts),
                data=f"precinct {d}: the fitted {fleet[d]} round-the-clock units "
                f"({fleet[d] * 24} unit-hours a day) split over three 8-hour watches by the "
                f"offered load in each watch (calls/hour x busy time {busy_of[d]:.1f} min)",
                fit={
                    "unit_hours_per_day": sf.unit_hours_per_day,
                    "unit_hours_per_day_24h_fit": fleet[d] * 24,
                    "calls_per_hour": {k: round(v, 3) for k, v in sf.calls_per_hour.items()},
                    "offered_load_erlang": {k: round(v, 3) for k, v in sf.offered_load.items()},
                },
            )
        )
    report.details["police_shifts"] = {
        d: {
            "counts": sf.counts,
            "calls_per_hour": sf.calls_per_hour,
            "offered_load_erlang": sf.offered_load,
            "unit_hours_per_day": sf.unit_hours_per_day,
            "units_24h": sf.units_24h,
        }
        for d, sf in splits.items()
    }
    report.assume(
        "police units work three daily 8-hour watches starting 07:00, 15:00 and 23:00 local "
        "time (an assumption: SPD publishes no unit counts or watch times per precinct; its "
        "patrol works staggered watches); each precinct keeps the unit-hours of its "
        "round-the-clock fleet fit (3 x fleet slots of 8 h) and splits them over the watches in "
        "proportion to the offered load (calls x mean busy time) in each watch's hours; the "
        "simulation refinement fits the fleet with the units already on these watches; "
        "handovers are instantaneous (a unit going off duty finishes its call)",
    )
    return splits


def _place_shifted(
    scenario: dict[str, Any],
    fleet: Mapping[str, int],
    rates: Mapping[str, float],
    beats_of: Mapping[str, list[str]],
    *,
    busy_of: Mapping[str, float],
) -> dict[str, ShiftFleet]:
    """Rebuild ``scenario['units']`` as 8-hour watches (called like ``relabel_units``).

    ``rates`` is unused (each watch's beat demand comes from the zones' rates and profiles);
    it keeps the signature of :func:`twin.calibrate.refine.relabel_units`.
    """
    del rates
    hourly: dict[str, list[float]] = {}
    for z in scenario["zones"]:
        r = float(z["rate_per_hour"])
        prof = z.get("profile") or [1.0] * 168
        hourly[str(z["id"])] = [r * float(v) for v in prof]
    splits: dict[str, ShiftFleet] = {}
    units: list[dict[str, Any]] = []
    for d in sorted(fleet):
        beats = beats_of[d]
        calls = [sum(hourly[z][h] for z in beats) for h in range(168)]
        sf = shift_fleet(d, calls, busy_of[d], fleet[d])
        splits[d] = sf
        for h0 in SPD_SHIFT_STARTS_H:
            key = f"{h0:02d}:00"
            in_shift = [h for h in range(168) if (h % 24 - h0) % 24 < sf.hours]
            rates_s = {z: sum(hourly[z][h] for h in in_shift) for z in beats}
            part: dict[str, Any] = {}
            relabel_units(part, {d: sf.counts[key]}, rates_s, beats_of, prefix=f"spd-{h0:02d}")
            for u in part["units"]:
                u["shift"] = {"start": key, "hours": int(sf.hours)}
                units.append(u)
    scenario["units"] = units
    return splits


#: The beat of the Seattle Call Data sample (the only beat it covers).
CALL_DATA_BEAT = "seattle:beat:C3"


def _call_data_check(
    fit_data: CityData, scenario: dict[str, Any], report: FitReport, horizon: float
) -> dict[str, Any] | None:
    """Compare the Call Data sample's queued -> arrived in beat C3 with the twin's response.

    A goodness-of-fit check, not a fit: the sample is one beat and a few hundred calls (years
    other than the fit year). Adds a ``check: ...`` parameter and ``details['call_data_c3']``.
    """
    inc = fit_data.incidents
    cd = inc.loc[(inc["source"] == "spd_call_data") & (inc["zone"] == CALL_DATA_BEAT)]
    if cd.empty:
        report.fallback("check: no spd_call_data calls in beat C3; the C3 check is skipped")
        return None
    obs = pd.DataFrame(
        {
            "klass": seattle_class(cd["priority"]),
            "resp": durations_min(cd["received"], cd["onscene"]),
        }
    ).dropna()
    obs = obs.loc[obs["resp"] >= 0]
    sim = beat_means(scenario, horizon=horizon)
    sim = sim.loc[sim["zone_id"] == CALL_DATA_BEAT]
    s_mean = {int(p): float(m) for p, m in zip(sim["priority"], sim["mean"], strict=True)}
    s_n = {int(p): int(n) for p, n in zip(sim["priority"], sim["count"], strict=True)}
    rows: dict[str, dict[str, float | int | None]] = {}
    for kk in sorted({int(k) for k in obs["klass"]}):
        resp = obs.loc[obs["klass"] == kk, "resp"]
        o_mean = float(resp.mean())
        m = s_mean.get(kk)
        rows[str(kk)] = {
            "n_obs": len(resp),
            "obs_mean_min": round(o_mean, 2),
            "obs_median_min": round(float(resp.median()), 2),
            "twin_mean_min": None if m is None else round(m, 2),
            "twin_n": s_n.get(kk, 0),
            "rel_err": None if m is None or o_mean <= 0 else round((m - o_mean) / o_mean, 3),
        }
    years = sorted({int(t.year) for t in cd["received"].dropna()})
    detail = {
        "beat": CALL_DATA_BEAT,
        "n_calls": len(cd),
        "n_with_times": len(obs),
        "years": [years[0], years[-1]] if years else None,
        "by_class": rows,
        "twin_horizon_days": horizon / 1440.0,
    }
    report.details["call_data_c3"] = detail
    report.add(
        Parameter(
            name="check: beat C3 queued -> arrived (spd_call_data) vs twin response",
            value="check only (not fitted)",
            data=f"spd_call_data: {len(obs)} of {len(cd)} calls in beat C3 with Original Time "
            f"Queued and Arrived Time ({detail['years']}); the twin's police scenario run "
            f"{horizon / 1440:.0f} days",
            n=len(obs),
            fit={"by_class": rows},
            notes=[
                "a check, not a fit: one beat and under 200 calls, from years other than the "
                "fit year; the class means are skewed by a few calls queued for hours",
                "classes: 1 = P1, 2 = P2, 3 = P3-4, 4 = P5+ (the SPD table's classes)",
            ],
        )
    )
    return detail


def _beat_matrix(
    loc: dict[str, tuple[float, float]], speed: float, intra_km: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Return beat-to-beat drive minutes (x 1.3 circuity / speed).

    Off the diagonal the centroid distance, on it the mean distance within the beat.
    """
    line = DriveFit(speed_kmh=speed, circuity=1.3, t0_min=0.0, n=0, r2=0.0, rmse_min=0.0)
    diagonal = {z: float(line.minutes(intra_km[z])) for z in loc}
    return travel_matrix(loc, line, diagonal)


def _seattle_fire(
    report: FitReport,
    name: str,
    demand: DemandFit,
    zones: pd.DataFrame,
    loc: dict[str, tuple[float, float]],
    names: dict[str, str],
    precincts: list[str],
    rate_d: dict[str, float],
    sf: CityData | None,
) -> dict[str, Any]:
    if sf is None or sf.unit_responses.empty:
        raise DataError(
            "seattle fire: its life cycle is borrowed from San Francisco, but the lake has no "
            "sanfrancisco unit_responses; sync the sffd_calls source"
        )
    fu = first_units(sf.unit_responses)
    src = "unit_responses of sanfrancisco (first unit per call)"
    service = fit_duration(
        durations_min(fu["onscene"], fu["available"]), "on scene -> available", source=src
    )
    _dist_param(report, "service", service)
    dd_fit = fit_duration(
        durations_min(fu["received"], fu["dispatched"]),
        "received -> dispatched (borrowed from sanfrancisco)",
        source=src,
        max_min=120,
    )
    _dist_param(report, "dispatch.delay", dd_fit)
    dd = float(np.nanmedian(durations_min(fu["received"], fu["dispatched"])))
    to = float(np.nanmedian(durations_min(fu["dispatched"], fu["enroute"])))
    drive_frame = durations_min(fu["enroute"], fu["onscene"])
    util = _unit_utilisation(sf.unit_responses)
    report.add(
        Parameter(
            name="travel.turnout_min",
            value=round(to, 3),
            data=src + ": median dispatched -> en route",
            n=len(fu),
            fit={"dispatch_delay_median": dd, "turnout_median": to},
            notes=["call taking and dispatch (received -> dispatched) is dispatch.delay"],
        )
    )
    speed = 30.0
    median_drive = float(np.nanmedian(drive_frame))
    report.add(
        Parameter(
            name="travel.speed_kmh",
            value=speed,
            data=src + f": median drive {median_drive:.2f} min (no Seattle fire response data)",
            notes=[
                "speed fixed at 30 km/h (urban emergency driving); Seattle Fire publishes "
                "no response times in the embedded data to fit it"
            ],
        )
    )
    report.assume(
        "Seattle Fire's on-scene time, dispatch delay (a fitted distribution) and turnout "
        "are San Francisco's "
        "(the Seattle Fire 911 feed has only the dispatch time)",
        "Seattle Fire units run at San Francisco's mean first-unit utilisation "
        f"({util['utilisation']:.3f}); this fixes the fleet per precinct",
        "Seattle Fire zones are the police beats and its districts the precincts (no fire "
        "station areas are in the embedded data); units stay at their posts",
        "Seattle Fire units are on duty 24 hours (no shifts: fire crews work 24-hour shifts at "
        "their stations)",
    )
    units: list[dict[str, Any]] = []
    rates = {
        str(k): float(v) for k, v in demand.zones.set_index("zone_id")["rate_per_hour"].items()
    }
    area = dict(zip(zones["zone_id"].astype(str), zones["area_km2"].astype(float), strict=True))
    intra_km = {z: INTRA_POST * math.sqrt(max(area.get(z, 1.0), 0.01)) for z in loc}
    report.assume(
        "travel is a beat-to-beat matrix: centroid distances x circuity / speed between beats, "
        f"and {INTRA_POST} x sqrt(beat area) within a beat (a unit at the beat's centre)"
    )
    busy = to + median_drive + service.mean  # dispatched -> available, like the utilisation
    for d in precincts:
        f = fleet_for_utilisation(d, rate_d.get(d, 0.0), busy, max(util["utilisation"], 0.05))
        report.add(
            Parameter(
                name=f"fleet[{d}]",
                value=f.units,
                data=f"demand rate of the precinct x busy time {busy:.1f} min / SF utilisation",
                fit={"offered_load_erlang": f.offered_load, "utilisation": f.utilisation},
            )
        )
        beats = [z for z in loc if zones.set_index("zone_id").loc[z, "district"] == d]
        alloc = _allocate({z: rates[z] for z in beats}, f.units)
        i = 0
        for z in sorted(alloc):
            for _ in range(alloc[z]):
                i += 1
                units.append({"id": f"sfd-{d}-{i:02d}", "post": z, "kind": "engine"})
    return {
        "name": name,
        "description": "Seattle Fire Department (fire/EMS), calibrated from the lake",
        "time_unit": "min",
        "warmup": 1440,
        "horizon": 10080,
        "crs": "wgs84",
        "zones": _zone_entries(demand, loc, names),
        "units": units,
        "priorities": _priorities(demand.city_shares, None, None),
        "service": service.spec,
        "travel": {
            "model": "matrix",
            "speed_kmh": speed,
            "circuity": 1.3,
            "turnout_min": round(to, 3),
            "matrix": _beat_matrix(loc, speed, intra_km),
        },
        "dispatch": {"policy": "closest", "delay": dd_fit.spec},
        "queue": {"discipline": "fcfs", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "patrol": {"interval_min": 60, "policy": "post"},
    }


# --------------------------------------------------------------------------- entry point
def calibrate(
    lake_dir: Path | str,
    city: str,
    *,
    agency: str | None = None,
    holdout_start: str | date | None = None,
    holdout_end: str | date | None = None,
    name: str | None = None,
    use_default_holdout: bool = True,
    refine_rounds: int = 3,
    refine_horizon: float = 13 * 10080.0,
) -> Calibration:
    """Calibrate a scenario of *city* from the lake.

    Args:
        lake_dir: The lake directory (read through DuckDB views).
        city: ``seattle`` or ``sanfrancisco``.
        agency: ``police``, ``fire`` or ``all`` (default: the city's first entry in
            ``AGENCIES``: Seattle ``all`` = police and fire in one file).
        holdout_start: First local date left out of the fit (inclusive).
        holdout_end: Last local date left out (inclusive).
        name: Scenario name (default ``<city>_<agency>_baseline``).
        use_default_holdout: Without explicit dates, hold out the last 20 % of observed days
            (at least one; none when the data span fewer than 5 days).
        refine_rounds: Simulation-based refinement. Seattle police: 0 keeps the analytic
            fit; n tries up to 2n fleet scale factors (one twin run each, at most 6), then
            up to n + 1 per-precinct fleet steps and min(n, 2) polishing runs. San
            Francisco: 0 keeps the first travel-factor fit; 1-2 replay the fit days for one
            noise scale, 3 or more for five.
        refine_horizon: Simulated minutes per refinement run.

    Returns:
        The :class:`Calibration` (scenario mapping, YAML text, fit report).

    Raises:
        DataError: Empty lake, unknown or missing city, too little data.

    """
    if city not in AGENCIES:
        raise DataError(f"--city {city!r}: unknown; choose one of {sorted(AGENCIES)}")
    agency = agency or AGENCIES[city][0]
    if agency not in AGENCIES[city]:
        raise DataError(
            f"--agency {agency!r}: not modelled for {city}; choose one of {AGENCIES[city]}"
        )
    if agency == "all":
        return _calibrate_all(
            lake_dir,
            city,
            holdout_start=holdout_start,
            holdout_end=holdout_end,
            name=name,
            use_default_holdout=use_default_holdout,
            refine_rounds=refine_rounds,
            refine_horizon=refine_horizon,
        )
    data = load_city(lake_dir, city)
    hs = parse_date(holdout_start, "--holdout-start")
    he = parse_date(holdout_end, "--holdout-end")
    if (hs is None) != (he is None):
        raise DataError("--holdout-start and --holdout-end go together; give both or neither")
    if hs is not None and he is not None and he < hs:
        raise DataError(f"--holdout-end {he} is before --holdout-start {hs}")
    if hs is None and use_default_holdout:
        base = data.incidents
        if city == "seattle":
            base = base.loc[base["agency"] == agency]
            if not base.empty and base["zone"].notna().any():
                base, _ = _demand_source(base)
        dh = default_holdout(local_dates(base["event_time"], data.tz))
        if dh is not None:
            hs, he = dh
    fit_data, held = split_days(data, hs, he)
    name = name or f"{city}_{agency}_baseline"
    report = FitReport(city=city, agency=agency, scenario=name)
    report.holdout = {"start": str(hs), "end": str(he)} if hs else None
    report.inputs = {
        "incidents": len(data.incidents),
        "incidents_fit": len(fit_data.incidents),
        "incidents_held_out": len(held.incidents),
        "unit_responses": len(data.unit_responses),
        "zones": len(data.zones),
        "response_stats": 0 if data.response_stats is None else len(data.response_stats),
        "lake_version": data.lake_version,
    }
    if fit_data.incidents.empty:
        raise DataError(
            f"{city}: every incident falls in the held-out window {hs}..{he}; choose a "
            "shorter hold-out"
        )
    if city == "sanfrancisco":
        scenario = _calibrate_sanfrancisco(fit_data, report, name, refine_rounds)
        report.fit_window = _date_range(fit_data.incidents, data.tz)
    else:
        sf: CityData | None = None
        if agency == "fire":
            try:
                sf = load_city(lake_dir, "sanfrancisco")
            except DataError:
                sf = None
        scenario = _calibrate_seattle(
            fit_data,
            report,
            name,
            agency,
            sf,
            (hs, he) if hs and he else None,
            refine_rounds,
            refine_horizon,
        )
        base = fit_data.incidents.loc[fit_data.incidents["agency"] == agency]
        report.fit_window = _date_range(_demand_source(base)[0], data.tz)
    scenario["assumptions"] = list(report.assumptions)
    scenario["calibration"] = {
        "city": city,
        "agency": agency,
        "tz": data.tz,
        "lake_version": data.lake_version,
        "fit_window": report.fit_window,
        "holdout": report.holdout,
        "response_fit_year": report.details.get("response_fit_year"),
        "fallbacks": len(report.fallbacks),
    }
    scenario = _int_share_keys(jsonable(scenario))
    parse_scenario(scenario, source=f"calibrated {name}")  # must load; raises ConfigError
    return Calibration(scenario=scenario, yaml_text=to_yaml(scenario, report), report=report)


def _calibrate_all(
    lake_dir: Path | str,
    city: str,
    *,
    holdout_start: str | date | None,
    holdout_end: str | date | None,
    name: str | None,
    use_default_holdout: bool,
    refine_rounds: int,
    refine_horizon: float,
) -> Calibration:
    """Calibrate every agency of *city* and combine them into one scenario."""
    name = name or f"{city}_baseline"
    parts = {
        ag: calibrate(
            lake_dir,
            city,
            agency=ag,
            holdout_start=holdout_start,
            holdout_end=holdout_end,
            name=f"{name}_{ag}",
            use_default_holdout=use_default_holdout,
            refine_rounds=refine_rounds,
            refine_horizon=refine_horizon,
        )
        for ag in AGENCIES[city]
        if ag != "all"
    }
    scenario, report = combine_agencies(
        name,
        {ag: (c.scenario, c.report) for ag, c in parts.items()},
        delay_shape_from="fire" if city == "seattle" and "fire" in parts else None,
    )
    scenario = _int_share_keys(jsonable(scenario))
    parse_scenario(scenario, source=f"calibrated {name}")
    return Calibration(scenario=scenario, yaml_text=to_yaml(scenario, report), report=report)


def combine_agencies(
    name: str,
    parts: dict[str, tuple[dict[str, Any], FitReport]],
    *,
    delay_shape_from: str | None = None,
) -> tuple[dict[str, Any], FitReport]:
    """Merge single-agency scenarios of one city (same zones) into one multi-agency scenario.

    Zones get ``rates``/``profiles`` per agency; units keep their agency (``units[].agency``);
    each agency keeps its priorities, on-scene time and dispatch (``agencies[]``). The travel
    matrix is the first agency's (police: fitted to observed response); another agency with a
    different speed gets it as a ``travel_factor`` of its classes. The engine's turnout is one
    number: the smallest agency turnout is kept and each agency's excess moves into its
    dispatch delay (a deterministic delay, or the mean of its fitted delay distribution).

    Args:
        name: The combined scenario's name.
        parts: agency -> (its scenario mapping, its fit report); the first is the reference.
        delay_shape_from: An agency whose fitted dispatch-delay distribution lends its family
            and coefficient of variation to agencies whose delay is only known as a mean
            (Seattle police: mean response only; the shape comes from San Francisco's life
            cycle through the fire agency).

    Returns:
        ``(scenario, report)``: the combined mapping and fit report.

    Raises:
        DataError: When the agencies' zones differ.

    """
    agencies = list(parts)
    ref_sc, ref_rep = parts[agencies[0]]
    ids = [z["id"] for z in ref_sc["zones"]]
    for ag in agencies[1:]:
        if [z["id"] for z in parts[ag][0]["zones"]] != ids:
            raise DataError(
                f"{ref_rep.city}: the {ag} and {agencies[0]} calibrations have different zones"
            )
    turnouts = {ag: float(sc["travel"].get("turnout_min", 0.0)) for ag, (sc, _) in parts.items()}
    shared = min(turnouts.values())
    ref_speed = float(ref_sc["travel"].get("speed_kmh", 30.0))
    report = FitReport(city=ref_rep.city, agency="all", scenario=name)
    report.fit_window = dict(ref_rep.fit_window)
    report.holdout = dict(ref_rep.holdout) if ref_rep.holdout else None
    zones = []
    for i, z in enumerate(ref_sc["zones"]):
        entry = {k: v for k, v in z.items() if k not in ("rate_per_hour", "profile", "shares")}
        entry["rates"] = {ag: parts[ag][0]["zones"][i]["rate_per_hour"] for ag in agencies}
        entry["profiles"] = {ag: parts[ag][0]["zones"][i]["profile"] for ag in agencies}
        mixes = {
            ag: parts[ag][0]["zones"][i]["shares"]
            for ag in agencies
            if "shares" in parts[ag][0]["zones"][i]
        }
        if mixes:
            entry["shares"] = mixes  # per agency; an agency left out keeps its city shares
        zones.append(entry)
    units: list[dict[str, Any]] = []
    agency_specs: list[dict[str, Any]] = []
    for ag, (sc, rep) in parts.items():
        report.inputs.update({f"{ag}.{k}": v for k, v in rep.inputs.items()})
        for prm in rep.parameters:
            report.add(
                Parameter(
                    name=f"{ag}: {prm.name}",
                    value=prm.value,
                    data=prm.data,
                    n=prm.n,
                    fit=prm.fit,
                    notes=prm.notes,
                )
            )
        report.assume(*(f"{ag}: {a}" for a in rep.assumptions))
        for fb in rep.fallbacks:
            report.fallback(f"{ag}: {fb}")
        report.details[ag] = rep.details
        own_patrol = sc.get("patrol", {}).get("policy", "area")
        for u in sc["units"]:
            unit = {**u, "agency": ag}
            if own_patrol == "post":
                unit["area"] = [u["post"]]  # stays at its post under the area patrol
            units.append(unit)
        prios = [dict(p) for p in sc.get("priorities") or [{"level": 1, "share": 1.0}]]
        speed = float(sc["travel"].get("speed_kmh", ref_speed))
        notes: list[str] = []
        if ag != agencies[0] and abs(speed - ref_speed) > 1e-9:
            for p in prios:
                p["travel_factor"] = round(
                    float(p.get("travel_factor", 1.0)) * ref_speed / speed, 4
                )
            notes.append(
                f"{ag} drives at {speed:g} km/h on {agencies[0]}'s matrix ({ref_speed:g} km/h): "
                f"travel_factor x {ref_speed / speed:.4f} on every {ag} class"
            )
        dispatch = dict(sc.get("dispatch") or {"policy": "closest"})
        extra = turnouts[ag] - shared
        if extra > 1e-9:
            delay = dispatch.get("delay")
            if delay is None or delay.get("dist") == "deterministic":
                base = float(delay["value"]) if delay else 0.0
                dispatch["delay"] = {"dist": "deterministic", "value": round(base + extra, 3)}
            else:
                dispatch["delay"] = {**delay, "mean": round(float(delay["mean"]) + extra, 4)}
            notes.append(
                f"{ag}'s turnout {turnouts[ag]:.3f} min exceeds the shared {shared:.3f}: the "
                f"{extra:.3f} min difference is in {ag}'s dispatch.delay"
            )
        shape = (
            (parts[delay_shape_from][0].get("dispatch") or {}).get("delay")
            if delay_shape_from in parts and delay_shape_from != ag
            else None
        )
        delay_now = dispatch.get("delay")
        if (
            shape
            and shape.get("sd")
            and delay_now is not None
            and delay_now.get("dist") == "deterministic"
            and float(delay_now["value"]) > 0
        ):
            mean = float(delay_now["value"])
            cv = float(shape["sd"]) / float(shape["mean"])
            dispatch["delay"] = {"dist": shape["dist"], "mean": mean, "sd": round(mean * cv, 4)}
            notes.append(
                f"{ag}'s dispatch delay is known only as a mean ({mean:.3f} min, from the "
                f"response fit): it takes the {shape['dist']} shape and coefficient of "
                f"variation {cv:.3f} of {delay_shape_from}'s fitted delay (San Francisco's "
                "received -> dispatched)"
            )
        agency_specs.append(
            {
                "id": ag,
                "name": sc.get("description") or ag,
                "priorities": prios,
                "service": sc["service"],
                "dispatch": dispatch,
            }
        )
        if notes:
            report.add(
                Parameter(
                    name=f"agencies[{ag}] (combination)",
                    value={
                        "dispatch": dispatch,
                        "travel_factor": [p.get("travel_factor") for p in prios],
                    },
                    data="derived from the single-agency fits above",
                    notes=notes,
                )
            )
            report.assume(*notes)
    report.assume(
        "the agencies share the zones (police beats) and one travel matrix; each answers only "
        "its own calls with its own units (no cross-agency help), from its own queue",
        f"the shared matrix is {agencies[0]}'s: its within-zone entries assume a patrolling "
        "unit (0.5214 x sqrt(area)), so the other agencies' units, which wait at a post "
        "(0.3826 x sqrt(area)), take about 36 % longer within their own zone than their "
        "single-agency file says",
    )
    travel = dict(ref_sc["travel"])
    travel["turnout_min"] = round(shared, 3)
    scenario: dict[str, Any] = {
        "name": name,
        "description": f"{ref_rep.city}: " + ", ".join(agencies) + " in one twin, calibrated "
        "from the lake",
        "time_unit": "min",
        "warmup": ref_sc["warmup"],
        "horizon": ref_sc["horizon"],
        "crs": ref_sc["crs"],
        "zones": zones,
        "units": units,
        "service": ref_sc["service"],
        "travel": travel,
        "dispatch": {"policy": "closest"},
        "queue": ref_sc["queue"],
        "demand": ref_sc["demand"],
        "patrol": ref_sc["patrol"],
        "agencies": agency_specs,
        "assumptions": list(report.assumptions),
        "calibration": {
            **ref_sc["calibration"],
            "agency": "all",
            "agencies": {ag: sc["calibration"] for ag, (sc, _) in parts.items()},
        },
    }
    return scenario, report


def to_yaml(scenario: dict[str, Any], report: FitReport) -> str:
    """Return the scenario as YAML with a comment header listing every assumption."""
    head = [
        f"# {scenario['name']}: calibrated by `twin calibrate` from the lake "
        f"(city {report.city}, agency {report.agency}).",
        f"# Fit window {report.fit_window.get('start')} .. {report.fit_window.get('end')}; "
        + (
            f"held out {report.holdout['start']} .. {report.holdout['end']}."
            if report.holdout
            else "nothing held out."
        ),
        "# Assumptions (also under `assumptions:` below; details in the fit report):",
    ]
    head += [f"#  - {a}" for a in report.assumptions]
    if report.fallbacks:
        head.append(f"# Pooled fallbacks: {len(report.fallbacks)} (listed in the fit report).")
    body = yaml.safe_dump(
        scenario, sort_keys=False, default_flow_style=None, width=100, allow_unicode=True
    )
    return "\n".join(head) + "\n" + body


def write_calibration(
    result: Calibration, out: Path | str, report: Path | str | None = None
) -> list[Path]:
    """Write the scenario YAML and the fit report (JSON and text).

    Args:
        result: The calibration.
        out: Scenario file to write (parent folders are created).
        report: Fit report JSON path (default ``<out stem>.fit.json``); the text report goes
            beside it with the suffix ``.txt``.

    Returns:
        The paths written.

    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(result.yaml_text, encoding="utf-8")
    rep = Path(report) if report is not None else out.with_name(out.stem + ".fit.json")
    rep.parent.mkdir(parents=True, exist_ok=True)
    rep.write_text(result.report.to_json(), encoding="utf-8")
    txt = rep.with_suffix(".txt")
    txt.write_text(result.report.to_text(), encoding="utf-8")
    return [out, rep, txt]
