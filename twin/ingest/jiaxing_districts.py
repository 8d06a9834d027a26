"""Jiaxing county-level districts (Aliyun DataV GeoAtlas, GCJ-02) -> zones in WGS84.

The boundaries mirror Aliyun DataV GeoAtlas (derived from Amap) and carry no stated licence: use
them for analysis and say where they came from. Their coordinates are GCJ-02; every vertex is
converted to WGS84 with :func:`twin.ingest.gcj02.gcj02_to_wgs84` (iterative inverse, < 1 mm)
before the zone is stored, so Jiaxing zones overlay correctly on any WGS84 data.

Zone ids are ``"jiaxing:district:<adcode>"`` (the national administrative code, e.g. 330402 for
Nanhu); ``name`` is the Chinese name; ``district`` is the adcode as well (the districts are the
top level).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from twin.ingest.base import AdapterContext, AdapterOutput
from twin.ingest.gcj02 import gcj02_to_wgs84
from twin.ingest.readers import check_columns
from twin.ingest.zonefiles import read_features, zones_from_features

__all__ = ["gcj_geometry_to_wgs84", "jiaxing_districts"]


def gcj_geometry_to_wgs84(geom: BaseGeometry) -> BaseGeometry:
    """Return *geom* with every vertex moved from GCJ-02 to WGS84.

    Args:
        geom: A shapely geometry in GCJ-02 lon/lat.

    Returns:
        The same geometry in WGS84.

    """

    def convert(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, convert)


def jiaxing_districts(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """Jiaxing districts GeoJSON (GCJ-02) -> zones of kind ``district`` (WGS84).

    Args:
        path: ``330400_full.json``.
        ctx: Adapter context (city ``jiaxing``).

    Returns:
        Zones and quarantine.

    """
    feats = read_features(path)
    if feats:
        check_columns(path, sorted(feats[0].get("properties") or {}), ["adcode", "name"])
    return zones_from_features(
        path,
        ctx,
        feats,
        kind="district",
        code_key="adcode",
        district_key="adcode",
        name_key="name",
        placeholder=set(),
        transform=gcj_geometry_to_wgs84,
    )
