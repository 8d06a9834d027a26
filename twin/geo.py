"""Geometry on the earth: the one home of its radius, great-circle distances and projections.

Everything in the twin that turns degrees into kilometres comes from here: the engine's
coordinate travel models (:func:`great_circle_km`, :func:`distance_matrix_km`), the
calibration's vectorised distances (:func:`haversine_km`), the ingest's zone areas
(:data:`KM_PER_DEGREE`) and a city builder's local plane (:class:`LocalProjection`). The sphere
has the IUGG mean radius :data:`EARTH_RADIUS_KM`; at city scale its error against the ellipsoid
(< 0.5 %) is far below any other error of the twin.

Each function keeps the exact arithmetic of the copy it replaced (scalar ``math`` for the
engine's per-trip distances, ``numpy`` for arrays), so results are bit-for-bit what they were.
Datum shifts (GCJ-02 -> WGS84) are an ingest concern: :mod:`twin.ingest.gcj02`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "EARTH_RADIUS_KM",
    "KM_PER_DEGREE",
    "LocalProjection",
    "distance_matrix_km",
    "great_circle_km",
    "haversine_km",
]

EARTH_RADIUS_KM = 6371.0088
"""Mean earth radius (IUGG, km)."""

KM_PER_DEGREE: float = float(np.radians(1.0) * EARTH_RADIUS_KM)
"""Kilometres per degree of latitude (and of longitude at the equator)."""

_FloatArray = npt.NDArray[np.float64]


def great_circle_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Return the great-circle distance in km between two points in degrees (scalar, fast)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km(
    lon1: np.ndarray | float,
    lat1: np.ndarray | float,
    lon2: np.ndarray | float,
    lat2: np.ndarray | float,
) -> np.ndarray:
    """Return great-circle distances in km between points given in degrees (vectorised)."""
    lo1, la1, lo2, la2 = (np.radians(np.asarray(v, dtype=float)) for v in (lon1, lat1, lon2, lat2))
    a = np.sin((la2 - la1) / 2) ** 2 + np.cos(la1) * np.cos(la2) * np.sin((lo2 - lo1) / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1))))


def distance_matrix_km(model: str, locations: Sequence[tuple[float, float]]) -> _FloatArray:
    """Return the n x n distances (km) between *locations* under a coordinate *model*.

    Args:
        model: ``none`` (zeros), ``euclidean``, ``manhattan`` (plane coordinates in km) or
            ``haversine`` (``(lon, lat)`` degrees, great circle).
        locations: The points.

    Raises:
        ValueError: For a model without coordinate distances (``matrix``).

    """
    xy = np.asarray(locations, dtype=np.float64).reshape(-1, 2)
    x, y = xy[:, 0], xy[:, 1]
    dx = x[None, :] - x[:, None]
    dy = y[None, :] - y[:, None]
    if model == "none":
        return np.zeros((xy.shape[0], xy.shape[0]))
    if model == "euclidean":
        return np.hypot(dx, dy)
    if model == "manhattan":
        return np.abs(dx) + np.abs(dy)
    if model == "haversine":
        lat = np.radians(y)
        dp = lat[None, :] - lat[:, None]
        dl = np.radians(dx)
        a = np.sin(dp / 2) ** 2 + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dl / 2) ** 2
        return 2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))
    raise ValueError(f"no coordinate distance for travel model {model!r}")


@dataclass(frozen=True)
class LocalProjection:
    """Spherical Lambert azimuthal equal-area projection centred on ``(lon0, lat0)``, in km.

    Equal-area, so polygon areas are true areas on the sphere (within 0.3% of the ellipsoid);
    distances near the centre are true to well under 1% across a city of 100 km.

    Attributes:
        lon0: Centre longitude in degrees.
        lat0: Centre latitude in degrees.

    """

    lon0: float
    lat0: float

    def forward(self, lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[_FloatArray, _FloatArray]:
        """Project WGS84 degrees to ``(x, y)`` km."""
        lam = np.radians(np.asarray(lon, dtype=np.float64) - self.lon0)
        phi = np.radians(np.asarray(lat, dtype=np.float64))
        phi0 = math.radians(self.lat0)
        k = np.sqrt(
            2.0 / (1.0 + math.sin(phi0) * np.sin(phi) + math.cos(phi0) * np.cos(phi) * np.cos(lam))
        )
        x = EARTH_RADIUS_KM * k * np.cos(phi) * np.sin(lam)
        y = (
            EARTH_RADIUS_KM
            * k
            * (math.cos(phi0) * np.sin(phi) - math.sin(phi0) * np.cos(phi) * np.cos(lam))
        )
        return x, y

    def inverse(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[_FloatArray, _FloatArray]:
        """Unproject ``(x, y)`` km to WGS84 ``(lon, lat)`` degrees."""
        xa = np.asarray(x, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
        rho = np.hypot(xa, ya)
        c = 2.0 * np.arcsin(np.clip(rho / (2.0 * EARTH_RADIUS_KM), -1.0, 1.0))
        phi0 = math.radians(self.lat0)
        safe_rho = np.where(rho == 0.0, 1.0, rho)
        sin_phi = np.cos(c) * math.sin(phi0) + ya * np.sin(c) * math.cos(phi0) / safe_rho
        phi = np.where(rho == 0.0, phi0, np.arcsin(np.clip(sin_phi, -1.0, 1.0)))
        lam = np.arctan2(
            xa * np.sin(c), rho * math.cos(phi0) * np.cos(c) - ya * math.sin(phi0) * np.sin(c)
        )
        return self.lon0 + np.degrees(lam), np.degrees(phi)

    def transformer(self) -> Callable[[_FloatArray], _FloatArray]:
        """Return the forward projection as a ``shapely.transform`` callback (n x 2 arrays)."""

        def fwd(coords: _FloatArray) -> _FloatArray:
            x, y = self.forward(coords[:, 0], coords[:, 1])
            return np.column_stack([x, y])

        return fwd

    def to_lonlat(self, x: float, y: float) -> tuple[float, float]:
        """Unproject one point to ``(lon, lat)``."""
        lon, lat = self.inverse([x], [y])
        return float(lon[0]), float(lat[0])
