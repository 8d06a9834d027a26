"""Zone geometry for the maps: WKB polygons to GeoJSON, and a map view that fits them.

Pure functions; no I/O. Maps render on plotly's ``white-bg`` style with these GeoJSON layers,
so no tile server is ever contacted.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
import shapely
from shapely.geometry import mapping

from dashboards.frames import rows_of

__all__ = ["MapView", "bounds_of", "map_view", "zones_geojson"]

MapView = tuple[dict[str, float], float]
"""A map centre ``{"lon": .., "lat": ..}`` and a zoom level."""

_TILE_PX = 512  # plotly's map zoom: at zoom z the world is 512 * 2**z pixels wide


def zones_geojson(zones: pd.DataFrame, simplify_deg: float = 0.0) -> dict[str, Any]:
    """Turn rows of the ``zones`` table into a GeoJSON FeatureCollection.

    Args:
        zones: Rows with at least ``zone_id`` and ``geometry`` (WKB, WGS84 lon/lat); ``code``,
            ``name`` and ``district`` are copied into each feature's properties when present.
        simplify_deg: Simplification tolerance in degrees (0 keeps every vertex).

    Returns:
        A FeatureCollection whose feature ids are the zone ids (plotly's ``featureidkey="id"``).
        Rows with an empty or unreadable geometry are skipped.

    """
    features: list[dict[str, Any]] = []
    props = [c for c in ("code", "name", "district", "kind") if c in zones.columns]
    for row in rows_of(zones):
        raw = getattr(row, "geometry", None)
        if raw is None:
            continue
        try:
            geom = shapely.from_wkb(bytes(raw))
        except (shapely.errors.GEOSException, TypeError, ValueError):
            continue
        if geom is None or geom.is_empty:
            continue
        if simplify_deg > 0:
            geom = geom.simplify(simplify_deg, preserve_topology=True)
        features.append(
            {
                "type": "Feature",
                "id": str(row.zone_id),
                "properties": {p: _plain(getattr(row, p)) for p in props},
                "geometry": mapping(geom),
            }
        )
    return {"type": "FeatureCollection", "features": features}


def _plain(value: object) -> object:
    """Return a JSON-friendly version of a cell (None for NA)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value if isinstance(value, int | float | str) else str(value)


def bounds_of(geojson: dict[str, Any]) -> tuple[float, float, float, float] | None:
    """Return (min_lon, min_lat, max_lon, max_lat) over all features, or None when empty."""
    geoms = [shapely.geometry.shape(f["geometry"]) for f in geojson.get("features", [])]
    if not geoms:
        return None
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    return (float(minx), float(miny), float(maxx), float(maxy))


def _merc_y(lat: float) -> float:
    """Web-Mercator y of a latitude, in units where the world spans 1."""
    lat = max(min(lat, 85.0), -85.0)
    rad = math.radians(lat)
    return math.log(math.tan(math.pi / 4 + rad / 2)) / (2 * math.pi)


def map_view(
    bounds: tuple[float, float, float, float] | None,
    width_px: int = 800,
    height_px: int = 560,
    padding: float = 0.08,
) -> MapView:
    """Centre and zoom that fit *bounds* into a map of the given size.

    Args:
        bounds: (min_lon, min_lat, max_lon, max_lat), or None for a whole-world view.
        width_px: Map width in pixels.
        height_px: Map height in pixels.
        padding: Fraction of the span added on every side.

    Returns:
        ``({"lon": .., "lat": ..}, zoom)``; zoom is capped at 16 for a single point.

    """
    if bounds is None:
        return {"lon": 0.0, "lat": 0.0}, 0.5
    min_lon, min_lat, max_lon, max_lat = bounds
    center = {"lon": (min_lon + max_lon) / 2, "lat": (min_lat + max_lat) / 2}
    span_x = (max_lon - min_lon) / 360.0 * (1 + 2 * padding)
    span_y = (_merc_y(max_lat) - _merc_y(min_lat)) * (1 + 2 * padding)
    zooms = []
    if span_x > 0:
        zooms.append(math.log2(width_px / (_TILE_PX * span_x)))
    if span_y > 0:
        zooms.append(math.log2(height_px / (_TILE_PX * span_y)))
    zoom = min(zooms) if zooms else 16.0
    return center, round(max(0.0, min(zoom, 16.0)), 2)
