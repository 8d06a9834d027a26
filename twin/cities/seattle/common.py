"""What Seattle's police and fire calibrations share: beats as zones, demand, beat matrix.

Zones are SPD beats located at their polygon centroids (beat 99 is a placeholder), districts
precincts; a beat without a precinct joins the precinct of the nearest beat. Each agency's
demand comes from its largest source (:func:`demand_source`). San Francisco's first-unit life
cycle lends an on-scene time where Seattle's data have too few (:func:`service_or_sf`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from twin.calibrate.assemble import demand_param
from twin.calibrate.data import CityData, first_units
from twin.calibrate.demand import DemandFit, fit_demand
from twin.calibrate.report import FitReport, Parameter
from twin.calibrate.service import DistFit, durations_min, fit_duration
from twin.calibrate.travel import DriveFit, travel_matrix
from twin.cities.seattle import SEATTLE_CLASSES, seattle_class
from twin.errors import DataError
from twin.geo import haversine_km

__all__ = [
    "AgencyDemand",
    "beat_matrix",
    "demand_source",
    "fit_agency_demand",
    "seattle_zones",
    "service_or_sf",
]


@dataclass
class AgencyDemand:
    """One agency's fitted demand on the beats, and the geography both agencies share.

    Attributes:
        demand: The demand fit.
        zones: Beat rows (``zone_id``, ``code``, ``district``, centroid, ``area_km2``).
        loc: Beat centroid ``(lon, lat)`` by zone id.
        names: Display name by zone id (``beat C3``).
        names_cls: Priority class names (police), or None.
        precincts: Precinct ids, sorted.
        rate_d: Calls per hour by precinct.
        inc: The incidents the demand was fitted on (the agency's largest source).

    """

    demand: DemandFit
    zones: pd.DataFrame
    loc: dict[str, tuple[float, float]]
    names: dict[str, str]
    names_cls: dict[int, str] | None
    precincts: list[str]
    rate_d: dict[str, float]
    inc: pd.DataFrame


def seattle_zones(data: CityData) -> pd.DataFrame:
    """Return the beats (not the placeholder 99), each with a precinct."""
    z = data.zones
    beats = z.loc[(z["kind"] == "beat") & (z["code"].astype(str) != "99")].copy()
    if beats.empty:
        raise DataError(
            "seattle: the lake has no beat zones; sync the spd_beats source before calibrating"
        )
    missing = beats["district"].isna()
    if missing.any() and (~missing).any():
        # beats without a precinct (harbour beats) join the precinct of the nearest beat
        have = beats.loc[~missing]
        for i in beats.index[missing]:
            d = haversine_km(
                float(beats.at[i, "centroid_lon"]),  # type: ignore[arg-type]
                float(beats.at[i, "centroid_lat"]),  # type: ignore[arg-type]
                have["centroid_lon"].to_numpy(),
                have["centroid_lat"].to_numpy(),
            )
            beats.at[i, "district"] = have["district"].iloc[int(np.argmin(d))]
    beats["district"] = beats["district"].fillna("?")
    return beats.sort_values("zone_id").reset_index(drop=True)


def demand_source(inc: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Return the incidents of the largest source that have a beat, and that source's name."""
    with_zone = inc.loc[inc["zone"].notna()]
    if with_zone.empty:
        raise DataError("seattle: no incidents joined to a beat; sync the beats and incidents")
    src = str(with_zone["source"].value_counts().index[0])
    return with_zone.loc[with_zone["source"] == src], src


def fit_agency_demand(fit_data: CityData, report: FitReport, agency: str) -> AgencyDemand:
    """Fit *agency*'s demand on the beats (class mix: police priorities, fire one class)."""
    zones = seattle_zones(fit_data)
    orphan = fit_data.zones.loc[
        (fit_data.zones["kind"] == "beat")
        & fit_data.zones["district"].isna()
        & (fit_data.zones["code"].astype(str) != "99"),
        "code",
    ]
    if len(orphan):
        report.assume(
            f"beats without a precinct in the beat file ({', '.join(sorted(orphan))}) join "
            "the precinct of the nearest beat"
        )
    inc_all = fit_data.incidents.loc[fit_data.incidents["agency"] == agency]
    if inc_all.empty:
        raise DataError(
            f"seattle: no {agency} incidents in the lake; sync "
            f"{'spd_911_2015' if agency == 'police' else 'seattle_fire_911'} first"
        )
    inc, src = demand_source(inc_all)
    report.assume(
        f"{agency} demand comes from the largest source only ({src}); sources with other "
        "coverage (one beat, one day) would bias zone rates"
    )
    loc: dict[str, tuple[float, float]] = {
        str(z): (float(x), float(y))
        for z, x, y in zip(
            zones["zone_id"], zones["centroid_lon"], zones["centroid_lat"], strict=True
        )
    }
    names = {str(z): f"beat {c}" for z, c in zip(zones["zone_id"], zones["code"], strict=True)}
    class_shares: dict[int, float] | None = None
    classify = None
    names_cls: dict[int, str] | None = None
    if agency == "police":
        pri = seattle_class(inc_all["priority"]).dropna()
        if inc["priority"].notna().sum() < 30:
            if len(pri) < 10:
                raise DataError(
                    "seattle: fewer than 10 police calls with a priority; sync spd_call_data"
                )
            vc = pri.value_counts()
            class_shares = {int(k): float(vc.get(k, 0) + 0.5) for k in SEATTLE_CLASSES}
            tot = sum(class_shares.values())
            class_shares = {k: v / tot for k, v in class_shares.items()}
            srcs = sorted(inc_all.loc[inc_all["priority"].notna(), "source"].unique())
            report.add(
                Parameter(
                    name="priorities[].share",
                    value=class_shares,
                    data=f"police incidents with a priority ({', '.join(srcs)})",
                    n=len(pri),
                    notes=["+0.5 pseudo-count per class"],
                )
            )
            report.assume(
                f"{src} has no priorities: the class mix of the police calls that have one "
                f"({', '.join(srcs)}; n={len(pri)}) is used city-wide"
            )
        else:
            classify = seattle_class
        names_cls = {k: f"SPD priority {v}" for k, v in SEATTLE_CLASSES.items()}
    elif inc["priority"].notna().sum() < 30:
        class_shares = {1: 1.0}
        report.assume("fire calls carry no priority: a single class")
    demand = fit_demand(
        inc,
        zones[["zone_id", "district"]],
        fit_data.tz,
        classify=classify,
        class_shares=class_shares,
    )
    demand_param(report, demand, f"incidents of {src}, fit days only")
    precinct_of = dict(zip(zones["zone_id"], zones["district"], strict=True))
    precincts = sorted(set(precinct_of.values()))
    rate_d = {
        str(k): float(v) for k, v in demand.zones.groupby("district")["rate_per_hour"].sum().items()
    }

    return AgencyDemand(demand, zones, loc, names, names_cls, precincts, rate_d, inc)


def service_or_sf(
    frame: pd.Series, what: str, source: str, sf: CityData | None, report: FitReport
) -> DistFit:
    """Fit an on-scene time, borrowing San Francisco's when the local data are too thin."""
    try:
        return fit_duration(frame, what, source=source)
    except ValueError:
        if sf is None:
            raise DataError(
                f"seattle: too few {what} durations and no sanfrancisco data to borrow from; "
                "sync the sffd_calls source"
            ) from None
        fu = first_units(sf.unit_responses)
        fit = fit_duration(
            durations_min(fu["onscene"], fu["available"]),
            "on scene -> available (borrowed from sanfrancisco)",
            source="unit_responses of sanfrancisco, first unit per call",
        )
        fit.pooled = True
        fit.notes.append(f"too few local {what} durations: San Francisco's fit borrowed")
        report.fallback(f"service: borrowed from sanfrancisco ({what} too thin locally)")
        return fit


def beat_matrix(
    loc: dict[str, tuple[float, float]], speed: float, intra_km: dict[str, float]
) -> dict[str, dict[str, float]]:
    """Return beat-to-beat drive minutes (x 1.3 circuity / speed).

    Off the diagonal the centroid distance, on it the mean distance within the beat.
    """
    line = DriveFit(speed_kmh=speed, circuity=1.3, t0_min=0.0, n=0, r2=0.0, rmse_min=0.0)
    diagonal = {z: float(line.minutes(intra_km[z])) for z in loc}
    return travel_matrix(loc, line, diagonal)
