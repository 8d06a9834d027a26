"""Travel models: how many minutes a unit needs to drive between places.

A model is chosen by name in the scenario (``travel.model``): ``none``, ``euclidean``,
``manhattan``, ``haversine`` or ``matrix``. Zone-to-zone times are precomputed once into a
matrix (minutes, excluding turnout); :meth:`TravelModel.from_point` gives the time from an
arbitrary point (a unit on its way back to post) for the coordinate models. Distances are
multiplied by ``circuity`` and divided by the speed. Incidents sit at their zone's location;
a zone's optional ``intra_km`` gives trips inside the zone a length (the matrix diagonal does
the same for ``model: matrix``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from twin.geo import distance_matrix_km, great_circle_km
from twin.model.registry import Registry
from twin.scenario import Scenario

__all__ = ["TRAVEL_MODELS", "TravelModel", "build_travel", "distance_km", "distance_matrix_km"]

DistanceFn = Callable[[float, float, float, float], float]


def _euclid(x1: float, y1: float, x2: float, y2: float) -> float:
    return math.hypot(x2 - x1, y2 - y1)


def _manhattan(x1: float, y1: float, x2: float, y2: float) -> float:
    return abs(x2 - x1) + abs(y2 - y1)


def _zero(x1: float, y1: float, x2: float, y2: float) -> float:
    return 0.0


_FROM_POSTS = "hypercube model: driving times from the posts (mean travel per dispatch)"

TRAVEL_MODELS: Registry[DistanceFn | None] = Registry("travel model", "travel.model")
"""Registry: ``travel.model`` name -> distance function in km (None: times from a matrix)."""
TRAVEL_MODELS.register("none", _zero, theory="exact: no driving (Erlang / hypercube times)")
TRAVEL_MODELS.register("euclidean", _euclid, theory=_FROM_POSTS)
TRAVEL_MODELS.register("manhattan", _manhattan, theory=_FROM_POSTS)
TRAVEL_MODELS.register("haversine", great_circle_km, theory=_FROM_POSTS)
TRAVEL_MODELS.register("matrix", None, theory=_FROM_POSTS)


def distance_km(crs: str, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Straight-line distance in km between two locations of a scenario's ``crs``."""
    if crs == "wgs84":
        return great_circle_km(a[0], a[1], b[0], b[1])
    return _euclid(a[0], a[1], b[0], b[1])


class TravelModel:
    """Precomputed travel times between zones, plus times from arbitrary points.

    Attributes:
        name: The model name.
        turnout: Minutes from dispatch to rolling.
        times: Zone-to-zone driving minutes, ``times[i][j]`` (nested lists, fast to index).
        array: The same as a numpy array.
        locations: Zone locations (x, y) or (lon, lat).

    """

    def __init__(
        self,
        name: str,
        locations: list[tuple[float, float]],
        speed_kmh: float,
        circuity: float = 1.0,
        turnout_min: float = 0.0,
        matrix: NDArray[np.float64] | None = None,
        intra_km: list[float | None] | None = None,
    ) -> None:
        if name not in TRAVEL_MODELS:
            raise ValueError(f"unknown travel model {name!r}; known: {', '.join(TRAVEL_MODELS)}")
        self.name = name
        self.turnout = float(turnout_min)
        self.locations = list(locations)
        self._fn = TRAVEL_MODELS.get(name)
        self.min_per_km = 60.0 * circuity / speed_kmh
        n = len(locations)
        if self._fn is None:
            if matrix is None or matrix.shape != (n, n):
                raise ValueError("travel model 'matrix' needs an n x n matrix of minutes")
            arr = np.array(matrix, dtype=np.float64)
        else:
            arr = distance_matrix_km(name, locations) * self.min_per_km
            if name != "none":
                for i, km in enumerate(intra_km or []):
                    if km:
                        arr[i, i] = km * self.min_per_km
        self.array = arr
        self.times: list[list[float]] = arr.tolist()

    @property
    def has_coordinates(self) -> bool:
        """Return whether times can be computed from an arbitrary point."""
        return self._fn is not None

    def between(self, a: int, b: int) -> float:
        """Return driving minutes from zone index *a* to zone index *b*."""
        return self.times[a][b]

    def from_point(self, x: float, y: float, zone: int) -> float:
        """Return driving minutes from the point (x, y) to zone index *zone*."""
        assert self._fn is not None, "from_point needs a coordinate model"
        zx, zy = self.locations[zone]
        return self._fn(x, y, zx, zy) * self.min_per_km

    def en_route_back(self, a: int, post: int, frac: float, zone: int) -> float:
        """Minutes to *zone* for a unit a fraction *frac* of the way from zone *a* to *post*.

        Coordinate models interpolate the position on the straight line; the matrix and
        ``none`` models interpolate the two travel times.
        """
        if self._fn is None or self._fn is _zero:
            row_a, row_p = self.times[a], self.times[post]
            return (1.0 - frac) * row_a[zone] + frac * row_p[zone]
        ax, ay = self.locations[a]
        px, py = self.locations[post]
        return self.from_point(ax + frac * (px - ax), ay + frac * (py - ay), zone)


def build_travel(scenario: Scenario) -> TravelModel:
    """Build the travel model a scenario names (``travel.model``)."""
    tr = scenario.travel
    locs = [(float(z.location[0]), float(z.location[1])) for z in scenario.zones]
    matrix = None
    if tr.model == "matrix":
        assert tr.matrix is not None
        ids = scenario.zone_ids
        matrix = np.array(
            [
                [0.0 if a == b and b not in tr.matrix[a] else tr.matrix[a][b] for b in ids]
                for a in ids
            ]
        )
    return TravelModel(
        tr.model,
        locs,
        speed_kmh=tr.speed_kmh,
        circuity=tr.circuity,
        turnout_min=tr.turnout_min,
        matrix=matrix,
        intra_km=[z.intra_km for z in scenario.zones],
    )
