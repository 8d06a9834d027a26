"""Load-response curves and response decomposition, real and twin, for any city.

The question a planner asks ("one unit fewer?") is answered believably only if the twin's
response reacts to load the way the city's does. This module measures that reaction the same
way on the data and on the twin, so the two can be laid side by side:

* :func:`call_lifecycle` turns a city's canonical tables (``incidents`` + ``unit_responses``)
  into one row per call: its priority, the first unit's life-cycle durations and three load
  measures at the moment the call was received — ``units_busy`` (units between dispatch and
  available, from every unit's life cycle), ``calls_prev_hour`` (calls received in the 60
  minutes before it) and ``how_rate`` (the mean calls per hour of its hour of the week).
* :func:`twin_lifecycle` builds the same table from a twin's per-incident records (a replay
  or a simulation): the twin's ``dispatched -> cleared`` intervals are its busy units.
* :func:`load_response_curve` bins calls by a load measure (deciles by default) and gives
  per bin the median, mean and p90 of each duration, with a distribution-free 95 %
  confidence interval of the median (binomial order statistics).
* :func:`compare_curves` scores a twin curve against the real one bin by bin, with a stated
  tolerance: a bin matches when the twin's median is within ``rel_tol`` of the real median or
  inside the real median's 95 % interval; the curve's *elasticity* (top fifth of load over
  bottom fifth) is compared too.
* :func:`decompose` splits each priority's mean response into call processing, queueing
  (the load-dependent excess of received -> dispatched over its low-load level), turnout and
  travel. :func:`twin_decompose` reads the same parts straight from the twin's records
  (its queueing is the time a call waited for a free unit).
* :func:`immediate_dispatch` gives, per priority and load bin, the share of calls dispatched
  the moment they were received and the median delay of the others (San Francisco's
  priority-2 processing falls with load because that share rises, not because the delays do).
* :func:`beat_load_response` is the cross-sectional curve for cities that publish only
  averages (Seattle): zones binned by their call volume against the published mean response
  per priority class and the gap between classes.

Every function takes and returns plain pandas frames with the columns it names; nothing here
knows a city's name.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

__all__ = [
    "DURATIONS",
    "LOADS",
    "CurveComparison",
    "beat_load_response",
    "call_lifecycle",
    "compare_curves",
    "decompose",
    "elasticity",
    "immediate_dispatch",
    "load_response_curve",
    "median_ci",
    "twin_decompose",
    "twin_lifecycle",
    "units_busy_at",
]

DURATIONS: dict[str, tuple[str, str]] = {
    "received_dispatched": ("received", "dispatched"),
    "dispatched_enroute": ("dispatched", "enroute"),
    "enroute_onscene": ("enroute", "onscene"),
    "dispatched_onscene": ("dispatched", "onscene"),
    "received_onscene": ("received", "onscene"),
}
"""Durations (minutes) of a call's first unit: name -> (from column, to column)."""

LOADS: dict[str, str] = {
    "units_busy": "units between dispatch and available at the moment the call was received "
    "(every unit of every call; endogenous: depends on the fleet)",
    "calls_prev_hour": "calls received in the 60 minutes before the call (exogenous: the same "
    "in a replay of the same calls)",
    "how_rate": "mean calls per hour of the call's hour of the week over the period",
}
"""Load measures :func:`call_lifecycle` attaches to every call."""

_MAX_BUSY_MIN = 24 * 60.0


def units_busy_at(times: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Count the intervals ``[start, end)`` that contain each time.

    Args:
        times: Query times (any monotone numeric clock, e.g. minutes or epoch seconds).
        starts: Interval starts.
        ends: Interval ends (an interval with ``end < start`` is dropped).

    Returns:
        ``int64`` counts, one per query time.

    """
    s = np.asarray(starts, dtype=float)
    e = np.asarray(ends, dtype=float)
    ok = np.isfinite(s) & np.isfinite(e) & (e >= s)
    s = np.sort(s[ok])
    e = np.sort(e[ok])
    t = np.asarray(times, dtype=float)
    return (np.searchsorted(s, t, side="right") - np.searchsorted(e, t, side="right")).astype(
        np.int64
    )


def _minutes(values: pd.Series, t0: pd.Timestamp) -> np.ndarray:
    ts = pd.to_datetime(values, utc=True)
    return np.asarray((ts - t0).dt.total_seconds() / 60.0, dtype=float)


def _add_durations(frame: pd.DataFrame) -> pd.DataFrame:
    for name, (a, b) in DURATIONS.items():
        if a in frame.columns and b in frame.columns:
            d = frame[b] - frame[a]
            frame[name] = d.where(d >= 0)
    return frame


def _add_exogenous_loads(frame: pd.DataFrame, hour_of_week: np.ndarray) -> pd.DataFrame:
    t = frame["received"].to_numpy(dtype=float)
    order = np.sort(t[np.isfinite(t)])
    frame["calls_prev_hour"] = (
        np.searchsorted(order, t, side="left") - np.searchsorted(order, t - 60.0, side="left")
    ).astype(np.int64)
    span_h = (order[-1] - order[0]) / 60.0 if order.size > 1 else 1.0
    weeks = max(span_h / 168.0, 1.0 / 168.0)
    how = pd.Series(hour_of_week)
    counts = how.value_counts()
    frame["hour_of_week"] = hour_of_week
    frame["how_rate"] = how.map(counts).to_numpy(dtype=float) / weeks
    return frame


def call_lifecycle(incidents: pd.DataFrame, unit_responses: pd.DataFrame, tz: str) -> pd.DataFrame:
    """One row per call with its first unit's life cycle and the load when it was received.

    Args:
        incidents: Canonical ``incidents`` rows (``incident_id``, ``priority``, ``received``,
            ``zone``; tz-aware timestamps).
        unit_responses: Canonical ``unit_responses`` rows of those incidents (``incident_id``,
            ``unit_id``, ``received``, ``dispatched``, ``enroute``, ``onscene``,
            ``available``). Every row counts as a busy unit from dispatched to available
            (capped at 24 h); the first dispatched unit gives the call's durations.
        tz: The city's time zone (hour of the week is local).

    Returns:
        Columns ``call``, ``priority``, ``zone``, ``received`` .. ``onscene`` (minutes since
        the first call), the :data:`DURATIONS`, the :data:`LOADS` and ``hour_of_week``.

    Raises:
        ValueError: When no call has a received time and a dispatched unit.

    """
    ur = unit_responses.loc[unit_responses["dispatched"].notna()].copy()
    ur = ur.sort_values(["incident_id", "dispatched", "sequence"], na_position="last")
    first = ur.drop_duplicates("incident_id", keep="first")
    inc = incidents.loc[incidents["received"].notna(), ["incident_id", "priority", "zone"]]
    calls = inc.merge(
        first[["incident_id", "unit_id", "received", "dispatched", "enroute", "onscene"]],
        on="incident_id",
        how="inner",
    )
    if calls.empty:
        raise ValueError("no call has both a received time and a dispatched unit")
    t0 = pd.to_datetime(calls["received"], utc=True).min()
    out = pd.DataFrame(
        {
            "call": calls["incident_id"].astype(str).to_numpy(),
            "priority": calls["priority"].to_numpy(),
            "zone": calls["zone"].astype("string").to_numpy(),
        }
    )
    for col in ("received", "dispatched", "enroute", "onscene"):
        out[col] = _minutes(calls[col], t0)
    starts = _minutes(ur["dispatched"], t0)
    ends = _minutes(ur["available"], t0)
    ends = np.where(np.isfinite(ends), np.minimum(ends, starts + _MAX_BUSY_MIN), np.nan)
    out["units_busy"] = units_busy_at(out["received"].to_numpy(), starts, ends)
    local = pd.to_datetime(calls["received"], utc=True).dt.tz_convert(tz)
    how = (local.dt.day_of_week * 24 + local.dt.hour).to_numpy(dtype=np.int64)
    out = _add_exogenous_loads(_add_durations(out), how)
    return out.sort_values("received").reset_index(drop=True)


def twin_lifecycle(
    records: pd.DataFrame,
    *,
    t_zero_hour_of_week: int = 0,
    replication: int | Literal["all"] | None = None,
) -> pd.DataFrame:
    """Build the :func:`call_lifecycle` table of a twin run from its per-incident records.

    Args:
        records: The engine's incident rows (``incident``, ``priority``, ``zone``,
            ``received``, ``dispatched``, ``enroute``, ``onscene``, ``cleared``, in minutes;
            optional ``replication``), e.g. :func:`twin.model.outputs.incidents_table` or a
            replay's ``records``.
        t_zero_hour_of_week: Local hour of the week (Monday 00 = 0) of minute 0 of the run.
        replication: Keep only this replication (default: the first present); ``"all"``
            pools every replication (each one's loads computed within it; rows interleaved
            by received time), so a curve binned on it is the twin's average curve.

    Returns:
        The same columns as :func:`call_lifecycle`; busy units are the twin's
        ``dispatched -> cleared`` intervals.

    """
    if replication == "all" and "replication" in records.columns and len(records):
        parts = [
            twin_lifecycle(records, t_zero_hour_of_week=t_zero_hour_of_week, replication=int(r))
            for r in sorted(set(records["replication"].tolist()))
        ]
        pooled = pd.concat(parts, ignore_index=True)
        return pooled.sort_values("received", kind="stable").reset_index(drop=True)
    if replication == "all":
        replication = None
    rec = records
    if "replication" in rec.columns and len(rec):
        rep = int(rec["replication"].min()) if replication is None else replication
        rec = rec.loc[rec["replication"] == rep]
    rec = rec.loc[np.isfinite(rec["received"].to_numpy(dtype=float))]
    out = pd.DataFrame(
        {
            "call": rec["incident"].astype(str).to_numpy(),
            "priority": rec["priority"].to_numpy(),
            "zone": rec["zone"].astype("string").to_numpy(),
        }
    )
    for col in ("received", "dispatched", "enroute", "onscene"):
        out[col] = rec[col].to_numpy(dtype=float)
    out["units_busy"] = units_busy_at(
        out["received"].to_numpy(),
        rec["dispatched"].to_numpy(dtype=float),
        rec["cleared"].to_numpy(dtype=float),
    )
    for col in ("wait_min", "dispatch_delay_min", "turnout_min", "travel_min"):
        if col in rec.columns:
            out[col] = rec[col].to_numpy(dtype=float)
    how = ((t_zero_hour_of_week + np.floor(out["received"].to_numpy() / 60.0)) % 168).astype(
        np.int64
    )
    out = _add_exogenous_loads(_add_durations(out), how)
    return out.sort_values("received").reset_index(drop=True)


def median_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float]:
    """Median and its distribution-free confidence interval (binomial order statistics).

    Returns:
        ``(median, low, high)``; NaNs when fewer than 5 values.

    """
    v = np.sort(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    n = v.size
    if n < 5:
        return (math.nan, math.nan, math.nan)
    from scipy import stats

    z = float(stats.norm.ppf(0.5 + level / 2))
    half = z * math.sqrt(n) / 2
    lo = max(math.floor(n / 2 - half), 0)
    hi = min(math.ceil(n / 2 + half), n - 1)
    return (float(np.median(v)), float(v[lo]), float(v[hi]))


def load_response_curve(
    life: pd.DataFrame,
    load: str = "units_busy",
    measures: Sequence[str] = ("received_dispatched", "dispatched_onscene", "received_onscene"),
    bins: int = 10,
    by_priority: bool = True,
) -> pd.DataFrame:
    """Bin calls by a load measure and summarise each duration per bin.

    Bins are quantiles of the load (ties broken by call order so every bin has the same
    number of calls); with ``by_priority`` the same bin edges are used for every priority and
    a pooled ``priority = 'all'`` block comes first.

    Returns:
        One row per (priority, measure, bin): ``load_lo``, ``load_hi``, ``load_mean``, ``n``,
        ``median``, ``median_lo``, ``median_hi`` (95 % interval), ``mean``, ``p90``.

    """
    if load not in life.columns:
        raise KeyError(f"load measure {load!r} not in the life-cycle table")
    frame = life.copy()
    rank = frame[load].rank(method="first")
    frame["bin"] = pd.qcut(rank, bins, labels=False) if len(frame) >= bins else 0
    groups: list[tuple[str, pd.DataFrame]] = [("all", frame)]
    if by_priority:
        groups += [(str(p), g) for p, g in frame.groupby(frame["priority"].astype(str), sort=True)]
    rows: list[dict[str, Any]] = []
    for prio, g in groups:
        for m in measures:
            if m not in g.columns:
                continue
            for b, gb in g.groupby("bin", sort=True):
                v = gb[m].to_numpy(dtype=float)
                v = v[np.isfinite(v)]
                med, lo, hi = median_ci(v)
                rows.append(
                    {
                        "priority": prio,
                        "measure": m,
                        "load": load,
                        "bin": int(str(b)),
                        "load_lo": float(gb[load].min()),
                        "load_hi": float(gb[load].max()),
                        "load_mean": float(gb[load].mean()),
                        "n": int(v.size),
                        "median": med,
                        "median_lo": lo,
                        "median_hi": hi,
                        "mean": float(v.mean()) if v.size else math.nan,
                        "p90": float(np.quantile(v, 0.9)) if v.size else math.nan,
                    }
                )
    return pd.DataFrame(rows)


def elasticity(curve: pd.DataFrame, stat: str = "median") -> float:
    """Relative change of *stat* from the bottom fifth of the load bins to the top fifth.

    ``curve`` is one (priority, measure) block of :func:`load_response_curve`. Returns
    ``top / bottom - 1`` of the n-weighted stat (NaN when the bottom is not positive).
    """
    c = curve.sort_values("bin")
    k = max(1, len(c) // 5)
    lo, hi = c.head(k), c.tail(k)

    def avg(part: pd.DataFrame) -> float:
        w = part["n"].to_numpy(dtype=float)
        x = part[stat].to_numpy(dtype=float)
        ok = np.isfinite(x) & (w > 0)
        return float(np.average(x[ok], weights=w[ok])) if ok.any() else math.nan

    b = avg(lo)
    return avg(hi) / b - 1 if b > 0 else math.nan


@dataclass
class CurveComparison:
    """A twin curve scored against the real one (one priority, one measure, one load).

    Attributes:
        priority: Priority block (``all`` for pooled).
        measure: Duration compared.
        load: Load measure of the bins.
        rel_tol: Relative tolerance of a bin's median.
        elasticity_tol: Absolute tolerance of the elasticity difference.
        bins: Per bin: real and twin medians, the real 95 % interval, relative error, match.
        real_elasticity: Real top-fifth / bottom-fifth - 1.
        twin_elasticity: Twin top-fifth / bottom-fifth - 1.

    """

    priority: str
    measure: str
    load: str
    rel_tol: float
    elasticity_tol: float
    bins: list[dict[str, Any]] = field(default_factory=list)
    real_elasticity: float = math.nan
    twin_elasticity: float = math.nan

    @property
    def share_within(self) -> float:
        """Share of bins whose twin median matches (NaN without bins)."""
        if not self.bins:
            return math.nan
        return sum(1 for b in self.bins if b["within"]) / len(self.bins)

    @property
    def worst_rel_err(self) -> float:
        """Largest absolute relative error over the bins."""
        errs = [abs(b["rel_err"]) for b in self.bins if math.isfinite(b["rel_err"])]
        return max(errs) if errs else math.nan

    @property
    def elasticity_ok(self) -> bool:
        """Whether the twin's elasticity is within the tolerance of the real one."""
        d = self.twin_elasticity - self.real_elasticity
        return bool(math.isfinite(d) and abs(d) <= self.elasticity_tol)

    @property
    def passed(self) -> bool:
        """Every bin matches and the elasticity agrees."""
        return bool(self.bins) and self.share_within == 1.0 and self.elasticity_ok

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form for the fit report."""
        return {
            "priority": self.priority,
            "measure": self.measure,
            "load": self.load,
            "tolerance": {
                "bin_median_rel": self.rel_tol,
                "or_inside_real_median_95ci": True,
                "elasticity_abs": self.elasticity_tol,
            },
            "share_of_bins_within": self.share_within,
            "worst_rel_err": self.worst_rel_err,
            "real_elasticity": self.real_elasticity,
            "twin_elasticity": self.twin_elasticity,
            "elasticity_ok": self.elasticity_ok,
            "passed": self.passed,
            "bins": self.bins,
        }


def compare_curves(
    real: pd.DataFrame,
    twin: pd.DataFrame,
    *,
    priority: str = "all",
    measure: str = "received_onscene",
    rel_tol: float = 0.10,
    elasticity_tol: float = 0.10,
) -> CurveComparison:
    """Score one (priority, measure) block of a twin curve against the real one.

    Both curves must come from :func:`load_response_curve` with the same load and bin count
    (the bins are the load's quantiles in each; with an exogenous load and a replay of the
    same calls they hold the same calls).
    """
    r = real.loc[(real["priority"] == priority) & (real["measure"] == measure)]
    t = twin.loc[(twin["priority"] == priority) & (twin["measure"] == measure)]
    load = str(r["load"].iloc[0]) if len(r) else ""
    cmp = CurveComparison(priority, measure, load, rel_tol, elasticity_tol)
    t_bins = [int(x) for x in t["bin"].to_numpy()]
    t_median = dict(zip(t_bins, t["median"].to_numpy(dtype=float).tolist(), strict=True))
    t_lo = dict(zip(t_bins, t["load_lo"].to_numpy(dtype=float).tolist(), strict=True))
    t_hi = dict(zip(t_bins, t["load_hi"].to_numpy(dtype=float).tolist(), strict=True))
    t_n = dict(zip(t_bins, t["n"].to_numpy(dtype=int).tolist(), strict=True))
    for row in r.sort_values("bin").to_dict("records"):
        b = int(row["bin"])
        tm = t_median.get(b, math.nan)
        rm = float(row["median"])
        rel = tm / rm - 1 if rm > 0 and math.isfinite(tm) else math.nan
        inside = bool(row["median_lo"] <= tm <= row["median_hi"]) if math.isfinite(tm) else False
        cmp.bins.append(
            {
                "bin": b,
                "load_real": [float(row["load_lo"]), float(row["load_hi"])],
                "load_twin": [t_lo[b], t_hi[b]] if b in t_lo else None,
                "n_real": int(row["n"]),
                "n_twin": t_n.get(b, 0),
                "real_median": rm,
                "real_median_95ci": [float(row["median_lo"]), float(row["median_hi"])],
                "twin_median": tm,
                "rel_err": rel,
                "within": bool((math.isfinite(rel) and abs(rel) <= rel_tol) or inside),
            }
        )
    cmp.real_elasticity = elasticity(r)
    cmp.twin_elasticity = elasticity(t)
    return cmp


def decompose(
    life: pd.DataFrame, *, low_load: str = "calls_prev_hour", low_share: float = 0.2
) -> pd.DataFrame:
    """Split each priority's mean response (received -> on scene) into its parts (data).

    * ``processing``: mean received -> dispatched of the calls in the lowest ``low_share`` of
      the (exogenous) load — what call taking and dispatch take when units are plentiful;
    * ``queueing``: the rest of the mean received -> dispatched (the load-dependent excess;
      negative when busy hours are dispatched faster, reported as measured);
    * ``turnout``: mean dispatched -> en route; ``travel``: mean en route -> on scene.

    Only calls with every time are used, so the parts add up to ``total``.

    Returns:
        One row per priority (and ``all``): ``n``, ``total``, the four parts (minutes),
        their shares of ``total`` and ``processing_median``.

    """
    need = ["received_dispatched", "dispatched_enroute", "enroute_onscene", "received_onscene"]
    full = life.dropna(subset=need)
    cut = full[low_load].quantile(low_share)
    rows: list[dict[str, Any]] = []
    groups = [("all", full), *((str(p), g) for p, g in full.groupby(full["priority"].astype(str)))]
    for prio, g in groups:
        low = g.loc[g[low_load] <= cut]
        rd = float(g["received_dispatched"].mean())
        proc = float(low["received_dispatched"].mean()) if len(low) >= 10 else rd
        parts = {
            "processing": proc,
            "queueing": rd - proc,
            "turnout": float(g["dispatched_enroute"].mean()),
            "travel": float(g["enroute_onscene"].mean()),
        }
        total = float(g["received_onscene"].mean())
        row: dict[str, Any] = {"priority": prio, "n": len(g), "total": total, **parts}
        row.update({f"{k}_share": v / total if total > 0 else math.nan for k, v in parts.items()})
        row["processing_median"] = float(g["received_dispatched"].median())
        row["low_load_calls"] = len(low)
        rows.append(row)
    return pd.DataFrame(rows)


def twin_decompose(life: pd.DataFrame) -> pd.DataFrame:
    """Split the twin's mean response per priority exactly (from :func:`twin_lifecycle`).

    ``processing`` is the fitted dispatch delay, ``queueing`` the time a call waited for a
    free unit, ``turnout`` and ``travel`` the engine's own.
    """
    need = ["dispatch_delay_min", "wait_min", "turnout_min", "travel_min", "received_onscene"]
    full = life.dropna(subset=need)
    rows: list[dict[str, Any]] = []
    groups = [("all", full), *((str(p), g) for p, g in full.groupby(full["priority"].astype(str)))]
    for prio, g in groups:
        parts = {
            "processing": float(g["dispatch_delay_min"].mean()),
            "queueing": float(g["wait_min"].mean()),
            "turnout": float(g["turnout_min"].mean()),
            "travel": float(g["travel_min"].mean()),
        }
        total = float(g["received_onscene"].mean())
        row: dict[str, Any] = {"priority": prio, "n": len(g), "total": total, **parts}
        row.update({f"{k}_share": v / total if total > 0 else math.nan for k, v in parts.items()})
        row["p_wait"] = float((g["wait_min"] > 0).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def immediate_dispatch(
    life: pd.DataFrame,
    load: str = "calls_prev_hour",
    bins: int = 5,
    *,
    at_most_min: float = 0.05,
) -> pd.DataFrame:
    """Share of calls dispatched the moment they were received, per priority and load bin.

    Bins are the load's quantiles over all calls (as :func:`load_response_curve`); a call
    counts as immediate when its received -> dispatched is at most ``at_most_min`` minutes.

    Returns:
        One row per (priority, bin): ``load_mean``, ``n`` (calls with a received ->
        dispatched), ``immediate_share`` and ``median_other_min`` (median received ->
        dispatched of the other calls).

    """
    frame = life.loc[life["received_dispatched"].notna()].copy()
    rank = frame[load].rank(method="first")
    frame["bin"] = pd.qcut(rank, bins, labels=False) if len(frame) >= bins else 0
    frame["immediate"] = frame["received_dispatched"] <= at_most_min
    rows: list[dict[str, Any]] = []
    for (prio, b), g in frame.groupby([frame["priority"].astype(str), "bin"], sort=True):
        other = g.loc[~g["immediate"], "received_dispatched"]
        rows.append(
            {
                "priority": str(prio),
                "bin": int(str(b)),
                "load_mean": float(g[load].mean()),
                "n": len(g),
                "immediate_share": float(g["immediate"].mean()),
                "median_other_min": float(other.median()) if len(other) else math.nan,
            }
        )
    return pd.DataFrame(rows)


def beat_load_response(volume: pd.DataFrame, means: pd.DataFrame, *, bins: int = 5) -> pd.DataFrame:
    """Cross-sectional load-response: zones binned by call volume vs mean response by class.

    Args:
        volume: ``zone``, ``calls_per_day`` (the zones' load).
        means: ``zone``, ``klass``, ``mean_min`` (published or simulated mean response of one
            year per zone and priority class).
        bins: Number of volume quantile bins.

    Returns:
        One row per bin: ``zones``, ``calls_per_day`` (mean), one ``mean_<klass>`` column per
        class (zone-averaged) and ``gap_<k>_<first>`` = each class's mean minus the first
        class's (the part of a lower class's response beyond the urgent one's).

    """
    wide = means.pivot_table(index="zone", columns="klass", values="mean_min", aggfunc="mean")
    wide.columns = [f"mean_{c}" for c in wide.columns]
    d = volume.merge(wide.reset_index(), on="zone", how="inner")
    if d.empty:
        return pd.DataFrame()
    d["bin"] = pd.qcut(d["calls_per_day"].rank(method="first"), bins, labels=False)
    cols = [c for c in d.columns if c.startswith("mean_")]
    out = d.groupby("bin").agg(
        zones=("zone", "size"),
        calls_per_day=("calls_per_day", "mean"),
        **{c: (c, "mean") for c in cols},
    )
    first = cols[0]
    for c in cols[1:]:
        out[f"gap_{c[5:]}_{first[5:]}"] = out[c] - out[first]
    return out.reset_index()
