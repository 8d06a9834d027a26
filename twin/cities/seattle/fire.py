"""Seattle Fire (SFD): beats as zones, San Francisco's life cycle, SF's utilisation.

No fire geography or response times are in the embedded data: zones are the police beats,
districts the precincts; service, dispatch delay and turnout are borrowed from San Francisco's
first-unit life cycle, and the fleet per precinct runs at San Francisco's mean first-unit
utilisation. Units are on duty 24 h at their posts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from twin.calibrate.assemble import dist_param, priorities, zone_entries
from twin.calibrate.data import CityData, first_units
from twin.calibrate.demand import DemandFit
from twin.calibrate.fleet import fleet_for_utilisation
from twin.calibrate.report import FitReport, Parameter
from twin.calibrate.service import durations_min, fit_duration, unit_utilisation
from twin.calibrate.travel import INTRA_POST
from twin.cities.seattle.common import AgencyDemand, beat_matrix
from twin.errors import DataError
from twin.statistics import largest_remainder

__all__ = ["calibrate_fire"]


def calibrate_fire(
    report: FitReport, name: str, ad: AgencyDemand, sf: CityData | None
) -> dict[str, Any]:
    """Fit the fire scenario (demand already fitted in *ad*; *sf*: San Francisco's tables)."""
    return _seattle_fire(
        report, name, ad.demand, ad.zones, ad.loc, ad.names, ad.precincts, ad.rate_d, sf
    )


def _seattle_fire(
    report: FitReport,
    name: str,
    demand: DemandFit,
    zones: pd.DataFrame,
    loc: dict[str, tuple[float, float]],
    names: dict[str, str],
    precincts: list[str],
    rate_d: dict[str, float],
    sf: CityData | None,
) -> dict[str, Any]:
    if sf is None or sf.unit_responses.empty:
        raise DataError(
            "seattle fire: its life cycle is borrowed from San Francisco, but the lake has no "
            "sanfrancisco unit_responses; sync the sffd_calls source"
        )
    fu = first_units(sf.unit_responses)
    src = "unit_responses of sanfrancisco (first unit per call)"
    service = fit_duration(
        durations_min(fu["onscene"], fu["available"]), "on scene -> available", source=src
    )
    dist_param(report, "service", service)
    dd_fit = fit_duration(
        durations_min(fu["received"], fu["dispatched"]),
        "received -> dispatched (borrowed from sanfrancisco)",
        source=src,
        max_min=120,
    )
    dist_param(report, "dispatch.delay", dd_fit)
    dd = float(np.nanmedian(durations_min(fu["received"], fu["dispatched"])))
    to = float(np.nanmedian(durations_min(fu["dispatched"], fu["enroute"])))
    drive_frame = durations_min(fu["enroute"], fu["onscene"])
    util = unit_utilisation(sf.unit_responses)
    report.add(
        Parameter(
            name="travel.turnout_min",
            value=round(to, 3),
            data=src + ": median dispatched -> en route",
            n=len(fu),
            fit={"dispatch_delay_median": dd, "turnout_median": to},
            notes=["call taking and dispatch (received -> dispatched) is dispatch.delay"],
        )
    )
    speed = 30.0
    median_drive = float(np.nanmedian(drive_frame))
    report.add(
        Parameter(
            name="travel.speed_kmh",
            value=speed,
            data=src + f": median drive {median_drive:.2f} min (no Seattle fire response data)",
            notes=[
                "speed fixed at 30 km/h (urban emergency driving); Seattle Fire publishes "
                "no response times in the embedded data to fit it"
            ],
        )
    )
    report.assume(
        "Seattle Fire's on-scene time, dispatch delay (a fitted distribution) and turnout "
        "are San Francisco's "
        "(the Seattle Fire 911 feed has only the dispatch time)",
        "Seattle Fire units run at San Francisco's mean first-unit utilisation "
        f"({util['utilisation']:.3f}); this fixes the fleet per precinct",
        "Seattle Fire zones are the police beats and its districts the precincts (no fire "
        "station areas are in the embedded data); units stay at their posts",
        "Seattle Fire units are on duty 24 hours (no shifts: fire crews work 24-hour shifts at "
        "their stations)",
    )
    units: list[dict[str, Any]] = []
    rates = {
        str(k): float(v) for k, v in demand.zones.set_index("zone_id")["rate_per_hour"].items()
    }
    area = dict(zip(zones["zone_id"].astype(str), zones["area_km2"].astype(float), strict=True))
    intra_km = {z: INTRA_POST * math.sqrt(max(area.get(z, 1.0), 0.01)) for z in loc}
    report.assume(
        "travel is a beat-to-beat matrix: centroid distances x circuity / speed between beats, "
        f"and {INTRA_POST} x sqrt(beat area) within a beat (a unit at the beat's centre)"
    )
    busy = to + median_drive + service.mean  # dispatched -> available, like the utilisation
    for d in precincts:
        f = fleet_for_utilisation(d, rate_d.get(d, 0.0), busy, max(util["utilisation"], 0.05))
        report.add(
            Parameter(
                name=f"fleet[{d}]",
                value=f.units,
                data=f"demand rate of the precinct x busy time {busy:.1f} min / SF utilisation",
                fit={"offered_load_erlang": f.offered_load, "utilisation": f.utilisation},
            )
        )
        beats = [z for z in loc if zones.set_index("zone_id").loc[z, "district"] == d]
        alloc = dict(zip(beats, largest_remainder(f.units, [rates[z] for z in beats]), strict=True))
        i = 0
        for z in sorted(alloc):
            for _ in range(alloc[z]):
                i += 1
                units.append({"id": f"sfd-{d}-{i:02d}", "post": z, "kind": "engine"})
    return {
        "name": name,
        "description": "Seattle Fire Department (fire/EMS), calibrated from the lake",
        "time_unit": "min",
        "warmup": 1440,
        "horizon": 10080,
        "crs": "wgs84",
        "zones": zone_entries(demand, loc, names),
        "units": units,
        "priorities": priorities(demand.city_shares, None, None),
        "service": service.spec,
        "travel": {
            "model": "matrix",
            "speed_kmh": speed,
            "circuity": 1.3,
            "turnout_min": round(to, 3),
            "matrix": beat_matrix(loc, speed, intra_km),
        },
        "dispatch": {"policy": "closest", "delay": dd_fit.spec},
        "queue": {"discipline": "fcfs", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "patrol": {"interval_min": 60, "policy": "post"},
    }
