"""Jiaxing's geometry: districts from the lake, cut into patrol zones, posts and checkpoints.

1. **Districts.** Read the seven ``jiaxing:district:<adcode>`` zones from the lake's ``zones``
   table (the ``jiaxing_districts`` source: DataV GeoAtlas boundaries, GCJ-02 converted to WGS84
   by the ingest) and project them onto a local Lambert azimuthal equal-area plane
   (:class:`twin.geo.LocalProjection`, centred on the city), so areas and distances are in km.
   Each district's seat is :data:`~twin.cities.jiaxing.facts.SEATS_GCJ02` (converted likewise).
   Haiyan's polygon reaches far into Hangzhou Bay: the sea beyond a guessed coast line is cut
   away first (:data:`~twin.cities.jiaxing.facts.SEA_CUTS`), tuned so the district keeps its
   official land area.
2. **Zones.** Lay a square grid of ``zone_km`` cells (aligned on the projection origin) over
   each district and clip it to the district polygon. Connected pieces smaller than
   ``min_zone_fraction`` of a cell are merged into the neighbouring zone of the same district
   with which they share the longest border (the nearest zone when they touch none, e.g. the
   small islands of Pinghu), so zones tile their district exactly. Zones are numbered north to
   south, west to east, and named ``"<adcode>-<nnn>"``.
3. **Demand.** City rate = residents x ``calls_per_1000_per_day``; each district gets its
   census share; inside a district residents follow the density ``1 + core_boost *
   exp(-d / core_scale_km)`` of the distance ``d`` to the district seat, integrated over each
   zone on a 250 m lattice.
4. **Fleet.** The 245 station patrol groups are apportioned to districts by demand (largest
   remainder) and posted inside their district by the Sainte-Laguë divisor rule on zone
   demand; their response area is their district. The 116 PTU teams are posted city-wide by
   continuing the same divisor rule over all zones (counting the station groups already
   posted); their area is the whole city.
5. **Checkpoints.** 16 smart checkpoints: 13 road checks (10 snapped to the city border nearest
   a guessed crossing, two bridge heads on the coast, one on the Haining-Nanhu border) and 3
   scenic-area visitor checks.
"""

from __future__ import annotations

import hashlib
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypedDict

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from twin.cities.jiaxing.facts import (
    CHECKPOINT_SITES,
    DISTRICTS,
    PTU_TEAMS,
    SEA_CUTS,
    SEATS_GCJ02,
    STATION_GROUPS,
    DistrictFact,
    SeaCut,
)
from twin.errors import ConfigError, DataError
from twin.geo import LocalProjection
from twin.ingest.gcj02 import gcj02_to_wgs84
from twin.statistics import largest_remainder
from twin.store import Lake

__all__ = [
    "District",
    "JiaxingLayout",
    "LayoutOptions",
    "Zone",
    "build_jiaxing_layout",
    "district_source",
    "representative",
]

ZONE_SOURCE: Final = "jiaxing_districts"
"""The sync source whose ``zones`` rows are Jiaxing's districts."""
_LATTICE_KM: Final = 0.25
_FloatArray = npt.NDArray[np.float64]


class LayoutOptions(TypedDict, total=False):
    """The knobs of :func:`build_jiaxing_layout`, as keyword arguments other builders pass on.

    Their defaults, ranges and meanings live in :func:`build_jiaxing_layout` alone.
    """

    zone_km: float
    min_zone_fraction: float
    calls_per_1000_per_day: float
    core_boost: float
    core_scale_km: float


@dataclass
class District:
    """A district on the local plane.

    Attributes:
        fact: Its public facts.
        geometry: The land polygon (km, local plane): the boundary minus any sea cut.
        seat: The seat of government ``(x, y)`` km (the boundary file's ``center``).
        raw_area_km2: Area of the polygon as drawn in the boundary file.
        coast: The coast line left by a sea cut (None when the district has none).
        sea_buffer_km: The buffer applied to the guessed sea polygon by the cut.

    """

    fact: DistrictFact
    geometry: BaseGeometry
    seat: tuple[float, float]
    raw_area_km2: float = 0.0
    coast: BaseGeometry | None = None
    sea_buffer_km: float | None = None

    @property
    def area_km2(self) -> float:
        """Return the district's area in km²."""
        return float(self.geometry.area)


@dataclass
class Zone:
    """A patrol zone: a piece of one district.

    Attributes:
        id: ``"<adcode>-<nnn>"``.
        adcode: Its district.
        geometry: Its polygon(s) on the local plane (km).
        location: Representative point ``(lon, lat)`` WGS84 (inside the zone).
        weight: Integrated resident density (relative, within the district).
        population: Residents assigned to the zone.
        rate_per_hour: Mean calls per hour.
        posts: Units posted here, by kind (``{"station": 2, "ptu": 1}``).
        intra_km: Mean straight-line distance from ``location`` to the zone's residents
            (density-weighted): the drive inside the zone the engine does not model.

    """

    id: str
    adcode: int
    geometry: BaseGeometry
    location: tuple[float, float] = (0.0, 0.0)
    weight: float = 0.0
    population: float = 0.0
    rate_per_hour: float = 0.0
    posts: dict[str, int] = field(default_factory=dict)
    intra_km: float = 0.0

    @property
    def area_km2(self) -> float:
        """Return the zone's area in km²."""
        return float(self.geometry.area)


@dataclass
class JiaxingLayout:
    """Everything the builder derived, with geometry (for tests, maps and reports).

    Attributes:
        projection: The local projection (km).
        districts: The seven districts, in :data:`DISTRICTS` order.
        zones: All zones, by district then north to south, west to east.
        units: Unit entries ``{id, post, kind, district}`` (``district`` None for PTU teams).
        checkpoints: Checkpoint entries as written to the scenario (WGS84 locations).
        params: The builder parameters used.

        boundaries_sha256: SHA-256 of the district geometries read from the lake (WKB, in
            district order): what the zones were cut from.

    """

    projection: LocalProjection
    districts: list[District]
    zones: list[Zone]
    units: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    params: dict[str, Any]
    boundaries_sha256: str = ""


def _polygons(geom: BaseGeometry) -> list[Polygon]:
    """Return the polygon parts of *geom* with positive area."""
    if geom.is_empty:
        return []
    if isinstance(geom, Polygon):
        return [geom] if geom.area > 0 else []
    parts = getattr(geom, "geoms", [])
    out: list[Polygon] = []
    for part in parts:
        out.extend(_polygons(part))
    return out


def district_source(lake_dir: Path | str) -> tuple[dict[int, BaseGeometry], str]:
    """Read the seven district polygons (WGS84) from the lake's ``zones`` table.

    Returns:
        ``(adcode -> polygon, sha256 of their WKB in district order)``.

    Raises:
        DataError: When the lake is missing or lacks a district.

    """
    root = Path(lake_dir)
    lake = Lake(root)
    if not root.exists() or lake.version == 0 or "zones" not in lake.tables():
        raise DataError(
            f"{root}: the lake has no zones; run `twin sync --lake {root} --only {ZONE_SOURCE}` "
            "first (Jiaxing's districts come from that source)"
        )
    tab = lake.query(
        "SELECT code, geometry FROM zones WHERE city = 'jiaxing' AND kind = 'district' "
        "ORDER BY code"
    )
    codes: list[Any] = tab["code"].to_pylist()
    geoms: list[Any] = tab["geometry"].to_pylist()
    wkb = {int(c): bytes(g) for c, g in zip(codes, geoms, strict=True)}
    missing = [f"{d.adcode} {d.name}" for d in DISTRICTS if d.adcode not in wkb]
    if missing:
        raise DataError(
            f"{root}: districts missing from the lake's zones: {', '.join(missing)}; expected the "
            f"7 districts of Jiaxing (sync the {ZONE_SOURCE} source, 330400_full.json from "
            "DataV GeoAtlas)"
        )
    digest = hashlib.sha256()
    for d in DISTRICTS:
        digest.update(wkb[d.adcode])
    return {d.adcode: shapely.from_wkb(wkb[d.adcode]) for d in DISTRICTS}, digest.hexdigest()


def _load_districts(lake_dir: Path | str) -> tuple[LocalProjection, list[District], str]:
    wgs, digest = district_source(lake_dir)
    for adcode, geom in wgs.items():
        if not geom.is_valid:
            wgs[adcode] = shapely.make_valid(geom)
    seats: dict[int, tuple[float, float]] = {}
    for fact in DISTRICTS:
        s_lon, s_lat = gcj02_to_wgs84([SEATS_GCJ02[fact.adcode][0]], [SEATS_GCJ02[fact.adcode][1]])
        seats[fact.adcode] = (float(s_lon[0]), float(s_lat[0]))
    city = shapely.union_all(list(wgs.values()))
    c = city.envelope.centroid
    proj = LocalProjection(round(c.x, 2), round(c.y, 2))
    districts: list[District] = []
    for fact in DISTRICTS:
        sx, sy = proj.forward([seats[fact.adcode][0]], [seats[fact.adcode][1]])
        geom = shapely.transform(wgs[fact.adcode], proj.transformer())
        districts.append(District(fact, geom, (float(sx[0]), float(sy[0])), float(geom.area)))
    for cut in SEA_CUTS:
        _cut_sea(next(d for d in districts if d.fact.adcode == cut.adcode), cut, proj)
    return proj, districts, digest


def _cut_sea(district: District, cut: SeaCut, proj: LocalProjection) -> None:
    """Remove the sea beyond ``cut.coast``, tuned so the land keeps its official area."""
    pts = (*cut.coast, *cut.sea)
    x, y = proj.forward([p[0] for p in pts], [p[1] for p in pts])
    sea = Polygon(list(zip(x.tolist(), y.tolist(), strict=True)))
    raw = district.geometry

    def land(buffer_km: float) -> BaseGeometry:
        return raw.difference(sea.buffer(buffer_km, join_style="mitre"))

    lo, hi = -5.0, 5.0  # a larger sea buffer leaves less land
    if not land(hi).area <= cut.land_area_km2 <= land(lo).area:
        raise ConfigError(
            f"sea cut of district {cut.adcode}: no buffer within 5 km gives the land area "
            f"{cut.land_area_km2} km²; check SEA_CUTS"
        )
    for _ in range(40):
        mid = (lo + hi) / 2.0
        if land(mid).area > cut.land_area_km2:
            lo = mid
        else:
            hi = mid
    buffer_km = round((lo + hi) / 2.0, 4)
    parts = _polygons(land(buffer_km))
    main = max(parts, key=lambda p: p.area)
    kept = [p for p in parts if p.area >= 0.01 * main.area]  # drop specks left at sea
    district.geometry = kept[0] if len(kept) == 1 else MultiPolygon(kept)
    district.coast = district.geometry.boundary.intersection(
        sea.buffer(buffer_km + 1e-6, join_style="mitre")
    )
    district.sea_buffer_km = buffer_km


def _split_district(district: District, zone_km: float, min_fraction: float) -> list[BaseGeometry]:
    """Cut a district into grid cells, merging small pieces into their neighbours."""
    geom = district.geometry
    minx, miny, maxx, maxy = geom.bounds
    i0, i1 = math.floor(minx / zone_km), math.ceil(maxx / zone_km)
    j0, j1 = math.floor(miny / zone_km), math.ceil(maxy / zone_km)
    shapely.prepare(geom)  # many intersects/intersection calls below
    pieces: list[tuple[tuple[int, int, int], Polygon]] = []
    for j in range(j1 - 1, j0 - 1, -1):  # north to south
        for i in range(i0, i1):  # west to east
            cell = box(i * zone_km, j * zone_km, (i + 1) * zone_km, (j + 1) * zone_km)
            if not geom.intersects(cell):
                continue
            parts = sorted(
                _polygons(geom.intersection(cell)), key=lambda p: (-p.area, p.centroid.x)
            )
            for k, part in enumerate(parts):
                pieces.append(((-j, i, k), part))
    threshold = min_fraction * zone_km * zone_km
    seeds = [(key, g) for key, g in pieces if g.area >= threshold]
    if not seeds:  # a district smaller than one sliver: keep its largest piece
        seeds = [max(pieces, key=lambda kg: kg[1].area)]
    seed_keys = {key for key, _ in seeds}
    groups: dict[tuple[int, int, int], list[BaseGeometry]] = {key: [g] for key, g in seeds}
    seed_geoms = dict(seeds)
    small = sorted(
        ((key, g) for key, g in pieces if key not in seed_keys), key=lambda kg: (kg[1].area, kg[0])
    )
    for _key, piece in small:
        best: tuple[float, float, tuple[int, int, int]] | None = None
        for s_key, s_geom in seeds:
            if piece.distance(s_geom) > 1e-9:
                continue
            shared = piece.boundary.intersection(s_geom.boundary).length
            cand = (-shared, 0.0, s_key)
            if best is None or cand < best:
                best = cand
        if best is None or best[0] == 0.0:
            best = min((0.0, piece.distance(g), k) for k, g in seed_geoms.items())
        groups[best[2]].append(piece)
    out: list[BaseGeometry] = []
    for key, _ in seeds:
        parts = groups[key]
        merged = parts[0] if len(parts) == 1 else shapely.union_all(parts)
        out.append(merged)
    return out


def representative(geom: BaseGeometry) -> tuple[float, float]:
    """Return the centroid when it lies inside *geom*, otherwise a point surely inside."""
    c = geom.centroid
    if geom.contains(c):
        return float(c.x), float(c.y)
    if isinstance(geom, MultiPolygon):
        geom = max(geom.geoms, key=lambda p: p.area)
    p = geom.representative_point()
    return float(p.x), float(p.y)


def _density(
    x: _FloatArray, y: _FloatArray, seat: tuple[float, float], boost: float, scale: float
) -> _FloatArray:
    d = np.hypot(x - seat[0], y - seat[1])
    return np.asarray(1.0 + boost * np.exp(-d / scale), dtype=np.float64)


def _zone_weight(
    zone: BaseGeometry, seat: tuple[float, float], boost: float, scale: float
) -> tuple[float, float]:
    """Integrate the resident density over *zone* on a 250 m lattice.

    Returns:
        ``(weight, intra_km)``: the integral (density x km²) and the density-weighted mean
        straight-line distance from the zone's location to its residents.

    """
    minx, miny, maxx, maxy = zone.bounds
    step = _LATTICE_KM
    xs = np.arange(math.floor(minx / step), math.ceil(maxx / step) + 1) * step
    ys = np.arange(math.floor(miny / step), math.ceil(maxy / step) + 1) * step
    gx, gy = np.meshgrid(xs + step / 2, ys + step / 2)
    fx, fy = gx.ravel(), gy.ravel()
    inside = shapely.contains_xy(zone, fx, fy)
    rx, ry = representative(zone)
    if not inside.any():
        mean = float(_density(np.array([rx]), np.array([ry]), seat, boost, scale)[0])
        return mean * float(zone.area), 0.0
    px, py = fx[inside], fy[inside]
    dens = _density(px, py, seat, boost, scale)
    intra = float(np.average(np.hypot(px - rx, py - ry), weights=dens))
    return float(dens.mean()) * float(zone.area), intra


def _sainte_lague(n: int, demand: Sequence[float], start: Sequence[int]) -> list[int]:
    """Add *n* seats by the Sainte-Laguë divisor rule: next seat to max ``d / (2 s + 1)``."""
    seats = list(start)
    heap = [(-demand[i] / (2 * seats[i] + 1), i) for i in range(len(demand))]
    heapq.heapify(heap)
    for _ in range(n):
        _, i = heapq.heappop(heap)
        seats[i] += 1
        heapq.heappush(heap, (-demand[i] / (2 * seats[i] + 1), i))
    return seats


def _snap_inside(region: BaseGeometry, line: BaseGeometry, guess: Point, depth_km: float) -> Point:
    """Return a point of *region* within *depth_km* of the point of *line* nearest *guess*."""
    on_line = nearest_points(line, guess)[0]
    near = region.intersection(on_line.buffer(depth_km))
    parts = _polygons(near)
    if not parts:
        raise ConfigError(
            f"checkpoint snapping failed near ({guess.x:.2f}, {guess.y:.2f}) km: no part of the "
            "district lies within reach of its border; check CHECKPOINT_SITES"
        )
    best = max(parts, key=lambda p: p.area)
    p = best.representative_point()
    return Point(p.x, p.y)


def _post_units(districts: list[District], zones: list[Zone]) -> list[dict[str, Any]]:
    """Post the station groups by district (largest remainder, then Sainte-Laguë), then PTUs.

    Fills each zone's ``posts`` and returns the unit entries.
    """
    by_district: dict[int, list[int]] = {d.fact.adcode: [] for d in districts}
    for i, z in enumerate(zones):
        by_district[z.adcode].append(i)
    district_rates = [
        sum(zones[i].rate_per_hour for i in by_district[d.fact.adcode]) for d in districts
    ]
    per_district = largest_remainder(STATION_GROUPS, district_rates)
    station_seats = [0] * len(zones)
    units: list[dict[str, Any]] = []
    for d, n_units in zip(districts, per_district, strict=True):
        idx = by_district[d.fact.adcode]
        seats = _sainte_lague(n_units, [zones[i].rate_per_hour for i in idx], [0] * len(idx))
        k = 0
        for i, s in zip(idx, seats, strict=True):
            station_seats[i] = s
            for _ in range(s):
                k += 1
                units.append(
                    {
                        "id": f"S{d.fact.adcode}-{k:02d}",
                        "post": zones[i].id,
                        "kind": "station",
                        "district": d.fact.adcode,
                    }
                )
    all_seats = _sainte_lague(PTU_TEAMS, [z.rate_per_hour for z in zones], station_seats)
    k = 0
    for i, z in enumerate(zones):
        z.posts = {"station": station_seats[i], "ptu": all_seats[i] - station_seats[i]}
        for _ in range(z.posts["ptu"]):
            k += 1
            units.append({"id": f"PTU-{k:03d}", "post": z.id, "kind": "ptu", "district": None})
    return units


def _place_checkpoints(
    proj: LocalProjection, districts: list[District], zones: list[Zone]
) -> list[dict[str, Any]]:
    """Place the 16 checkpoints (snapped to a border or the coast, or as guessed)."""
    by_code = {d.fact.adcode: d for d in districts}
    city = shapely.union_all([d.geometry for d in districts])
    checkpoints: list[dict[str, Any]] = []
    for site in CHECKPOINT_SITES:
        d = by_code[site.adcode]
        gx, gy = proj.forward([site.guess[0]], [site.guess[1]])
        guess = Point(float(gx[0]), float(gy[0]))
        if site.snap == "city":
            line = city.boundary.intersection(d.geometry.boundary)
            pt = _snap_inside(d.geometry, line, guess, 1.0)
        elif site.snap == "district":
            others = shapely.union_all([o.geometry for o in districts if o is not d])
            line = d.geometry.boundary.intersection(others.boundary)
            pt = _snap_inside(d.geometry, line, guess, 1.0)
        elif site.snap == "coast" and d.coast is not None:
            pt = _snap_inside(d.geometry, d.coast, guess, 1.0)
        elif site.snap == "none":
            if not d.geometry.contains(guess):
                raise ConfigError(
                    f"checkpoint {site.id} ({site.name}): the guessed site lies outside "
                    f"district {site.adcode}; fix CHECKPOINT_SITES"
                )
            pt = guess
        else:
            raise ConfigError(f"checkpoint {site.id}: cannot place with snap={site.snap!r}")
        zone = next((z for z in zones if z.adcode == site.adcode and z.geometry.covers(pt)), None)
        if zone is None:
            zone = min(
                (z for z in zones if z.adcode == site.adcode), key=lambda z: z.geometry.distance(pt)
            )
        lon, lat = proj.to_lonlat(pt.x, pt.y)
        checkpoints.append(
            {
                "id": site.id,
                "name": site.name,
                "kind": site.kind,
                "zone": zone.id,
                "location": [round(lon, 6), round(lat, 6)],
            }
        )
    return checkpoints


def build_jiaxing_layout(
    lake_dir: str | Path,
    *,
    zone_km: float = 4.0,
    min_zone_fraction: float = 0.3,
    calls_per_1000_per_day: float = 0.30,
    core_boost: float = 10.0,
    core_scale_km: float = 3.0,
) -> JiaxingLayout:
    """Build the zones, demand, posts and checkpoints of Jiaxing, keeping the geometry.

    Args:
        lake_dir: The lake holding the ``jiaxing_districts`` zones.
        zone_km: Grid cell size in km.
        min_zone_fraction: Pieces smaller than this share of a cell are merged.
        calls_per_1000_per_day: Incidents per 1,000 residents per day.
        core_boost: Density boost at a district seat (see :data:`ASSUMPTIONS`).
        core_scale_km: Decay length of the boost in km.

    Returns:
        The layout, with zones on the local plane and WGS84 locations.

    Raises:
        ConfigError: A parameter is out of range.
        DataError: The lake lacks Jiaxing's districts.

    """
    if not 0.5 <= zone_km <= 50:
        raise ConfigError(f"zone_km={zone_km}: choose a cell size between 0.5 and 50 km")
    if not 0 <= min_zone_fraction < 1:
        raise ConfigError(f"min_zone_fraction={min_zone_fraction}: must be in [0, 1)")
    if calls_per_1000_per_day <= 0:
        raise ConfigError(f"calls_per_1000_per_day={calls_per_1000_per_day}: must be > 0")
    if core_boost < 0 or core_scale_km <= 0:
        raise ConfigError("core_boost must be >= 0 and core_scale_km > 0")
    proj, districts, digest = _load_districts(lake_dir)

    zones: list[Zone] = []
    for d in districts:
        geoms = _split_district(d, zone_km, min_zone_fraction)
        integrals = [_zone_weight(g, d.seat, core_boost, core_scale_km) for g in geoms]
        total_w = sum(w for w, _ in integrals)
        for n, (g, (w, intra)) in enumerate(zip(geoms, integrals, strict=True), start=1):
            rx, ry = representative(g)
            lon, lat = proj.to_lonlat(rx, ry)
            pop = d.fact.population * w / total_w
            zones.append(
                Zone(
                    id=f"{d.fact.adcode}-{n:03d}",
                    adcode=d.fact.adcode,
                    geometry=g,
                    location=(round(lon, 6), round(lat, 6)),
                    weight=w,
                    population=pop,
                    rate_per_hour=pop * calls_per_1000_per_day / 1000.0 / 24.0,
                    intra_km=intra,
                )
            )

    units = _post_units(districts, zones)
    checkpoints = _place_checkpoints(proj, districts, zones)
    by_code = {d.fact.adcode: d for d in districts}

    near = 0.0
    for z in zones:
        seat = by_code[z.adcode].seat
        rx, ry = representative(z.geometry)
        if math.hypot(rx - seat[0], ry - seat[1]) <= 6.0:
            near += z.population
    params: dict[str, Any] = {
        "zone_km": zone_km,
        "min_zone_fraction": min_zone_fraction,
        "calls_per_1000_per_day": calls_per_1000_per_day,
        "core_boost": core_boost,
        "core_scale_km": core_scale_km,
        "share_within_6km": round(near / sum(z.population for z in zones), 3),
        "mean_intra_km": round(
            sum(z.intra_km * z.rate_per_hour for z in zones) / sum(z.rate_per_hour for z in zones),
            3,
        ),
        "sea_cut": {
            d.fact.name: {
                "raw_area_km2": round(d.raw_area_km2, 1),
                "land_area_km2": round(d.area_km2, 1),
                "buffer_km": d.sea_buffer_km,
            }
            for d in districts
            if d.sea_buffer_km is not None
        },
    }
    return JiaxingLayout(proj, districts, zones, units, checkpoints, params, digest)
