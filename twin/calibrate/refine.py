"""Simulation-based refinement: tune dispatch delay, speed and fleet with the engine itself.

Two refinements: :func:`refine_police` (fleet, dispatch delay and a travel factor of the
non-emergency classes) and :func:`refine_self_initiated` (fleet from priority 1, then each
precinct's rate of officer-initiated work from its priority-2 minus priority-1 gap, no travel
factor): Seattle police uses the second.

The analytic first guess (:mod:`twin.calibrate.travel`, :mod:`twin.calibrate.fleet`) ignores
what the engine really does (units returning to post, patrol positions, non-exponential
on-scene times, cross-precinct dispatch). :func:`refine_police` runs the twin a few times with
common random numbers, scaling the whole fleet and shifting the dispatch delay to fit the
priority-1 beat means, and keeps the fleet that fits priority 1 best (within 0.02 MAPE) and,
among those, priority 2 best. The speed keeps its analytic fit: beat
means are too noisy to move it reliably.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from twin.model.engine import Simulation
from twin.scenario import parse_scenario
from twin.statistics import largest_remainder

__all__ = [
    "beat_means",
    "incident_frame",
    "refine_police",
    "refine_self_initiated",
    "relabel_units",
    "shrunk_gaps",
]


def beat_means(
    scenario: Mapping[str, Any],
    *,
    horizon: float,
    seed: int = 7,
    replications: int = 1,
    agency: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Simulate and return mean response and drive per zone x priority.

    Args:
        scenario: Scenario mapping.
        horizon: Minutes of statistics (the scenario's warm-up is kept).
        seed: Seed (the same in every call: common random numbers).
        replications: Replications pooled.
        agency: Only this agency's incidents (a multi-agency scenario); None: all.
        progress: Called with the replication number after each replication.

    Returns:
        Columns ``zone_id, priority, mean, drive, count``.

    """
    f, _units = incident_frame(
        scenario,
        horizon=horizon,
        seed=seed,
        replications=replications,
        agency=agency,
        progress=progress,
    )
    return _cell_means(f)


def relabel_units(
    scenario: dict[str, Any],
    fleet: Mapping[str, int],
    rates: Mapping[str, float],
    beats_of: Mapping[str, list[str]],
    prefix: str = "spd",
) -> None:
    """Rebuild ``scenario['units']`` for a fleet per district (posts by demand, in place)."""
    units: list[dict[str, Any]] = []
    for d in sorted(fleet):
        beats = beats_of[d]
        alloc = dict(
            zip(beats, largest_remainder(fleet[d], [rates[z] for z in beats]), strict=True)
        )
        i = 0
        for z in sorted(alloc):
            for _ in range(alloc[z]):
                i += 1
                units.append(
                    {
                        "id": f"{prefix}-{d}-{i:02d}",
                        "post": z,
                        "area": list(beats),
                        "kind": "patrol",
                    }
                )
    scenario["units"] = units


def _residuals(sim: pd.DataFrame, obs: pd.DataFrame, min_count: int) -> pd.DataFrame:
    j = sim.merge(obs, on=["zone_id", "priority"])
    j = j.loc[j["priority"].isin([1, 2])]
    if ((j["priority"] == 1) & (j["count"] >= min_count)).sum() < 3:
        min_count = min(min_count, 5)  # a short run: score the cells it has
    j = j.loc[j["count"] >= min_count].copy()
    j["resid"] = j["mean_obs"] - j["mean"]
    return j


def _mape(j: pd.DataFrame, k: int, shift: float) -> float | None:
    jk = j.loc[j["priority"] == k]
    if jk.empty:
        return None
    return float(np.mean(np.abs(jk["mean"] + shift - jk["mean_obs"]) / jk["mean_obs"]))


def _set_factor(scenario: dict[str, Any], factor: float, levels: tuple[int, ...]) -> None:
    for entry in scenario.get("priorities", []):
        if int(entry["level"]) in levels:
            entry["travel_factor"] = round(float(factor), 4)


def _fit_p2(
    j: pd.DataFrame, shift: float, f0: float, grid: np.ndarray
) -> tuple[float, float | None]:
    """Return the priority-2 travel factor (from *grid*) minimising the priority-2 MAPE.

    A cell's simulated mean with factor ``f`` is ``mean + shift + (f / f0 - 1) * drive``
    (first order: the extra busy time it causes is checked by a later run).
    """
    j2 = j.loc[j["priority"] == 2]
    if j2.empty:
        return f0, None
    pred = (
        j2["mean"].to_numpy()[None, :]
        + shift
        + (grid[:, None] / f0 - 1.0) * j2["drive"].to_numpy()[None, :]
    )
    err = np.mean(np.abs(pred - j2["mean_obs"].to_numpy()[None, :]) / j2["mean_obs"].to_numpy(), 1)
    i = int(np.argmin(err))
    return float(grid[i]), float(err[i])


def refine_police(
    scenario: dict[str, Any],
    observed: pd.DataFrame,
    fleet: Mapping[str, int],
    rates: Mapping[str, float],
    beats_of: Mapping[str, list[str]],
    *,
    factors: tuple[float, ...] = (0.8, 0.9, 1.0, 1.15, 1.3, 1.5),
    horizon: float = 13 * 10080.0,
    seed: int = 7,
    min_count: int = 30,
    t0_bounds: tuple[float, float] = (0.5, 15.0),
    travel_levels: tuple[int, ...] = (2, 3, 4),
    travel_bounds: tuple[float, float] = (1.0, 4.0),
    polish_rounds: int = 2,
    precinct_rounds: int = 4,
    place_units: Callable[..., object] | None = None,
) -> tuple[dict[str, Any], dict[str, int], list[dict[str, Any]]]:
    """Scale the fleet, shift the dispatch delay and fit the non-emergency travel factor.

    For every fleet factor ``f`` (each precinct's analytic fleet times ``f``) the twin is run
    once (same seed: common random numbers). The residuals ``observed - simulated`` of the
    priority-1 beat means give the additive shift of ``turnout_min`` (within ``t0_bounds``)
    that minimises their mean absolute percentage error; the priority-2 residuals left after
    it give the travel factor of the non-emergency classes (``travel_levels``: driven without
    lights and sirens), from the simulated mean drive per beat. So priority 2's extra delay is
    split between queueing (the fleet) and slower driving (the factor); the fleet whose split
    fits both priorities best (smallest sum of the two MAPEs) wins. ``precinct_rounds`` runs
    then move each precinct's fleet against its own priority-2 bias, and ``polish_rounds``
    more runs correct shift and factor for the changed busy time and queueing.

    Args:
        scenario: The analytic scenario mapping (not modified).
        observed: Columns ``zone_id, priority, mean_min`` (priorities 1 and 2).
        fleet: Analytic units per precinct.
        rates: Smoothed call rate per zone (posts follow demand).
        beats_of: Precinct -> its beats.
        factors: Fleet scale factors tried.
        horizon: Simulated minutes per run.
        seed: Seed shared by every run.
        min_count: Beat x priority cells with fewer simulated calls are not scored (5 when
            fewer than 3 priority-1 cells reach it: a short run).
        t0_bounds: Allowed ``turnout_min`` range.
        travel_levels: Priority levels that get the fitted travel factor.
        travel_bounds: Allowed travel factor range.
        polish_rounds: Extra runs of the chosen fleet to correct shift and factor.
        precinct_rounds: Runs that move each precinct's fleet by about 8 % towards its own
            priority-2 bias (the best state by the sum of both MAPEs is kept).
        place_units: Rebuilds ``scenario['units']`` for a fleet per district, called like
            :func:`relabel_units` (default that function: units on duty 24 hours).

    Returns:
        ``(scenario, fleet, history)``: the tuned mapping, its fleet, one record per run.

    """
    relabel = place_units or relabel_units
    obs = observed.rename(columns={"mean_min": "mean_obs"})[["zone_id", "priority", "mean_obs"]]
    t0 = float(scenario["travel"]["turnout_min"])
    f0 = next(
        (
            float(e.get("travel_factor", 1.0))
            for e in scenario.get("priorities", [])
            if int(e["level"]) in travel_levels
        ),
        1.0,
    )
    fgrid = np.arange(travel_bounds[0], travel_bounds[1] + 1e-9, 0.02)
    history: list[dict[str, Any]] = []
    tried: list[tuple[float, float, dict[str, int], float, float]] = []
    seen: set[tuple[tuple[str, int], ...]] = set()

    def score(j: pd.DataFrame, t0_now: float, f_now: float) -> tuple[float, float, float | None]:
        grid = np.arange(t0_bounds[0] - t0_now, t0_bounds[1] - t0_now + 1e-9, 0.05)
        p1 = (j["priority"] == 1).to_numpy()
        if not p1.any():
            return 0.0, f_now, None
        rel = np.abs(j["resid"].to_numpy()[None, :] - grid[:, None]) / j["mean_obs"].to_numpy()
        i = int(np.argmin(rel[:, p1].mean(axis=1)))
        shift = float(grid[i])
        f_best, _ = _fit_p2(j, shift, f_now, fgrid)
        return shift, f_best, float(rel[i, p1].mean())

    for f in factors:
        fl = {d: max(1, round(c * f)) for d, c in fleet.items()}
        key = tuple(sorted(fl.items()))
        if key in seen:
            continue
        seen.add(key)
        trial = copy.deepcopy(scenario)
        relabel(trial, fl, rates, beats_of)
        j = _residuals(beat_means(trial, horizon=horizon, seed=seed), obs, min_count)
        if j.empty:
            continue
        shift, f_best, m1 = score(j, t0, f0)
        _, m2 = _fit_p2(j, shift, f0, fgrid)
        history.append(
            {
                "stage": "fleet search",
                "factor": f,
                "fleet": fl,
                "turnout_min": round(t0 + shift, 3),
                "travel_factor": round(f_best, 4),
                "cells": len(j),
                "mape_p1": m1,
                "mape_p2": m2,
                "mape_p2_without_factor": _mape(j, 2, shift),
                "sse": (m1 or 0.0) + (m2 or 0.0),
            }
        )
        tried.append(
            (
                m1 if m1 is not None else float("inf"),
                m2 if m2 is not None else float("inf"),
                fl,
                shift,
                f_best,
            )
        )
    sc = copy.deepcopy(scenario)
    if not tried:
        relabel(sc, dict(fleet), rates, beats_of)
        return sc, dict(fleet), history
    _, _, fl, shift, f_best = min(tried, key=lambda t: t[0] + t[1])
    t_now = round(t0 + shift, 3)
    sc["travel"]["turnout_min"] = t_now
    _set_factor(sc, f_best, travel_levels)
    relabel(sc, fl, rates, beats_of)
    # per-precinct fleet: a precinct whose priority-2 beats are too fast in the twin has too
    # many units (too little queueing), and the other way round
    best_state = (float("inf"), dict(fl))
    prec_of = {z: d for d, zs in beats_of.items() for z in zs}
    for r in range(precinct_rounds):
        j = _residuals(beat_means(sc, horizon=horizon, seed=seed), obs, min_count)
        if j.empty:
            break
        m1, m2 = _mape(j, 1, 0.0), _mape(j, 2, 0.0)
        total = (m1 or 0.0) + (m2 or 0.0)
        j2 = j.loc[j["priority"] == 2].copy()
        j2["precinct"] = j2["zone_id"].map(prec_of)
        bias = ((j2["mean"] - j2["mean_obs"]) / j2["mean_obs"]).groupby(j2["precinct"]).mean()
        history.append(
            {
                "stage": f"precinct fleet {r + 1}",
                "fleet": dict(fl),
                "turnout_min": t_now,
                "travel_factor": f_best,
                "cells": len(j),
                "mape_p1": m1,
                "mape_p2": m2,
                "p2_bias_by_precinct": {str(k): float(v) for k, v in bias.items()},
            }
        )
        if total < best_state[0]:
            best_state = (total, dict(fl))
        step = {
            d: (-1 if b < -0.05 else 1 if b > 0.05 else 0) * max(1, round(0.08 * fl[d]))
            for d, b in bias.items()
            if d in fl
        }
        if not any(step.values()):
            break
        fl = {d: max(1, c + step.get(d, 0)) for d, c in fl.items()}
        relabel(sc, fl, rates, beats_of)
    else:
        j = _residuals(beat_means(sc, horizon=horizon, seed=seed), obs, min_count)
        if not j.empty:
            total = (_mape(j, 1, 0.0) or 0.0) + (_mape(j, 2, 0.0) or 0.0)
            history.append(
                {
                    "stage": "precinct fleet final",
                    "fleet": dict(fl),
                    "mape_p1": _mape(j, 1, 0.0),
                    "mape_p2": _mape(j, 2, 0.0),
                }
            )
            if total < best_state[0]:
                best_state = (total, dict(fl))
    if precinct_rounds > 0 and best_state[0] < float("inf"):
        fl = best_state[1]
        relabel(sc, fl, rates, beats_of)
    for r in range(polish_rounds):
        j = _residuals(beat_means(sc, horizon=horizon, seed=seed), obs, min_count)
        if j.empty:
            break
        m1_before = _mape(j, 1, 0.0)
        m2_before = _mape(j, 2, 0.0)
        shift, f_new, _ = score(j, t_now, f_best)
        history.append(
            {
                "stage": f"polish {r + 1}",
                "fleet": fl,
                "turnout_min": t_now,
                "travel_factor": f_best,
                "cells": len(j),
                "mape_p1": m1_before,
                "mape_p2": m2_before,
                "next_turnout_min": round(t_now + shift, 3),
                "next_travel_factor": round(f_new, 4),
            }
        )
        t_now = round(t_now + shift, 3)
        f_best = f_new
        sc["travel"]["turnout_min"] = t_now
        _set_factor(sc, f_best, travel_levels)
    return sc, fl, history


def incident_frame(
    scenario: Mapping[str, Any],
    *,
    horizon: float,
    seed: int = 7,
    replications: int = 1,
    agency: str | None = None,
    progress: Callable[[int], None] | None = None,
    source: str = "refinement",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate; return the calls (zone, class, response parts) and the units' columns.

    The one place the calibration turns a twin run into per-call figures (beat means, the
    lever check and the decomposition all read it).

    Args:
        scenario: Scenario mapping.
        horizon: Minutes of statistics (the scenario's warm-up is kept).
        seed: Seed (the same in every call: common random numbers).
        replications: Replications pooled (replication r uses ``Simulation(replication=r)``).
        agency: Only this agency's calls and units (a multi-agency scenario); None: all.
        progress: Called with the replication number after each replication.
        source: What the scenario is, for a validation message.

    Returns:
        ``(calls, units)``: calls with ``zone_id, priority, response, wait, drive, turnout,
        delay`` (minutes: received -> on scene, waiting for a unit, driving, turnout, dispatch
        delay; calls never answered left out) and the runs' ``units`` columns
        (``units.parquet``, replications one after the other).

    Raises:
        ValueError: *agency* is not one of the scenario's agencies.

    """
    data = dict(scenario)
    data["horizon"] = float(horizon)
    sc = parse_scenario(data, source=source)
    frames: list[pd.DataFrame] = []
    unit_parts: list[dict[str, Any]] = []
    for r in range(replications):
        run = Simulation(sc, seed=seed, replication=r, collect=False).run()
        inc = run.incidents
        frame = pd.DataFrame(
            {
                "zone_id": np.asarray(run.zone_ids, dtype=object)[inc["zone"]],
                "priority": inc["priority"],
                "response": inc["response_min"],
                "wait": inc["wait_min"],
                "drive": inc["travel_min"],
                "turnout": inc["turnout_min"],
                "delay": inc["dispatch_delay_min"],
            }
        )
        units = dict(run.units)
        if agency is not None and len(run.agencies) > 1:
            if agency not in run.agencies:
                raise ValueError(f"agency {agency!r} is not one of {run.agencies}")
            a = run.agencies.index(agency)
            frame = frame.loc[np.asarray(inc["agency"]) == a]
            keep = np.asarray(run.unit_agency) == a
            units = {k: np.asarray(v)[keep] for k, v in units.items()}
        frames.append(frame)
        unit_parts.append(units)
        if progress is not None:
            progress(r)
    calls = pd.concat(frames, ignore_index=True).dropna(subset=["response"])
    units_all = {k: np.concatenate([np.asarray(u[k]) for u in unit_parts]) for k in unit_parts[0]}
    return calls, units_all


def _cell_means(frame: pd.DataFrame) -> pd.DataFrame:
    g = frame.groupby(["zone_id", "priority"])
    return pd.DataFrame(
        {"mean": g["response"].mean(), "drive": g["drive"].mean(), "count": g.size()}
    ).reset_index()


def _precinct_gaps(j: pd.DataFrame, prec_of: Mapping[str, str]) -> pd.DataFrame:
    """Per precinct: mean over its scored beats of P1 and P2, twin and observed, and the gaps."""
    jj = j.assign(precinct=j["zone_id"].map(prec_of))
    rows = []
    for d, g in jj.groupby("precinct"):
        g1, g2 = g.loc[g["priority"] == 1], g.loc[g["priority"] == 2]
        if g1.empty or g2.empty:
            continue
        rows.append(
            {
                "precinct": str(d),
                "gap_twin": float(g2["mean"].mean() - g1["mean"].mean()),
                "gap_obs": float(g2["mean_obs"].mean() - g1["mean_obs"].mean()),
                "p2_bias": float(((g2["mean"] - g2["mean_obs"]) / g2["mean_obs"]).mean()),
            }
        )
    return pd.DataFrame(rows).set_index("precinct")


def shrunk_gaps(
    sector_gap: Mapping[str, float],
    precinct_gap: Mapping[str, float],
    beats: Mapping[str, int],
    shrink_beats: float,
) -> dict[str, float]:
    """Shrink each sector's observed gap toward its precinct's: ``w g_s + (1 - w) g_p``.

    ``w = n / (n + shrink_beats)`` with ``n`` the sector's scored beats; a sector key is
    ``PRECINCT/SECTOR`` (a key without ``/``, or a precinct without a gap, is kept as is).
    """
    out: dict[str, float] = {}
    for k, g in sector_gap.items():
        p = precinct_gap.get(k.split("/")[0]) if "/" in k else None
        n = float(beats.get(k, 0))
        w = n / (n + shrink_beats) if n + shrink_beats > 0 else 1.0
        out[k] = float(g) if p is None else w * float(g) + (1.0 - w) * float(p)
    return out


def refine_self_initiated(
    scenario: dict[str, Any],
    observed: pd.DataFrame,
    fleet: Mapping[str, int],
    rates: Mapping[str, float],
    beats_of: Mapping[str, list[str]],
    *,
    place_units: Callable[..., object],
    duration: Mapping[str, Any],
    agency: str = "police",
    weight: str = "zone_calls",
    dispatch_scope: str = "district",
    overflow_after_min: float | None = None,
    rate0: float = 4.0,
    factors: tuple[float, ...] = (0.8, 0.9, 1.0, 1.15, 1.3),
    rounds: int = 6,
    horizon: float = 13 * 10080.0,
    seed: int = 7,
    min_count: int = 30,
    t0_bounds: tuple[float, float] = (0.5, 15.0),
    rate_bounds: tuple[float, float] = (0.05, 30.0),
    sector_of: Mapping[str, str] | None = None,
    shrink_beats: float = 1.0,
    power: float = 1.5,
) -> tuple[dict[str, Any], dict[str, int], list[dict[str, Any]]]:
    """Fit the fleet to priority 1 and each precinct's self-initiated rate to its P2 - P1 gap.

    Every class drives at the same speed (no travel factor): priority 2's extra delay is
    waiting, for units busy on calls or on officer-initiated work (``self_initiated``, which
    only priority 1 may pre-empt). Stage 1: with the work at ``rate0`` everywhere, each fleet
    scale (the analytic fleet times ``factors``) is run once with common random numbers and
    ``turnout_min`` shifted to fit the priority-1 beat means; the fleet whose priority-1 MAPE is
    least is kept (priority 1 sees every on-duty unit, so it pins how dense the fleet is).
    Stage 2: ``rounds`` runs move each precinct's rate towards its observed gap,
    ``rate x (gap_obs / gap_twin) ** power`` (bounded to a factor 3 per round and to
    ``rate_bounds``), re-shifting ``turnout_min`` each time; the round with the least sum of
    the priority-1 and -2 MAPEs is kept.

    With ``sector_of`` (zones' sectors) stage 2 fits one rate per sector instead (entries
    ``DISTRICT/SECTOR`` of ``self_initiated.districts``, each starting from its precinct's
    rate), towards the sector's gap shrunk toward its precinct's:
    ``w * gap_sector + (1 - w) * gap_precinct`` with ``w = n / (n + shrink_beats)``, ``n`` the
    sector's scored beats (a sector with few published beat means leans on its precinct).

    Args:
        scenario: The analytic police scenario (not modified).
        observed: ``zone_id, priority, mean_min`` (priorities 1 and 2 of the fit year).
        fleet: Analytic units per precinct (round the clock).
        rates: Call rate per zone.
        beats_of: Precinct -> its beats.
        place_units: Rebuilds ``scenario['units']`` (watches), like :func:`relabel_units`.
        duration: Distribution spec of one piece of work (assumed, not fitted).
        agency: The agency of the work.
        weight: ``self_initiated.weight``.
        dispatch_scope: ``self_initiated.dispatch_scope``.
        overflow_after_min: ``self_initiated.overflow_after_min`` (None: left out).
        rate0: Starting rate per free unit-hour.
        factors: Fleet scales tried in stage 1.
        rounds: Runs of stage 2.
        horizon: Simulated minutes per run.
        seed: Seed shared by every run.
        min_count: Least simulated calls in a scored beat x class cell.
        t0_bounds: Allowed ``turnout_min``.
        rate_bounds: Allowed rates.
        sector_of: Sector of each zone (zones without one keep their precinct's rate); None:
            one rate per precinct.
        shrink_beats: Pseudo-count of the shrinkage of a sector's gap toward its precinct's.
        power: Exponent of the rate update (smaller: damped, for small noisy pools).

    Returns:
        ``(scenario, fleet, history)``.

    """
    obs = observed.rename(columns={"mean_min": "mean_obs"})[["zone_id", "priority", "mean_obs"]]
    prec_of = {z: d for d, zs in beats_of.items() for z in zs}
    base = copy.deepcopy(scenario)
    for entry in base.get("priorities", []):
        entry.pop("travel_factor", None)  # every class drives at the fitted speed
    t0 = float(base["travel"]["turnout_min"])
    lam = {d: float(rate0) for d in sorted(fleet)}

    def with_work(sc: dict[str, Any], lam_now: Mapping[str, float]) -> dict[str, Any]:
        sc["self_initiated"] = {
            "agency": agency,
            "weight": weight,
            "dispatch_scope": dispatch_scope,
            "districts": {
                d: {"rate_per_hour": round(float(r), 4), "duration": dict(duration)}
                for d, r in lam_now.items()
            },
        }
        if overflow_after_min is not None:
            sc["self_initiated"]["overflow_after_min"] = float(overflow_after_min)
        return sc

    def run(sc: dict[str, Any]) -> pd.DataFrame:
        frame, _ = incident_frame(sc, horizon=horizon, seed=seed)
        return _residuals(_cell_means(frame), obs, min_count)

    def p1_shift(j: pd.DataFrame, t_now: float) -> tuple[float, float | None]:
        grid = np.arange(t0_bounds[0] - t_now, t0_bounds[1] - t_now + 1e-9, 0.05)
        j1 = j.loc[j["priority"] == 1]
        if j1.empty:
            return 0.0, None
        rel = np.abs(j1["resid"].to_numpy()[None, :] - grid[:, None]) / j1["mean_obs"].to_numpy()
        i = int(np.argmin(rel.mean(axis=1)))
        return float(grid[i]), float(rel[i].mean())

    history: list[dict[str, Any]] = []
    best_fleet: tuple[float, dict[str, int], float] | None = None
    seen: set[tuple[tuple[str, int], ...]] = set()
    for f in factors:
        fl = {d: max(1, round(c * f)) for d, c in fleet.items()}
        key = tuple(sorted(fl.items()))
        if key in seen:
            continue
        seen.add(key)
        trial = with_work(copy.deepcopy(base), lam)
        place_units(trial, fl, rates, beats_of)
        j = run(trial)
        if j.empty:
            continue
        shift, m1 = p1_shift(j, t0)
        history.append(
            {
                "stage": "fleet (priority 1)",
                "factor": f,
                "fleet": fl,
                "rate_per_hour": dict(lam),
                "turnout_min": round(t0 + shift, 3),
                "mape_p1": m1,
                "mape_p2": _mape(j, 2, shift),
            }
        )
        if m1 is not None and (best_fleet is None or m1 < best_fleet[0]):
            best_fleet = (m1, fl, shift)
    fl = dict(fleet) if best_fleet is None else best_fleet[1]
    t_now = round(t0 + (best_fleet[2] if best_fleet else 0.0), 3)
    sc = with_work(copy.deepcopy(base), lam)
    place_units(sc, fl, rates, beats_of)
    # the keys fitted in stage 2: precincts, or DISTRICT/SECTOR where zones give sectors
    key_of = dict(prec_of)
    by_sector = bool(sector_of)
    if sector_of:
        key_of = {z: f"{d}/{sector_of[z]}" if sector_of.get(z) else d for z, d in prec_of.items()}
        lam = {k: lam[k.split("/")[0]] for k in sorted(set(key_of.values()))}
    best: tuple[float, dict[str, float], float] | None = None
    for r in range(rounds):
        sc["travel"]["turnout_min"] = t_now
        with_work(sc, lam)
        j = run(sc)
        if j.empty:
            break
        m1, m2 = _mape(j, 1, 0.0), _mape(j, 2, 0.0)
        gaps = _precinct_gaps(j, key_of)
        history.append(
            {
                "stage": f"self-initiated rate {r + 1}",
                "fleet": dict(fl),
                "turnout_min": t_now,
                "rate_per_hour": {d: round(v, 4) for d, v in lam.items()},
                "mape_p1": m1,
                "mape_p2": m2,
                "gap_twin": {str(k): round(float(v), 3) for k, v in gaps["gap_twin"].items()},
                "gap_obs": {str(k): round(float(v), 3) for k, v in gaps["gap_obs"].items()},
            }
        )
        total = (m1 or 0.0) + (m2 or 0.0)
        if best is None or total < best[0]:
            best = (total, dict(lam), t_now)
        new = dict(lam)
        g_twin = {str(k): float(v) for k, v in gaps["gap_twin"].items()}
        g_obs = {str(k): float(v) for k, v in gaps["gap_obs"].items()}
        if by_sector:  # shrink each sector's target toward its precinct's gap
            g_prec = {str(k): float(v) for k, v in _precinct_gaps(j, prec_of)["gap_obs"].items()}
            scored = j.loc[j["priority"] == 2, "zone_id"].map(key_of).value_counts()
            g_obs = shrunk_gaps(
                g_obs, g_prec, {str(k): int(v) for k, v in scored.items()}, shrink_beats
            )
        for d in lam:
            if d not in g_twin:
                continue
            gt, go = g_twin[d], g_obs[d]
            ratio = (max(go, 0.1) / max(gt, 0.1)) ** power
            ratio = min(3.0, max(1.0 / 3.0, ratio))
            new[d] = min(rate_bounds[1], max(rate_bounds[0], lam[d] * ratio))
        shift, _ = p1_shift(j, t_now)
        t_now = round(t_now + shift, 3)
        lam = new
    if best is not None:
        _, lam, t_now = best
    sc["travel"]["turnout_min"] = t_now
    with_work(sc, lam)
    return sc, fl, history
