"""Assembling a calibrated scenario: the steps every city's recipe shares.

A city's recipe (``twin/cities/<city>/build.py``, found through :mod:`twin.cities`) runs

1. :func:`prepare`: read the city from the lake, choose and split off the held-out days, open
   the :class:`~twin.calibrate.report.FitReport`;
2. the fitters of this package (demand, service, travel, fleet, refine), writing each fitted
   parameter into the report with :func:`demand_param` / :func:`dist_param` and into the
   scenario mapping with :func:`priorities` / :func:`zone_entries`;
3. :func:`finish`: the ``assumptions`` and ``calibration`` blocks, validation by
   ``parse_scenario`` and the YAML text (:func:`to_yaml`, the one scenario writer of the
   calibration).

:func:`calibrate` is the entry point (``twin calibrate``): it looks the city up and runs its
recipe; :func:`write_calibration` writes the scenario and its fit report.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from twin.calibrate.data import (
    CityData,
    default_holdout,
    load_city,
    local_dates,
    parse_date,
    split_days,
)
from twin.calibrate.demand import DemandFit
from twin.calibrate.report import FitReport, Parameter, jsonable
from twin.calibrate.service import DistFit
from twin.cities import CITIES, City
from twin.errors import DataError
from twin.scenario import parse_scenario, render_yaml

__all__ = [
    "Calibration",
    "CalibrationRequest",
    "Prepared",
    "calibrate",
    "date_range",
    "demand_param",
    "dist_param",
    "finish",
    "int_share_keys",
    "prepare",
    "priorities",
    "round_shares",
    "to_yaml",
    "write_calibration",
    "zone_entries",
]


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


@dataclass(frozen=True)
class CalibrationRequest:
    """What ``twin calibrate`` asks of a city's recipe (see :func:`calibrate` for each field)."""

    lake_dir: Path | str
    city: City
    agency: str
    holdout_start: str | date | None = None
    holdout_end: str | date | None = None
    name: str | None = None
    use_default_holdout: bool = True
    refine_rounds: int = 3
    refine_horizon: float = 13 * 10080.0
    model: str | None = None
    progress: Callable[[str], None] | None = None

    def for_agency(self, agency: str, name: str) -> CalibrationRequest:
        """Return the same request for one *agency* under scenario *name*."""
        return dataclasses.replace(self, agency=agency, name=name)

    def say(self, line: str) -> None:
        """Report the start of a long step (to ``progress``, when given)."""
        if self.progress is not None:
            self.progress(line)


@dataclass
class Prepared:
    """The outcome of :func:`prepare`.

    Attributes:
        data: Every row of the city.
        fit: The rows outside the hold-out window (what is fitted).
        holdout: ``(first, last)`` held-out local date, or None.
        name: The scenario name.
        report: The fit report, with inputs and hold-out filled in.

    """

    data: CityData
    fit: CityData
    holdout: tuple[date, date] | None
    name: str
    report: FitReport


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
    model: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Calibrate a scenario of *city* from the lake (the city's recipe, found by name).

    Args:
        lake_dir: The lake directory (read through DuckDB views).
        city: A city of :data:`twin.cities.CITIES`.
        agency: One of the city's :attr:`~twin.cities.City.agency_choices` (default: the
            first; Seattle ``all`` = police and fire in one file).
        holdout_start: First local date left out of the fit (inclusive).
        holdout_end: Last local date left out (inclusive).
        name: Scenario name (default ``<city>_<agency>_baseline``).
        use_default_holdout: Without explicit dates, hold out the last 20 % of observed days
            (at least one; none when the data span fewer than 5 days).
        refine_rounds: Simulation-based refinement. Seattle police: 0 keeps the analytic
            fit; n tries up to 2n fleet scale factors (one twin run each, at most 6), then
            up to n + 1 per-precinct fleet steps and min(n, 2) polishing runs. San
            Francisco: 0 keeps the first fit; otherwise its models' noise shapes are mapped
            in three replays of the fit days (``shared_noise``: 1-2 replay one noise scale,
            3 or more five).
        refine_horizon: Simulated minutes per refinement run.
        model: A model variant of the city's recipe (:attr:`~twin.cities.City.models`; the
            cross-validation compares them); None: the city's default (its first).
        progress: Called with a short line before each long step.

    Returns:
        The :class:`Calibration` (scenario mapping, YAML text, fit report).

    Raises:
        DataError: Empty lake, unknown or missing city, too little data.

    """
    if city not in CITIES:
        raise DataError(f"--city {city!r}: unknown; choose one of {sorted(CITIES)}")
    the_city = CITIES[city]
    agency = agency or the_city.default_agency
    if agency not in the_city.agency_choices:
        raise DataError(
            f"--agency {agency!r}: not modelled for {city}; choose one of {the_city.agency_choices}"
        )
    if model is not None and model not in the_city.models:
        raise DataError(
            f"model {model!r}: not a model of {city}; choose one of {list(the_city.models)}"
            if the_city.models
            else f"model {model!r}: {city} has one model (leave model out)"
        )
    recipe: Callable[[CalibrationRequest], Calibration] = importlib.import_module(
        f"{the_city.module}.build"
    ).calibrate
    return recipe(
        CalibrationRequest(
            lake_dir,
            the_city,
            agency,
            holdout_start,
            holdout_end,
            name,
            use_default_holdout,
            refine_rounds,
            refine_horizon,
            model,
            progress,
        )
    )


def prepare(
    req: CalibrationRequest,
    holdout_base: Callable[[CityData], pd.DataFrame] | None = None,
) -> Prepared:
    """Read the city, choose the held-out days, split them off and open the fit report.

    Args:
        req: The request.
        holdout_base: The incidents whose days set the default hold-out (default: all of the
            city's incidents; Seattle: the agency's demand source).

    Raises:
        DataError: Bad hold-out dates, or every incident held out.

    """
    city = req.city.name
    agency = req.agency
    req.say(f"reading {req.city.title} from the lake")
    data = load_city(req.lake_dir, city)
    hs = parse_date(req.holdout_start, "--holdout-start")
    he = parse_date(req.holdout_end, "--holdout-end")
    if (hs is None) != (he is None):
        raise DataError("--holdout-start and --holdout-end go together; give both or neither")
    if hs is not None and he is not None and he < hs:
        raise DataError(f"--holdout-end {he} is before --holdout-start {hs}")
    if hs is None and req.use_default_holdout:
        base = data.incidents if holdout_base is None else holdout_base(data)
        dh = default_holdout(local_dates(base["event_time"], data.tz))
        if dh is not None:
            hs, he = dh
    fit_data, held = split_days(data, hs, he)
    name = req.name or f"{city}_{agency}_baseline"
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
    holdout = (hs, he) if hs and he else None
    req.say(f"fitting {req.city.title} {agency} on {len(fit_data.incidents):,} incidents")
    return Prepared(data=data, fit=fit_data, holdout=holdout, name=name, report=report)


def finish(scenario: dict[str, Any], prep: Prepared, agency: str) -> Calibration:
    """Add the ``assumptions`` and ``calibration`` blocks, validate, and render the YAML.

    Raises:
        ConfigError: When the scenario does not load (a recipe bug).

    """
    report = prep.report
    scenario["assumptions"] = list(report.assumptions)
    scenario["calibration"] = {
        "city": prep.data.city,
        "agency": agency,
        "tz": prep.data.tz,
        "lake_version": prep.data.lake_version,
        "fit_window": report.fit_window,
        "holdout": report.holdout,
        "response_fit_year": report.details.get("response_fit_year"),
        "fallbacks": len(report.fallbacks),
    }
    if report.details.get("model"):
        scenario["calibration"]["model"] = report.details["model"]  # the recipe's variant
    return validated(scenario, report)


def validated(scenario: dict[str, Any], report: FitReport) -> Calibration:
    """Return the :class:`Calibration` of a finished scenario mapping (it must load)."""
    scenario = int_share_keys(jsonable(scenario))
    parse_scenario(scenario, source=f"calibrated {scenario['name']}")  # raises ConfigError
    return Calibration(scenario=scenario, yaml_text=to_yaml(scenario, report), report=report)


def date_range(incidents: pd.DataFrame, tz: str) -> dict[str, str | None]:
    """Return the first and last local date of *incidents* (``None`` when there are none)."""
    if incidents.empty:
        return {"start": None, "end": None}
    d = local_dates(incidents["event_time"], tz)
    return {"start": str(d.min()), "end": str(d.max())}


def demand_param(report: FitReport, fit: DemandFit, data: str) -> None:
    """Report the demand fit (rates, profiles, class shares) with its diagnostics."""
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


def dist_param(report: FitReport, name: str, fit: DistFit) -> None:
    """Report a fitted duration distribution under the scenario field *name*."""
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


def priorities(
    shares: dict[int, float],
    service: dict[int, DistFit] | None,
    names: dict[int, str] | None,
    *,
    travel_factor: dict[int, float] | None = None,
    dispatch_delay: dict[int, dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """Return ``priorities[]`` entries: shares rounded to sum to 1, plus per-class fits."""
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


def round_shares(shares: dict[int, float]) -> dict[int, float]:
    """Round shares to 6 decimals summing to exactly 1 (the last takes the remainder)."""
    levels = sorted(shares)
    vals = np.array([max(float(shares[k]), 0.0) for k in levels])
    vals = np.round(vals / vals.sum(), 6)
    vals[-1] = round(1.0 - float(vals[:-1].sum()), 6)
    return {int(k): float(max(v, 0.0)) for k, v in zip(levels, vals, strict=True)}


def int_share_keys(scenario: dict[str, Any]) -> dict[str, Any]:
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


def zone_entries(
    fit: DemandFit, locations: dict[str, tuple[float, float]], names: dict[str, str]
) -> list[dict[str, Any]]:
    """Return the scenario's zones; ``shares`` where a zone's smoothed class mix differs.

    The zone's class shares (Dirichlet-smoothed toward its district and the city, see
    :func:`twin.calibrate.demand.fit_demand`) are written as ``zones[].shares`` only when
    they differ from the city-wide ``priorities[].share`` after rounding (a zone that uses its
    district's or the fixed city mix repeats nothing).
    """
    city = {p["level"]: p["share"] for p in priorities(fit.city_shares, None, None)}
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
            mix = round_shares(own)
            if any(abs(mix.get(k, 0.0) - v) > 1e-9 for k, v in city.items()):
                entry["shares"] = mix
        out.append(entry)
    return out


def to_yaml(scenario: dict[str, Any], report: FitReport) -> str:
    """Return the scenario as YAML with a comment header listing every assumption.

    The text comes from the one scenario writer, :func:`twin.scenario.render_yaml`.
    """
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
    return render_yaml(scenario, header=head)


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
