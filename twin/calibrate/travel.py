"""Travel: speed, circuity and turnout fitted so that simulated response matches observed.

Two data situations:

* **Per-call life cycle** (San Francisco): every unit response has dispatch, en-route and
  on-scene times and the call has a location. The drive time (en route -> on scene) of the
  first unit is regressed on the great-circle distance from the unit's post (its home station
  area's centroid) to the call, ``t = t0 + d * circuity / speed``, on distance-binned medians
  (robust to the long tail). Circuity is not identifiable from times alone and is fixed (an
  assumption in the report); speed and ``t0`` are fitted. The twin then uses a zone-to-zone
  travel-time matrix: off the diagonal the fitted line on centroid distances, on the diagonal
  each zone's own median drive time (the line at the zone's mean call distance when the zone
  has few calls). Turnout is the median dispatch -> en route.
* **Mean response by beat and priority** (Seattle police): priority-1 mean response per beat is
  ``t0 + E[min distance from a free patrolling unit] * circuity / speed``; the expected distance
  is computed over the beat centroids of the precinct, with ``k`` free units placed uniformly.
  ``t0`` (dispatch delay + turnout) and speed are fitted by least squares over beats.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from twin.geo import haversine_km

__all__ = [
    "INTRA_PATROL",
    "INTRA_POST",
    "DriveFit",
    "expected_min_distance",
    "fit_beat_response",
    "fit_drive_time",
    "travel_matrix",
]

INTRA_PATROL = 0.5214
"""Mean distance between two uniform points of a unit square: a patrolling unit and a call in
the same zone are ``INTRA_PATROL * sqrt(area)`` apart on average."""
INTRA_POST = 0.3826
"""Mean distance from the centre of a unit square to a uniform point: a unit at its post (the
zone's centre) is ``INTRA_POST * sqrt(area)`` from a call in its zone on average."""


@dataclass
class DriveFit:
    """A fitted drive-time line ``t = t0 + d * circuity / speed``.

    Attributes:
        speed_kmh: Fitted speed.
        circuity: Road / great-circle distance ratio (fixed or fitted).
        t0_min: Intercept in minutes (time not explained by distance).
        n: Observations used.
        r2: Coefficient of determination of the binned fit.
        rmse_min: Root mean square error of the per-observation prediction.
        bins: The binned medians the line was fitted to.
        notes: Assumptions and fallbacks.

    """

    speed_kmh: float
    circuity: float
    t0_min: float
    n: int
    r2: float
    rmse_min: float
    bins: list[dict[str, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def minutes(self, dist_km: np.ndarray | float) -> np.ndarray:
        """Return the predicted drive minutes for great-circle distances."""
        return self.t0_min + np.asarray(dist_km, dtype=float) * self.circuity / self.speed_kmh * 60


def fit_drive_time(
    dist_km: np.ndarray,
    minutes: np.ndarray,
    *,
    circuity: float = 1.3,
    n_bins: int = 12,
    speed_bounds: tuple[float, float] = (8.0, 90.0),
) -> DriveFit:
    """Fit ``t = t0 + d * circuity / speed`` on distance-binned medians.

    Args:
        dist_km: Great-circle distances (km).
        minutes: Observed drive minutes.
        circuity: Fixed road / great-circle ratio.
        n_bins: Number of equal-count distance bins.
        speed_bounds: Allowed speed range (km/h); the fit is clipped into it.

    Returns:
        The :class:`DriveFit`.

    Raises:
        ValueError: With fewer than 20 valid observations.

    """
    d = np.asarray(dist_km, dtype=float)
    t = np.asarray(minutes, dtype=float)
    ok = np.isfinite(d) & np.isfinite(t) & (t > 0) & (t < 120)
    d, t = d[ok], t[ok]
    if len(d) < 20:
        raise ValueError(f"drive-time fit: only {len(d)} usable calls (need 20)")
    edges = np.unique(np.quantile(d, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, d, side="right") - 1, 0, len(edges) - 2)
    bins: list[dict[str, float]] = []
    for b in range(len(edges) - 1):
        m = idx == b
        if m.sum() >= 3:
            bins.append(
                {
                    "dist_km": float(np.median(d[m])),
                    "minutes": float(np.median(t[m])),
                    "n": float(m.sum()),
                }
            )
    bx = np.array([b["dist_km"] for b in bins])
    by = np.array([b["minutes"] for b in bins])
    bw = np.array([b["n"] for b in bins])
    notes: list[str] = [f"circuity fixed at {circuity} (not identifiable from times alone)"]
    if len(bins) >= 2 and np.ptp(bx) > 0:
        slope, t0 = np.polyfit(bx, by, 1, w=np.sqrt(bw))
    else:
        slope, t0 = float(np.median(t / np.maximum(d, 0.1))), 0.0
        notes.append("distances do not vary: speed from the median time per km, no intercept")
    lo, hi = speed_bounds
    speed = circuity * 60.0 / slope if slope > 0 else hi
    if not lo <= speed <= hi:
        notes.append(f"fitted speed {speed:.1f} km/h clipped into [{lo}, {hi}]")
        speed = float(np.clip(speed, lo, hi))
        slope = circuity * 60.0 / speed
        t0 = float(np.average(by - slope * bx, weights=bw))
    if t0 < 0:
        notes.append(f"negative intercept {t0:.2f} min set to 0; slope refitted through 0")
        t0 = 0.0
        slope = float(np.sum(bw * bx * by) / np.sum(bw * bx * bx))
        speed = float(np.clip(circuity * 60.0 / slope, lo, hi))
    pred_b = t0 + bx * circuity / speed * 60
    ss_res = float(np.sum(bw * (by - pred_b) ** 2))
    ss_tot = float(np.sum(bw * (by - np.average(by, weights=bw)) ** 2))
    pred = t0 + d * circuity / speed * 60
    return DriveFit(
        speed_kmh=float(speed),
        circuity=circuity,
        t0_min=float(t0),
        n=len(d),
        r2=1 - ss_res / ss_tot if ss_tot > 0 else 0.0,
        rmse_min=float(np.sqrt(np.mean((t - pred) ** 2))),
        bins=bins,
        notes=notes,
    )


def travel_matrix(
    locations: Mapping[str, tuple[float, float]],
    drive: DriveFit,
    diagonal: Mapping[str, float],
    *,
    turnout_in_matrix: float = 0.0,
) -> dict[str, dict[str, float]]:
    """Return a zone-to-zone drive-time matrix (minutes) for ``travel.model: matrix``.

    Args:
        locations: zone id -> (lon, lat).
        drive: The fitted drive-time line (used off the diagonal).
        diagonal: zone id -> drive minutes within the zone.
        turnout_in_matrix: Minutes added to every entry (0: turnout stays in ``turnout_min``).

    Returns:
        ``{from: {to: minutes}}`` rounded to 0.01 min.

    """
    ids = list(locations)
    lon = np.array([locations[z][0] for z in ids])
    lat = np.array([locations[z][1] for z in ids])
    dist = haversine_km(lon[:, None], lat[:, None], lon[None, :], lat[None, :])
    minutes = drive.minutes(dist) + turnout_in_matrix
    out: dict[str, dict[str, float]] = {}
    for i, a in enumerate(ids):
        row = {b: round(float(minutes[i, j]), 2) for j, b in enumerate(ids)}
        row[a] = round(float(diagonal.get(a, minutes[i, i])) + turnout_in_matrix, 2)
        out[a] = row
    return out


def expected_min_distance(
    target: tuple[float, float],
    positions: Sequence[tuple[float, float]],
    k: int,
    own_km: float = 0.0,
) -> float:
    """Return E[distance from target to the nearest of k units on uniform random positions].

    Each of the ``k`` units sits independently at one of ``positions`` (equally likely); the
    expectation is exact over that discrete distribution. A position at the target itself (the
    call's own zone) counts as ``own_km`` away: the mean distance within the zone.

    Args:
        target: (lon, lat) of the call.
        positions: Candidate (lon, lat) positions (e.g. the beat centroids of a precinct).
        k: Number of free units (>= 1).
        own_km: Distance used for a unit in the call's own zone.

    Returns:
        Expected great-circle distance in km.

    """
    p = np.asarray(positions, dtype=float)
    d = haversine_km(target[0], target[1], p[:, 0], p[:, 1])
    d = np.sort(np.where(d < 1e-9, own_km, d))
    n = len(d)
    k = max(1, int(k))
    # P(min >= d_i) = ((n - i) / n) ** k for sorted d; E[min] = sum_i d_i P(min = d_i)
    surv = ((n - np.arange(n)) / n) ** k
    surv_next = np.append(surv[1:], 0.0)
    return float(np.sum(d * (surv - surv_next)))


def fit_beat_response(
    observed: pd.DataFrame,
    expected_km: Mapping[str, float],
    *,
    circuity: float = 1.3,
    t0_bounds: tuple[float, float] = (0.5, 15.0),
    speed_bounds: tuple[float, float] = (8.0, 90.0),
) -> tuple[float, float, dict[str, Any]]:
    """Fit ``mean response = t0 + E[distance] * circuity / speed`` over beats.

    Args:
        observed: Columns ``zone_id``, ``mean_min`` (priority-1 mean response per beat).
        expected_km: zone id -> expected distance of the responding unit (km).
        circuity: Fixed road / great-circle ratio.
        t0_bounds: Allowed intercept range (dispatch delay + turnout, minutes).
        speed_bounds: Allowed speed range (km/h).

    Returns:
        ``(t0_min, speed_kmh, diagnostics)``.

    Raises:
        ValueError: With fewer than 3 beats that have both figures.

    """
    obs = observed.loc[observed["zone_id"].isin(list(expected_km))].copy()
    obs["x"] = obs["zone_id"].map(expected_km).astype(float)
    obs = obs.loc[np.isfinite(obs["x"]) & np.isfinite(obs["mean_min"])]
    if len(obs) < 3:
        raise ValueError(f"beat response fit: only {len(obs)} beats with data (need 3)")
    x = obs["x"].to_numpy()
    y = obs["mean_min"].to_numpy()
    notes: list[str] = []
    if np.ptp(x) > 0:
        slope, t0 = np.polyfit(x, y, 1)
    else:
        slope, t0 = 0.0, float(np.mean(y))
    lo_t, hi_t = t0_bounds
    lo_s, hi_s = speed_bounds
    speed = circuity * 60 / slope if slope > 0 else np.inf
    if not (lo_t <= t0 <= hi_t and lo_s <= speed <= hi_s):
        # constrained: grid over speed, t0 = mean residual (clipped)
        best: tuple[float, float, float] | None = None
        for s in np.linspace(lo_s, hi_s, 165):
            sl = circuity * 60 / s
            t = float(np.clip(np.mean(y - sl * x), lo_t, hi_t))
            sse = float(np.sum((y - t - sl * x) ** 2))
            if best is None or sse < best[0]:
                best = (sse, t, float(s))
        assert best is not None
        _, t0, speed = best
        notes.append(
            "unconstrained least squares left the plausible range; fitted on a speed grid "
            f"within {speed_bounds} km/h with t0 within {t0_bounds} min"
        )
    pred = t0 + x * circuity / speed * 60
    resid = y - pred
    diag = {
        "beats": len(obs),
        "t0_min": float(t0),
        "speed_kmh": float(speed),
        "circuity": circuity,
        "rmse_min": float(np.sqrt(np.mean(resid**2))),
        "mape": float(np.mean(np.abs(resid) / y)),
        "r2": float(1 - np.sum(resid**2) / np.sum((y - y.mean()) ** 2)) if np.ptp(y) > 0 else 0.0,
        "notes": notes,
    }
    return float(t0), float(speed), diag
