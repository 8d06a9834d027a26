"""San Francisco: the Fire Department's calls with their full dispatch life cycle.

Fed by ``sffd_calls`` (SFFD Calls for Service: one row per unit per call, received ->
dispatched -> en route -> on scene -> available). Zones are station areas, districts
battalions; the recipe is in :mod:`twin.cities.sanfrancisco.build` (its model variants, compared
by the cross-validation, are described there). Scored per call by replay.
"""

from __future__ import annotations

from twin.cities.base import City

__all__ = ["CITY"]

CITY = City(
    name="sanfrancisco",
    title="San Francisco",
    tz="America/Los_Angeles",
    bbox=(-122.55, 37.68, -122.34, 37.84),
    sources=("sffd_calls",),
    agencies=("fire",),
    scoring="replay",
    nightly_agency="fire",
    models=("class_shape_by_hour", "class_shape", "shared_shape", "shared_noise"),
)
