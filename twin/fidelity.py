"""Fidelity: score the twin against reality on data not used for fitting, and keep the scores.

Two checks; the scenario's city (:mod:`twin.cities`) says which (its ``scoring``):

* **replay** (per call; San Francisco): the held-out days are replayed
  (:func:`twin.replay.replay`) and the simulated dispatch -> on-scene times of the first unit
  are compared with the actual ones: relative error of the median and of the 90th percentile
  (target: both within 10 %), the two-sample Kolmogorov-Smirnov distance, and the share of
  actual values inside the simulated 90 % band (5th-95th percentile of the simulated values;
  0.90 is ideal).
* **published_means** (per zone; Seattle police): the scenario is simulated with Poisson demand
  and its mean response per beat x priority is compared with the published average response of
  the years of ``[start, end]`` (the city's ``response_means`` table; priorities 1 and 2; beat x
  priority cells with at least 30 simulated calls): mean absolute percentage error per priority
  (target: within 15 %).

The score of a run (:attr:`FidelityResult.score`, smaller is better) is the worse of the two
headline errors. :func:`store_fidelity` appends every metric as a row of the lake table
``fidelity`` (through the lake's transaction API); :func:`fidelity_history` reads them back.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import stats

from twin.calibrate.data import CityData, load_city, local_dates, parse_date
from twin.calibrate.drift import window_coverage
from twin.calibrate.refine import beat_means
from twin.calibrate.report import jsonable
from twin.cities import City, city_of_scenario
from twin.errors import DataError, TwinError
from twin.replay import ReplayResult, replay, scenario_city
from twin.scenario import Scenario, load_scenario
from twin.store import Lake

__all__ = [
    "FIDELITY_SCHEMA",
    "FIDELITY_SOURCE",
    "FIDELITY_TABLE",
    "TARGETS",
    "FidelityResult",
    "compare_distributions",
    "fidelity",
    "fidelity_history",
    "replay_fidelity",
    "response_figures",
    "store_fidelity",
]

FIDELITY_TABLE = "fidelity"
"""Lake table holding fidelity scores (one row per metric and run)."""
FIDELITY_SOURCE = "twin_fidelity"
"""The ``source`` value of fidelity rows."""

_FIELDS: list[pa.Field] = [
    pa.field("source", pa.string()),
    pa.field("run_id", pa.string()),
    pa.field("computed_at", pa.timestamp("us", tz="UTC")),
    pa.field("city", pa.string()),
    pa.field("agency", pa.string()),
    pa.field("scenario", pa.string()),
    pa.field("window_start", pa.string()),
    pa.field("window_end", pa.string()),
    pa.field("metric", pa.string()),
    pa.field("value", pa.float64()),
    pa.field("target", pa.float64()),
    pa.field("passed", pa.bool_()),
    pa.field("in_sample", pa.bool_()),
]
FIDELITY_SCHEMA: pa.Schema = pa.schema(_FIELDS)
"""Schema of the ``fidelity`` lake table."""

TARGETS: dict[str, float] = {
    "median_rel_err": 0.10,
    "p90_rel_err": 0.10,
    "mape_p1": 0.15,
    "mape_p2": 0.15,
}
"""Targets from the issue (absolute relative errors)."""


@dataclass
class FidelityResult:
    """The fidelity of one scenario on one window.

    Attributes:
        city: City key.
        agency: Agency.
        scenario: Scenario name.
        start: First local date.
        end: Last local date.
        metrics: Metric name -> value (relative errors signed: simulated - actual).
        score: The headline score (worse of the two target metrics, absolute).
        in_sample: True when the window overlaps data used for fitting.
        details: Per-beat or distribution details.
        notes: Caveats.

    """

    city: str
    agency: str
    scenario: str
    start: date
    end: date
    metrics: dict[str, float | None]
    score: float | None
    in_sample: bool
    details: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def passed(self) -> dict[str, bool]:
        """Return metric -> whether it meets its target (only metrics with a target)."""
        out = {}
        for k, t in TARGETS.items():
            v = self.metrics.get(k)
            if v is not None:
                out[k] = abs(v) <= t
        return out

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(
            {
                "city": self.city,
                "agency": self.agency,
                "scenario": self.scenario,
                "start": str(self.start),
                "end": str(self.end),
                "metrics": self.metrics,
                "targets": {k: v for k, v in TARGETS.items() if k in self.metrics},
                "passed": self.passed(),
                "score": self.score,
                "in_sample": self.in_sample,
                "notes": self.notes,
                "details": self.details,
            }
        )

    def text(self) -> str:
        """Return a readable summary."""
        lines = [
            f"fidelity of {self.scenario} ({self.city} {self.agency}) on {self.start} .. "
            f"{self.end}" + (" [IN-SAMPLE: overlaps the fit data]" if self.in_sample else ""),
        ]
        ok = self.passed()
        for k, v in self.metrics.items():
            tgt = TARGETS.get(k)
            mark = "" if tgt is None else (" ok" if ok.get(k) else " MISSED")
            tail = "" if tgt is None else f" (target |x| <= {tgt:g}){mark}"
            lines.append(f"  {k}: {'-' if v is None else f'{v:.4f}'}{tail}")
        lines.append(f"  score: {'-' if self.score is None else f'{self.score:.4f}'}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def rows(self, run_id: str | None = None) -> pa.Table:
        """Return the result as ``fidelity`` table rows (one per metric, plus ``score``)."""
        rid = run_id or uuid.uuid4().hex[:12]
        now = dt.datetime.now(dt.UTC)
        items = [*self.metrics.items(), ("score", self.score)]
        ok = self.passed()
        return pa.table(
            {
                "source": [FIDELITY_SOURCE] * len(items),
                "run_id": [rid] * len(items),
                "computed_at": [now] * len(items),
                "city": [self.city] * len(items),
                "agency": [self.agency] * len(items),
                "scenario": [self.scenario] * len(items),
                "window_start": [str(self.start)] * len(items),
                "window_end": [str(self.end)] * len(items),
                "metric": [k for k, _ in items],
                "value": [None if v is None else float(v) for _, v in items],
                "target": [TARGETS.get(k) for k, _ in items],
                "passed": [ok.get(k) for k, _ in items],
                "in_sample": [self.in_sample] * len(items),
            },
            schema=FIDELITY_SCHEMA,
        )


def compare_distributions(simulated: np.ndarray, actual: np.ndarray) -> dict[str, float | None]:
    """Compare simulated and actual durations.

    Args:
        simulated: Simulated values (all replications pooled).
        actual: Actual values.

    Returns:
        ``median_rel_err``, ``p90_rel_err`` (signed, relative to actual), ``ks`` (two-sample
        KS distance), ``band90_share`` (share of actual inside the simulated 5-95 % band),
        medians and p90s, counts.

    Raises:
        DataError: When either side is empty.

    """
    s = np.asarray(simulated, dtype=float)
    a = np.asarray(actual, dtype=float)
    s = s[np.isfinite(s)]
    a = a[np.isfinite(a)]
    if s.size == 0 or a.size == 0:
        raise DataError(
            f"fidelity: nothing to compare ({s.size} simulated, {a.size} actual values)"
        )
    sm, sp = float(np.median(s)), float(np.quantile(s, 0.9))
    am, ap = float(np.median(a)), float(np.quantile(a, 0.9))
    lo, hi = np.quantile(s, [0.05, 0.95])
    return {
        "median_rel_err": (sm - am) / am if am > 0 else None,
        "p90_rel_err": (sp - ap) / ap if ap > 0 else None,
        "ks": float(stats.ks_2samp(s, a).statistic),
        "band90_share": float(np.mean((a >= lo) & (a <= hi))),
        "sim_median": sm,
        "actual_median": am,
        "sim_p90": sp,
        "actual_p90": ap,
        "n_sim": float(s.size),
        "n_actual": float(a.size),
    }


def _calibration(sc: Scenario) -> dict[str, Any]:
    cal = sc.calibration
    return cal if isinstance(cal, dict) else {}


def _overlaps(cal: dict[str, Any], start: date, end: date) -> bool:
    fw = cal.get("fit_window") or {}
    hold = cal.get("holdout") or {}
    try:
        f0, f1 = date.fromisoformat(fw["start"]), date.fromisoformat(fw["end"])
    except (KeyError, TypeError, ValueError):
        return False
    if start > f1 or end < f0:
        return False
    try:
        h0, h1 = date.fromisoformat(hold["start"]), date.fromisoformat(hold["end"])
    except (KeyError, TypeError, ValueError):
        return True
    return not (h0 <= start and end <= h1)


def replay_fidelity(sc: Scenario, res: ReplayResult) -> FidelityResult:
    """Score a finished replay: simulated vs actual dispatch -> on scene per call.

    Args:
        sc: The scenario replayed.
        res: The replay's result.

    Returns:
        The :class:`FidelityResult` of the replay's window.

    """
    city, agency = scenario_city(sc)
    start, end = res.start, res.end
    # paired per call: a call without an actual dispatch -> on scene (cancelled before
    # arrival) has nothing to be compared with; its simulated value is left out too
    paired = np.isfinite(res.records["actual_dispatch_onscene_min"].to_numpy(dtype=float))
    rec = res.records.loc[paired]
    sim = rec["sim_dispatch_onscene_min"].to_numpy(dtype=float)
    first = rec.loc[rec["replication"] == rec["replication"].min()]
    act = first["actual_dispatch_onscene_min"].to_numpy(dtype=float)
    cmp = compare_distributions(sim, act)
    by_priority: dict[str, Any] = {}
    for k in sorted(set(rec["priority"].dropna().astype(int))):
        sim_k = rec.loc[rec["priority"] == k, "sim_dispatch_onscene_min"].to_numpy(dtype=float)
        act_k = first.loc[first["priority"] == k, "actual_dispatch_onscene_min"].to_numpy(
            dtype=float
        )
        if np.isfinite(sim_k).any() and np.isfinite(act_k).any():
            by_priority[str(k)] = compare_distributions(sim_k, act_k)
    headline = [cmp["median_rel_err"], cmp["p90_rel_err"]]
    score = (
        max(abs(v) for v in headline if v is not None)
        if any(v is not None for v in headline)
        else None
    )
    cal = _calibration(sc)
    notes = list(res.summary["replay"]["notes"])
    n_unpaired = int((~paired).sum())
    if n_unpaired:
        notes.append(
            f"paired per call: {n_unpaired} simulated calls without an actual on-scene time "
            "(all replications) are left out"
        )
    in_sample = _overlaps(cal, start, end)
    if in_sample:
        notes.append("the window overlaps the calibration's fit days: an in-sample check")
    return FidelityResult(
        city=city,
        agency=agency,
        scenario=sc.name,
        start=start,
        end=end,
        metrics={k: cmp[k] for k in ("median_rel_err", "p90_rel_err", "ks", "band90_share")},
        score=score,
        in_sample=in_sample,
        details={
            **{
                k: v
                for k, v in cmp.items()
                if k not in ("median_rel_err", "p90_rel_err", "ks", "band90_share")
            },
            "by_priority": by_priority,
        },
        notes=notes,
    )


def response_figures(the_city: City, data: CityData) -> pd.DataFrame:
    """Return the city's published response table (``year, zone_id, klass, mean_min``).

    Raises:
        DataError: When the city publishes none or the lake has no ``response_stats``.

    """
    if the_city.response_means is None:
        raise DataError(f"fidelity: {the_city.title} has no published response table")
    if data.response_stats is None:
        raise DataError(
            f"fidelity: the lake has no response_stats table for {the_city.name}; sync its "
            f"sources ({', '.join(the_city.sources)})"
        )
    return the_city.response_means(data.response_stats)


def _published_means_fidelity(
    sc: Scenario,
    data: CityData,
    start: date,
    end: date,
    seed: int,
    replications: int,
    weeks: int,
    min_calls: int,
    progress: Callable[[int], None] | None = None,
) -> FidelityResult:
    the_city = city_of_scenario(sc)
    city, agency = scenario_city(sc)
    scored = the_city.scored_agency
    if agency == "all" and scored in sc.agency_ids:
        agency = str(scored)
    if agency != scored:
        raise TwinError(
            f"fidelity: {the_city.title} {agency} has no observed response times in the lake "
            f"(only {scored} has published response figures); nothing to compare with"
        )
    table = response_figures(the_city, data)
    years = set(range(start.year, end.year + 1))
    obs = table.loc[table["year"].isin(years) & table["klass"].isin([1, 2])]
    if obs.empty:
        have = sorted(set(table["year"]))
        raise TwinError(
            f"fidelity: no {the_city.title} response figures for {sorted(years)} (the table "
            f"has {have[0]}..{have[-1]}); choose --start/--end within those years"
        )
    obs_means = pd.DataFrame(
        obs.groupby(["zone_id", "klass"])["mean_min"].mean().reset_index()
    ).set_axis(["zone_id", "priority", "mean_obs"], axis=1)
    covered = sorted({int(y) for y in obs["year"]})
    coverage_note = (
        f"partly covered: the published figures cover {covered} of the window's years "
        f"{sorted(years)}; scored on those years only"
        if len(covered) < len(years)
        else None
    )
    data_sc = sc.model_dump(mode="json", exclude_none=True)
    sim = beat_means(
        data_sc,
        horizon=weeks * 10080.0,
        seed=seed,
        replications=replications,
        agency=agency,
        progress=progress,
    )
    j = sim.merge(obs_means, on=["zone_id", "priority"])
    j = j.loc[j["count"] >= min_calls]
    metrics: dict[str, float | None] = {}
    for k in (1, 2):
        jk = j.loc[j["priority"] == k]
        metrics[f"mape_p{k}"] = (
            float(np.mean(np.abs(jk["mean"] - jk["mean_obs"]) / jk["mean_obs"]))
            if len(jk)
            else None
        )
        metrics[f"bias_p{k}"] = (
            float(np.mean((jk["mean"] - jk["mean_obs"]) / jk["mean_obs"])) if len(jk) else None
        )
        metrics[f"beats_p{k}"] = float(len(jk))
    vals = [metrics[m] for m in ("mape_p1", "mape_p2") if metrics[m] is not None]
    cal = _calibration(sc)
    fit_year = cal.get("response_fit_year")
    in_sample = fit_year is not None and int(fit_year) in years
    notes = [
        f"simulated {weeks} weeks x {replications} replication(s) with Poisson demand; cells "
        f"with at least {min_calls} simulated calls of the priority",
        f"observed: {the_city.title} average response of {sorted(years)} (mean over those years)",
    ]
    if in_sample:
        notes.append(f"{fit_year} was used for fitting: an in-sample check")
    if coverage_note:
        notes.append(coverage_note)
    return FidelityResult(
        city=city,
        agency=agency,
        scenario=sc.name,
        start=max(start, date(covered[0], 1, 1)),
        end=min(end, date(covered[-1], 12, 31)),
        metrics=metrics,
        score=max(v for v in vals if v is not None) if vals else None,
        in_sample=in_sample,
        details={
            "cells": j.rename(columns={"mean": "mean_sim"})[
                ["zone_id", "priority", "mean_sim", "mean_obs", "count"]
            ]
        },
        notes=notes,
    )


def _replay_fidelity(
    sc: Scenario,
    data: CityData,
    lake_dir: Path | str,
    start: date,
    end: date,
    seed: int,
    replications: int,
    min_calls: int = 100,
    progress: Callable[[int], None] | None = None,
) -> FidelityResult:
    """Replay the covered days of ``[start, end]`` and score them (refused when too thin).

    Only days with calls are scored: a window partly covered is replayed over its covered span
    (the result's ``start``/``end`` and label say so, ``details['coverage']`` lists the days);
    a window with fewer than ``min_calls`` calls is refused.
    """
    agency = scenario_city(sc)[1]
    inc = data.incidents
    if agency and agency != "all":
        inc = inc.loc[inc["agency"] == agency]
    timed = inc.loc[inc["received"].notna()]
    per_day = local_dates(timed["event_time"], data.tz).value_counts()
    cov = window_coverage(
        dict(zip(per_day.index.tolist(), per_day.astype(int).tolist(), strict=True)),
        start,
        end,
        min_days=1,
        min_calls=min_calls,
    )
    if cov.refused:
        raise TwinError(f"fidelity: {start} .. {end}: {cov.notes[0]}")
    s0, s1 = cov.covered[0], cov.covered[-1]
    res = replay(
        sc, lake_dir, s0, s1, seed=seed, replications=replications, data=data, progress=progress
    )
    out = replay_fidelity(sc, res)
    out.notes.extend(cov.notes)
    out.details["coverage"] = cov.to_dict()
    return out


def fidelity(
    scenario: Scenario | str | Path,
    lake_dir: Path | str,
    start: str | date,
    end: str | date,
    *,
    seed: int = 1,
    replications: int = 3,
    weeks: int = 26,
    min_calls: int = 30,
    min_calls_day: int = 100,
    progress: Callable[[int], None] | None = None,
) -> FidelityResult:
    """Score a calibrated scenario against the data of ``[start, end]``.

    Only the days (replay scoring) or years (published means) of the window that have data are
    scored, and the result says so (its ``start``/``end`` are the covered span, a note names
    what was left out); a replay window with fewer than ``min_calls_day`` calls is refused.

    Args:
        scenario: The scenario or its file (its ``calibration`` block names city and agency).
        lake_dir: The lake.
        start: First local date (``YYYY-MM-DD``).
        end: Last local date (inclusive).
        seed: Seed.
        replications: Replications (replay scoring: replays; published means: Poisson runs).
        weeks: Published means: simulated weeks per replication.
        min_calls: Published means: least simulated calls for a zone x class cell to count.
        min_calls_day: Replay scoring: fewest calls in the window's covered days.
        progress: Called with the replication number after each replication (replay or run).

    Returns:
        The :class:`FidelityResult`.

    Raises:
        TwinError: Bad dates, no data in the window, a city without observed response.

    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    d0 = parse_date(start, "--start")
    d1 = parse_date(end, "--end")
    if d0 is None or d1 is None:
        raise DataError("fidelity: --start and --end are required")
    if d1 < d0:
        raise DataError(f"fidelity: --end {d1} is before --start {d0}")
    the_city = city_of_scenario(sc)
    if the_city.scoring == "none":
        raise TwinError(
            f"fidelity: {the_city.title} has no observed response in the lake; nothing to score"
        )
    data = load_city(lake_dir, the_city.name)
    if the_city.scoring == "replay":
        return _replay_fidelity(
            sc, data, lake_dir, d0, d1, seed, replications, min_calls_day, progress
        )
    return _published_means_fidelity(
        sc, data, d0, d1, seed, replications, weeks, min_calls, progress
    )


def store_fidelity(lake_dir: Path | str, result: FidelityResult, run_id: str | None = None) -> int:
    """Append the result's metrics to the lake table ``fidelity``.

    Args:
        lake_dir: The lake.
        result: The fidelity result.
        run_id: Run id written into the rows (random when None).

    Returns:
        Rows added.

    """
    lake = Lake(lake_dir)
    rows = result.rows(run_id)
    with lake.lock():
        tx = lake.begin()
        n = tx.upsert(FIDELITY_TABLE, FIDELITY_SOURCE, rows)
        tx.commit()
    return n


def fidelity_history(
    lake_dir: Path | str,
    city: str,
    agency: str,
    metric: str = "score",
    *,
    nightly_only: bool = False,
) -> pd.DataFrame:
    """Return stored fidelity rows of one city, agency and metric, oldest first.

    Args:
        lake_dir: The lake.
        city: City key.
        agency: Agency.
        metric: Metric name (``score`` is the headline).
        nightly_only: Only the nightly loop's out-of-sample scores (run ids ``nightly-*``):
            the drift band must not mix in manual, in-sample or multi-day runs.

    Returns:
        The rows as a DataFrame (empty with the schema's columns when none).

    """
    lake = Lake(lake_dir)
    if FIDELITY_TABLE not in lake.tables():
        return pd.DataFrame(columns=FIDELITY_SCHEMA.names)
    where = "city = ? AND agency = ? AND metric = ?"
    if nightly_only:
        where += " AND run_id LIKE 'nightly-%' AND NOT coalesce(in_sample, false)"
    tab = lake.query(
        f"SELECT * FROM {FIDELITY_TABLE} WHERE {where} ORDER BY computed_at",
        [city, agency, metric],
    )
    return tab.to_pandas()
