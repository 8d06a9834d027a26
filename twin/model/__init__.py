"""The twin engine: simulation and outputs (the scenario vocabulary is :mod:`twin.scenario`).

Typical use::

    from twin.model import simulate
    from twin.scenario import load_scenario

    summary = simulate(load_scenario("scenarios/example.yaml"), seed=1, replications=5,
                       out="out/example")

:func:`simulate` runs replications and returns the summary dict (keys
:data:`~twin.model.outputs.SUMMARY_KEYS`); :func:`run_replications` returns the raw
:class:`RunResult` s; :class:`Simulation` is one replication (inject a demand trace with
``Simulation(scenario, seed, demand=df)``).
"""

from __future__ import annotations

from twin.model.engine import STREAMS, RunResult, Simulation
from twin.model.outputs import SUMMARY_KEYS, summarize, write_outputs
from twin.model.runner import run_replications, simulate

__all__ = [
    "STREAMS",
    "SUMMARY_KEYS",
    "RunResult",
    "Simulation",
    "run_replications",
    "simulate",
    "summarize",
    "write_outputs",
]
