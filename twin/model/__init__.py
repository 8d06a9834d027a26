"""The twin engine: unit board, rules from registries, simulation, outputs.

Typical use::

    from twin.model import simulate
    from twin.scenario import load_scenario

    summary = simulate(load_scenario("scenarios/example.yaml"), seed=1, replications=5,
                       out="out/example")

:func:`simulate` runs replications and returns the summary in its JSON form (keys
:data:`~twin.model.summary.SUMMARY_KEYS`; the typed form is :class:`Summary`, e.g.
``Summary.from_dict(json.load(f))``); :func:`run_replications` returns the raw
:class:`RunResult` s; :class:`Simulation` is one replication (inject a demand trace with
``Simulation(scenario, seed, demand=df)``).

Rooms: :mod:`~twin.model.board` (the unit board, sole owner of unit state, one
:class:`~twin.model.board.UnitState`), :mod:`~twin.model.registry` and the rules chosen by
name (:mod:`~twin.model.dispatch`, :mod:`~twin.model.travel`, :mod:`~twin.model.patrol`,
:mod:`~twin.model.demand`), :mod:`~twin.model.engine` (simpy clock and hot path),
:mod:`~twin.model.agents` (mesa at coarse steps), :mod:`~twin.model.checkpoints`,
:mod:`~twin.model.summary` and :mod:`~twin.model.outputs`, :mod:`~twin.model.runner`.
"""

from __future__ import annotations

from twin.model.engine import STREAMS, RunResult, Simulation
from twin.model.outputs import write_outputs
from twin.model.runner import run_replications, simulate
from twin.model.summary import SUMMARY_KEYS, Summary, summarize

__all__ = [
    "STREAMS",
    "SUMMARY_KEYS",
    "RunResult",
    "Simulation",
    "Summary",
    "run_replications",
    "simulate",
    "summarize",
    "write_outputs",
]
