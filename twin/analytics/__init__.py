"""Queueing theory for the twin: Erlang B/C, M/M/c/K and Larson's hypercube model.

:func:`analyze` answers a scenario with the engine summary's keys when the scenario is within
the models' assumptions (see :mod:`twin.analytics.scenario_model`).
"""

from __future__ import annotations

from twin.analytics.erlang import (
    MMc,
    MMcK,
    erlang_b,
    erlang_b_distribution,
    erlang_c,
    mmc_distribution,
)
from twin.analytics.hypercube import (
    HypercubeResult,
    correction_factors,
    hypercube,
    hypercube_approx,
    hypercube_exact,
)
from twin.analytics.scenario_model import (
    AssumptionError,
    HypercubeInputs,
    analyze,
    check_assumptions,
    hypercube_inputs,
)

__all__ = [
    "AssumptionError",
    "HypercubeInputs",
    "HypercubeResult",
    "MMc",
    "MMcK",
    "analyze",
    "check_assumptions",
    "correction_factors",
    "erlang_b",
    "erlang_b_distribution",
    "erlang_c",
    "hypercube",
    "hypercube_approx",
    "hypercube_exact",
    "hypercube_inputs",
    "mmc_distribution",
]
