"""``priorities[].immediate_dispatch``: a class's dispatch at once, by calls in the previous hour.

Exact tier where the load and the outcome follow by hand (a step curve on a trace; a step curve
on Poisson demand over several blocks, against a brute-force count), validation where they are
random (a linear curve against binomial bounds), golden for the plain path (without the field
the records are the ones main 48e6709 produced, digest below), and the San Francisco recipe
(the fitted curve reproduces the data's share per load bin).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from small_scenarios import two_zones

from twin.errors import ConfigError
from twin.model import Simulation
from twin.model.demand import BLOCK
from twin.paths import scenarios_dir
from twin.scenario import load_scenario


def _scenario(**over: Any) -> Any:
    return two_zones("immediate", **{"service": {"dist": "deterministic", "value": 1}, **over})


def _prev_hour(received: np.ndarray) -> np.ndarray:
    """Brute force: for each call, the calls received in [t - 60, t)."""
    t = np.asarray(received, dtype=float)
    return np.array([int(np.sum((t >= x - 60.0) & (t < x))) for x in t])


def _digest(inc: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for k in sorted(inc):
        a = np.asarray(inc[k])
        h.update(k.encode())
        h.update(a.tobytes() if a.dtype.kind in "biuf" else repr(a.tolist()).encode())
    return h.hexdigest()


@pytest.mark.exact
def test_step_curve_on_a_trace_dispatches_exactly_the_busy_calls() -> None:
    # dispatched at once from 3 calls in the previous hour on (share 0 at 2, 1 at 3)
    sc = _scenario(
        priorities=[
            {
                "level": 1,
                "share": 1.0,
                "dispatch_delay": {"dist": "deterministic", "value": 5},
                "immediate_dispatch": {"calls_prev_hour": [2, 3], "share": [0.0, 1.0]},
            }
        ],
        units=[{"id": f"u{i}", "post": "a"} for i in range(5)],
    )
    # loads by hand: 0, 1, 2, 3, 4 ([-0.5, 59.5) holds the first four), 0 (t=150)
    trace = pd.DataFrame(
        {
            "time_min": [0.0, 1.0, 2.0, 3.0, 59.5, 150.0],
            "zone": ["a"] * 6,
            "priority": [1] * 6,
        }
    )
    inc = Simulation(sc, seed=1, demand=trace).run().incidents
    order = np.argsort(inc["received"])
    assert inc["received"][order].tolist() == [0.0, 1.0, 2.0, 3.0, 59.5, 150.0]
    assert inc["dispatch_delay_min"][order].tolist() == [5, 5, 5, 0, 0, 5]


@pytest.mark.exact
def test_load_is_counted_across_poisson_blocks() -> None:
    # ~60 calls an hour for 30 days: more than one block of BLOCK candidates
    k = 60
    sc = _scenario(
        horizon=30 * 1440,
        zones=[{"id": "a", "location": [0, 0], "rate_per_hour": 60.0}],
        units=[{"id": f"u{i}", "post": "a"} for i in range(4)],
        priorities=[
            {"level": 1, "share": 0.5, "dispatch_delay": {"dist": "exponential", "mean": 2}},
            {
                "level": 2,
                "share": 0.5,
                "dispatch_delay": {"dist": "exponential", "mean": 2},
                "immediate_dispatch": {"calls_prev_hour": [k, k + 1], "share": [0.0, 1.0]},
            },
        ],
    )
    inc = Simulation(sc, seed=3).run().incidents
    assert inc["received"].size > 1.5 * BLOCK  # the demand came in several blocks
    load = _prev_hour(inc["received"])
    p2 = inc["priority"] == 2
    zero = inc["dispatch_delay_min"] == 0
    np.testing.assert_array_equal(zero[p2], load[p2] > k)
    assert not zero[~p2].any()  # the other class draws its delay as before
    assert 0.2 < zero[p2].mean() < 0.8


@pytest.mark.validation
def test_linear_curve_gives_the_share_of_each_load() -> None:
    # busy and quiet hours alternate, so the previous hour's calls spread from ~5 to ~60
    profile = [0.1, 1.0] * 84
    sc = _scenario(
        horizon=14 * 1440,
        zones=[{"id": "a", "location": [0, 0], "rate_per_hour": 40.0, "profile": profile}],
        units=[{"id": f"u{i}", "post": "a"} for i in range(4)],
        priorities=[
            {
                "level": 1,
                "share": 1.0,
                "dispatch_delay": {"dist": "gamma", "mean": 2, "sd": 1},
                "immediate_dispatch": {"calls_prev_hour": [10, 50], "share": [0.05, 0.65]},
            }
        ],
    )
    inc = Simulation(sc, seed=5).run().incidents
    load = _prev_hour(inc["received"])
    zero = inc["dispatch_delay_min"] == 0
    expected = np.interp(load, [10, 50], [0.05, 0.65])
    for lo, hi in ((0, 15), (15, 35), (35, 10**6)):
        m = (load >= lo) & (load < hi)
        n = int(m.sum())
        assert n > 300
        p = float(expected[m].mean())
        assert abs(float(zero[m].mean()) - p) < 4 * np.sqrt(p * (1 - p) / n)
    quiet = zero[load < 15].mean()
    busy = zero[load >= 35].mean()
    assert busy > quiet + 0.3  # the share rises with load
    # without the field every call draws its delay: none is 0
    plain = sc.model_copy(deep=True)
    plain.priorities[0].immediate_dispatch = None
    assert (Simulation(plain, seed=5).run().incidents["dispatch_delay_min"] > 0).all()


@pytest.mark.golden
def test_without_the_field_records_are_unchanged() -> None:
    # digests of the records main 48e6709 (before the field) produced for the same runs:
    # two agencies, class and agency dispatch delays, Poisson demand and a trace
    sc = load_scenario(scenarios_dir() / "example_agencies.yaml")
    assert sc.uses_dispatch_delay
    assert all(p.immediate_dispatch is None for a in sc.agency_ids for p in sc.agency_priorities(a))
    sc = sc.model_copy(update={"warmup": 0.0, "horizon": 20160.0})
    poisson = Simulation(sc, seed=11).run().incidents
    assert _digest(poisson) == "ab6b70a24ea701a9b5931b1f6af91d58189d3c91db6529c1a1711cac4dc974fd"
    zones = sc.zone_ids
    n = 400
    rows = pd.DataFrame(
        {
            "time_min": np.arange(0, n * 5.0, 5.0),
            "zone": [zones[i % len(zones)] for i in range(n)],
            "priority": [1 + (i % 3 == 0) for i in range(n)],
            "agency": ["police" if i % 4 else "fire" for i in range(n)],
        }
    )
    trace = Simulation(sc, seed=11, demand=rows).run().incidents
    assert _digest(trace) == "bd336954fb22741f791048ffaabb80874d82bf179b9022f076ce3689bb784e67"


@pytest.mark.validation
@pytest.mark.parametrize(
    ("curve", "match"),
    [
        ({"calls_prev_hour": [1, 2], "share": [0.1]}, "2 calls_prev_hour points but 1 shares"),
        ({"calls_prev_hour": [3, 3], "share": [0.1, 0.2]}, "strictly increasing"),
        ({"calls_prev_hour": [1], "share": [1.5]}, "share"),
    ],
)
def test_bad_curves_are_refused_with_the_field(curve: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigError, match=r"priorities\[0\]\.immediate_dispatch") as err:
        _scenario(priorities=[{"level": 1, "share": 1.0, "immediate_dispatch": curve}])
    assert match in str(err.value)


@pytest.mark.exact
def test_sf_curve_matches_each_bins_share() -> None:
    from twin.cities.sanfrancisco.build import LOAD_BINS, _immediate_curve

    rng = np.random.default_rng(0)
    load = rng.integers(0, 60, 5000).astype(float)
    true = np.interp(load, [0, 60], [0.0, 0.6])
    imm = rng.random(load.size) < true
    in_class = rng.random(load.size) < 0.4
    curve = _immediate_curve(load, imm, in_class)
    xs, ps = curve["calls_prev_hour"], curve["share"]
    assert len(xs) == LOAD_BINS
    assert xs == sorted(xs)
    # the fitted curve, averaged over each bin's calls of the class, gives the bin's share
    rank = pd.Series(load).rank(method="first").to_numpy()
    b = np.minimum((rank - 1) * LOAD_BINS // load.size, LOAD_BINS - 1)
    for i in range(LOAD_BINS):
        m = in_class & (b == i)
        assert np.interp(load[m], xs, ps).mean() == pytest.approx(imm[m].mean(), abs=2e-3)
    # and it follows the true line
    assert np.interp(30.0, xs, ps) == pytest.approx(0.3, abs=0.06)
