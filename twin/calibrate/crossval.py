"""Out-of-period honesty: fit on some days, score on others, both ways, and pick what generalises.

A calibration that fits its own days well may still fail on the next week. This module scores
it where it was *not* fitted:

* :func:`day_blocks` cuts a city's observed days into consecutive blocks (two weeks of the
  San Francisco fortnight, say).
* :func:`twin.evidence.cross_validate_replay` fits the city once per block with that block
  held out, replays the held-out block (out of sample) and the fit days (in sample) under the
  fitted scenario, and scores both with :func:`score_replay` — per call, **paired**: only calls
  whose actual
  dispatch -> on scene is known are compared (a call cancelled before arrival has no actual
  value; its simulated one is left out too). Several calibration *variants* (keyword sets
  for :func:`twin.calibrate.calibrate`) can be tried; :class:`CrossValidation` names the one
  whose worst out-of-sample error is smallest (the one that generalises) and the one that fits
  best in sample, and reports both.
* :func:`score_years` scores a fixed scenario against the published means of years other
  than the fit year (cities with only yearly averages, e.g. Seattle).

The load-response curve of each held-out block (real vs twin, :mod:`twin.calibrate.load`) is
part of every fold's result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from twin.calibrate.data import CityData, local_dates
from twin.calibrate.load import (
    compare_curves,
    load_response_curve,
)

__all__ = [
    "YEAR_WEEKS",
    "CrossValidation",
    "Fold",
    "curve_rows",
    "day_blocks",
    "day_scores",
    "score_replay",
    "score_years",
]

YEAR_WEEKS = 52
"""Simulated weeks when a twin is scored against yearly published means (the fit report's zone
curve and per-year scores, the nightly score and its band): at 8 weeks a beat x class mean
carries about a minute of noise, as much as the effects scored."""

TARGET_REL_ERR = 0.10
"""Target of the per-call median and p90 relative errors (both directions of a split)."""


def day_blocks(
    data: CityData, n_blocks: int = 2, span: tuple[date, date] | None = None
) -> list[tuple[date, date]]:
    """Cut the city's observed local days into ``n_blocks`` consecutive blocks.

    Blocks split the days with incidents (within ``span`` when given) as evenly as possible
    (earlier blocks take the extra day).

    Raises:
        ValueError: With fewer observed days than blocks.

    """
    days = sorted(set(local_dates(data.incidents["event_time"], data.tz)))
    if span is not None:
        days = [d for d in days if span[0] <= d <= span[1]]
    if len(days) < n_blocks:
        raise ValueError(f"{len(days)} observed days cannot make {n_blocks} blocks")
    parts = np.array_split(np.arange(len(days)), n_blocks)
    return [(days[int(p[0])], days[int(p[-1])]) for p in parts]


def _rel(sim: np.ndarray, act: np.ndarray, q: float) -> float:
    a = float(np.quantile(act, q))
    return float(np.quantile(sim, q)) / a - 1 if a > 0 else math.nan


def score_replay(records: pd.DataFrame, measure: str = "dispatch_onscene") -> dict[str, Any]:
    """Paired score of a replay: simulated vs actual per call, pooled and per priority.

    Args:
        records: A replay's ``records`` (``sim_dispatch_onscene_min``,
            ``actual_dispatch_onscene_min``, or with ``measure='response'`` the engine's
            ``response_min`` vs ``actual_response_min``; ``priority``; ``replication``).
        measure: ``dispatch_onscene`` or ``response``.

    Returns:
        ``median_rel_err``, ``p90_rel_err``, ``score`` (the worse of the two, absolute),
        counts and a ``by_priority`` block with the same keys.

    """
    sim_col, act_col = (
        ("sim_dispatch_onscene_min", "actual_dispatch_onscene_min")
        if measure == "dispatch_onscene"
        else ("response_min", "actual_response_min")
    )
    ok = np.isfinite(records[act_col].to_numpy(dtype=float)) & np.isfinite(
        records[sim_col].to_numpy(dtype=float)
    )
    rec = records.loc[ok]
    first = rec.loc[rec["replication"] == rec["replication"].min()]

    def one(r: pd.DataFrame, f: pd.DataFrame) -> dict[str, Any]:
        s = r[sim_col].to_numpy(dtype=float)
        a = f[act_col].to_numpy(dtype=float)
        if s.size == 0 or a.size == 0:
            return {"n": 0}
        med, p90 = _rel(s, a, 0.5), _rel(s, a, 0.9)
        return {
            "n": int(a.size),
            "median_rel_err": med,
            "p90_rel_err": p90,
            "score": max(abs(med), abs(p90)),
            "sim_median": float(np.median(s)),
            "actual_median": float(np.median(a)),
            "sim_p90": float(np.quantile(s, 0.9)),
            "actual_p90": float(np.quantile(a, 0.9)),
        }

    out = one(rec, first)
    out["measure"] = measure
    out["paired"] = True
    out["unpaired_calls_left_out"] = int((~ok).sum())
    out["by_priority"] = {
        str(int(k)): one(g, first.loc[first["priority"] == k])
        for k, g in rec.groupby("priority", sort=True)
    }
    reps = sorted(set(rec["replication"].tolist()))
    if len(reps) > 1:
        per = [one(rec.loc[rec["replication"] == r], first)["score"] for r in reps]
        out["replication_scores"] = per
    return out


@dataclass
class Fold:
    """One direction of a split: fit on ``fit_days``, score on ``test_days``.

    Attributes:
        variant: Name of the calibration variant.
        fit_days: First and last fitted local day.
        test_days: First and last held-out local day.
        in_sample: :func:`score_replay` of the fit days.
        out_of_sample: :func:`score_replay` of the held-out days.
        curve: Load-response comparison of the held-out days (real vs twin).
        decomposition: The twin's split of mean response per priority on the held-out days.
        day_scores: Out-of-sample score of each held-out day and replication (the seed of
            the nightly drift band, :mod:`twin.calibrate.drift`).

    """

    variant: str
    fit_days: tuple[str, str]
    test_days: tuple[str, str]
    in_sample: dict[str, Any]
    out_of_sample: dict[str, Any]
    curve: list[dict[str, Any]] = field(default_factory=list)
    decomposition: list[dict[str, Any]] = field(default_factory=list)
    day_scores: list[dict[str, Any]] = field(default_factory=list)


def day_scores(records: pd.DataFrame, tz: str, min_calls: int = 30) -> list[dict[str, Any]]:
    """Score each local day and replication of a replay on its own (paired, pooled classes).

    Days with fewer than ``min_calls`` paired calls are skipped.
    """
    day = pd.to_datetime(records["event_utc"], utc=True).dt.tz_convert(tz).dt.date
    out: list[dict[str, Any]] = []
    for (d, rep), g in records.groupby([day, records["replication"]], sort=True):
        s = score_replay(g.assign(replication=0))
        if s.get("n", 0) >= min_calls:
            out.append(
                {
                    "day": str(d),
                    "replication": int(str(rep)),
                    "n": s["n"],
                    "score": s["score"],
                    "median_rel_err": s["median_rel_err"],
                    "p90_rel_err": s["p90_rel_err"],
                }
            )
    return out


@dataclass
class CrossValidation:
    """Every fold of every variant, and the choice.

    Attributes:
        city: City key.
        folds: All folds.
        target: Target of the median and p90 relative errors.

    """

    city: str
    folds: list[Fold]
    target: float = TARGET_REL_ERR

    def variant_scores(self) -> dict[str, dict[str, float]]:
        """Per variant: worst out-of-sample and worst in-sample score over its folds."""
        out: dict[str, dict[str, float]] = {}
        for f in self.folds:
            v = out.setdefault(f.variant, {"out_of_sample": 0.0, "in_sample": 0.0})
            v["out_of_sample"] = max(v["out_of_sample"], float(f.out_of_sample.get("score", 1e9)))
            v["in_sample"] = max(v["in_sample"], float(f.in_sample.get("score", 1e9)))
        return out

    @property
    def chosen(self) -> str:
        """The variant with the smallest worst out-of-sample score (it generalises)."""
        s = self.variant_scores()
        return min(s, key=lambda k: (s[k]["out_of_sample"], s[k]["in_sample"]))

    @property
    def best_in_sample(self) -> str:
        """The variant with the smallest worst in-sample score (for comparison)."""
        s = self.variant_scores()
        return min(s, key=lambda k: (s[k]["in_sample"], s[k]["out_of_sample"]))

    @property
    def passed(self) -> bool:
        """The chosen variant's median and p90 errors are within target in every fold."""
        return all(
            abs(f.out_of_sample.get("median_rel_err", math.inf)) <= self.target
            and abs(f.out_of_sample.get("p90_rel_err", math.inf)) <= self.target
            for f in self.folds
            if f.variant == self.chosen
        )

    def seed_scores(self, variant: str | None = None) -> list[float]:
        """Out-of-sample single-day scores of a variant (default: the chosen one)."""
        v = variant or self.chosen
        return [float(d["score"]) for f in self.folds if f.variant == v for d in f.day_scores]

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (for the fit report)."""
        return {
            "city": self.city,
            "target_rel_err": self.target,
            "chosen": self.chosen,
            "best_in_sample": self.best_in_sample,
            "passed": self.passed,
            "variant_scores": self.variant_scores(),
            "seed_scores": self.seed_scores(),
            "folds": [f.__dict__ for f in self.folds],
        }

    def text(self) -> str:
        """Return a readable table of the folds."""
        lines = [f"cross-validation of {self.city} (target +-{self.target:.0%} median and p90)"]
        for f in self.folds:
            nan = {"median_rel_err": math.nan, "p90_rel_err": math.nan}
            o, i = f.out_of_sample, f.in_sample or nan
            lines.append(
                f"  {f.variant:<14} fit {f.fit_days[0]}..{f.fit_days[1]} -> test "
                f"{f.test_days[0]}..{f.test_days[1]}: out median {o['median_rel_err']:+.1%} "
                f"p90 {o['p90_rel_err']:+.1%} | in median {i['median_rel_err']:+.1%} "
                f"p90 {i['p90_rel_err']:+.1%}"
            )
        lines.append(
            f"  chosen (generalises best): {self.chosen}; best in sample: {self.best_in_sample}; "
            f"{'PASS' if self.passed else 'FAIL'}"
        )
        return "\n".join(lines)


def curve_rows(
    real: pd.DataFrame, twin: pd.DataFrame, loads: Sequence[str], bins: int
) -> list[dict[str, Any]]:
    """Compare real and twin load-response curves for every load, priority and duration."""
    rows: list[dict[str, Any]] = []
    for load in loads:
        rc = load_response_curve(real, load, bins=bins)
        tc = load_response_curve(twin, load, bins=bins)
        prios = sorted(set(rc["priority"]))
        for p in prios:
            for m in ("received_dispatched", "dispatched_onscene", "received_onscene"):
                c = compare_curves(rc, tc, priority=p, measure=m, rel_tol=0.10)
                d = c.to_dict()
                d.pop("bins")
                d["real_medians"] = [b["real_median"] for b in c.bins]
                d["twin_medians"] = [b["twin_median"] for b in c.bins]
                rows.append(d)
    return rows


def score_years(
    scenario: Mapping[str, Any],
    observed: pd.DataFrame,
    *,
    fit_year: int | None,
    weeks: int = 8,
    replications: int = 1,
    seed: int = 7,
    agency: str | None = None,
    min_calls: int = 30,
    classes: Sequence[int] = (1, 2),
    simulated: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Score one scenario's zone means against the published means of every year.

    The scenario is simulated once (``weeks`` x ``replications``, Poisson demand) and its mean
    response per zone x class is compared with each year's published means: MAPE and bias per
    class over the zones with at least ``min_calls`` simulated calls.

    Args:
        scenario: Scenario mapping.
        observed: ``year``, ``zone_id``, ``klass``, ``mean_min`` (e.g.
            :func:`twin.calibrate.build.response_table`).
        fit_year: The year the scenario was fitted on (flagged ``in_sample``).
        weeks: Simulated weeks per replication.
        replications: Replications pooled.
        seed: Seed.
        agency: Agency of a multi-agency scenario.
        min_calls: Least simulated calls in a zone x class cell.
        classes: Classes scored.
        simulated: Pre-computed zone means (``zone_id, priority, mean, count``); skips the run.

    Returns:
        One row per (year, class): ``mape``, ``bias``, ``zones``, ``in_sample``.

    """
    from twin.calibrate.refine import beat_means

    sim = (
        simulated
        if simulated is not None
        else beat_means(
            scenario,
            horizon=weeks * 10080.0,
            seed=seed,
            replications=replications,
            agency=agency,
        )
    )
    sim = sim.loc[sim["count"] >= min_calls]
    rows: list[dict[str, Any]] = []
    for (year, k), g in observed.loc[observed["klass"].isin(classes)].groupby(["year", "klass"]):
        j = sim.loc[sim["priority"] == k].merge(g, on="zone_id")
        err = (j["mean"] - j["mean_min"]) / j["mean_min"]
        rows.append(
            {
                "year": int(str(year)),
                "klass": int(str(k)),
                "zones": len(j),
                "mape": float(err.abs().mean()) if len(j) else math.nan,
                "bias": float(err.mean()) if len(j) else math.nan,
                "obs_mean": float(j["mean_min"].mean()) if len(j) else math.nan,
                "sim_mean": float(j["mean"].mean()) if len(j) else math.nan,
                "in_sample": fit_year is not None and int(str(year)) == int(fit_year),
            }
        )
    return pd.DataFrame(rows)
