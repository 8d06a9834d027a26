"""The fit report's evidence: load-response curves, out-of-period scores and the lever check.

:func:`fit_evidence` takes a finished calibration and measures what the issue asks the fit
report to show, choosing the checks by the city's kind of data (its ``scoring`` in
:mod:`twin.cities`; never by its name):

* **per-call life cycle** (``replay`` scoring: calls with received, dispatched and on-scene
  times, units' dispatched -> available): the fit days are replayed under the scenario; the
  real and the twin load-response curves (by calls in the previous hour and by units busy) are
  compared bin by bin (:func:`twin.calibrate.load.compare_curves`, stated tolerance) and each
  priority's response is decomposed into processing, queueing, turnout and travel, real and
  twin; optionally the calibration is cross-validated on day blocks
  (:func:`twin.calibrate.crossval.cross_validate_replay`).
* **published means per zone and class** (``published_means`` scoring, a ``response_stats``
  table): the twin's zone curve (zones binned by call volume) against the published one of the
  fit year (:func:`twin.calibrate.levers.zone_curve_check`), the lever check (one unit fewer /
  more per district x watch group), each district's fleet -+10 % beside what the real
  cross-sectional load-response slope predicts (:func:`twin.calibrate.levers.load_slope`),
  and the MAPE of every published year from the same run
  (:func:`twin.calibrate.crossval.score_years`).

:func:`attach` puts the result into the calibration's fit report (``details['evidence']``
plus one ``check:`` line per headline), so ``twin calibrate`` writes it with the scenario.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from twin.calibrate.assemble import Calibration, calibrate
from twin.calibrate.crossval import (
    YEAR_WEEKS,
    CrossValidation,
    Fold,
    curve_rows,
    day_blocks,
    day_scores,
    score_replay,
    score_years,
)
from twin.calibrate.data import CityData, load_city, local_dates
from twin.calibrate.levers import (
    district_fleet_lever,
    gap_slope,
    lever_check,
    load_slope,
    zone_curve_check,
    zone_means,
)
from twin.calibrate.load import (
    call_lifecycle,
    compare_curves,
    decompose,
    immediate_dispatch,
    load_response_curve,
    twin_decompose,
    twin_lifecycle,
)
from twin.calibrate.report import Parameter, jsonable
from twin.cities import get_city
from twin.replay import replay
from twin.scenario import parse_scenario

__all__ = [
    "attach",
    "calibrate_with_evidence",
    "cross_validate_replay",
    "decomposition_lines",
    "fit_evidence",
]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]


LIFECYCLE_REPLICATIONS = 5
"""Replays of the fit days pooled into the twin's load-response curve: one replay's curve
moves with the seed by about as much as the tolerance (San Francisco: elasticity -0.02 ..
+0.12 over eight seeds), the pooled one is the twin's average curve."""


def _lifecycle_evidence(
    scenario: Mapping[str, Any], data: CityData, *, seed: int, bins: int
) -> dict[str, Any]:
    cal = scenario.get("calibration") or {}
    fw = cal.get("fit_window") or {}
    days = local_dates(data.incidents["event_time"], data.tz)
    start = fw.get("start") or str(days.min())
    end = fw.get("end") or str(days.max())
    sc = parse_scenario(dict(scenario), source="fit evidence")
    res = replay(sc, "", start, end, seed=seed, data=data, replications=LIFECYCLE_REPLICATIONS)
    life = call_lifecycle(data.incidents, data.unit_responses, data.tz)
    real = life.loc[life["call"].isin(set(res.records["incident_id"].astype(str)))]
    t0 = pd.Timestamp(res.summary["replay"]["t_zero_utc"]).tz_convert(data.tz)
    twin = twin_lifecycle(
        res.records,
        t_zero_hour_of_week=int(t0.day_of_week * 24 + t0.hour),
        replication="all",
    )
    curves: list[dict[str, Any]] = []
    for load in ("calls_prev_hour", "units_busy"):
        rc = load_response_curve(real, load, bins=bins)
        tc = load_response_curve(twin, load, bins=bins)
        for prio in sorted(set(rc["priority"])):
            for m in ("received_dispatched", "dispatched_onscene", "received_onscene"):
                curves.append(compare_curves(rc, tc, priority=prio, measure=m).to_dict())
    head = [
        c
        for c in curves
        if c["priority"] == "all"
        and c["measure"] == "received_onscene"
        and c["load"] == "calls_prev_hour"
    ]
    return {
        "kind": "per-call life cycle: replay of the fit days",
        "window": [start, end],
        "twin_replications": LIFECYCLE_REPLICATIONS,
        "calls": len(real),
        "curves": curves,
        "headline": head[0] if head else None,
        "decomposition_real": _records(decompose(real)),
        "decomposition_twin": _records(twin_decompose(twin)),
        "immediate_dispatch_real": _records(immediate_dispatch(real, bins=bins)),
        "immediate_dispatch_twin": _records(immediate_dispatch(twin, bins=bins)),
    }


def _published_evidence(
    scenario: Mapping[str, Any],
    data: CityData,
    agency: str | None,
    *,
    weeks: float,
    seed: int,
    levers: bool,
    curve_weeks: float = YEAR_WEEKS,
) -> dict[str, Any]:
    the_city = get_city(data.city)
    if the_city.response_means is None or data.response_stats is None:
        return {"kind": "published means per zone and class", "error": "no published table"}
    obs = the_city.response_means(data.response_stats)
    cal = scenario.get("calibration") or {}
    fit_year = cal.get("response_fit_year") or int(obs["year"].max())
    inc = data.incidents
    if agency is not None and "agency" in inc.columns:
        inc = inc.loc[inc["agency"] == agency]
    src = inc.loc[inc["zone"].notna(), "source"].value_counts()
    inc = inc.loc[inc["source"] == src.index[0]] if len(src) else inc
    n_days = max(local_dates(inc["event_time"], data.tz).nunique(), 1)
    volume = (
        inc.groupby("zone").size().div(n_days).rename("calls_per_day").reset_index()
        if len(inc)
        else pd.DataFrame(columns=["zone", "calls_per_day"])
    )
    sim = zone_means(scenario, weeks=curve_weeks, seed=seed, agency=agency)
    real = obs.loc[obs["year"] == fit_year].rename(columns={"zone_id": "zone"})
    curve = zone_curve_check(volume, real, sim)
    years = score_years(scenario, obs, fit_year=fit_year, simulated=sim)
    out: dict[str, Any] = {
        "kind": "published means per zone and class",
        "fit_year": int(fit_year),
        "volume_source": str(src.index[0]) if len(src) else None,
        "zone_curve": curve,
        "zone_curve_years": _curve_years(volume, obs, sim, fit_year),
        "years": _records(years),
        "weeks": weeks,
        "curve_weeks": curve_weeks,
    }
    if levers:
        out["levers"] = _records(lever_check(scenario, agency=agency, weeks=weeks, seed=seed))
        out["district_levers"] = _records(
            district_fleet_lever(scenario, agency=agency, fraction=0.10, weeks=weeks, seed=seed)
        )
        slope = load_slope(volume, real)
        twin_means = sim.rename(
            columns={"zone_id": "zone", "priority": "klass", "mean": "mean_min"}
        )
        both = set(real.loc[real["klass"] == 2, "zone"]) & set(real.loc[real["klass"] == 1, "zone"])
        parts = {
            part: gap_slope(
                volume,
                sim.loc[sim["zone_id"].isin(both)].rename(
                    columns={"zone_id": "zone", "priority": "klass", part: "mean_min"}
                ),
            )[0]
            for part in ("wait", "drive")
            if part in sim.columns
        }
        out["load_slope"] = {
            "slope_min_per_ln_volume": slope,
            "twin_slope_min_per_ln_volume": load_slope(volume, twin_means),
            "twin_gap_slope_parts": {
                **parts,
                "note": "the twin's P2 - P1 gap slope split into its waiting part (P2 wait - "
                "P1 wait) and its driving part (P2 drive - P1 drive), each regressed on "
                "ln(calls per day) over the beats with both published classes",
            },
            "predicted_change_min": {
                f"fleet x {f:g}": {
                    k: v * math.log(1.0 / f) for k, v in slope.items() if k != "zones"
                }
                for f in (0.9, 1.1)
            },
            "note": "real beats of the fit year: zone mean response (and the P2 - P1 gap) "
            "regressed on ln(calls per day); a fleet x f carries 1/f the load per unit, so the "
            "cross-section predicts slope x ln(1/f) minutes. Beats differ in more than load "
            "(area, posts follow demand): an order-of-magnitude reference, not a fit",
        }
    return out


def _curve_years(
    volume: pd.DataFrame, obs: pd.DataFrame, sim: pd.DataFrame, fit_year: int
) -> list[dict[str, Any]]:
    """Check the zone curve of every published year (the fit year's volumes, one twin run).

    Years other than the fit year are out of sample: their gaps sit at other levels (the
    published P2 - P1 gap grew from about 5 to 10 minutes over 2009-2019), so the per-bin
    tolerance mostly measures that drift; the direction (busiest - quietest) is the part a
    year-agnostic twin can be held to.
    """
    rows: list[dict[str, Any]] = []
    for year in sorted({int(y) for y in obs["year"]}):
        real = obs.loc[obs["year"] == year].rename(columns={"zone_id": "zone"})
        if real.empty:
            continue
        c = zone_curve_check(volume, real, sim)
        rows.append(
            {
                "year": year,
                "in_sample": year == int(fit_year),
                "gap_real": c["gap_real"],
                "gap_change_real": c["gap_change_real"],
                "gap_change_twin": c["gap_change_twin"],
                "same_direction": c["same_direction"],
                "bins_within": sum(c["within"]),
                "passed": c["passed"],
            }
        )
    return rows


def cross_validate_replay(
    lake_dir: Path | str,
    city: str,
    *,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    n_blocks: int = 2,
    replications: int = 1,
    seed: int = 1,
    data: CityData | None = None,
    calibrate_fn: Callable[..., Any] | None = None,
    curve_loads: Sequence[str] = ("calls_prev_hour", "units_busy"),
    curve_bins: int = 5,
    span: tuple[date, date] | None = None,
    in_sample: bool = True,
    curves: bool = True,
    progress: Callable[[str], None] | None = None,
) -> CrossValidation:
    """Fit on all blocks but one, replay and score the held-out block; every block, every variant.

    Args:
        lake_dir: The lake.
        city: A city whose calls carry a per-call life cycle (replayable).
        variants: Name -> keyword arguments of the calibration (default: one variant,
            ``{"refine_rounds": 3}``).
        n_blocks: Consecutive day blocks (2: fit week A score week B, and the reverse).
        replications: Replay replications per score.
        seed: Replay seed.
        data: The city's tables when already loaded.
        calibrate_fn: The calibration function (default :func:`twin.calibrate.calibrate`).
        curve_loads: Load measures of the held-out load-response comparison.
        curve_bins: Bins of that comparison.
        span: Only days within ``[first, last]`` make the blocks (e.g. every day before the
            night to be scored; the fits may still use days outside the span).
        in_sample: Also replay and score the fit days (``Fold.in_sample`` stays empty
            otherwise; the choice then uses out-of-sample scores only).
        curves: Also compare the held-out load-response curves and decompose.
        progress: Called with a short line before each fit and replay.

    Returns:
        The :class:`CrossValidation`.

    """
    if calibrate_fn is None:
        calibrate_fn = calibrate
    data = data or load_city(lake_dir, city)
    variants = variants or {"refine3": {"refine_rounds": 3}}
    blocks = day_blocks(data, n_blocks, span)
    life = call_lifecycle(data.incidents, data.unit_responses, data.tz) if curves else None
    say = progress or (lambda _s: None)
    folds: list[Fold] = []
    for vname, kw in variants.items():
        for i, (t0, t1) in enumerate(blocks):
            fit_blocks = [b for j, b in enumerate(blocks) if j != i]
            f0, f1 = fit_blocks[0][0], fit_blocks[-1][1]
            say(f"{vname}: fit {f0}..{f1} (hold out {t0}..{t1})")
            cal = calibrate_fn(lake_dir, city, holdout_start=t0, holdout_end=t1, **dict(kw))
            sc = parse_scenario(cal.scenario, source=f"cv {vname} fold {i}")
            say(f"{vname}: replay held-out {t0}..{t1}")
            out = replay(sc, lake_dir, t0, t1, seed=seed, replications=replications, data=data)
            scores_out = score_replay(out.records)
            scores_in: dict[str, Any] = {}
            if in_sample:
                # in sample: the first fit block
                i0, i1 = fit_blocks[0]
                say(f"{vname}: replay fit days {i0}..{i1}")
                ins = replay(sc, lake_dir, i0, i1, seed=seed, replications=replications, data=data)
                scores_in = score_replay(ins.records)
            rows: list[dict[str, Any]] = []
            decomposition: list[dict[str, Any]] = []
            if life is not None:
                calls = set(out.records["incident_id"].astype(str))
                real = life.loc[life["call"].isin(calls)]
                tz0 = pd.Timestamp(out.summary["replay"]["t_zero_utc"]).tz_convert(data.tz)
                twin = twin_lifecycle(
                    out.records, t_zero_hour_of_week=int(tz0.day_of_week * 24 + tz0.hour)
                )
                rows = curve_rows(real, twin, curve_loads, curve_bins)
                decomposition = [
                    {str(k): v for k, v in r.items()}
                    for r in twin_decompose(twin).to_dict("records")
                ]
            folds.append(
                Fold(
                    variant=vname,
                    fit_days=(str(f0), str(f1)),
                    test_days=(str(t0), str(t1)),
                    in_sample=scores_in,
                    out_of_sample=scores_out,
                    curve=rows,
                    decomposition=decomposition,
                    day_scores=day_scores(out.records, data.tz),
                )
            )
    return CrossValidation(city=city, folds=folds)


def fit_evidence(
    lake_dir: Path | str,
    calibration: Calibration,
    *,
    data: CityData | None = None,
    agency: str | None = None,
    cross_validate: bool = True,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
    levers: bool = True,
    weeks: float = 8,
    seed: int = 7,
    bins: int = 5,
    progress: Callable[[str], None] | None = None,
    curve_weeks: float = YEAR_WEEKS,
) -> dict[str, Any]:
    """Measure the calibration's load response, out-of-period scores and levers.

    Args:
        lake_dir: The lake the calibration read.
        calibration: The calibration.
        data: The city's tables when already loaded.
        agency: Agency scored against published means (default: the city's
            ``scored_agency``).
        cross_validate: Cross-validate life-cycle cities on two day blocks.
        variants: Calibration variants tried by the cross-validation (default
            ``refine1``/``refine3``).
        levers: Run the lever check (published-means cities).
        weeks: Simulated weeks of each lever variant (published-means cities).
        curve_weeks: Simulated weeks of the zone curve and the per-year scores (a year: the
            published means are yearly; 8 weeks leave about 1 minute of noise per bin, as
            much as the effect the curve checks).
        seed: Seed.
        bins: Load bins of the life-cycle curves.
        progress: Called with a short line before each long step.

    Returns:
        A JSON-ready dict with one block per kind of evidence the data allow.

    """
    sc = calibration.scenario
    cal = sc.get("calibration") or {}
    city = str(cal.get("city"))
    say = progress or (lambda _s: None)
    out: dict[str, Any] = {"city": city}
    if get_city(city).scoring == "none":
        out["note"] = "the city has no observed response in the lake: no load-response evidence"
        return out
    data = data or load_city(lake_dir, city)
    if get_city(city).scoring == "replay":
        say("evidence: replaying the fit days for the load-response curve")
        out["life_cycle"] = _lifecycle_evidence(sc, data, seed=seed, bins=bins)
        if cross_validate:
            say("evidence: cross-validating on day blocks")
            cv = cross_validate_replay(
                lake_dir,
                city,
                variants=variants
                or {"refine1": {"refine_rounds": 1}, "refine3": {"refine_rounds": 3}},
                data=data,
                progress=say,
            )
            d = cv.to_dict()
            for f in d["folds"]:
                f.pop("curve", None)
            out["cross_validation"] = d
    the_city = get_city(city)
    if the_city.scoring == "published_means" and data.response_stats is not None:
        ag = agency or the_city.scored_agency
        if not sc.get("agencies"):
            ag = None  # a single-agency scenario: all its calls
        say(f"evidence: zone curve, years and levers of {ag or 'the scenario'}")
        out["published"] = _published_evidence(
            sc, data, ag, weeks=weeks, seed=seed, levers=levers, curve_weeks=curve_weeks
        )
    return jsonable(out)


def calibrate_with_evidence(
    lake_dir: Path | str,
    city: str,
    *,
    agency: str | None = None,
    model: str | None = None,
    refine_rounds: int = 3,
    cross_validate: bool = True,
    progress: Callable[[str], None] | None = None,
    **options: Any,
) -> Calibration:
    """Calibrate, measure the evidence, and keep the model variant that generalises.

    What ``twin calibrate`` runs. Without a pinned *model*, every model variant of the city's
    recipe (:attr:`twin.cities.City.models`) is cross-validated alongside the first fit; when
    another variant than the one calibrated generalises better (smallest worst out-of-sample
    error), the city is calibrated again with it and its evidence measured again (the
    cross-validation is kept). The fit report names the model used
    (``details['evidence']['cross_validation']['scenario_model']``).

    Args:
        lake_dir: The lake.
        city: A city of :data:`twin.cities.CITIES`.
        agency: The agency (default: the city's first).
        model: A model variant to use (no choice made); None: choose by cross-validation.
        refine_rounds: Simulation-based refinement effort (see :func:`calibrate`).
        cross_validate: Cross-validate (replay cities); without it no model is chosen.
        progress: Called with a short line before each long step.
        **options: Further :func:`twin.calibrate.calibrate` arguments (hold-out, name, ...).

    Returns:
        The calibration, its evidence attached (:func:`attach`).

    """
    say = progress or (lambda _s: None)

    def run(chosen: str | None) -> Calibration:
        return calibrate(
            lake_dir,
            city,
            agency=agency,
            model=chosen,
            refine_rounds=refine_rounds,
            progress=say,
            **options,
        )

    result = run(model)
    models = get_city(city).models
    variants: dict[str, dict[str, Any]] = {"first_fit": {"refine_rounds": 0}}
    if refine_rounds > 0 and models and model is None:
        # every model of the recipe, refined alike; the one that generalises is kept
        variants.update({m: {"refine_rounds": refine_rounds, "model": m} for m in models})
    elif refine_rounds > 0:
        variants[model or f"refine{refine_rounds}"] = {
            "refine_rounds": refine_rounds,
            **({"model": model} if model else {}),
        }
    extra = {"agency": agency} if agency else {}
    ev = fit_evidence(
        lake_dir,
        result,
        cross_validate=cross_validate,
        variants={k: {**v, **extra} for k, v in variants.items()},
        progress=say,
    )
    cvd = ev.get("cross_validation")
    if cvd is not None:
        used = model or (models[0] if models else None)
        if model is None and cvd["chosen"] in models and cvd["chosen"] != used:
            used = cvd["chosen"]
            say(f"cross-validation: model {used} generalises best; calibrating with it")
            result = run(used)
            ev = {
                **fit_evidence(lake_dir, result, cross_validate=False, progress=say),
                "cross_validation": cvd,
            }
        cvd["scenario_model"] = used
    attach(result, ev)
    return result


def _fmt(x: Any) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:+.1%}"


_PARTS = ("processing", "queueing", "turnout", "travel")


def _split(row: Mapping[str, Any]) -> str:
    parts = " + ".join(f"{k} {float(row[k]):.2f}" for k in _PARTS)
    return f"{float(row['total']):.2f} = {parts}"


def decomposition_lines(life: Mapping[str, Any]) -> list[Parameter]:
    """Return one fit-report line per priority: its mean response split into parts, real vs twin.

    Real parts come from the life cycle (:func:`twin.calibrate.load.decompose`: processing is
    what the quietest fifth of hours take from received to dispatched, queueing the rest);
    the twin's are exact (fitted dispatch delay, waiting for a free unit, turnout, driving).
    """
    real = {str(r["priority"]): r for r in life.get("decomposition_real") or []}
    twin = {str(r["priority"]): r for r in life.get("decomposition_twin") or []}
    out: list[Parameter] = []
    for prio in sorted(set(real) & set(twin), key=lambda p: (p == "all", p)):
        r, t = real[prio], twin[prio]
        out.append(
            Parameter(
                name=f"decomposition: priority {prio} mean response (received -> on scene, "
                "min) = processing + queueing + turnout + travel, real vs twin",
                value=f"real {_split(r)}; twin {_split(t)}",
                data=f"replay of the fit days {life['window'][0]} .. {life['window'][1]}",
                n=int(r["n"]),
                fit={
                    **{f"real_{k}": float(r[k]) for k in ("total", *_PARTS)},
                    **{f"twin_{k}": float(t[k]) for k in ("total", *_PARTS)},
                },
                notes=[
                    "real processing = mean received -> dispatched in the quietest fifth of "
                    "hours (calls in the previous hour), real queueing = the rest; twin parts "
                    "are the engine's own (fitted dispatch delay, waiting for a free unit)"
                ],
            )
        )
    return out


def attach(calibration: Calibration, evidence: Mapping[str, Any]) -> None:
    """Put *evidence* into the fit report: ``details['evidence']`` and ``check:`` lines."""
    rep = calibration.report
    rep.details["evidence"] = dict(evidence)
    life = evidence.get("life_cycle")
    if life and life.get("headline"):
        h = life["headline"]
        rep.add(
            Parameter(
                name="check: load-response curve (received -> on scene by calls in the "
                "previous hour), real vs twin",
                value="pass" if h["passed"] else "fail",
                data=f"replay of the fit days {life['window'][0]} .. {life['window'][1]}",
                n=int(life["calls"]),
                fit={
                    "share_of_bins_within": h["share_of_bins_within"],
                    "worst_rel_err": h["worst_rel_err"],
                    "real_elasticity": h["real_elasticity"],
                    "twin_elasticity": h["twin_elasticity"],
                },
                notes=[
                    "tolerance: each bin's twin median within 10 % of the real one or inside "
                    "its 95 % interval; elasticity (busiest fifth / quietest fifth - 1) within "
                    "0.10; all curves and the decomposition in details.evidence"
                ],
            )
        )
    if life:
        for line in decomposition_lines(life):
            rep.add(line)
    curves: list[dict[str, Any]] = life.get("curves") or [] if life else []
    for c in curves:
        if c["priority"] == "all" or c["measure"] != "received_onscene":
            continue
        if c["load"] != "calls_prev_hour":
            continue
        rep.add(
            Parameter(
                name=f"check: load-response curve of priority {c['priority']} (received -> on "
                "scene by calls in the previous hour), real vs twin",
                value="pass" if c["passed"] else "fail",
                data="replay of the fit days (the pooled curve's window)",
                n=sum(int(b["n_real"]) for b in c["bins"]),
                fit={
                    "share_of_bins_within": c["share_of_bins_within"],
                    "worst_rel_err": c["worst_rel_err"],
                    "real_elasticity": c["real_elasticity"],
                    "twin_elasticity": c["twin_elasticity"],
                },
                notes=["tolerance as the pooled curve's (10 % or inside the 95 % interval; 0.10)"],
            )
        )
    if life and life.get("immediate_dispatch_real"):
        imm = pd.DataFrame(life["immediate_dispatch_real"])
        tw = pd.DataFrame(life.get("immediate_dispatch_twin") or [])
        rep.add(
            Parameter(
                name="check: calls dispatched the moment they were received, by calls in the "
                "previous hour (share per load bin), real vs twin",
                value={
                    f"priority {p}": {
                        "real": [round(float(x), 3) for x in g["immediate_share"]],
                        "twin": [
                            round(float(x), 3)
                            for x in tw.loc[tw["priority"] == p, "immediate_share"]
                        ]
                        if len(tw)
                        else [],
                    }
                    for p, g in imm.groupby("priority")
                },
                data=f"replay of the fit days {life['window'][0]} .. {life['window'][1]}",
                fit={"real": life["immediate_dispatch_real"]},
                notes=[
                    "a class without priorities[].immediate_dispatch draws its processing delay "
                    "independently of load (a real share that rises with load is then load "
                    "response the twin lacks); one with it is dispatched at once with the "
                    "fitted share of its calls in the previous hour"
                ],
            )
        )
    cv = evidence.get("cross_validation")
    if cv:
        chosen = cv["chosen"]
        folds = [f for f in cv["folds"] if f["variant"] == chosen]
        rep.add(
            Parameter(
                name="check: cross-validation (fit one day block, score the other, both ways)",
                value="pass" if cv["passed"] else "fail",
                data="; ".join(
                    f"fit {f['fit_days'][0]}..{f['fit_days'][1]} -> {f['test_days'][0]}.."
                    f"{f['test_days'][1]}: median {_fmt(f['out_of_sample']['median_rel_err'])}"
                    f" p90 {_fmt(f['out_of_sample']['p90_rel_err'])} (in sample "
                    f"{_fmt(f['in_sample']['median_rel_err'])} / "
                    f"{_fmt(f['in_sample']['p90_rel_err'])})"
                    for f in folds
                ),
                fit={
                    "chosen_variant": chosen,
                    "best_in_sample_variant": cv["best_in_sample"],
                    "variant_scores": cv["variant_scores"],
                    "target": cv["target_rel_err"],
                },
                notes=["paired per call: calls without an actual on-scene time are left out"],
            )
        )
    pub = evidence.get("published")
    if pub:
        zc = pub["zone_curve"]
        rep.add(
            Parameter(
                name="check: zone load-response curve (class-2 minus class-1 mean by zone "
                "call volume), real vs twin",
                value="pass" if zc["passed"] else "fail",
                data=f"published means of {pub['fit_year']} vs "
                f"{pub.get('curve_weeks', pub['weeks'])} simulated weeks",
                fit={
                    "gap_real": zc["gap_real"],
                    "gap_twin": zc["gap_twin"],
                    "same_direction": zc["same_direction"],
                    "gap_slope_real": zc.get("slope_real"),
                    "gap_slope_real_se": zc.get("slope_real_se"),
                    "gap_slope_twin": zc.get("slope_twin"),
                    "slope_within": zc.get("slope_within"),
                },
                notes=[f"tolerance: {zc['tolerance']}"],
            )
        )
        cy = [c for c in pub.get("zone_curve_years", []) if not c["in_sample"]]
        if cy:
            rep.add(
                Parameter(
                    name="check: zone curve direction in years not fitted (busiest - quietest "
                    "bin of the class gap, real vs twin)",
                    value={
                        "same_direction": f"{sum(c['same_direction'] for c in cy)} of {len(cy)}"
                    },
                    data="published means of every year, binned by the fit year's volumes; "
                    "the same twin run",
                    fit={
                        str(c["year"]): {
                            "real": round(float(c["gap_change_real"]), 2),
                            "twin": round(float(c["gap_change_twin"]), 2),
                        }
                        for c in cy
                    },
                    notes=[
                        "the gap's level drifts from year to year (about 5 min in 2010, 10 in "
                        "2019); the direction is what a twin fitted on one year can be held to"
                    ],
                )
            )
        yrs = pd.DataFrame(pub["years"])
        if len(yrs):
            worst = yrs.loc[~yrs["in_sample"]].groupby("klass")["mape"].max()
            rep.add(
                Parameter(
                    name="check: zone MAPE of years not fitted (same simulation)",
                    value={f"class {k} worst": round(float(v), 3) for k, v in worst.items()},
                    data=f"published means of every year; fitted on {pub['fit_year']}",
                    fit={"by_year": pub["years"]},
                )
            )
        if pub.get("district_levers"):
            dl = pd.DataFrame(pub["district_levers"])
            pred = pub["load_slope"]["predicted_change_min"]
            twin_mean = {
                f"fleet x {f:g}": {
                    f"mean_{k}": round(
                        float(dl.loc[dl["factor"] == f, f"change_mean_{k}"].mean()), 3
                    )
                    for k in (1, 2)
                    if f"change_mean_{k}" in dl.columns
                }
                for f in sorted(set(dl["factor"]))
            }
            rep.add(
                Parameter(
                    name="check: fleet -+10 % per district vs the real load-response slope",
                    value={"twin (mean over districts)": twin_mean, "real slope predicts": pred},
                    data=f"one district at a time, {pub['weeks']} simulated weeks per variant; "
                    f"real slope from the published means of {pub['fit_year']}",
                    fit={"rows": pub["district_levers"], "slope": pub["load_slope"]},
                    notes=[pub["load_slope"]["note"]],
                )
            )
        if pub.get("levers"):
            lv = pd.DataFrame(pub["levers"]).set_index("delta")
            changes = {
                int(d): {
                    c: round(float(lv.loc[d, c]), 3)
                    for c in lv.columns
                    if c.startswith("change_mean_") or c == "units"
                }
                for d in lv.index
            }
            rep.add(
                Parameter(
                    name="check: lever (one unit fewer / more in every district x watch group)",
                    value=changes,
                    data=f"{pub['weeks']} simulated weeks per variant, common random numbers",
                    fit={"rows": pub["levers"]},
                )
            )
