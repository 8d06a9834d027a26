"""Demand: call rates per zone x hour of week x priority class, smoothed by empirical Bayes.

The fit is multiplicative: ``rate[z, h, p] = lambda_z * m_z[h] * s_z[p]`` where

* ``lambda_z`` is the zone's mean calls per hour (all classes). Zone counts are Poisson; a
  gamma prior per district is fitted by the method of moments (Gamma-Poisson empirical Bayes),
  so a sparse zone's rate is pulled toward its district's rate instead of being zero;
* ``m_z[h]`` are 168 hour-of-week multipliers (mean 1 over the week). The zone's hour-of-week
  shares are shrunk toward the district's, which are shrunk toward the city's (Dirichlet
  pseudo-counts ``profile_strength``, estimated from the zones' own dispersion by default);
* ``s_z[p]`` are the zone's priority-class shares, shrunk toward the district's shares the same
  way (pseudo-counts ``share_strength``).

A zone with fewer than ``min_zone_count`` calls uses its district's profile and shares outright
(the *pooled fallback*), and a district with fewer than ``min_zone_count`` calls uses the city's;
the fit records which zones fell back. Every rate keeps the counts behind it
(:attr:`DemandFit.counts`).

Hour of week 0 is Monday 00:00-01:00 local time. Exposure is counted in *observed days*
(local dates on which the source recorded at least one call), so gaps in a source do not read
as quiet hours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twin.errors import DataError

__all__ = [
    "HOURS_PER_WEEK",
    "DemandFit",
    "dirichlet_strength",
    "fit_demand",
    "hour_of_week",
]

HOURS_PER_WEEK = 168


def hour_of_week(times: pd.Series, tz: str) -> pd.Series:
    """Return the local hour of week (0 = Monday 00:00) of UTC timestamps.

    Args:
        times: UTC timestamps (tz-aware or naive UTC).
        tz: IANA time zone of the city.

    Returns:
        Integer series in 0..167, same index as ``times``.

    """
    ts = pd.to_datetime(times, utc=True).dt.tz_convert(tz)
    return (ts.dt.day_of_week * 24 + ts.dt.hour).astype("int64")


@dataclass
class DemandFit:
    """The fitted demand of one city and agency.

    Attributes:
        zones: One row per zone: ``zone_id``, ``district``, ``n`` (calls), ``exposure_h``,
            ``rate_raw`` (n / exposure), ``rate_per_hour`` (smoothed), ``pooled`` (bool),
            ``method`` (how the rate, profile and shares were set).
        profiles: zone id -> 168 hour-of-week multipliers (mean 1).
        shares: zone id -> {class: share}.
        city_shares: {class: share} over the whole city.
        counts: Long table ``zone_id, how, klass, n`` of the calls behind every rate.
        rates: Long table ``zone_id, how, klass, rate_per_hour, n``.
        observed_days: Number of local days with data.
        diagnostics: Goodness-of-fit figures and the fitted prior.
        assumptions: Plain-language assumptions made by this fit.

    """

    zones: pd.DataFrame
    profiles: dict[str, list[float]]
    shares: dict[str, dict[int, float]]
    city_shares: dict[int, float]
    counts: pd.DataFrame
    rates: pd.DataFrame
    observed_days: int
    diagnostics: dict[str, Any] = field(default_factory=dict)
    assumptions: list[str] = field(default_factory=list)

    @property
    def total_rate_per_hour(self) -> float:
        """Return the city's smoothed calls per hour (all zones, all classes)."""
        return float(self.zones["rate_per_hour"].sum())


def _gamma_prior(rates: np.ndarray, exposure: np.ndarray) -> tuple[float, float]:
    """Return (alpha, beta) of a gamma prior on rates, by the method of moments.

    The variance of observed rates n/T is the prior variance plus the Poisson noise mean/T;
    when the between-zone variance is not identifiable (<= 0) the prior is made tight
    (complete pooling).
    """
    mean = float(np.average(rates, weights=exposure)) if exposure.sum() > 0 else 0.0
    if mean <= 0 or len(rates) < 2:
        return 1.0, 1.0 / max(mean, 1e-9) if mean > 0 else 1.0
    var_obs = float(np.average((rates - mean) ** 2, weights=exposure))
    noise = float(np.mean(mean / exposure))
    var_between = var_obs - noise
    if var_between <= 1e-12:
        var_between = mean**2 * 1e-4  # all zones alike: pool almost completely
    alpha = mean**2 / var_between
    beta = mean / var_between
    return alpha, beta


def _shrink(counts: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    """Dirichlet-multinomial posterior mean shares: (n + k * prior) / (N + k)."""
    total = counts.sum()
    return (counts + strength * prior) / (total + strength)


def dirichlet_strength(
    counts: np.ndarray,
    parent: np.ndarray,
    *,
    min_count: int = 30,
    bounds: tuple[float, float] = (168.0, 50_000.0),
) -> float:
    """Estimate the Dirichlet concentration of rows of counts around their parent shares.

    Under a Dirichlet-multinomial with concentration ``k`` the Pearson dispersion of a row with
    ``N`` counts is ``R = (N + k) / (1 + k)``; each row with ``N >= min_count`` gives
    ``k = (N - R) / (R - 1)`` and the median over rows is returned (clipped to ``bounds``;
    the upper bound when rows show no extra variation).

    Args:
        counts: Rows of counts (e.g. zones x hour of week).
        parent: The matching rows of parent shares (each sums to 1).
        min_count: Rows with fewer counts are ignored.
        bounds: Allowed range of the estimate.

    Returns:
        The pseudo-count strength.

    """
    ks: list[float] = []
    n_cols = counts.shape[1]
    for row, pi in zip(counts, parent, strict=True):
        n = float(row.sum())
        if n < min_count:
            continue
        ok = pi > 0
        phat = row / n
        r = n * float(np.sum((phat[ok] - pi[ok]) ** 2 / pi[ok])) / (n_cols - 1)
        ks.append((n - r) / (r - 1) if r > 1 else bounds[1])
    if not ks:
        return bounds[0]
    return float(np.clip(np.median(ks), *bounds))


def fit_demand(
    incidents: pd.DataFrame,
    zones: pd.DataFrame,
    tz: str,
    *,
    classify: Callable[[pd.Series], pd.Series] | None = None,
    class_shares: Mapping[int, float] | None = None,
    min_zone_count: int = 30,
    profile_strength: float | None = None,
    share_strength: float = 20.0,
) -> DemandFit:
    """Fit smoothed call rates per zone x hour of week x priority class.

    Args:
        incidents: Canonical incidents (columns ``event_time``, ``zone``; ``priority`` used
            when ``class_shares`` is None; ``received``, when present, to report calls whose
            arrival time is a proxy). Rows with no zone are dropped and counted. Arrival times
            are ``event_time``: the call-received time where the source has one, else the
            earliest time it gives (at scene), which the fit's assumptions then state.
        zones: Zones to fit (columns ``zone_id``, ``district``); zones without calls get the
            district's smoothed rate.
        tz: IANA time zone of the city.
        classify: Maps the ``priority`` column to a class number (default: the priority as is;
            null priorities are spread over the classes in proportion).
        class_shares: Fixed class shares used for every zone when the incidents carry no
            priority (e.g. Seattle's 2015 response data); overrides the incidents' priorities.
        min_zone_count: Calls below which a zone (or district) uses the pooled profile and
            shares of the level above.
        profile_strength: Dirichlet pseudo-counts pulling hour-of-week shares toward the level
            above; None estimates them from the data (:func:`dirichlet_strength`).
        share_strength: Dirichlet pseudo-counts pulling class shares toward the level above.

    Returns:
        The :class:`DemandFit`.

    Raises:
        DataError: When there are no incidents with a zone, or no zones.

    """
    if zones.empty:
        raise DataError("calibration: the zones table is empty; sync the city's zone source first")
    inc = incidents.loc[incidents["zone"].notna()].copy()
    dropped_no_zone = len(incidents) - len(inc)
    known = set(zones["zone_id"].astype(str))
    outside = ~inc["zone"].astype(str).isin(known)
    dropped_unknown = int(outside.sum())
    inc = inc.loc[~outside]
    if inc.empty:
        raise DataError(
            "calibration: no incidents with a known zone; sync the city's incident sources "
            "(and its zones, so incidents join to them) before calibrating"
        )
    zone_ids = list(zones["zone_id"].astype(str))
    district_of = dict(
        zip(zones["zone_id"].astype(str), zones["district"].fillna("?").astype(str), strict=True)
    )
    if "event_time" not in inc.columns:
        raise DataError(
            "calibration: the incidents have no 'event_time' column (a lake written by an older "
            "schema?); run `make clean` and sync again"
        )
    local = pd.to_datetime(inc["event_time"], utc=True).dt.tz_convert(tz)
    inc["how"] = (local.dt.day_of_week * 24 + local.dt.hour).astype("int64")
    dates = pd.Series(local.dt.date.unique())
    observed_days = len(dates)
    # exposure per hour-of-week slot: each observed day contributes one hour to its 24 slots
    weekday_days = pd.Series(pd.to_datetime(dates).dt.day_of_week).value_counts()
    exposure_how = np.zeros(HOURS_PER_WEEK)
    for dow, ndays in zip(weekday_days.index, weekday_days.to_numpy(), strict=True):
        exposure_how[int(dow) * 24 : int(dow) * 24 + 24] = float(ndays)
    exposure_h = float(exposure_how.sum())

    # priority classes
    assumptions: list[str] = []
    if "received" in inc.columns:
        no_received = inc["received"].isna()
        if no_received.any():
            srcs = (
                sorted(str(x) for x in inc.loc[no_received, "source"].dropna().unique())
                if "source" in inc.columns
                else []
            )
            assumptions.append(
                f"{int(no_received.sum())} of {len(inc)} calls have no received time"
                + (f" (sources {', '.join(srcs)})" if srcs else "")
                + ": event_time = the at-scene time (the clearance time where at-scene is "
                "empty) is used as the arrival-time proxy for demand, so their hour-of-week "
                "profile is shifted later by the unobserved received -> on scene delay"
            )
    if class_shares is not None:
        classes = sorted(int(k) for k in class_shares)
        fixed = np.array([float(class_shares[k]) for k in classes])
        fixed = fixed / fixed.sum()
        inc["klass"] = -1
        assumptions.append(
            "incidents carry no priority: every zone uses the fixed class shares "
            + ", ".join(f"P{k}={v:.3f}" for k, v in zip(classes, fixed, strict=True))
        )
    else:
        pri = inc["priority"] if "priority" in inc else pd.Series(np.nan, index=inc.index)
        klass = classify(pri) if classify is not None else pri
        inc["klass"] = pd.to_numeric(klass, errors="coerce").fillna(-1).astype("int64")
        classes = sorted(int(k) for k in inc["klass"].unique() if k >= 0)
        if not classes:
            raise DataError(
                "calibration: no incident has a priority; pass class_shares (fixed shares)"
            )
        fixed = None
        n_unknown = int((inc["klass"] < 0).sum())
        if n_unknown:
            assumptions.append(
                f"{n_unknown} calls without a priority are spread over the classes in "
                "proportion to the zone's known shares"
            )
    n_classes = len(classes)
    cidx = {k: i for i, k in enumerate(classes)}

    # count arrays: zone x how, zone x class
    zpos = {z: i for i, z in enumerate(zone_ids)}
    zi = inc["zone"].astype(str).map(zpos).to_numpy()
    hw = inc["how"].to_numpy()
    n_zh = np.zeros((len(zone_ids), HOURS_PER_WEEK))
    np.add.at(n_zh, (zi, hw), 1.0)
    n_zc = np.zeros((len(zone_ids), n_classes))
    if fixed is None:
        kk = inc["klass"].to_numpy()
        ok = kk >= 0
        np.add.at(n_zc, (zi[ok], np.array([cidx[int(k)] for k in kk[ok]], dtype=int)), 1.0)
    n_z = n_zh.sum(axis=1)

    districts = sorted(set(district_of.values()))
    d_of_z = np.array([districts.index(district_of[z]) for z in zone_ids])
    city_how = n_zh.sum(axis=0)
    city_prof = (city_how + 1e-9) / (city_how.sum() + 1e-9 * HOURS_PER_WEEK)
    city_cls = n_zc.sum(axis=0)
    city_share = (
        fixed if fixed is not None else (city_cls + 1e-9) / (city_cls.sum() + 1e-9 * n_classes)
    )

    rates = n_z / exposure_h
    rate_smooth = np.zeros(len(zone_ids))
    prof = np.zeros((len(zone_ids), HOURS_PER_WEEK))
    share = np.zeros((len(zone_ids), n_classes))
    method = [""] * len(zone_ids)
    pooled = np.zeros(len(zone_ids), dtype=bool)
    priors: dict[str, dict[str, float]] = {}
    if profile_strength is None:
        dist_prof = {}
        for d_i in range(len(districts)):
            members = np.where(d_of_z == d_i)[0]
            nd = n_zh[members].sum(axis=0)
            dist_prof[d_i] = (nd + 1e-9) / (nd.sum() + 1e-9 * HOURS_PER_WEEK)
        parent = np.array([dist_prof[d] for d in d_of_z])
        profile_strength = dirichlet_strength(n_zh, parent, min_count=min_zone_count)
    for d_i, d in enumerate(districts):
        members = np.where(d_of_z == d_i)[0]
        nd_how = n_zh[members].sum(axis=0)
        nd = nd_how.sum()
        nd_cls = n_zc[members].sum(axis=0)
        if nd >= min_zone_count:
            d_prof = _shrink(nd_how, city_prof, profile_strength)
            d_share = (
                fixed
                if fixed is not None
                else _shrink(nd_cls, city_share, share_strength)
                if nd_cls.sum() > 0
                else city_share
            )
            d_level = "district"
        else:
            d_prof, d_share, d_level = city_prof, city_share, "city"
        # the gamma prior on zone rates: within the district when it has several zones with
        # calls, else over the whole city
        pool = members if (n_z[members] > 0).sum() >= 3 else np.arange(len(zone_ids))
        alpha, beta = _gamma_prior(rates[pool], np.full(len(pool), exposure_h))
        priors[d] = {"alpha": alpha, "beta_h": beta, "prior_mean_per_hour": alpha / beta}
        for z in members:
            rate_smooth[z] = (n_z[z] + alpha) / (exposure_h + beta)
            if n_z[z] >= min_zone_count:
                prof[z] = _shrink(n_zh[z], d_prof, profile_strength)
                share[z] = (
                    fixed
                    if fixed is not None
                    else _shrink(n_zc[z], d_share, share_strength)
                    if n_zc[z].sum() > 0
                    else d_share
                )
                method[z] = "zone counts, shrunk toward " + d_level
            else:
                prof[z] = d_prof
                share[z] = d_share
                pooled[z] = True
                method[z] = f"pooled: {int(n_z[z])} < {min_zone_count} calls, {d_level} profile"
    # hour-of-week multipliers: rate in slot h relative to the zone's mean rate
    per_slot = prof / np.where(exposure_how > 0, exposure_how, np.inf)[None, :]
    per_slot = np.where(exposure_how[None, :] > 0, per_slot, prof.mean(axis=1, keepdims=True))
    mult = per_slot / per_slot.mean(axis=1, keepdims=True)

    zdf = pd.DataFrame(
        {
            "zone_id": zone_ids,
            "district": [district_of[z] for z in zone_ids],
            "n": n_z.astype("int64"),
            "exposure_h": exposure_h,
            "rate_raw": rates,
            "rate_per_hour": rate_smooth,
            "pooled": pooled,
            "method": method,
        }
    )
    # long tables: counts and rates per zone x how x class
    zz, hh, cc = np.meshgrid(
        np.arange(len(zone_ids)), np.arange(HOURS_PER_WEEK), np.arange(n_classes), indexing="ij"
    )
    rate_zhc = rate_smooth[:, None, None] * mult[:, :, None] * share[:, None, :]
    if fixed is None:
        # calls per zone x how x class (unknown-priority calls are not in any class)
        n_zhc = np.zeros((len(zone_ids), HOURS_PER_WEEK, n_classes))
        kk = inc["klass"].to_numpy()
        ok = kk >= 0
        np.add.at(
            n_zhc,
            (zi[ok], hw[ok], np.array([cidx[int(k)] for k in kk[ok]], dtype=int)),
            1.0,
        )
    else:
        n_zhc = n_zh[:, :, None] * np.ones(n_classes)[None, None, :] * np.nan
    counts = pd.DataFrame(
        {
            "zone_id": np.array(zone_ids)[zz.ravel()],
            "how": hh.ravel(),
            "klass": np.array(classes)[cc.ravel()],
            "n": n_zhc.ravel(),
        }
    )
    rates_long = counts.assign(rate_per_hour=rate_zhc.ravel())
    counts_zh = pd.DataFrame(
        {
            "zone_id": np.repeat(zone_ids, HOURS_PER_WEEK),
            "how": np.tile(np.arange(HOURS_PER_WEEK), len(zone_ids)),
            "n": n_zh.ravel().astype("int64"),
        }
    )
    # goodness of fit: Pearson dispersion of zone x hour-of-week counts against the fit
    expected = rate_smooth[:, None] * mult * exposure_how[None, :]
    mask = expected > 0
    pearson = float((((n_zh - expected) ** 2)[mask] / expected[mask]).sum())
    dof = max(int(mask.sum()) - len(zone_ids) - HOURS_PER_WEEK, 1)
    diagnostics: dict[str, Any] = {
        "calls": int(n_z.sum()),
        "calls_without_zone": int(dropped_no_zone),
        "calls_in_unknown_zone": dropped_unknown,
        "observed_days": observed_days,
        "exposure_hours": exposure_h,
        "zones": len(zone_ids),
        "zones_pooled": int(pooled.sum()),
        "zones_without_calls": int((n_z == 0).sum()),
        "classes": classes,
        "pearson_chi2": pearson,
        "pearson_dof": dof,
        "dispersion": pearson / dof,
        "gamma_priors": priors,
        "profile_strength": profile_strength,
        "city_rate_per_hour": float(n_z.sum() / exposure_h),
        "smoothed_city_rate_per_hour": float(rate_smooth.sum()),
        "zone_hour_counts": counts_zh,
    }
    assumptions.extend(
        [
            "arrivals are Poisson with a rate that depends on zone, hour of week and class "
            "(the fit's dispersion index says how far hourly counts are from Poisson)",
            f"zones with fewer than {min_zone_count} calls use the district (or city) "
            "hour-of-week profile and class shares; zone rates are gamma-Poisson "
            "empirical-Bayes estimates shrunk toward the district",
            "exposure counts only local days on which the source recorded calls",
        ]
    )
    return DemandFit(
        zones=zdf,
        profiles={z: [float(x) for x in mult[i]] for i, z in enumerate(zone_ids)},
        shares={
            z: {int(k): float(share[i, j]) for j, k in enumerate(classes)}
            for i, z in enumerate(zone_ids)
        },
        city_shares={int(k): float(v) for k, v in zip(classes, city_share, strict=True)},
        counts=counts,
        rates=rates_long,
        observed_days=observed_days,
        diagnostics=diagnostics,
        assumptions=assumptions,
    )
