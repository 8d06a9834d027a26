"""Zone and district shapes of a city for the maps, from the lake and the city's scenario.

Where the lake holds polygons for the scenario's zones (Seattle's beats), they are used as
they are. Where it does not (San Francisco's station areas, Jiaxing's 4 km patrol zones, which
the scenario gives as centre points), each zone is drawn as the Voronoi cell of its centre,
clipped to its district's boundary from the lake (or to the hull of all centres): an
approximation that every map states in its note. Districts are the lake's district / precinct
polygons where they exist (Jiaxing's 7 districts, Seattle's 5 precincts), else the union of
their zones' cells.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import shapely
from shapely.geometry import MultiPoint, Point, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from dashboards.frames import rows_of
from dashboards.scenario_info import ScenarioInfo

__all__ = ["CityMap", "build_city_map", "circle"]


@dataclass
class CityMap:
    """Shapes and names of one city.

    Attributes:
        city: City key.
        zones: GeoJSON FeatureCollection; feature ids are zone ids.
        districts: GeoJSON FeatureCollection; feature ids are district keys (as in the scenario).
        zone_district: Zone id → district key.
        zone_label: Zone id → display name.
        district_label: District key → display name.
        zone_note: How the zone shapes were made (shown under the map).
        bounds: (min_lon, min_lat, max_lon, max_lat).

    """

    city: str
    zones: dict[str, Any]
    districts: dict[str, Any]
    zone_district: dict[str, str] = field(default_factory=dict)
    zone_label: dict[str, str] = field(default_factory=dict)
    district_label: dict[str, str] = field(default_factory=dict)
    zone_note: str = ""
    bounds: tuple[float, float, float, float] | None = None


def _fc(items: list[tuple[str, BaseGeometry, dict[str, Any]]], tol: float) -> dict[str, Any]:
    feats = []
    for fid, geom, props in items:
        if geom is None or geom.is_empty:
            continue
        g = geom.simplify(tol, preserve_topology=True) if tol > 0 else geom
        g = shapely.set_precision(g, 1e-5)
        feats.append({"type": "Feature", "id": fid, "properties": props, "geometry": mapping(g)})
    return {"type": "FeatureCollection", "features": feats}


def circle(lon: float, lat: float, radius_km: float, n: int = 48) -> list[tuple[float, float]]:
    """Return a closed ring of (lon, lat) points *radius_km* around a point (equirectangular)."""
    import math

    dlat = radius_km / 110.574
    dlon = radius_km / (111.320 * max(math.cos(math.radians(lat)), 1e-6))
    return [
        (lon + dlon * math.cos(2 * math.pi * i / n), lat + dlat * math.sin(2 * math.pi * i / n))
        for i in range(n + 1)
    ]


def _voronoi(
    points: dict[str, tuple[float, float]],
    clip_of: dict[str, BaseGeometry],
    hull: BaseGeometry,
) -> dict[str, BaseGeometry]:
    ids = list(points)
    if not ids:
        return {}
    multi = MultiPoint([points[i] for i in ids])
    cells = shapely.voronoi_polygons(multi, extend_to=hull.envelope.buffer(0.1))
    out: dict[str, BaseGeometry] = {}
    by_point = [(Point(points[i]), i) for i in ids]
    tree = shapely.STRtree([p for p, _ in by_point])
    for cell in getattr(cells, "geoms", []):
        hits = tree.query(cell, predicate="contains")
        if len(hits) == 0:
            continue
        zid = by_point[int(hits[0])][1]
        clip = clip_of.get(zid, hull)
        part = cell.intersection(clip)
        if not part.is_empty:
            out[zid] = part
    return out


_CACHE: dict[tuple[Any, ...], CityMap] = {}
_LOCK = threading.Lock()


def build_city_map(
    zones: pd.DataFrame, city: str, info: ScenarioInfo | None, version: int = 0
) -> CityMap:
    """Build (once per lake commit and scenario) the shapes of *city*.

    Args:
        zones: The lake's ``zones`` table (all cities; WKB geometry).
        city: City key.
        info: The city's scenario (zone centres, districts, names), or None.
        version: The lake commit (cache key).

    """
    key = (city, version, str(info.path) if info else "", len(zones))
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    built = _build(zones, city, info)
    with _LOCK:
        _CACHE[key] = built
    return built


def _build(zones: pd.DataFrame, city: str, info: ScenarioInfo | None) -> CityMap:
    mine = zones[zones["city"] == city] if not zones.empty else zones
    geoms = {
        str(r.zone_id): shapely.from_wkb(bytes(r.geometry))
        for r in rows_of(mine)
        if r.geometry is not None
    }
    kinds = (
        dict(zip(mine["zone_id"].astype(str), mine["kind"].astype(str), strict=True))
        if len(mine)
        else {}
    )
    codes = (
        dict(zip(mine["zone_id"].astype(str), mine["code"].astype(str), strict=True))
        if len(mine)
        else {}
    )
    names = (
        dict(zip(mine["zone_id"].astype(str), mine["name"].astype(str), strict=True))
        if len(mine)
        else {}
    )
    zone_district: dict[str, str] = dict(info.zone_district) if info else {}
    zone_label: dict[str, str] = {}
    note = ""
    zone_shapes: dict[str, BaseGeometry] = {}
    scen_zones = list(info.zone_xy) if info else []
    if info and scen_zones and all(z in geoms for z in scen_zones):
        zone_shapes = {z: geoms[z] for z in scen_zones}
        note = "Zone shapes: polygons from the lake."
    # district polygons from the lake: match by code == district key, or by the zone-id prefix
    district_shapes: dict[str, BaseGeometry] = {}
    district_label: dict[str, str] = {}
    area_ids = [z for z, k in kinds.items() if k in ("district", "precinct", "battalion")]
    by_code = {codes[z]: z for z in area_ids}
    districts = sorted(set(zone_district.values())) if info else []
    for d in districts:
        members = [z for z, dd in zone_district.items() if dd == d]
        lake_id = by_code.get(d)
        if lake_id is None and members:
            prefix = members[0].split("-", 1)[0].rsplit(":", 1)[-1]
            lake_id = by_code.get(prefix)
        if lake_id is not None:
            district_shapes[d] = geoms[lake_id]
            extra = names.get(lake_id, "")
            district_label[d] = f"{d} ({extra})" if extra and extra not in (d, "None") else d
        else:
            district_label[d] = d
    if info and scen_zones and not zone_shapes and info.crs == "wgs84":
        pts = {z: info.zone_xy[z] for z in scen_zones}
        hull = MultiPoint(list(pts.values())).convex_hull.buffer(0.01)
        if district_shapes:
            hull = unary_union(list(district_shapes.values()))
        clip_of = {z: district_shapes.get(zone_district.get(z, ""), hull) for z in scen_zones}
        zone_shapes = _voronoi(pts, clip_of, hull)
        note = (
            "Zone shapes are approximate: the scenario gives each zone's centre only, so each "
            "zone is drawn as the area nearer its centre than any other"
            + (", cut to its district's boundary from the lake." if district_shapes else ".")
        )
    if not zone_shapes and not info:
        # no scenario: draw the lake's finest zones
        fine = [z for z, k in kinds.items() if z not in area_ids]
        zone_shapes = {z: geoms[z] for z in fine}
        for z in area_ids:
            district_shapes.setdefault(codes[z], geoms[z])
            district_label.setdefault(codes[z], names.get(z) or codes[z])
        note = "Zone shapes: polygons from the lake (no scenario of this city found)."
    for d in districts:
        if d not in district_shapes:
            parts = [
                zone_shapes[z] for z, dd in zone_district.items() if dd == d and z in zone_shapes
            ]
            if parts:
                district_shapes[d] = unary_union(parts)
    for z in zone_shapes:
        zone_label[z] = info.zone_label(z) if info else names.get(z) or z.rsplit(":", 1)[-1]
    all_geoms = list(zone_shapes.values()) + list(district_shapes.values())
    bounds = None
    if all_geoms:
        minx, miny, maxx, maxy = shapely.total_bounds(all_geoms)
        bounds = (float(minx), float(miny), float(maxx), float(maxy))
    tol = 0.0004
    zfc = _fc(
        [
            (z, g, {"name": zone_label[z], "district": zone_district.get(z, "")})
            for z, g in zone_shapes.items()
        ],
        tol,
    )
    dfc = _fc(
        [(d, g, {"name": district_label.get(d, d)}) for d, g in district_shapes.items()], tol * 2
    )
    return CityMap(
        city=city,
        zones=zfc,
        districts=dfc,
        zone_district=zone_district,
        zone_label=zone_label,
        district_label=district_label,
        zone_note=note,
        bounds=bounds,
    )
