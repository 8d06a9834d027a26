"""Points -> zones with a vectorised spatial index, and zone-table construction.

:class:`ZoneIndex` assigns many points of one city (a ``ZONES`` table) to zones at once. Repeated
coordinates (the same street corner on thousands of calls) are looked up once, and positions
seen in earlier calls not at all. New positions are tested zone by zone (a bounding-box filter
on the coordinate arrays, then the prepared polygon's ``intersects_xy``) for up to
:data:`PER_ZONE_MAX` zones, and with a single bulk ``STRtree.query(points,
predicate="intersects")`` for more. A point on the shared edge of two zones intersects both; it
goes to the zone that comes first in ``zone_id`` order, so the answer is deterministic.
Optionally a point in no zone but within ``snap_m`` metres of one takes the nearest zone (bulk
``query_nearest``): street geocodes on a city-limit street or a shoreline fall just outside the
polygons.

Policy for points outside every zone (used by the adapters, see ``twin.ingest.incidents``):
coordinates outside the city's bounding box are quarantined as ``coordinates_outside_city``;
incident points snap to a zone within 150 m (``ctx.options["zone_snap_m"]`` overrides, 0 turns
it off); a point inside the box but in no zone even then is quarantined as ``unknown_zone`` only
for sources that are expected to lie inside the city (police and fire incidents:
``require_zone=True``); devices and other sources keep the row with a null zone. Rows without
coordinates keep a null zone (the call happened; only its place is unknown).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import shapely
from shapely.geometry.base import BaseGeometry

from twin.geo import KM_PER_DEGREE
from twin.schemas import ZONES

__all__ = ["PER_ZONE_MAX", "ZoneAssignment", "ZoneIndex", "area_km2", "make_zones_table"]

_M_PER_DEG = KM_PER_DEGREE * 1000.0
_UNKNOWN = -2  # memo miss (distinct from -1, "in no zone")
_MEMO_MAX = 2_000_000
PER_ZONE_MAX = 256
"""Up to this many zones, new points are tested zone by zone; beyond, with the STRtree."""


def area_km2(geom: BaseGeometry) -> float:
    """Approximate area of a lon/lat polygon in km² (equirectangular at its centroid).

    Accurate to well under 1% for city-sized zones, which is all the twin needs (densities).

    Args:
        geom: A polygon or multipolygon in WGS84 degrees.

    Returns:
        The area in square kilometres.

    """
    lat0 = np.radians(geom.centroid.y)
    kx = KM_PER_DEGREE * np.cos(lat0)
    ky = KM_PER_DEGREE

    def scale(coords: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.column_stack([coords[:, 0] * kx, coords[:, 1] * ky])

    projected = shapely.transform(geom, scale)
    return float(projected.area)


def make_zones_table(
    *,
    zone_ids: Sequence[str],
    source: str,
    city: str,
    kind: str,
    codes: Sequence[str],
    districts: Sequence[str | None],
    names: Sequence[str | None],
    geometries: Sequence[BaseGeometry],
) -> pa.Table:
    """Build a ``ZONES`` table from parallel lists (geometry as WKB, WGS84).

    Args:
        zone_ids: ``"<city>:<kind>:<code>"`` ids.
        source: Source name.
        city: City key.
        kind: Zone kind (beat, precinct, district, ...).
        codes: The source's own codes.
        districts: District of each zone (None when the source has none).
        names: Display names (None when the source has none).
        geometries: Shapely polygons in lon/lat degrees.

    Returns:
        The table, sorted by ``zone_id``.

    """
    cents = [g.centroid for g in geometries]
    table = pa.table(
        {
            "zone_id": pa.array(list(zone_ids), pa.string()),
            "source": pa.array([source] * len(zone_ids), pa.string()),
            "city": pa.array([city] * len(zone_ids), pa.string()),
            "kind": pa.array([kind] * len(zone_ids), pa.string()),
            "code": pa.array(list(codes), pa.string()),
            "district": pa.array(list(districts), pa.string()),
            "name": pa.array(list(names), pa.string()),
            "geometry": pa.array([shapely.to_wkb(g) for g in geometries], pa.binary()),
            "centroid_lon": pa.array([c.x for c in cents], pa.float64()),
            "centroid_lat": pa.array([c.y for c in cents], pa.float64()),
            "area_km2": pa.array([area_km2(g) for g in geometries], pa.float64()),
        },
        schema=ZONES,
    )
    return table.sort_by("zone_id")


@dataclass(frozen=True)
class ZoneAssignment:
    """Zones found for a batch of points.

    Attributes:
        zone: Zone id per point (null where the point is in no zone or has no coordinates).
        district: District of that zone (null likewise, or when the zone has none).
        found: True where a zone was found.

    """

    zone: pa.Array
    district: pa.Array
    found: npt.NDArray[np.bool_]


_Memo = tuple[npt.NDArray[np.complex128], npt.NDArray[np.int64]]


def _memo_get(memo: _Memo, keys: npt.NDArray[np.complex128]) -> npt.NDArray[np.int64]:
    """Return the memoised answer of each key, ``_UNKNOWN`` where there is none."""
    out = np.full(len(keys), _UNKNOWN, dtype=np.int64)
    memo_keys, memo_vals = memo
    if len(memo_keys) == 0:
        return out
    pos = np.minimum(np.searchsorted(memo_keys, keys), len(memo_keys) - 1)
    hit = memo_keys[pos] == keys
    out[hit] = memo_vals[pos[hit]]
    return out


def _memo_put(memo: _Memo, keys: npt.NDArray[np.complex128], vals: npt.NDArray[np.int64]) -> _Memo:
    """Return *memo* with *keys* added (a new tuple: concurrent readers see whole memos)."""
    memo_keys, memo_vals = memo
    if len(memo_keys) + len(keys) > _MEMO_MAX:
        memo_keys = memo_keys[:0]
        memo_vals = memo_vals[:0]
    all_keys = np.concatenate([memo_keys, keys])
    all_vals = np.concatenate([memo_vals, vals])
    order = np.argsort(all_keys, kind="stable")
    return all_keys[order], all_vals[order]


class ZoneIndex:
    """A bulk point-in-zone index over a ``ZONES`` table.

    Args:
        zones: Rows of the ``ZONES`` schema (at least ``zone_id``, ``district``, ``geometry``).

    """

    def __init__(self, zones: pa.Table) -> None:
        ordered = zones.sort_by("zone_id")
        self.zone_ids: list[str] = [str(z) for z in ordered.column("zone_id").to_pylist()]
        self.districts: list[str | None] = ordered.column("district").to_pylist()
        wkb = ordered.column("geometry").to_pylist()
        self.geometries = shapely.from_wkb(np.array(wkb, dtype=object))
        shapely.prepare(self.geometries)
        self.tree = shapely.STRtree(self.geometries)
        self._bounds = shapely.bounds(self.geometries).reshape(-1, 4)
        self._district_of = dict(zip(self.zone_ids, self.districts, strict=True))
        # Memo of exact (unsnapped) answers by position, sorted for vectorised lookups.
        # One tuple, replaced whole, so concurrent readers always see matching arrays.
        self._memo: tuple[npt.NDArray[np.complex128], npt.NDArray[np.int64]] = (
            np.empty(0, dtype=np.complex128),
            np.empty(0, dtype=np.int64),
        )
        # The same for snapped answers of points in no zone, per snap distance.
        self._snap_memo: dict[float, tuple[npt.NDArray[np.complex128], npt.NDArray[np.int64]]] = {}

    def __len__(self) -> int:
        return len(self.zone_ids)

    def district_of(self, zone_id: str) -> str | None:
        """Return the district of *zone_id* (None if unknown or without district)."""
        return self._district_of.get(zone_id)

    def has_zone(self, zone_id: str) -> bool:
        """Return whether *zone_id* is one of the indexed zones."""
        return zone_id in self._district_of

    def lookup(
        self, lon: npt.ArrayLike, lat: npt.ArrayLike, snap_m: float = 0.0
    ) -> npt.NDArray[np.int64]:
        """Return the index (in ``zone_id`` order) of the zone of each point, -1 for none.

        NaN coordinates give -1. With ``snap_m > 0`` a point in no zone but within that many
        metres of one (a geocode on a boundary street or a shoreline) takes the nearest zone.

        Args:
            lon: Longitudes (degrees, WGS84).
            lat: Latitudes.
            snap_m: Snap distance in metres (0: points must lie inside a zone).

        Returns:
            An int64 array of zone positions.

        """
        x = np.asarray(lon, dtype=np.float64)
        y = np.asarray(lat, dtype=np.float64)
        out = np.full(len(x), -1, dtype=np.int64)
        valid = np.isfinite(x) & np.isfinite(y)
        if not valid.any() or len(self.zone_ids) == 0:
            return out
        # Look each distinct position up once (hash factorisation, O(n)), and positions seen in
        # earlier calls not at all (the same street corners recur in every export).
        codes, uniq_c = pd.factorize(x[valid] + 1j * y[valid])
        inverse = np.asarray(codes, dtype=np.int64)
        uniq_c = np.asarray(uniq_c, dtype=np.complex128)
        found = _memo_get(self._memo, uniq_c)
        todo = np.flatnonzero(found == _UNKNOWN)
        if len(todo):
            found[todo] = self._query(uniq_c[todo])
            self._memo = _memo_put(self._memo, uniq_c[todo], found[todo])
        missing = np.flatnonzero(found < 0)
        if snap_m > 0 and len(missing):
            empty = (np.empty(0, dtype=np.complex128), np.empty(0, dtype=np.int64))
            memo = self._snap_memo.get(snap_m, empty)
            snapped = _memo_get(memo, uniq_c[missing])
            new = np.flatnonzero(snapped == _UNKNOWN)
            if len(new):
                where = uniq_c[missing[new]]
                pts = shapely.points(np.real(where), np.imag(where))
                snapped[new] = self._nearest(pts, np.imag(where), snap_m)
                self._snap_memo[snap_m] = _memo_put(memo, where, snapped[new])
            found[missing] = snapped
        out[valid] = found[inverse]
        return out

    def _query(self, where: npt.NDArray[np.complex128]) -> npt.NDArray[np.int64]:
        if len(self.geometries) > PER_ZONE_MAX:
            return self._query_tree(where)
        # Zone by zone: a bounding-box prefilter on the coordinate arrays, then the prepared
        # polygon's intersects test on raw x/y (no Point objects, no tree). A city has tens of
        # zones, so this is several times faster than a tree query of point geometries. Zones
        # are visited last to first, so a point on a shared edge keeps the smallest position.
        x = np.ascontiguousarray(np.real(where))
        y = np.ascontiguousarray(np.imag(where))
        found = np.full(len(where), -1, dtype=np.int64)
        for z in range(len(self.geometries) - 1, -1, -1):
            x0, y0, x1, y1 = self._bounds[z]
            cand = np.flatnonzero((x >= x0) & (x <= x1) & (y >= y0) & (y <= y1))
            if len(cand):
                hit = shapely.intersects_xy(self.geometries[z], x[cand], y[cand])
                found[cand[np.asarray(hit, dtype=bool)]] = z
        return found

    def _query_tree(self, where: npt.NDArray[np.complex128]) -> npt.NDArray[np.int64]:
        points = shapely.points(np.real(where), np.imag(where))
        pairs = self.tree.query(points, predicate="intersects")
        found = np.full(len(where), -1, dtype=np.int64)
        if pairs.shape[1]:
            # Several hits (a point on a shared edge): keep the smallest zone position.
            order = np.lexsort((pairs[1], pairs[0]))
            p_idx = pairs[0][order]
            z_idx = pairs[1][order]
            first = np.ones(len(p_idx), dtype=bool)
            first[1:] = p_idx[1:] != p_idx[:-1]
            found[p_idx[first]] = z_idx[first]
        return found

    def _nearest(
        self, points: npt.NDArray[np.object_], lat: npt.NDArray[np.float64], snap_m: float
    ) -> npt.NDArray[np.int64]:
        # Distances are in degrees: search with the (larger) longitude-degree radius, then keep
        # hits whose distance, scaled to metres at the point's latitude, is within snap_m.
        cos_lat = np.cos(np.radians(np.clip(lat, -89.0, 89.0)))
        deg = snap_m / (_M_PER_DEG * float(cos_lat.min()))
        pairs, dist = self.tree.query_nearest(
            points, max_distance=deg, return_distance=True, all_matches=False
        )
        found = np.full(len(points), -1, dtype=np.int64)
        if pairs.shape[1]:
            p_idx, z_idx = pairs[0], pairs[1]
            # metres: a degree-distance lies between the lat and lon scales; use the lon scale
            close = dist * _M_PER_DEG * cos_lat[p_idx] <= snap_m
            found[p_idx[close]] = z_idx[close]
        return found

    def assign(self, lon: npt.ArrayLike, lat: npt.ArrayLike, snap_m: float = 0.0) -> ZoneAssignment:
        """Return the zone id and district of each point.

        Args:
            lon: Longitudes (degrees, WGS84).
            lat: Latitudes.
            snap_m: Snap distance in metres (see :meth:`lookup`).

        Returns:
            Zone ids, districts and a found mask, aligned with the input.

        """
        pos = self.lookup(lon, lat, snap_m)
        found = pos >= 0
        ids = pa.array([*self.zone_ids, None], pa.string())
        dists = pa.array([*self.districts, None], pa.string())
        idx = np.where(found, pos, len(self.zone_ids))
        return ZoneAssignment(zone=ids.take(idx), district=dists.take(idx), found=found)
