"""GCJ-02 ("Mars coordinates") <-> WGS84, vectorised with numpy.

Maps published in mainland China (Amap, the Aliyun DataV boundaries of Jiaxing) use GCJ-02, an
obfuscated datum that shifts WGS84 positions by a few hundred metres. The forward map
WGS84 -> GCJ-02 is the well-known published formula (Krasovsky ellipsoid constants);
the inverse has no closed form, so :func:`gcj02_to_wgs84` solves ``forward(w) = g`` by fixed-point
iteration ``w <- w - (forward(w) - g)``, which converges because the shift varies slowly in
space. Ten iterations reach < 1e-9 degrees (about 0.1 mm), far below the 1 m target.

Outside China's rough bounding box the shift is zero (the formula's own convention), so
coordinates there pass through unchanged.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["gcj02_to_wgs84", "in_china", "wgs84_to_gcj02"]

_A = 6378245.0  # semi-major axis of the Krasovsky 1940 ellipsoid used by GCJ-02
_EE = 0.00669342162296594323  # its first eccentricity squared

FloatArray = npt.NDArray[np.float64]


def in_china(lon: npt.ArrayLike, lat: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    """Return where the GCJ-02 shift applies (the formula's China bounding box).

    Args:
        lon: Longitudes in degrees.
        lat: Latitudes in degrees.

    Returns:
        Boolean array, True inside the box.

    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    return (x >= 72.004) & (x <= 137.8347) & (y >= 0.8293) & (y <= 55.8271)


def _delta(lon: FloatArray, lat: FloatArray) -> tuple[FloatArray, FloatArray]:
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    d_lat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    d_lat += common
    d_lat += (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
    d_lat += (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    d_lon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    d_lon += common
    d_lon += (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
    d_lon += (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    rad_lat = lat / 180.0 * pi
    magic = 1.0 - _EE * np.sin(rad_lat) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    d_lon = (d_lon * 180.0) / (_A / sqrt_magic * np.cos(rad_lat) * pi)
    inside = in_china(lon, lat)
    return np.where(inside, d_lon, 0.0), np.where(inside, d_lat, 0.0)


def wgs84_to_gcj02(lon: npt.ArrayLike, lat: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Shift WGS84 coordinates to GCJ-02.

    Args:
        lon: WGS84 longitudes in degrees.
        lat: WGS84 latitudes in degrees.

    Returns:
        ``(lon, lat)`` in GCJ-02, as float64 arrays.

    """
    x = np.asarray(lon, dtype=np.float64)
    y = np.asarray(lat, dtype=np.float64)
    d_lon, d_lat = _delta(x, y)
    return x + d_lon, y + d_lat


def gcj02_to_wgs84(
    lon: npt.ArrayLike, lat: npt.ArrayLike, tol_deg: float = 1e-10, max_iter: int = 30
) -> tuple[FloatArray, FloatArray]:
    """Invert :func:`wgs84_to_gcj02` by fixed-point iteration.

    Args:
        lon: GCJ-02 longitudes in degrees.
        lat: GCJ-02 latitudes in degrees.
        tol_deg: Stop when every residual is below this many degrees.
        max_iter: Upper bound on iterations (convergence normally takes 5-10).

    Returns:
        ``(lon, lat)`` in WGS84, as float64 arrays.

    """
    g_lon = np.asarray(lon, dtype=np.float64)
    g_lat = np.asarray(lat, dtype=np.float64)
    w_lon = g_lon.copy()
    w_lat = g_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        r_lon = f_lon - g_lon
        r_lat = f_lat - g_lat
        w_lon = w_lon - r_lon
        w_lat = w_lat - r_lat
        worst = np.nanmax(np.abs(np.concatenate([r_lon.ravel(), r_lat.ravel(), [0.0]])))
        if worst < tol_deg:
            break
    return w_lon, w_lat
