"""Per-class drive features: ``priorities[].travel_noise`` and ``priorities[].travel_by_hour``.

Exact tier on a trace (deterministic multipliers give hand-computed drive times), a property
for reproducibility and common random numbers, and the validation of both fields. Without
either field the engine's output is unchanged (the golden tier pins that).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from small_scenarios import two_zones

from twin.errors import ConfigError
from twin.model import Simulation


def _scenario(**over: Any) -> Any:
    return two_zones("class_travel", **{"horizon": 3000, **over})


def _trace(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["time_min", "zone", "priority"])


def _det(value: float) -> dict[str, Any]:
    return {"dist": "deterministic", "value": value}


@pytest.mark.exact
def test_class_noise_overrides_the_shared_noise_for_its_class_only() -> None:
    sc = _scenario(
        travel={"model": "manhattan", "speed_kmh": 60, "noise": _det(1.5)},
        priorities=[
            {"level": 1, "share": 0.5},
            {"level": 2, "share": 0.5, "travel_factor": 2.5, "travel_noise": _det(3.0)},
        ],
    )
    run = Simulation(sc, demand=_trace([(0, "b", 1), (50, "b", 2), (100, "b", 1)])).run()
    # class 1: 2 min x shared 1.5; class 2: 2 min x factor 2.5 x its own 3.0
    assert run.incidents["travel_min"].tolist() == [3.0, 15.0, 3.0]


@pytest.mark.exact
def test_travel_by_hour_multiplies_by_the_hour_the_call_is_received() -> None:
    hours = [1.0] * 24
    hours[0], hours[2] = 2.0, 0.5
    sc = _scenario(
        priorities=[
            {"level": 1, "share": 0.5, "travel_by_hour": hours},
            {"level": 2, "share": 0.5, "travel_factor": 2.0},
        ]
    )
    rows = [(10, "b", 1), (130, "b", 1), (200, "b", 1), (1450, "b", 1), (1500, "b", 2)]
    inc = Simulation(sc, demand=_trace(rows)).run().incidents
    # hour 0 -> x2, hour 2 -> x0.5, hour 3 -> x1, next day's hour 0 -> x2; class 2 has none
    assert inc["travel_min"].tolist() == [4.0, 1.0, 2.0, 4.0, 4.0]


@pytest.mark.property
def test_class_noise_is_reproducible_and_keeps_the_incident_stream() -> None:
    prios = [
        {"level": 1, "share": 0.6},
        {"level": 2, "share": 0.4, "travel_noise": {"dist": "gamma", "mean": 1.0, "sd": 0.8}},
    ]
    shared = {"model": "manhattan", "speed_kmh": 60, "noise": _det(1.0)}
    noisy = _scenario(priorities=prios, travel=shared)
    plain = _scenario(priorities=[{"level": 1, "share": 0.6}, {"level": 2, "share": 0.4}])
    r1 = Simulation(noisy, seed=5).run().incidents
    r2 = Simulation(noisy, seed=5).run().incidents
    r0 = Simulation(plain, seed=5).run().incidents
    for key in r1:
        np.testing.assert_array_equal(r1[key], r2[key])  # same seed, same records
    for key in ("incident", "occurred", "received", "zone", "priority", "service_min"):
        np.testing.assert_array_equal(r0[key], r1[key])  # common random numbers
    # spaced calls to b (the unit is back at its post each time): the drive is 2 min x noise
    rows = [(100.0 * i, "b", 1 + i % 2) for i in range(200)]
    long = _scenario(priorities=prios, travel=shared, horizon=21000)
    inc = Simulation(long, seed=3, demand=_trace(rows)).run().incidents
    one = inc["travel_min"][inc["priority"] == 1]
    two = inc["travel_min"][inc["priority"] == 2]
    assert np.all(one == 2.0)  # class 1 keeps the shared deterministic noise
    assert two.std() > 0.5  # class 2 draws its own
    assert 0.8 < float(two.mean()) / 2.0 < 1.2


@pytest.mark.validation
@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"travel_by_hour": [1.0] * 23}, r"priorities\[0\]\.travel_by_hour.*24 multipliers"),
        ({"travel_by_hour": [0.0] + [1.0] * 23}, r"priorities\[0\]\.travel_by_hour"),
        ({"travel_by_hour": [11.0] * 24}, r"priorities\[0\]\.travel_by_hour"),
        ({"travel_noise": _det(0.0)}, r"priorities\[0\]\.travel_noise.*mean in \(0, 100\]"),
        ({"travel_noise": {"dist": "lognormal", "mean": 1}}, r"priorities\[0\]\.travel_noise"),
    ],
)
def test_bad_class_travel_fields_are_named(entry: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _scenario(priorities=[{"level": 1, "share": 1.0, **entry}])
