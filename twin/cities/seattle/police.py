"""Seattle police (SPD): priority 1 fits travel and fleet, priority 2's gap fits unavailability.

Travel speed and dispatch delay are fitted to the priority-1 mean response per beat (both from
the ``response_stats`` table, for the year of the demand data); an analytic priority M/M/c
first guess sizes the fleet per precinct. The simulation refinement
(:func:`twin.calibrate.refine.refine_self_initiated`) then keeps the fleet scale that fits
priority 1 best and fits, per precinct (model ``sectors``: per SPD sector, shrunk toward the
precinct; model ``beats``: per precinct, with sector queues and units posted on beats by
demand ** :data:`BEAT_POSTING_ALPHA`, a call overflowing to its precinct after
:data:`BEATS_OVERFLOW_AFTER_MIN`), the rate of officer-initiated work
(``self_initiated``: units busy on their own work, pre-empted only by priority 1) so that
priority 2's extra delay over priority 1 is *waiting* behind calls and that work, not a fixed
slower drive. Units work three 8-hour watches sized by each watch's load. The SPD Call Data
sample (beat C3, queued -> arrived) is a goodness-of-fit check, not a fit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from twin.calibrate.assemble import dist_param, priorities, zone_entries
from twin.calibrate.data import CityData
from twin.calibrate.demand import DemandFit
from twin.calibrate.fleet import (
    SPD_SHIFT_STARTS_H,
    FleetFit,
    ShiftFleet,
    fleet_for_gap,
    fleet_for_utilisation,
    shift_fleet,
)
from twin.calibrate.refine import (
    beat_means,
    incident_frame,
    refine_self_initiated,
    relabel_units,
)
from twin.calibrate.report import FitReport, Parameter
from twin.calibrate.service import durations_min
from twin.calibrate.travel import INTRA_PATROL, expected_min_distance, fit_beat_response
from twin.cities.seattle import response_table, seattle_class
from twin.cities.seattle.common import AgencyDemand, beat_matrix, service_or_sf
from twin.errors import DataError
from twin.statistics import largest_remainder

__all__ = [
    "BEATS_OVERFLOW_AFTER_MIN",
    "BEAT_POSTING_ALPHA",
    "CALL_DATA_BEAT",
    "beat_posts",
    "calibrate_police",
    "sector_posts",
]


def calibrate_police(
    fit_data: CityData,
    report: FitReport,
    name: str,
    ad: AgencyDemand,
    holdout: tuple[date, date] | None,
    refine_rounds: int,
    refine_horizon: float,
    *,
    model: str = "precincts",
) -> dict[str, Any]:
    """Fit the police scenario on the fit days (demand already fitted in *ad*).

    *model*: ``precincts`` (lower classes queue per precinct, posts by demand), ``sectors``
    (the zones carry their SPD sector: lower classes queue per sector, every watch staffs every
    sector, officer-initiated work fitted per sector) or ``beats`` (queues per sector, units
    posted on beats by demand ** :data:`BEAT_POSTING_ALPHA` and patrolling their beat, the work
    fitted per precinct).
    """
    if model not in ("precincts", "sectors", "beats"):
        raise ValueError(f"seattle police model {model!r}: use precincts, sectors or beats")
    report.details["model"] = model
    return _seattle_police(
        fit_data,
        report,
        name,
        ad.demand,
        ad.zones,
        ad.loc,
        ad.names,
        ad.names_cls,
        ad.precincts,
        ad.rate_d,
        holdout,
        ad.inc,
        refine_rounds,
        refine_horizon,
        model,
    )


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
    model: str,
) -> dict[str, Any]:
    pol = fit_data.incidents.loc[fit_data.incidents["agency"] == "police"]
    svc_frame = durations_min(pol["onscene"], pol["cleared"])
    srcs = sorted(pol.loc[pol["onscene"].notna() & pol["cleared"].notna(), "source"].unique())
    service = service_or_sf(
        svc_frame,
        "on scene -> cleared",
        f"police incidents with both times ({', '.join(srcs)})",
        None,
        report,
    )
    dist_param(report, "service", service)
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
        "zones": zone_entries(demand, loc, names),
        "units": [],
        "priorities": priorities(demand.city_shares, None, names_cls),
        "service": service.spec,
        "travel": {
            "model": "matrix",
            "speed_kmh": round(speed, 3),
            "circuity": 1.3,
            "turnout_min": round(t0, 3),
            "matrix": beat_matrix(loc, speed, intra_km),
        },
        "dispatch": {"policy": "closest"},
        "queue": {"discipline": "priority", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "patrol": {"interval_min": 15, "policy": "area"},
    }
    sectors = _sectors(zones) if model in ("sectors", "beats") else {}
    for z in scenario["zones"]:
        if sectors.get(str(z["id"])):
            z["sector"] = sectors[str(z["id"])]
    busy0 = {d: t0 + mean_drive.get(d, 0.0) + service.mean for d in precincts}
    alpha = BEAT_POSTING_ALPHA if model == "beats" else None
    place = functools.partial(_place_shifted, busy_of=busy0, alpha=alpha)
    place(scenario, fleet, rates, beats_of)
    if refine_rounds > 0:
        scenario, fleet = _refine_self_initiated(
            scenario,
            p1,
            p2,
            fleet,
            rates,
            beats_of,
            place,
            fit_year,
            report,
            refine_rounds,
            refine_horizon,
            per_sector=model == "sectors",
            overflow_after_min=BEATS_OVERFLOW_AFTER_MIN if model == "beats" else None,
        )
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
    _shift_police_units(scenario, fleet, beats_of, busy_of, report, alpha=alpha)
    if refine_rounds > 0:
        _decomposition(scenario, p1, p2, beats_of, report, refine_horizon)
    _call_data_check(fit_data, scenario, report, refine_horizon)
    if model == "beats":
        report.assume(
            "dispatch areas are the SPD sectors (zones[].sector): a priority-2..5 call goes to "
            "the closest free unit of its sector and otherwise waits in the sector's queue "
            "(priority 1 takes the closest free unit city-wide, pre-empting officer-initiated "
            "work); each watch gives every sector with calls at least one unit, and posts its "
            "units on beats in proportion to beat demand ** "
            f"{BEAT_POSTING_ALPHA:g} (0 = equal per beat, 1 = by demand; beat presence is not "
            "published: the exponent was chosen by hand on the fit year's P2 - P1 gap slope "
            "over beats, see BEAT_POSTING_ALPHA); idle units patrol their own beat; "
            "officer-initiated work is fitted per precinct",
            *(
                [
                    "a call still waiting in its sector's queue after "
                    f"{BEATS_OVERFLOW_AFTER_MIN:g} min opens to its precinct: the closest free "
                    "unit of another sector takes it, else it joins the other sectors' queues "
                    "(self_initiated.overflow_after_min; not published: chosen on the fit "
                    "year's P2 MAPE and P2 - P1 gap slope over beats, see "
                    "BEATS_OVERFLOW_AFTER_MIN)"
                ]
                if BEATS_OVERFLOW_AFTER_MIN is not None
                else []
            ),
        )
    elif sectors:
        report.assume(
            "dispatch areas are the SPD sectors (the beat file's sector, zones[].sector): a "
            "priority-2..5 call goes to the closest free unit of its sector and otherwise waits "
            "in the sector's queue (priority 1 takes the closest free unit city-wide, pre-empting "
            "officer-initiated work); each watch staffs every sector of its precinct with one "
            "unit per beat when it has at least as many units as the precinct has beats, else "
            "one unit per sector, and the rest by the sector's demand in the watch's hours "
            "(beat presence is not published: an assumption, not a fit); idle units patrol "
            "their sector"
        )
    else:
        report.assume(
            "units are posted in proportion to beat demand within their precinct, patrolling "
            "their precinct when idle; lower classes queue per precinct"
        )
    report.assume(
        "the engine's priority queue is non-preemptive, so a priority-2 gap as large as "
        "Seattle's cannot come from queueing behind calls alone without delaying priority 1 "
        "too: units are also unavailable on officer-initiated work (self_initiated), which a "
        "priority-1 call may pre-empt and lower classes may not; every class drives at the "
        "same fitted speed (no travel factor)",
        "priority 3-4 and 5+ calls queue like priority 2 behind priority 1 (the SPD table's "
        "lower classes are not fitted)",
    )
    return scenario


#: Assumed duration of one piece of officer-initiated work (minutes; not in the data: the Call
#: Data sample has no clearance time). Lognormal with this mean and a standard deviation of 0.75
#: times it.
SELF_INITIATED_MEAN_MIN = 60.0

#: Model ``sectors``: pseudo-count (beats) shrinking a sector's P2 - P1 gap toward its
#: precinct's, and the exponent of the rate update (sector pools are small and their twin gaps
#: noisy: a damped step).
SECTOR_SHRINK_BEATS = 1.0

#: Model ``beats``: minutes a priority-2..5 call waits in its sector's queue before a unit of
#: another sector of its precinct may take it (``self_initiated.overflow_after_min``:
#: dispatchers pull a car from a neighbouring sector for a call held too long; without it the
#: 2-3-unit sector pools at night make the sector gaps lumpy). Not published: chosen on the fit
#: year only, from 5/10/15/20/25/30 min, each calibrated and run 52 weeks at seeds 7-11, by
#: the mean of 2015 P2 MAPE / 0.15 + |twin gap slope - real| / (1.96 se): 20 and 30 tie
#: (0.759, 0.753; 15: 0.894, 5: 1.23, 10: 1.37), 20 has the lower 2015 P2 MAPE (0.079 vs
#: 0.090) and a within-precinct gap slope nearer the real +0.68 (mean 0.78 vs 1.24).
BEATS_OVERFLOW_AFTER_MIN: float | None = 20.0
SECTOR_STEP_POWER = 1.0


def _refine_self_initiated(
    scenario: dict[str, Any],
    p1: pd.DataFrame,
    p2: pd.DataFrame,
    fleet: dict[str, int],
    rates: dict[str, float],
    beats_of: dict[str, list[str]],
    place: Any,
    fit_year: int,
    report: FitReport,
    refine_rounds: int,
    refine_horizon: float,
    *,
    per_sector: bool,
    overflow_after_min: float | None = None,
) -> tuple[dict[str, Any], dict[str, int]]:
    """Fit fleet (priority 1) and officer-initiated work per precinct or sector (P2 gap).

    With zones' sectors (model ``sectors``) the rate is fitted per SPD sector (entries
    ``PRECINCT/SECTOR``), each sector's gap shrunk toward its precinct's by its scored beats.
    """
    queues_by_sector = any(z.get("sector") for z in scenario["zones"])
    sector_of = (
        {str(z["id"]): str(z["sector"]) for z in scenario["zones"] if z.get("sector")}
        if per_sector
        else {}
    )
    observed = pd.concat([p1.assign(priority=1), p2.assign(priority=2)], ignore_index=True)
    duration = {
        "dist": "lognormal",
        "mean": SELF_INITIATED_MEAN_MIN,
        "sd": 0.75 * SELF_INITIATED_MEAN_MIN,
    }
    scenario, fleet, history = refine_self_initiated(
        scenario,
        observed,
        fleet,
        rates,
        beats_of,
        place_units=place,
        duration=duration,
        # sector queues pool fewer units: the gap needs far less work (fits: 0.6-1.3 per hour)
        rate0=1.0 if queues_by_sector else 4.0,
        factors=(0.8, 0.9, 1.0, 1.15, 1.3, 1.5)[: max(1, 2 * refine_rounds)],
        rounds=2 + 2 * refine_rounds,
        horizon=refine_horizon,
        sector_of=sector_of or None,
        overflow_after_min=overflow_after_min,
        shrink_beats=SECTOR_SHRINK_BEATS,
        power=SECTOR_STEP_POWER if sector_of else 1.5,
    )
    kept = [h for h in history if h["stage"].startswith("self-initiated")]
    last = next(
        (
            h
            for h in kept
            if h["rate_per_hour"]
            == {
                d: round(v["rate_per_hour"], 4)
                for d, v in scenario["self_initiated"]["districts"].items()
            }
        ),
        kept[-1] if kept else {},
    )
    report.add(
        Parameter(
            name="self_initiated.districts[*].rate_per_hour, travel.turnout_min (refined by "
            "simulation)",
            value={
                "rate_per_free_unit_hour": {
                    d: v["rate_per_hour"]
                    for d, v in scenario["self_initiated"]["districts"].items()
                },
                "turnout_min": scenario["travel"]["turnout_min"],
                "duration": duration,
                "preempted_by": "priority 1 (the default: the first class)",
                "weight": scenario["self_initiated"]["weight"],
            },
            data=f"response_stats {fit_year}: priority-2 minus priority-1 mean response per "
            f"{'sector' if sector_of else 'precinct'} (rate) and priority-1 beat means "
            f"(turnout); {len(history)} runs of "
            f"{refine_horizon / 1440:.0f} days",
            n=len(observed),
            fit={
                "mape_p1_in_sample": last.get("mape_p1"),
                "mape_p2_in_sample": last.get("mape_p2"),
                f"gap_twin_by_{'sector' if sector_of else 'precinct'}": last.get("gap_twin"),
                f"gap_obs_by_{'sector' if sector_of else 'precinct'}": last.get("gap_obs"),
            },
            notes=[
                f"fitted: the rate per {'sector (PRECINCT/SECTOR)' if sector_of else 'precinct'}"
                "; assumed: the duration (lognormal, mean "
                f"{SELF_INITIATED_MEAN_MIN:g} min, sd 0.75 x mean: the Call Data sample has no "
                "clearance time) and that only priority 1 pre-empts the work",
                "weight zone_calls: a free unit finds work in proportion to the call volume of "
                "the beat it patrols (rate_per_hour is the rate in a beat of average volume)",
                "the Call Data sample (beat C3) has 13 on-view events of 221 (6 %): a sample of "
                "dispatched calls, not of officers' time, so it does not fix the rate",
                "the fleet scale is the one that fits priority 1 best (priority 1 pre-empts the "
                "work, so it sees every on-duty unit)",
            ]
            + (
                [
                    "per sector: each sector's observed gap is shrunk toward its precinct's, "
                    f"weight n / (n + {SECTOR_SHRINK_BEATS:g}) for n scored beats; fitted on "
                    "the fit year only"
                ]
                if sector_of
                else []
            ),
        )
    )
    report.details["refinement"] = history
    return scenario, fleet


def _decomposition(
    scenario: dict[str, Any],
    p1: pd.DataFrame,
    p2: pd.DataFrame,
    beats_of: dict[str, list[str]],
    report: FitReport,
    horizon: float,
) -> dict[str, Any]:
    """Split each precinct's P1 and P2 mean response into processing, queueing and travel."""
    calls, units = incident_frame(scenario, horizon=horizon)
    prec_of = {z: d for d, zs in beats_of.items() for z in zs}
    calls = calls.assign(precinct=calls["zone_id"].map(prec_of))
    unit_prec = [prec_of.get(str(u["post"]), "") for u in scenario["units"]]
    si_min = np.asarray(units.get("self_initiated_min", np.zeros(len(unit_prec))), dtype=float)
    on_duty = np.asarray(units["on_duty_min"], dtype=float)
    busy = np.asarray(units["busy_min"], dtype=float)
    obs = {1: p1.set_index("zone_id")["mean_min"], 2: p2.set_index("zone_id")["mean_min"]}
    out: dict[str, Any] = {}
    for d in sorted(beats_of):
        rows: dict[str, Any] = {}
        for k in (1, 2):
            g = calls.loc[(calls["precinct"] == d) & (calls["priority"] == k)]
            if g.empty:
                continue
            o = obs[k].reindex(beats_of[d]).dropna()
            rows[f"p{k}"] = {
                "twin_mean_min": round(float(g["response"].mean()), 3),
                "observed_mean_of_beats_min": round(float(o.mean()), 3) if len(o) else None,
                "processing_min": round(float((g["delay"] + g["turnout"]).mean()), 3),
                "queueing_min": round(float(g["wait"].mean()), 3),
                "travel_min": round(float(g["drive"].mean()), 3),
            }
        mine = np.asarray([p == d for p in unit_prec])
        if mine.any() and on_duty[mine].sum() > 0:
            rows["share_of_on_duty_time"] = {
                "on_calls": round(float(busy[mine].sum() / on_duty[mine].sum()), 3),
                "self_initiated": round(float(si_min[mine].sum() / on_duty[mine].sum()), 3),
            }
        out[d] = rows
    report.details["police_decomposition"] = out
    report.add(
        Parameter(
            name="check: police mean response = processing + queueing + travel, per precinct",
            value={d: {k: v for k, v in r.items() if k in ("p1", "p2")} for d, r in out.items()},
            data=f"the fitted scenario run {horizon / 1440:.0f} days (fit year's demand)",
            fit={d: r.get("share_of_on_duty_time") for d, r in out.items()},
            notes=[
                "processing = call taking, dispatch and turnout (turnout_min: the means cannot "
                "separate them); queueing = waiting for a free unit (behind calls and "
                "officer-initiated work); travel = driving",
            ],
        )
    )
    return out


def _shift_police_units(
    scenario: dict[str, Any],
    fleet: dict[str, int],
    beats_of: dict[str, list[str]],
    busy_of: dict[str, float],
    report: FitReport,
    *,
    alpha: float | None = None,
) -> dict[str, ShiftFleet]:
    """Put the police fleet on three daily 8-hour watches sized by each watch's demand.

    Each precinct keeps the unit-hours of its round-the-clock fit (``fleet[d] x 24``) as
    ``3 x fleet[d]`` shift slots split by the offered load (calls x mean busy time) in each
    watch's hours; units of a watch are posted by beat demand in those hours. Rebuilds
    ``scenario['units']`` in place, reports the split and returns it per precinct.
    """
    splits = _place_shifted(scenario, fleet, {}, beats_of, busy_of=busy_of, alpha=alpha)
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
    alpha: float | None = None,
) -> dict[str, ShiftFleet]:
    """Rebuild ``scenario['units']`` as 8-hour watches (called like ``relabel_units``).

    ``rates`` is unused (each watch's beat demand comes from the zones' rates and profiles);
    it keeps the signature of :func:`twin.calibrate.refine.relabel_units`. With *alpha*
    (model ``beats``) each watch's units are posted by :func:`beat_posts` and patrol their beat.
    """
    del rates
    sector_of = {str(z["id"]): str(z.get("sector") or "") for z in scenario["zones"]}
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
            if alpha is not None:
                sec = {z: sector_of.get(z) or z for z in beats}
                posts = beat_posts(sf.counts[key], rates_s, sec, alpha)
                _units_at(part, d, posts, {z: z for z in beats}, f"spd-{h0:02d}")
            elif any(sector_of.get(z) for z in beats):
                posts = sector_posts(sf.counts[key], rates_s, {z: sector_of[z] for z in beats})
                _units_at(part, d, posts, {z: sector_of[z] for z in beats}, f"spd-{h0:02d}")
            else:
                relabel_units(part, {d: sf.counts[key]}, rates_s, beats_of, prefix=f"spd-{h0:02d}")
            for u in part["units"]:
                u["shift"] = {"start": key, "hours": int(sf.hours)}
                units.append(u)
    scenario["units"] = units
    return splits


def _sectors(zones: pd.DataFrame) -> dict[str, str]:
    """Return each beat's sector: the beat file's ``sector`` (the lake's zone ``name``)."""
    if "name" not in zones.columns:
        return {}
    return {
        str(z): str(n)
        for z, n in zip(zones["zone_id"], zones["name"], strict=True)
        if isinstance(n, str) and n.strip()
    }


def sector_posts(
    n: int, demand: Mapping[str, float], sector_of: Mapping[str, str]
) -> dict[str, int]:
    """Post one precinct watch's *n* units on its beats, staffing every sector (beat presence).

    Each sector gets one unit per beat when the watch has at least one unit per beat of the
    precinct, else one unit when it has at least one per sector (else none); the remaining
    units go to the sectors by their demand (largest remainder). Within a sector, units are
    posted one per beat first, then by beat demand.

    Args:
        n: Units of the watch.
        demand: Expected calls per beat in the watch's hours.
        sector_of: Sector of each beat (the beats of one precinct).

    Returns:
        Units per beat (every beat listed, in sorted order).

    """
    beats = sorted(sector_of)
    secs = sorted(set(sector_of.values()))
    members = {s: [z for z in beats if sector_of[z] == s] for s in secs}
    if n >= len(beats):
        base = [len(members[s]) for s in secs]
    elif n >= len(secs):
        base = [1] * len(secs)
    else:
        base = [0] * len(secs)
    extra = largest_remainder(
        n - sum(base), [sum(float(demand[z]) for z in members[s]) for s in secs]
    )
    out: dict[str, int] = {}
    for s, b, e in zip(secs, base, extra, strict=True):
        zs = members[s]
        m = b + e
        first = min(m, len(zs))
        rest = largest_remainder(m - first, [float(demand[z]) for z in zs])
        ranked = sorted(zs, key=lambda z: (-float(demand[z]), z))[:first]
        for z, r in zip(zs, rest, strict=True):
            out[z] = r + (1 if z in ranked else 0)
    return {z: out[z] for z in beats}


#: Model ``beats``: units per beat ~ beat demand ** alpha within each sector, sectors by the
#: sum. Chosen by hand on the fit year (2015) from the twin's P2 - P1 gap slope over the 51
#: beats (real +1.36 min per ln(calls/day)), one-seed 52-week runs of the refined twin: alpha
#: 0 -> +5.2, 0.2 -> +2.0 / +3.5 (seeds 8 / 9), 0.4 -> -0.04, 0.6 -> -2.2, 1 -> -4.9.
BEAT_POSTING_ALPHA = 0.25

#: A beat with less than this share of its precinct's mean beat demand in a watch gets no post
#: (the harbour beats H1-H3: a handful of calls a year).
MIN_POSTED_DEMAND_SHARE = 0.1


def beat_posts(
    n: int, demand: Mapping[str, float], sector_of: Mapping[str, str], alpha: float
) -> dict[str, int]:
    """Post one precinct watch's *n* units on beats by demand ** *alpha* (model ``beats``).

    Beats with less than :data:`MIN_POSTED_DEMAND_SHARE` of the mean beat demand get no unit.
    Sectors (with a posted beat) get their units by largest remainder on the sum of their
    beats' weights ``demand ** alpha``, at least one each when *n* allows; within a sector the
    beats share them by the same weights. ``alpha = 0`` posts equally per beat (SPD's one car
    per beat), ``alpha = 1`` by demand.

    Args:
        n: Units of the watch.
        demand: Expected calls per beat in the watch's hours.
        sector_of: Sector of each beat (the beats of one precinct).
        alpha: Exponent in [0, 1].

    Returns:
        Units per beat (every beat listed, in sorted order).

    Raises:
        ValueError: *alpha* outside [0, 1].

    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"posting exponent {alpha}: must be in [0, 1]")
    beats = sorted(demand)
    mean = float(np.mean([float(demand[z]) for z in beats])) if beats else 0.0
    w = {
        z: float(demand[z]) ** alpha
        if mean > 0 and float(demand[z]) >= MIN_POSTED_DEMAND_SHARE * mean
        else 0.0
        for z in beats
    }
    secs = sorted({sector_of[z] for z in beats if w[z] > 0})
    seats = largest_remainder(
        n,
        [sum(w[z] for z in beats if sector_of[z] == s) for s in secs],
        minimum=1 if n >= len(secs) else 0,
    )
    out = dict.fromkeys(beats, 0)
    for s, k in zip(secs, seats, strict=True):
        zs = [z for z in beats if sector_of[z] == s and w[z] > 0]
        for z, m in zip(zs, largest_remainder(k, [w[z] for z in zs]), strict=True):
            out[z] = m
    return out


def _units_at(
    part: dict[str, Any],
    precinct: str,
    posts: Mapping[str, int],
    sector_of: Mapping[str, str],
    prefix: str,
) -> None:
    """Write ``part['units']``: *posts* units per beat, each patrolling its sector's beats."""
    units: list[dict[str, Any]] = []
    i = 0
    for z in sorted(posts):
        area = sorted(b for b in sector_of if sector_of[b] == sector_of[z])
        for _ in range(posts[z]):
            i += 1
            units.append(
                {"id": f"{prefix}-{precinct}-{i:02d}", "post": z, "area": area, "kind": "patrol"}
            )
    part["units"] = units


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
