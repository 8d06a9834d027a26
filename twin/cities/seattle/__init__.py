"""Seattle: police (SPD) and fire (SFD), each calibrated on its own and combined in one twin.

Fed by the SPD beats and precincts (zones), the SPD 911 Incident Response files, the SPD Call
Data sample and the Seattle Fire Real-Time 911 feed (incidents), and the SPD table of average
response by year, beat and priority (``response_stats``). The recipe: :mod:`.police`,
:mod:`.fire`, :mod:`.combine` (how the two become one scenario), :mod:`.build` (the entry).
Police is scored against the published beat means (no per-call response in the lake).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from twin.cities.base import City
from twin.errors import DataError

__all__ = ["CITY", "SEATTLE_CLASSES", "priority_levels", "response_table", "seattle_class"]

SEATTLE_CLASSES: dict[int, str] = {1: "1", 2: "2", 3: "3 & 4", 4: "5+"}
"""Seattle police priority classes: scenario level -> the SPD response table's class label."""


def seattle_class(priority: pd.Series) -> pd.Series:
    """Map SPD priorities 1..9 to the response table's classes 1, 2, 3 (3 & 4), 4 (5+)."""
    p = pd.to_numeric(priority, errors="coerce")
    out = pd.Series(np.nan, index=p.index)
    out[p == 1] = 1
    out[p == 2] = 2
    out[(p == 3) | (p == 4)] = 3
    out[p >= 5] = 4
    return out


def priority_levels(agency: str, priority: pd.Series) -> pd.Series:
    """Police priorities become the SPD classes; fire's are numbers as they are."""
    if agency == "police":
        return seattle_class(priority)
    return pd.to_numeric(priority, errors="coerce")


def response_table(stats: pd.DataFrame, city: str = "seattle") -> pd.DataFrame:
    """Normalise the synced average-response table to ``year, zone_id, klass, mean_min``.

    Accepts the column names the ingest writes (``year``; ``zone``/``zone_id``/``beat``;
    ``priority_class``/``priority``; a mean column named like ``avg``/``mean``). Class labels
    ``1``, ``2``, ``3 & 4``, ``5+`` become 1, 2, 3, 4; beats become zone ids
    ``<city>:beat:<code>`` when they are bare codes.

    Raises:
        DataError: When a needed column is missing.

    """
    cols = {c.lower(): c for c in stats.columns}

    def pick(*names: str, contains: str | None = None) -> str:
        for n in names:
            if n in cols:
                return cols[n]
        if contains:
            for lc, c in cols.items():
                if contains in lc:
                    return c
        raise DataError(
            f"response_stats: no column {names[0]!r} (found {list(stats.columns)}); "
            "re-sync the spd_avg_response source"
        )

    year = pick("year")
    zone = pick("zone", "zone_id", "beat")
    pri = pick("priority_class", "priority")
    try:
        mean = pick("avg_response_min", "mean_response_min", "avg_response_time", contains="avg")
    except DataError:
        mean = pick("mean_min", contains="mean")
    labels = {v: k for k, v in SEATTLE_CLASSES.items()}
    out = pd.DataFrame(
        {
            "year": pd.to_numeric(stats[year], errors="coerce"),
            "zone_id": stats[zone].astype(str),
            "klass": stats[pri].astype(str).str.strip().map(labels),
            "mean_min": pd.to_numeric(stats[mean], errors="coerce"),
        }
    )
    bare = ~out["zone_id"].str.contains(":")
    out.loc[bare, "zone_id"] = f"{city}:beat:" + out.loc[bare, "zone_id"]
    return out.dropna().astype({"year": "int64", "klass": "int64"}).reset_index(drop=True)


CITY = City(
    name="seattle",
    title="Seattle",
    tz="America/Los_Angeles",
    bbox=(-122.50, 47.45, -122.20, 47.78),
    sources=(
        "spd_beats",
        "spd_precincts",
        "spd_911_2015",
        "spd_911_allbeats",
        "spd_call_data",
        "seattle_fire_911",
        "sdot_cameras",
        "fremont_counter",
        "spd_avg_response",
    ),
    agencies=("police", "fire"),
    combined=True,
    scoring="published_means",
    scored_agency="police",
    priority_levels=priority_levels,
    response_means=response_table,
    models=("beats", "precincts", "sectors"),
)
"""Police recipe variants, the first the default. Each keeps 2015 as its only fit year.

``beats`` (the default): lower classes queue per SPD sector, units are posted on beats by
demand ** 0.25 and patrol their own beat, officer-initiated work is fitted per precinct, and a
call held 20 min in its sector's queue opens to its precinct
(``self_initiated.overflow_after_min``). It is the only variant that reproduces the zone
load-response curve: the P2 - P1 gap rises with beat volume (slope on ln(calls/day), real 2015
+1.36 +- 0.82 (1.96 se): +2.02 / +1.21 / +1.64 at seeds 7 / 8 / 9), in the direction of the real
curve in 9 of 10 other years, and its gap is waiting rather than driving (the real gap does not
grow with beat area). Its 2012-2018 worst beat MAPE is P1 0.142 / 0.140, P2 0.123 / 0.125
(52 simulated weeks, seeds 8 / 9).

``precincts``: lower classes queue per precinct, posts by demand, the work fitted per precinct
(worst 2012-2018 MAPE P1 0.142, P2 0.121 at seed 8); its gap is mostly P2 drives from far-off
free units (precinct W's work sits at its rate bound, units are almost never free), so it falls
with beat volume (slope -0.46 / -0.60 / -0.52): the zone curve check fails.

``sectors``: they queue per sector, every sector staffed on every watch, the work fitted per
sector and shrunk toward the precinct; flat zone curve (fails), worst P2 MAPE 0.14."""
