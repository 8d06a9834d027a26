"""Jiaxing: the city of the background story, built from public facts (no incident data).

Fed by ``jiaxing_districts`` (the seven county-level districts, GCJ-02 converted to WGS84 by
the ingest). The recipe (:mod:`.build`) cuts the districts it reads from the lake into patrol
zones (:mod:`.geometry`) and sizes demand, fleet and checkpoints from the published figures
(:mod:`.facts`). There is nothing to score it against.
"""

from __future__ import annotations

from twin.cities.base import City

__all__ = ["CITY"]

CITY = City(
    name="jiaxing",
    title="Jiaxing",
    tz="Asia/Shanghai",
    bbox=(120.25, 30.15, 121.35, 31.10),
    sources=("jiaxing_districts",),
    agencies=("police",),
    scoring="none",
)
