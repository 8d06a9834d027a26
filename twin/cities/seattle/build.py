"""Seattle's calibration recipe: police and fire each on its own, then combined.

``twin calibrate --city seattle`` (agency ``all``) calibrates police (:mod:`.police`) and fire
(:mod:`.fire`) on the same beats and merges them into one scenario (:mod:`.combine`); with
``--agency police`` or ``--agency fire`` one agency is written alone.
"""

from __future__ import annotations

import pandas as pd

from twin.calibrate.assemble import (
    Calibration,
    CalibrationRequest,
    date_range,
    finish,
    prepare,
    validated,
)
from twin.calibrate.data import CityData, load_city
from twin.cities.seattle.combine import combine_agencies
from twin.cities.seattle.common import demand_source, fit_agency_demand
from twin.cities.seattle.fire import calibrate_fire
from twin.cities.seattle.police import calibrate_police
from twin.errors import DataError

__all__ = ["calibrate"]


def calibrate(req: CalibrationRequest) -> Calibration:
    """Calibrate Seattle: one agency, or every agency combined (``agency: all``)."""
    if req.agency == "all":
        return _calibrate_all(req)
    return _calibrate_agency(req)


def _calibrate_agency(req: CalibrationRequest) -> Calibration:
    agency = req.agency

    def holdout_base(data: CityData) -> pd.DataFrame:
        base = data.incidents.loc[data.incidents["agency"] == agency]
        if not base.empty and base["zone"].notna().any():
            base, _ = demand_source(base)
        return base

    prep = prepare(req, holdout_base=holdout_base)
    sf: CityData | None = None
    if agency == "fire":
        try:
            sf = load_city(req.lake_dir, "sanfrancisco")  # fire borrows SF's life cycle
        except DataError:
            sf = None
    ad = fit_agency_demand(prep.fit, prep.report, agency)
    if agency == "police":
        scenario = calibrate_police(
            prep.fit,
            prep.report,
            prep.name,
            ad,
            prep.holdout,
            req.refine_rounds,
            req.refine_horizon,
            model=req.model or req.city.models[0],
        )
    else:
        scenario = calibrate_fire(prep.report, prep.name, ad, sf)
    base = prep.fit.incidents.loc[prep.fit.incidents["agency"] == agency]
    prep.report.fit_window = date_range(demand_source(base)[0], prep.data.tz)
    return finish(scenario, prep, agency)


def _calibrate_all(req: CalibrationRequest) -> Calibration:
    """Calibrate every agency of Seattle and combine them into one scenario."""
    name = req.name or f"{req.city.name}_baseline"
    parts = {ag: _calibrate_agency(req.for_agency(ag, f"{name}_{ag}")) for ag in req.city.agencies}
    scenario, report = combine_agencies(
        name,
        {ag: (c.scenario, c.report) for ag, c in parts.items()},
        delay_shape_from="fire" if "fire" in parts else None,
    )
    return validated(scenario, report)
