"""Small hand-checkable scenarios shared by the engine feature tests."""

from __future__ import annotations

from typing import Any

from twin.scenario import Scenario, parse_scenario


def two_zones(name: str, **over: Any) -> Scenario:
    """Two zones 2 km apart, Manhattan travel at 60 km/h (1 min per km), one unit posted at a.

    Keys of *over* replace the scenario's top-level sections (``horizon`` 200 and a
    deterministic 10-minute ``service`` unless given).
    """
    data: dict[str, Any] = {
        "name": name,
        "warmup": 0,
        "horizon": 200,
        "zones": [
            {"id": "a", "location": [0, 0], "rate_per_hour": 1.0},
            {"id": "b", "location": [2, 0], "rate_per_hour": 1.0},
        ],
        "units": [{"id": "u1", "post": "a"}],
        "service": {"dist": "deterministic", "value": 10},
        "travel": {"model": "manhattan", "speed_kmh": 60},
        "patrol": {"policy": "post"},
    }
    data.update(over)
    return parse_scenario(data)
