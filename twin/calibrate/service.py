"""Service and delay distributions: fit exponential, lognormal and gamma; keep the best.

Each candidate is fitted by maximum likelihood (scipy, location fixed at 0) to the positive
durations in minutes. The fit reports for every candidate the Kolmogorov-Smirnov statistic, the
log-likelihood, AIC and QQ data (observed vs fitted quantiles at 5 %..95 %); the candidate with
the smallest KS statistic is chosen (AIC breaks near-ties within 0.005). The chosen fit becomes a
tagged distribution spec for the scenario (``{dist: lognormal, mean: .., sd: ..}``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "CANDIDATES",
    "DistFit",
    "durations_min",
    "fit_by_group",
    "fit_duration",
    "unit_utilisation",
]

CANDIDATES: tuple[str, ...] = ("exponential", "lognormal", "gamma")
QQ_PROBS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95)


@dataclass
class DistFit:
    """A fitted duration distribution and its goodness of fit.

    Attributes:
        what: What the durations are (``"on scene -> available, priority 1"``).
        n: Number of positive durations fitted.
        n_dropped: Durations dropped (null, zero, negative, or beyond ``max_min``).
        chosen: The chosen candidate's name.
        spec: The scenario distribution spec of the chosen candidate.
        candidates: name -> {params, mean, sd, ks, ks_pvalue, loglik, aic, qq}.
        summary: Empirical mean, sd, median, p90 of the data.
        source: Where the data came from (tables, sources, filters).
        pooled: True when the group had too little data and the pooled fit was used.

    """

    what: str
    n: int
    n_dropped: int
    chosen: str
    spec: dict[str, Any]
    candidates: dict[str, dict[str, Any]]
    summary: dict[str, float]
    source: str = ""
    pooled: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def mean(self) -> float:
        """Return the chosen distribution's mean in minutes."""
        return float(self.candidates[self.chosen]["mean"])

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of the fit."""
        return {
            "what": self.what,
            "n": self.n,
            "n_dropped": self.n_dropped,
            "chosen": self.chosen,
            "spec": self.spec,
            "candidates": self.candidates,
            "summary": self.summary,
            "source": self.source,
            "pooled": self.pooled,
            "notes": self.notes,
        }


def durations_min(start: pd.Series, end: pd.Series) -> pd.Series:
    """Return ``end - start`` in minutes (float; null where either is null)."""
    s = pd.to_datetime(start, utc=True)
    e = pd.to_datetime(end, utc=True)
    return (e - s).dt.total_seconds() / 60.0


def unit_utilisation(units: pd.DataFrame) -> dict[str, float]:
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


def _spec(name: str, mean: float, sd: float) -> dict[str, Any]:
    if name == "exponential":
        return {"dist": "exponential", "mean": round(mean, 4)}
    return {"dist": name, "mean": round(mean, 4), "sd": round(sd, 4)}


def fit_duration(
    values: pd.Series | np.ndarray,
    what: str,
    *,
    source: str = "",
    max_min: float | None = 24 * 60.0,
    min_n: int = 20,
) -> DistFit:
    """Fit the candidate distributions to durations and choose the best.

    Args:
        values: Durations in minutes (nulls, zeros and negatives are dropped and counted).
        what: Label of the quantity, used in the report.
        source: Where the data came from, for the report.
        max_min: Durations above this are dropped as data errors (None keeps all).
        min_n: Fewer positive durations than this raise ValueError (callers pool instead).

    Returns:
        The :class:`DistFit`.

    Raises:
        ValueError: When fewer than ``min_n`` usable durations remain.

    """
    x_all = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    keep = np.isfinite(x_all) & (x_all > 0)
    if max_min is not None:
        keep &= x_all <= max_min
    x = np.sort(x_all[keep])
    n_dropped = len(x_all) - len(x)
    if len(x) < min_n:
        raise ValueError(f"{what}: only {len(x)} usable durations (need {min_n})")
    emp_q = np.quantile(x, QQ_PROBS)
    cands: dict[str, dict[str, Any]] = {}
    for name in CANDIDATES:
        if name == "exponential":
            dist = stats.expon(scale=float(x.mean()))
            params = {"scale": float(x.mean())}
            k = 1
        elif name == "lognormal":
            shape, _, scale = stats.lognorm.fit(x, floc=0)
            dist = stats.lognorm(shape, scale=scale)
            params = {"sigma": float(shape), "mu": float(np.log(scale))}
            k = 2
        else:
            a, _, scale = stats.gamma.fit(x, floc=0)
            dist = stats.gamma(a, scale=scale)
            params = {"shape": float(a), "scale": float(scale)}
            k = 2
        ks = stats.kstest(x, dist.cdf)
        loglik = float(np.sum(dist.logpdf(x)))
        mean, var = (float(v) for v in dist.stats(moments="mv"))
        cands[name] = {
            "params": params,
            "mean": mean,
            "sd": float(np.sqrt(var)),
            "ks": float(ks.statistic),
            "ks_pvalue": float(ks.pvalue),
            "loglik": loglik,
            "aic": 2 * k - 2 * loglik,
            "qq": {
                "probs": list(QQ_PROBS),
                "observed": [float(v) for v in emp_q],
                "fitted": [float(v) for v in dist.ppf(QQ_PROBS)],
            },
        }
    best_ks = min(c["ks"] for c in cands.values())
    near = [n for n, c in cands.items() if c["ks"] <= best_ks + 0.005]
    chosen = min(near, key=lambda n: cands[n]["aic"])
    c = cands[chosen]
    return DistFit(
        what=what,
        n=len(x),
        n_dropped=int(n_dropped),
        chosen=chosen,
        spec=_spec(chosen, c["mean"], c["sd"]),
        candidates=cands,
        summary={
            "mean": float(x.mean()),
            "sd": float(x.std(ddof=1)) if len(x) > 1 else 0.0,
            "median": float(np.median(x)),
            "p90": float(np.quantile(x, 0.9)),
        },
        source=source,
    )


def fit_by_group(
    frame: pd.DataFrame,
    value: str,
    group: str,
    what: str,
    *,
    source: str = "",
    min_n: int = 30,
    max_min: float | None = 24 * 60.0,
) -> tuple[DistFit, dict[Any, DistFit]]:
    """Fit a pooled distribution and one per group, pooling groups with too little data.

    Args:
        frame: Rows with a duration column and a group column.
        value: Column of durations in minutes.
        group: Column to group by (e.g. the priority class).
        what: Label of the quantity.
        source: Where the data came from.
        min_n: A group with fewer usable durations gets the pooled fit (marked ``pooled``).
        max_min: Durations above this are dropped.

    Returns:
        (pooled fit, {group value: fit}).

    Raises:
        ValueError: When even the pooled data have fewer than ``min_n`` usable durations.

    """
    pooled = fit_duration(frame[value], f"{what}, all", source=source, max_min=max_min, min_n=min_n)
    out: dict[Any, DistFit] = {}
    for key, sub in frame.groupby(group, dropna=True):
        label = f"{what}, {group} {key}"
        try:
            out[key] = fit_duration(sub[value], label, source=source, max_min=max_min, min_n=min_n)
        except ValueError:
            n_ok = int(((sub[value] > 0) & sub[value].notna()).sum())
            fb = DistFit(
                what=label,
                n=n_ok,
                n_dropped=len(sub) - n_ok,
                chosen=pooled.chosen,
                spec=pooled.spec,
                candidates=pooled.candidates,
                summary=pooled.summary,
                source=source,
                pooled=True,
                notes=[f"only {n_ok} durations (< {min_n}): pooled fit over all groups used"],
            )
            out[key] = fb
    return pooled, out
