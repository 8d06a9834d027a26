"""Jiaxing baseline scenario: the city of the background story, built from public facts.

No incident-level data for Jiaxing is public, so the scenario is *built*, not calibrated: the
seven county-level district boundaries (Aliyun DataV GeoAtlas, GCJ-02, converted to WGS84 with
:func:`twin.ingest.gcj02.gcj02_to_wgs84`) are cut into patrol-sized zones, demand comes from
census populations and published 110 call volumes, and the fleet, the checkpoints and the
response norms are the figures of the 2021 report summarised in ``../shared/BACKGROUND.md``.
Every number that is not read from the boundary file is an :class:`Assumption` with its
rationale and source, and the rendered scenario file carries all of them (as a comment header
and as the extra top-level ``assumptions`` key, which :class:`~twin.model.scenario.Scenario`
keeps).

How the builder works:

1. **Districts.** Read ``jiaxing/330400_full.json`` from the data folder, convert every vertex
   to WGS84 and project it onto a local Lambert azimuthal equal-area plane (spherical, centred on
   the city), so areas and distances are in km. Each district's seat is its ``center`` property.
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
   posted); their area is the whole city. All units are on duty around the clock and wait at
   their posts when idle.
5. **Checkpoints.** 16 smart checkpoints in the :class:`~twin.model.checkpoints.CheckpointSpec`
   vocabulary: 13 road checks (10 snapped to the city border nearest a guessed crossing, two
   bridge heads on the coast, one on the Haining-Nanhu border) and 3 scenic-area visitor checks.

Haiyan's polygon reaches far into Hangzhou Bay: the sea beyond a guessed coast line is cut away
first (:data:`SEA_CUTS`), tuned so the district keeps its official land area.

Travel inside a zone is not modelled by the engine (incidents sit at zone locations); each
zone's mean distance to its residents is written under ``zone_facts`` for when it is.

Regenerate the checked-in file with::

    python -m twin.jiaxing --out scenarios/jiaxing_baseline.yaml

(``--data-dir`` overrides the data folder, ``--zone-km`` the grid size).
"""

from __future__ import annotations

import argparse
import hashlib
import heapq
import json
import math
import sys
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import shapely
import yaml
from shapely.geometry import MultiPolygon, Point, Polygon, box, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from twin.errors import ConfigError, DataError, TwinError
from twin.geo import LocalProjection
from twin.ingest.gcj02 import gcj02_to_wgs84
from twin.paths import default_data_dir
from twin.statistics import largest_remainder

__all__ = [
    "CHECKPOINT_CLASSES",
    "CHECKPOINT_SITES",
    "DISTRICTS",
    "SEA_CUTS",
    "Assumption",
    "CheckpointSite",
    "District",
    "DistrictFact",
    "JiaxingLayout",
    "LocalProjection",
    "SeaCut",
    "Zone",
    "build_jiaxing_layout",
    "build_jiaxing_scenario",
    "main",
    "render_scenario_yaml",
    "write_jiaxing_scenario",
]

BOUNDARY_FILE: Final = Path("jiaxing") / "330400_full.json"
"""The district boundaries, relative to the data folder."""

PTU_TEAMS: Final = 116
"""PTU mobile teams reported for Jiaxing (BACKGROUND.md)."""
STATION_GROUPS: Final = 245
"""Police-station patrol groups reported for Jiaxing (BACKGROUND.md)."""
SMART_CHECKPOINTS: Final = 16
"""Smart checkpoints reported for Jiaxing (BACKGROUND.md)."""

_LATTICE_KM: Final = 0.25
_FloatArray = npt.NDArray[np.float64]


# --------------------------------------------------------------------------- facts
@dataclass(frozen=True)
class DistrictFact:
    """Public facts about one county-level district.

    Attributes:
        adcode: The administrative code (the boundary file's ``adcode``).
        name: Pinyin name.
        name_zh: Chinese name as in the boundary file.
        population: Resident population, 2020 census (7th national census, 1 Nov 2020).
        source: Where the population figure comes from.

    """

    adcode: int
    name: str
    name_zh: str
    population: int
    source: str


_POP_TABLE = (
    "Xiuzhou District Statistics Bureau, 2021-07-27, table 1 of 7th-census resident population "
    "by county (https://www.xiuzhou.gov.cn/art/2021/7/27/art_1228921764_59171896.html)"
)

DISTRICTS: Final[tuple[DistrictFact, ...]] = (
    DistrictFact(
        330402,
        "Nanhu",
        "南湖区",
        839_433,
        "China Population Census by County 2020 (administrative basis, includes its part of "
        "the Jiaxing Economic Development Zone), as quoted by zh.wikipedia 'Nanhu District'",
    ),
    DistrictFact(
        330411,
        "Xiuzhou",
        "秀洲区",
        679_182,
        "derived: city total 5,400,868 minus the six other districts (administrative basis; "
        "the management-basis table gives Nanhu 62.47 + Xiuzhou 55.70 + Economic Development "
        "Zone 33.70 = 151.87 万 for the two districts together, which matches)",
    ),
    DistrictFact(330421, "Jiashan", "嘉善县", 648_200, _POP_TABLE + ": 64.82 万"),
    DistrictFact(330424, "Haiyan", "海盐县", 456_800, _POP_TABLE + ": 45.68 万"),
    DistrictFact(
        330481,
        "Haining",
        "海宁市",
        1_076_199,
        "Haining 7th National Census Bulletin (海宁市第七次全国人口普查公报)",
    ),
    DistrictFact(
        330482,
        "Pinghu",
        "平湖市",
        671_300,
        _POP_TABLE + ": 67.13 万 (includes the Zhapu port area)",
    ),
    DistrictFact(
        330483,
        "Tongxiang",
        "桐乡市",
        1_029_754,
        "Tongxiang 7th National Census Bulletin (桐乡市第七次全国人口普查公报)",
    ),
)
"""The seven districts with their 2020 census populations (sum 5,400,868, the city total)."""


@dataclass(frozen=True)
class Assumption:
    """One stated assumption of the scenario, written into the scenario file.

    Attributes:
        key: Short identifier (``calls_per_1000_per_day``).
        value: The value used (a number, text or small mapping).
        rationale: Why this value, and what it rests on.

    """

    key: str
    value: Any
    rationale: str

    def as_dict(self) -> dict[str, Any]:
        """Return the assumption as a plain mapping for the YAML file."""
        return {"key": self.key, "value": self.value, "rationale": self.rationale}


@dataclass(frozen=True)
class CheckpointSite:
    """A guessed smart-checkpoint site.

    Attributes:
        id: Checkpoint id (``"cp01"``).
        name: Display name (road and place).
        adcode: District the checkpoint belongs to.
        guess: Approximate WGS84 ``(lon, lat)`` guessed from public road maps.
        snap: Where the checkpoint is placed: ``"city"`` (the point of the district's part of
            the city border nearest the guess: an entry road), ``"district"`` (nearest point of
            the district's border with other districts), ``"coast"`` (nearest point of the coast
            line cut from the district: a bridge head) or ``"none"`` (the guess itself).
        kind: ``expressway`` or ``road`` (vehicle checks) or ``scenic`` (visitor check); the
            lanes and volumes come from :data:`CHECKPOINT_CLASSES`.

    """

    id: str
    name: str
    adcode: int
    guess: tuple[float, float]
    snap: str
    kind: str


CHECKPOINT_CLASSES: Final[dict[str, dict[str, float]]] = {
    "expressway": {"lanes": 4, "rate_per_hour": 150.0},
    "road": {"lanes": 2, "rate_per_hour": 60.0},
    "scenic": {"lanes": 3, "rate_per_hour": 120.0},
}
"""Lanes and mean arrivals per hour through the inspection lanes, by checkpoint kind (guesses:
with the smart-mode lane time of ``scenarios/jiaxing_checkpoint.yaml``, 0.35 + 0.05 x 2.5 =
0.475 min, the lanes run 24-32% busy, so a vehicle passes in about the reported 30 s)."""

CHECKPOINT_SITES: Final[tuple[CheckpointSite, ...]] = (
    CheckpointSite("cp01", "G60 Shanghai-Kunming Expwy, Shanghai border (Jiashan)", 330421,
                   (121.02, 30.87), "city", "expressway"),
    CheckpointSite("cp02", "S12 Shanghai-Jiaxing-Huzhou Expwy, Shanghai border (Jiashan)", 330421,
                   (121.05, 30.95), "city", "expressway"),
    CheckpointSite("cp03", "G15 Shenyang-Haikou Expwy, Shanghai border (Pinghu)", 330482,
                   (121.20, 30.80), "city", "expressway"),
    CheckpointSite("cp04", "G92 Hangzhou Bay Ring Expwy, Shanghai border (Pinghu)", 330482,
                   (121.25, 30.72), "city", "expressway"),
    CheckpointSite("cp05", "Suzhou-Jiaxing-Hangzhou Expwy, Jiangsu border (Xiuzhou)", 330411,
                   (120.70, 30.93), "city", "expressway"),
    CheckpointSite("cp06", "Provincial road, Jiangsu border north of Xitang (Jiashan)", 330421,
                   (120.89, 30.98), "city", "road"),
    CheckpointSite("cp07", "Provincial road, Jiangsu border north of Wuzhen (Tongxiang)", 330483,
                   (120.49, 30.80), "city", "road"),
    CheckpointSite("cp08", "S12 Shanghai-Jiaxing-Huzhou Expwy, Huzhou border (Tongxiang)", 330483,
                   (120.38, 30.72), "city", "expressway"),
    CheckpointSite("cp09", "G320 National Road, Hangzhou border (Tongxiang)", 330483,
                   (120.33, 30.55), "city", "road"),
    CheckpointSite("cp10", "G60 Shanghai-Kunming Expwy, Hangzhou border (Haining)", 330481,
                   (120.38, 30.42), "city", "expressway"),
    CheckpointSite("cp11", "Jiaxing-Shaoxing Bridge north end (Haining)", 330481,
                   (120.80, 30.345), "none", "expressway"),
    CheckpointSite("cp12", "Hangzhou Bay Bridge north end (Haiyan)", 330424,
                   (121.05, 30.45), "coast", "expressway"),
    CheckpointSite("cp13", "Jiaxing-Haining road north of the Haining roundabout", 330481,
                   (120.70, 30.58), "district", "road"),
    CheckpointSite("cp14", "Nanhu scenic area visitor check (Nanhu)", 330402,
                   (120.763, 30.748), "none", "scenic"),
    CheckpointSite("cp15", "Wuzhen scenic area visitor check (Tongxiang)", 330483,
                   (120.487, 30.745), "none", "scenic"),
    CheckpointSite("cp16", "Yanguan tide-viewing area visitor check (Haining)", 330481,
                   (120.545, 30.405), "none", "scenic"),
)  # fmt: skip
"""The 16 smart checkpoints: guessed sites (the report names only 'north of the Haining
roundabout' and the Nanhu, Wuzhen and Yanguan scenic areas)."""


@dataclass(frozen=True)
class SeaCut:
    """Sea inside a district polygon, cut away before zoning.

    The boundary file draws some districts' limits out into the sea. The cut removes everything
    seaward of a guessed coast line, then moves that line (a uniform buffer of the sea polygon)
    until the remaining land area equals the official land area.

    Attributes:
        adcode: The district.
        coast: Guessed coast line, WGS84 ``(lon, lat)`` points, land on its north-west side.
        sea: Extra points closing the sea polygon far out at sea.
        land_area_km2: The official land area the cut is tuned to.
        source: Where the land area comes from.

    """

    adcode: int
    coast: tuple[tuple[float, float], ...]
    sea: tuple[tuple[float, float], ...]
    land_area_km2: float
    source: str


SEA_CUTS: Final[tuple[SeaCut, ...]] = (
    SeaCut(
        330424,
        coast=((121.045, 30.575), (120.99, 30.53), (120.965, 30.44), (120.90, 30.39),
               (120.83, 30.345), (120.80, 30.33)),
        sea=((120.80, 30.15), (121.40, 30.15), (121.40, 30.575)),
        land_area_km2=584.96,
        source="Haiyan land area 584.96 km² (Haiyan county statistics, as quoted with the "
        "2019 census-era district areas); the polygon holds 943 km² with Hangzhou Bay waters",
    ),
)  # fmt: skip
"""Sea cuts: only Haiyan's polygon reaches far into Hangzhou Bay (Pinghu's holds ~25 km² of
tidal flats and islets, Haining's matches its official 863 km² including its share of the
Qiantang estuary; both are kept as drawn)."""


# --------------------------------------------------------------------------- layout
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

    """

    projection: LocalProjection
    districts: list[District]
    zones: list[Zone]
    units: list[dict[str, Any]]
    checkpoints: list[dict[str, Any]]
    params: dict[str, Any]


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


def _load_districts(data_dir: Path) -> tuple[LocalProjection, list[District]]:
    path = data_dir / BOUNDARY_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(
            f"{path}: Jiaxing boundary file not found; set TWIN_DATA_DIR to the folder holding "
            "jiaxing/330400_full.json or pass --data-dir"
        ) from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read the Jiaxing boundaries as GeoJSON ({exc})") from None
    features = raw.get("features") if isinstance(raw, dict) else None
    if not isinstance(features, list):
        raise DataError(f"{path}: not a GeoJSON FeatureCollection (no 'features' list)")
    by_code: dict[int, dict[str, Any]] = {}
    for i, feat in enumerate(features):
        try:
            code = int(feat["properties"]["adcode"])
        except (KeyError, TypeError, ValueError):
            raise DataError(
                f"{path}: features[{i}].properties.adcode missing or not a number"
            ) from None
        by_code[code] = feat
    missing = [f"{d.adcode} {d.name}" for d in DISTRICTS if d.adcode not in by_code]
    if missing:
        raise DataError(
            f"{path}: districts missing from the boundary file: {', '.join(missing)}; "
            "expected the 7 districts of Jiaxing (330400_full.json from DataV GeoAtlas)"
        )

    def to_wgs(coords: _FloatArray) -> _FloatArray:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    wgs: dict[int, BaseGeometry] = {}
    seats: dict[int, tuple[float, float]] = {}
    for fact in DISTRICTS:
        feat = by_code[fact.adcode]
        try:
            geom = shapely.transform(shape(feat["geometry"]), to_wgs)
            c_lon, c_lat = (float(v) for v in feat["properties"]["center"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                f"{path}: district {fact.adcode} has an unreadable geometry or center ({exc})"
            ) from None
        if not geom.is_valid:
            geom = shapely.make_valid(geom)
        wgs[fact.adcode] = geom
        s_lon, s_lat = gcj02_to_wgs84([c_lon], [c_lat])
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
    return proj, districts


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


def _representative(geom: BaseGeometry) -> tuple[float, float]:
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
    rx, ry = _representative(zone)
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


# --------------------------------------------------------------------------- assumptions
def _assumptions(p: dict[str, Any]) -> list[Assumption]:
    """Return every assumption, with the values in *p* (builder parameters and derived facts)."""
    pop = sum(d.population for d in DISTRICTS)
    per_day = pop * p["calls_per_1000_per_day"] / 1000.0
    sea = "; ".join(
        f"{name}: drawn {v['raw_area_km2']} km², land {v['land_area_km2']} km² "
        f"(coast guess moved by {v['buffer_km']} km)"
        for name, v in p.get("sea_cut", {}).items()
    )
    cps = CHECKPOINT_CLASSES
    return [
        Assumption(
            "source_boundaries",
            "jiaxing/330400_full.json (Aliyun DataV GeoAtlas, derived from Amap; no stated "
            "licence), GCJ-02 converted to WGS84 by twin.ingest.gcj02",
            "The only public boundary file in the data folder; areas and distances are computed "
            "on a spherical Lambert azimuthal equal-area plane centred on the city.",
        ),
        Assumption(
            "sea_cut",
            sea or "none",
            "Haiyan's polygon (943 km²) reaches far into Hangzhou Bay; its official land area "
            "is 584.96 km² (published county land areas summing to Jiaxing's 3,915 km², e.g. "
            "as compiled at m.wuhan.com/travel/62393.html). The sea seaward of a coast line "
            "guessed from maps (Zhapu - Haiyan town - Qinshan - Ganpu - Jianshan) is cut, the "
            "line moved uniformly until the land area matches. Pinghu (582 vs ~557 km² land: "
            "tidal flats and islets) and Haining (864 vs 863 km², its share of the Qiantang "
            "estuary included officially) are kept as drawn.",
        ),
        Assumption(
            "zone_km",
            p["zone_km"],
            "Square grid cells of this size on the local plane, clipped to each district. 4 km "
            "gives about one zone per station patrol group (~4,200 km² / 245 groups = 17 km² "
            "each) and a 2-3 km drive from a zone's centre to its edge, the scale of a patrol "
            "beat in a plain of towns and villages.",
        ),
        Assumption(
            "min_zone_fraction",
            p["min_zone_fraction"],
            "Pieces of a clipped cell smaller than this share of a full cell are merged into "
            "the neighbouring zone of the same district with the longest common border (the "
            "nearest zone if none touches), so zones tile their district with no slivers.",
        ),
        Assumption(
            "population",
            {d.name: d.population for d in DISTRICTS},
            f"Resident population, 7th national census (1 Nov 2020), city total {pop:,}. "
            "Jiashan, Haiyan and Pinghu (incl. the Zhapu port area): " + _POP_TABLE + ", "
            "given in 万 (10,000) to two decimals. Haining 1,076,199 and Tongxiang 1,029,754: "
            "their 7th-census bulletins. Nanhu 839,433: China Population Census by County 2020 "
            "(administrative basis, includes its part of the Economic Development Zone). "
            "Xiuzhou: the city total minus the six others (the management-basis table gives "
            "Nanhu 62.47 + Xiuzhou 55.70 + Development Zone 33.70 = 151.87 万 for both, which "
            "matches).",
        ),
        Assumption(
            "calls_per_1000_per_day",
            p["calls_per_1000_per_day"],
            "Incidents that need a patrol unit at the scene, per 1,000 residents per day. No "
            "Jiaxing incident data is public. Jiaxing 110 took 2,136,000 calls in 2019 (Jiaxing "
            "PSB on 110 Day 2020, local press) = 5,850 a day; in Hefei (2018) 38.3% of 110 calls "
            "had police sent to the scene (1,004,535 of 2,620,988; Hefei PSB); in Jiangsu (2015) "
            "28.9% of handled incidents were traffic incidents, which traffic police (not the "
            "patrol fleet) handle. 5,850 x 0.383 x 0.71 = 1,590 a day = 0.29 per 1,000 "
            f"residents; rounded to 0.30: {per_day:,.0f} incidents a day city-wide.",
        ),
        Assumption(
            "demand_by_district",
            "proportional to 2020 census population",
            "Call rates per resident are taken as equal across districts (no district figures "
            "are public).",
        ),
        Assumption(
            "resident_density",
            {"core_boost": p["core_boost"], "core_scale_km": p["core_scale_km"]},
            "Inside a district, residents (and calls) follow the density 1 + core_boost * "
            "exp(-d / core_scale_km), d = km from the district seat (the boundary file's "
            "'center'), integrated over each zone on a 250 m lattice. With 10 and 3 km about "
            f"{p.get('share_within_6km', 0.5):.0%} of residents live within 6 km of their "
            "district seat and the rest spread over towns and villages, in line with census "
            "urbanisation of ~70% (Haining 69.95%), part of it in outlying towns. A stated "
            "guess; no gridded population was used.",
        ),
        Assumption(
            "demand_profile",
            "stationary (no hour-of-week profile)",
            "No public hourly pattern for Jiaxing. With ~12% utilisation queueing is rare, so "
            "peaks change waits little; add zones[].profile to study them. Keeps the Poisson "
            "assumption of the analytic models.",
        ),
        Assumption(
            "priorities",
            {
                "1": p["priority_shares"][0],
                "2": p["priority_shares"][1],
                "3": p["priority_shares"][2],
            },
            "Shares of the non-traffic incidents handled by Jiangsu 110 in 2015 (15.28 M "
            "handled: crime 8.4%, traffic 28.9%, disputes 11.8%, help 27.7%, other 23.2%): "
            "P1 = crime in progress / danger to life (8.4/71.1 = 12%), P2 = disputes (17%), "
            "P3 = help requests and other (71%). Priority orders the queue only.",
        ),
        Assumption(
            "service",
            {"dist": "exponential", "mean": p["service_mean_min"]},
            "On-scene time from arrival to clear, all priorities. No public Chinese figure; "
            "the San Francisco life cycle in the data folder has a 19.4 min median on-scene to "
            "available (fire/EMS); police calls with statements and mediation run longer, so 30 "
            "min. Exponential keeps the hypercube approximation applicable.",
        ),
        Assumption(
            "travel",
            {
                "model": "haversine",
                "speed_kmh": p["speed_kmh"],
                "circuity": p["circuity"],
                "turnout_min": p["turnout_min"],
            },
            "Great-circle distance x circuity / speed + turnout. Circuity 1.35: road-network "
            "detour factors are typically 1.2-1.4; Jiaxing is a water town with dense canals, "
            "so bridges add detours (upper half). 36 km/h: mixed urban streets and rural "
            "roads under blue-light driving, expressways not used for local response. Turnout "
            "1 min: patrol units wait on the street in their vehicles ('动中备勤').",
        ),
        Assumption(
            "intra_zone_travel",
            {"mean_intra_km": p.get("mean_intra_km", 0.0), "modelled": True},
            "Real calls are spread over a zone, not at its location: each zone carries "
            "zones[].intra_km, the demand-weighted mean straight-line distance from the zone's "
            "location to its residents (city mean "
            f"{p.get('mean_intra_km', 0.0):.2f} km), which the engine uses as the length of a "
            "trip inside the zone (x circuity / speed: about "
            f"{p.get('mean_intra_km', 0.0) * p['circuity'] / p['speed_kmh'] * 60:.1f} min). "
            "Cross-zone trips still run location to location.",
        ),
        Assumption(
            "dispatch",
            "closest free unit; priority queue (FCFS within a level); unlimited queue",
            "The smart patrol platform dispatches the nearest unit by terminal position.",
        ),
        Assumption(
            "fleet",
            {"ptu": PTU_TEAMS, "station": STATION_GROUPS, "total": PTU_TEAMS + STATION_GROUPS},
            "116 PTU mobile teams and 245 police-station patrol groups (BACKGROUND.md). Each is "
            "one unit on duty around the clock (crews rotate; the report gives no shift data).",
        ),
        Assumption(
            "posts",
            "station groups: largest remainder to districts by demand, then Sainte-Laguë to "
            "zones by demand; PTU teams: Sainte-Laguë continued over all zones",
            "Station groups belong to their district's police stations (area = the district's "
            "zones). PTU teams are the city-wide mobile reserve (area = all zones) and reinforce "
            "where demand per posted unit stays highest, i.e. the urban cores. Sainte-Laguë's "
            "first seat is cheap, so most zones get a post and busy zones several; zones without "
            "a post are served from their neighbours.",
        ),
        Assumption(
            "patrol",
            {"policy": "post", "interval_min": 15.0},
            "Idle units wait at their post: Jiaxing's rapid-response circles rest on fixed "
            "street deployment points ('屯警街面', 1-3-5 minute circles around them). The engine's "
            "'area' policy would random-walk each station group over its whole district and "
            "each PTU team over the whole city, which spreads them evenly over zones and undoes "
            "the demand-weighted posting; set patrol.policy: area to study roaming patrols.",
        ),
        Assumption(
            "checkpoints",
            {
                "count": SMART_CHECKPOINTS,
                "mode": "smart",
                **{f"{k}_lanes": int(v["lanes"]) for k, v in cps.items()},
                **{f"{k}_per_hour": v["rate_per_hour"] for k, v in cps.items()},
                "watchlist_hit_probability": _WATCHLIST_HIT,
            },
            "The report names 16 smart checkpoints but only 'north of the Haining roundabout' "
            "and the Nanhu, Wuzhen and Yanguan scenic-area checks. 12 road checks are guessed at "
            "the city-border crossings of the main expressways and national roads (a guessed "
            "crossing snapped to the nearest point of the border, then up to 1 km inside; the "
            "two bridge heads on the coast), one at the Haining-Nanhu border for the Haining "
            "roundabout, and 3 scenic visitor checks. Lane times are the "
            "values of scenarios/jiaxing_checkpoint.yaml (smart: 0.35 min classification, 5% "
            "flagged for a 2.5 min manual check); volumes through the lanes are guesses that "
            "keep the lanes ~30% busy, so a vehicle passes in about the reported 30 s. Watch-"
            "list hits: the report's 1,059 arrests in 3 years from all sensing is ~1 a day; "
            "2e-5 of the ~47,000 vehicles checked a day gives ~1 interception incident "
            "(priority 1) a day.",
        ),
        Assumption(
            "response_targets",
            {"core_min": 1, "key_min": 3, "anywhere_min": 5},
            "The '1-3-5 minute' rapid-response norm: police reach core areas within 1 minute, "
            "key areas within 3, anywhere within 5. Targets only, not inputs: 'core' zones hold "
            "a district seat or lie within 2 km of it, 'key' zones within 6 km (see the "
            "targets key). The 1-minute goal is met by fixed posts on foot, not by dispatch "
            "with a 1-min turnout.",
        ),
    ]


# --------------------------------------------------------------------------- builder
def build_jiaxing_layout(
    data_dir: str | Path | None = None,
    *,
    zone_km: float = 4.0,
    min_zone_fraction: float = 0.3,
    calls_per_1000_per_day: float = 0.30,
    core_boost: float = 10.0,
    core_scale_km: float = 3.0,
) -> JiaxingLayout:
    """Build the zones, demand, posts and checkpoints of Jiaxing, keeping the geometry.

    Args:
        data_dir: The data folder holding ``jiaxing/330400_full.json``
            (default :func:`twin.paths.default_data_dir`).
        zone_km: Grid cell size in km.
        min_zone_fraction: Pieces smaller than this share of a cell are merged.
        calls_per_1000_per_day: Incidents per 1,000 residents per day.
        core_boost: Density boost at a district seat (see :data:`ASSUMPTIONS`).
        core_scale_km: Decay length of the boost in km.

    Returns:
        The layout, with zones on the local plane and WGS84 locations.

    Raises:
        ConfigError: A parameter is out of range.
        DataError: The boundary file is missing or unreadable.

    """
    if not 0.5 <= zone_km <= 50:
        raise ConfigError(f"zone_km={zone_km}: choose a cell size between 0.5 and 50 km")
    if not 0 <= min_zone_fraction < 1:
        raise ConfigError(f"min_zone_fraction={min_zone_fraction}: must be in [0, 1)")
    if calls_per_1000_per_day <= 0:
        raise ConfigError(f"calls_per_1000_per_day={calls_per_1000_per_day}: must be > 0")
    if core_boost < 0 or core_scale_km <= 0:
        raise ConfigError("core_boost must be >= 0 and core_scale_km > 0")
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    proj, districts = _load_districts(root)

    zones: list[Zone] = []
    for d in districts:
        geoms = _split_district(d, zone_km, min_zone_fraction)
        integrals = [_zone_weight(g, d.seat, core_boost, core_scale_km) for g in geoms]
        total_w = sum(w for w, _ in integrals)
        for n, (g, (w, intra)) in enumerate(zip(geoms, integrals, strict=True), start=1):
            rx, ry = _representative(g)
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

    # ---- posts
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

    # ---- checkpoints
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

    near = 0.0
    for z in zones:
        seat = by_code[z.adcode].seat
        rx, ry = _representative(z.geometry)
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
    return JiaxingLayout(proj, districts, zones, units, checkpoints, params)


# --------------------------------------------------------------------------- scenario
_WATCHLIST_HIT: Final = 2e-5
_FLAG_PROBABILITY: Final = 0.05


def build_jiaxing_scenario(
    data_dir: str | Path | None = None,
    *,
    zone_km: float = 4.0,
    min_zone_fraction: float = 0.3,
    calls_per_1000_per_day: float = 0.30,
    core_boost: float = 10.0,
    core_scale_km: float = 3.0,
    priority_shares: tuple[float, float, float] = (0.12, 0.17, 0.71),
    service_mean_min: float = 30.0,
    speed_kmh: float = 36.0,
    circuity: float = 1.35,
    turnout_min: float = 1.0,
    warmup: float = 1440.0,
    horizon: float = 10080.0,
) -> dict[str, Any]:
    """Build the Jiaxing baseline scenario as a plain mapping (the YAML file's content).

    Pure: reads only the boundary file, returns a new mapping, writes nothing. The mapping
    validates with :func:`twin.model.scenario.parse_scenario`; its extra top-level keys
    (``assumptions``, ``district_zones``, ``zone_facts``, ``checkpoint_sites``, ``targets``,
    ``provenance``) carry the assumptions and the derived facts.

    Args:
        data_dir: The data folder (default :func:`twin.paths.default_data_dir`).
        zone_km: Grid cell size in km.
        min_zone_fraction: Pieces smaller than this share of a cell are merged.
        calls_per_1000_per_day: Incidents needing a patrol unit per 1,000 residents per day.
        core_boost: Resident density boost at a district seat.
        core_scale_km: Decay length of the boost (km).
        priority_shares: Shares of priorities 1, 2, 3 (sum 1).
        service_mean_min: Mean on-scene time (exponential), minutes.
        speed_kmh: Driving speed.
        circuity: Road distance over great-circle distance.
        turnout_min: Minutes from dispatch to rolling.
        warmup: Minutes simulated before statistics start.
        horizon: Minutes of statistics.

    Returns:
        The scenario mapping.

    Raises:
        ConfigError: A parameter is out of range.
        DataError: The boundary file is missing or unreadable.

    """
    if len(priority_shares) != 3 or abs(sum(priority_shares) - 1.0) > 1e-9:
        raise ConfigError(f"priority_shares={priority_shares}: give three shares summing to 1")
    for label, v in (("service_mean_min", service_mean_min), ("speed_kmh", speed_kmh)):
        if v <= 0:
            raise ConfigError(f"{label}={v}: must be > 0")
    if circuity < 1 or turnout_min < 0 or warmup < 0 or horizon <= 0:
        raise ConfigError("circuity must be >= 1, turnout_min and warmup >= 0, horizon > 0")
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    layout = build_jiaxing_layout(
        root,
        zone_km=zone_km,
        min_zone_fraction=min_zone_fraction,
        calls_per_1000_per_day=calls_per_1000_per_day,
        core_boost=core_boost,
        core_scale_km=core_scale_km,
    )
    params = dict(layout.params)
    params.update(
        priority_shares=tuple(priority_shares),
        service_mean_min=service_mean_min,
        speed_kmh=speed_kmh,
        circuity=circuity,
        turnout_min=turnout_min,
    )
    names = {d.fact.adcode: d.fact.name for d in layout.districts}
    district_zones = {
        names[d.fact.adcode]: [z.id for z in layout.zones if z.adcode == d.fact.adcode]
        for d in layout.districts
    }
    city_zones = [z.id for z in layout.zones]

    zones = [
        {
            "id": z.id,
            "district": names[z.adcode],
            "location": [z.location[0], z.location[1]],
            "rate_per_hour": round(z.rate_per_hour, 6),
            "intra_km": round(z.intra_km, 3),
        }
        for z in layout.zones
    ]
    units = [
        {
            "id": u["id"],
            "post": u["post"],
            "kind": u["kind"],
            "area": list(
                district_zones[names[u["district"]]] if u["district"] is not None else city_zones
            ),
        }
        for u in layout.units
    ]
    checkpoints: list[dict[str, Any]] = []
    sites: dict[str, Any] = {}
    for cp, site in zip(layout.checkpoints, CHECKPOINT_SITES, strict=True):
        cls = CHECKPOINT_CLASSES[site.kind]
        checkpoints.append(
            {
                "id": cp["id"],
                "name": cp["name"],
                "zone": cp["zone"],
                "lanes": int(cls["lanes"]),
                "mode": "smart",
                "arrivals": {"rate_per_hour": cls["rate_per_hour"]},
                "manual_inspection": {"dist": "lognormal", "mean": 2.5, "sd": 1.0},
                "classification": {"dist": "lognormal", "mean": 0.35, "sd": 0.1},
                "flag_probability": _FLAG_PROBABILITY,
                "watchlist_hit_probability": _WATCHLIST_HIT,
                "hit_priority": 1,
            }
        )
        sites[cp["id"]] = {
            "kind": site.kind,
            "district": names[site.adcode],
            "location": cp["location"],
            "guess": [site.guess[0], site.guess[1]],
            "placed": {
                "city": "city border",
                "district": "district border",
                "coast": "coast",
                "none": "as guessed",
            }[site.snap],
        }

    by_code = {d.fact.adcode: d for d in layout.districts}
    core: list[str] = []
    key: list[str] = []
    for z in layout.zones:
        rx, ry = _representative(z.geometry)
        sx, sy = by_code[z.adcode].seat
        dist = math.hypot(rx - sx, ry - sy)
        if dist <= 2.0 or z.geometry.covers(Point(sx, sy)):
            core.append(z.id)
        elif dist <= 6.0:
            key.append(z.id)

    total_rate = sum(z.rate_per_hour for z in layout.zones)
    station = sum(1 for u in layout.units if u["kind"] == "station")
    ptu = sum(1 for u in layout.units if u["kind"] == "ptu")
    source = root / BOUNDARY_FILE
    return {
        "name": "jiaxing_baseline",
        "description": (
            "Jiaxing (Zhejiang): 7 districts cut into patrol zones, 116 PTU teams + 245 station "
            "patrol groups (361 units), 16 smart checkpoints; demand from census population and "
            "published 110 volumes (no incident data is public). Built by twin.jiaxing; every "
            "assumption is listed under 'assumptions'."
        ),
        "time_unit": "min",
        "warmup": warmup,
        "horizon": horizon,
        "crs": "wgs84",
        "travel": {
            "model": "haversine",
            "speed_kmh": speed_kmh,
            "circuity": circuity,
            "turnout_min": turnout_min,
        },
        "dispatch": {"policy": "closest"},
        "queue": {"discipline": "priority", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "service": {"dist": "exponential", "mean": service_mean_min},
        "priorities": [
            {"level": 1, "share": priority_shares[0], "name": "crime in progress / danger to life"},
            {"level": 2, "share": priority_shares[1], "name": "disputes, urgent"},
            {"level": 3, "share": priority_shares[2], "name": "help requests and other"},
        ],
        "patrol": {"interval_min": 15.0, "policy": "post"},
        "summary": {
            "districts": len(layout.districts),
            "zones": len(layout.zones),
            "area_km2": round(sum(d.area_km2 for d in layout.districts), 1),
            "residents": sum(d.population for d in DISTRICTS),
            "calls_per_hour": round(total_rate, 3),
            "calls_per_day": round(total_rate * 24.0, 1),
            "units": {"station": station, "ptu": ptu, "total": station + ptu},
            "checkpoints": len(checkpoints),
        },
        "district_zones": district_zones,
        "zones": zones,
        "units": units,
        "checkpoints": checkpoints,
        "checkpoint_sites": sites,
        "zone_facts": {
            z.id: {
                "area_km2": round(z.area_km2, 3),
                "residents": round(z.population),
                "intra_km": round(z.intra_km, 3),
                "posts": dict(z.posts),
            }
            for z in layout.zones
        },
        "targets": {
            "norm": "1-3-5 minute rapid response",
            "core_min": 1,
            "key_min": 3,
            "anywhere_min": 5,
            "core_zones": core,
            "key_zones": key,
        },
        "assumptions": [a.as_dict() for a in _assumptions(params)],
        "provenance": {
            "builder": "twin.jiaxing.build_jiaxing_scenario",
            "command": "python -m twin.jiaxing --out scenarios/jiaxing_baseline.yaml",
            "boundary_file": BOUNDARY_FILE.as_posix(),
            "boundary_sha256": _sha256(source),
            "projection": {
                "kind": "spherical Lambert azimuthal equal-area (km)",
                "lon0": layout.projection.lon0,
                "lat0": layout.projection.lat0,
            },
            "parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        },
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- rendering
class _FlowMap(dict[str, Any]):
    """A mapping written in YAML flow style (``{a: 1, b: 2}``)."""


class _FlowList(list[Any]):
    """A list written in YAML flow style (``[a, b]``)."""


def _make_dumper(anchor_names: dict[int, str]) -> type[yaml.SafeDumper]:
    class _Dumper(yaml.SafeDumper):
        def generate_anchor(self, node: Any) -> Any:
            for obj_id, n in self.represented_objects.items():
                if n is node and obj_id in anchor_names:
                    return anchor_names[obj_id]
            return super().generate_anchor(node)

    def flow_map(dumper: yaml.SafeDumper, data: _FlowMap) -> yaml.Node:
        return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)

    def flow_list(dumper: yaml.SafeDumper, data: _FlowList) -> yaml.Node:
        return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)

    _Dumper.add_representer(_FlowMap, flow_map)
    _Dumper.add_representer(_FlowList, flow_list)
    return _Dumper


def _flow(value: Any) -> Any:
    """Deep-convert mappings and lists to their flow-style twins."""
    if isinstance(value, dict):
        return _FlowMap((k, _flow(v)) for k, v in value.items())
    if isinstance(value, list):
        return _FlowList(_flow(v) for v in value)
    return value


def _header(scenario: dict[str, Any]) -> str:
    lines = [
        "# Jiaxing baseline scenario -- GENERATED, do not edit by hand. Regenerate with:",
        "#     python -m twin.jiaxing --out scenarios/jiaxing_baseline.yaml",
        "# (tests/test_jiaxing.py checks that this file equals the builder's output).",
        "#",
        "# No incident-level data for Jiaxing is public: zones, demand, posts and checkpoints are",
        "# built from the district boundaries, census populations, published 110 volumes and the",
        "# figures of the 2021 report (../shared/BACKGROUND.md). Assumptions (also machine-",
        "# readable under 'assumptions' at the end of this file):",
    ]
    for a in scenario.get("assumptions", []):
        value = a["value"]
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            shown = str(value)
        lines.append("#")
        lines.extend(
            textwrap.wrap(
                f"{a['key']}: {shown}", 97, initial_indent="# - ", subsequent_indent="#     "
            )
        )
        lines.extend(
            textwrap.wrap(a["rationale"], 97, initial_indent="#     ", subsequent_indent="#     ")
        )
    return "\n".join(lines) + "\n"


def render_scenario_yaml(scenario: dict[str, Any]) -> str:
    """Render a scenario mapping from :func:`build_jiaxing_scenario` as the YAML file text.

    Zones, units and checkpoints are written one per line (flow style); each district's zone
    list is written once under ``district_zones`` and the units' ``area`` lists refer to it with
    a YAML alias (``*Nanhu``, ``*city`` for the whole city), which ``yaml.safe_load`` expands.
    A comment header repeats every assumption with its rationale.

    Args:
        scenario: The mapping.

    Returns:
        The file text (deterministic for a given mapping).

    """
    out: dict[str, Any] = {}
    shared: dict[tuple[str, ...], _FlowList] = {}
    anchor_names: dict[int, str] = {}
    for name, ids in scenario.get("district_zones", {}).items():
        lst = _FlowList(ids)
        shared[tuple(ids)] = lst
        anchor_names[id(lst)] = str(name)
    city = _FlowList(z["id"] for z in scenario.get("zones", []))
    shared.setdefault(tuple(city), city)
    anchor_names.setdefault(id(shared[tuple(city)]), "city")
    for key, value in scenario.items():
        if key == "district_zones":
            out[key] = {k: shared[tuple(v)] for k, v in value.items()}
        elif key == "units":
            units = []
            for u in value:
                fu = _FlowMap((k, v) for k, v in u.items() if k != "area")
                if "area" in u:
                    area = tuple(u["area"])
                    fu["area"] = shared.get(area) or _FlowList(area)
                units.append(fu)
            out[key] = units
        elif key == "zones":
            out[key] = [_flow(v) for v in value]
        elif key == "checkpoints":
            out[key] = [
                {k: _flow(v) if isinstance(v, dict) else v for k, v in cp.items()} for cp in value
            ]
        elif key in ("zone_facts", "checkpoint_sites"):
            out[key] = {k: _flow(v) for k, v in value.items()}
        elif key in ("travel", "dispatch", "queue", "demand", "service", "patrol"):
            out[key] = _flow(value)
        elif key == "priorities":
            out[key] = [_flow(v) for v in value]
        elif key == "targets":
            out[key] = {k: _flow(v) for k, v in value.items()}
        else:
            out[key] = value
    body = yaml.dump(
        out,
        Dumper=_make_dumper(anchor_names),
        sort_keys=False,
        allow_unicode=True,
        width=100,
        default_flow_style=False,
    )
    return _header(scenario) + body


def write_jiaxing_scenario(
    out: str | Path, data_dir: str | Path | None = None, **kwargs: Any
) -> Path:
    """Build the scenario and write it to *out* (see :func:`build_jiaxing_scenario`).

    Args:
        out: Destination YAML file (its folder is created).
        data_dir: The data folder (default :func:`twin.paths.default_data_dir`).
        **kwargs: Builder parameters.

    Returns:
        The path written.

    """
    text = render_scenario_yaml(build_jiaxing_scenario(data_dir, **kwargs))
    dest = Path(out)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(text, encoding="utf-8")
    return dest


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m twin.jiaxing --out FILE [--data-dir DIR] [--zone-km KM]``.

    Args:
        argv: Arguments without the program name (``sys.argv[1:]`` when None).

    Returns:
        The exit code (0 on success).

    """
    parser = argparse.ArgumentParser(
        prog="python -m twin.jiaxing", description="Write the Jiaxing baseline scenario file."
    )
    parser.add_argument("--out", required=True, help="destination YAML file")
    parser.add_argument("--data-dir", default=None, help="data folder (default ../shared/data)")
    parser.add_argument("--zone-km", type=float, default=4.0, help="grid cell size in km")
    args = parser.parse_args(list(argv) if argv is not None else None)
    try:
        path = write_jiaxing_scenario(args.out, args.data_dir, zone_km=args.zone_km)
    except TwinError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
