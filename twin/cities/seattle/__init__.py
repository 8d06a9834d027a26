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
    models=("precincts", "sectors", "beats"),
)
"""Police recipe variants: ``precincts`` (the default: lower classes queue per precinct, posts by
demand, officer-initiated work fitted per precinct) or ``sectors`` (they queue per SPD sector,
every sector staffed on every watch, the work fitted per sector and shrunk toward the precinct).
Both keep the beat-level P1 and P2 MAPE of 2012-2018 under 0.15 (52 simulated weeks, seeds 8 and
9: worst P2 0.12 and 0.14), and neither reproduces the direction of the zone load-response
curve (the published 2015 P2 - P1 gap rises 1.06 min from the quietest fifth of beats to the
busiest; the twins' curves are flat, their change within +-0.7 min with a sign that depends on
the seed), so ``precincts`` stays the default: it fits priority 2 better.

``beats`` (opt-in): lower classes queue per sector, units posted on beats by demand ** 0.25 and
patrolling their own beat, the work fitted per precinct. It is the only variant whose gap rises
with beat volume (slope of the gap on ln(calls/day), real 2015 +1.36 +- 0.42: beats +2.88 /
+0.94 / +1.56 at seeds 7 / 8 / 9, precincts -0.46 / -0.60 / -0.52; busiest - quietest bin in
the same direction as the real one in 9 of 10 other years, precincts 1 of 10), and its gap is
waiting rather than driving (the real gap does not grow with beat area; the precincts twin's
does, through P2 drives from far-off free units). But small sector pools make it lumpy and
noisy: its 2012-2018 P2 MAPE is 0.156 / 0.168 at seeds 8 / 9 (over 0.15), so it is not the
default."""
