"""Run replications of a scenario and summarise them (the library entry points)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import ConfigError
from twin.model.engine import RunResult, Simulation
from twin.model.outputs import summarize, write_outputs
from twin.scenario import DEFAULT_MAX_INCIDENTS, Scenario, check_run_size, load_scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["run_replications", "simulate"]


def run_replications(
    scenario: Scenario | str | Path,
    seed: int = 0,
    replications: int = 1,
    demand: pd.DataFrame | str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    collect: bool = True,
    max_incidents: float | None = DEFAULT_MAX_INCIDENTS,
) -> list[RunResult]:
    """Run *replications* independent replications of a scenario.

    Args:
        scenario: A validated scenario or a path to a scenario file.
        seed: The seed; replication r uses ``SeedSequence(seed, spawn_key=(r,))``.
        replications: How many (>= 1).
        demand: Optional arrivals table overriding the scenario's demand (replay).
        progress: Called with the replication number after each one finishes.
        collect: Keep mesa DataCollector snapshots.
        max_incidents: Refuse a run expected to simulate more incidents and checkpoint
            vehicles than this (:func:`twin.scenario.check_run_size`; None: no limit). Not
            applied when *demand* is given (a trace's size is its own).

    Returns:
        One :class:`RunResult` per replication.

    Raises:
        ConfigError: On a bad scenario file, seed or replication count, or a run beyond
            *max_incidents*.

    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if replications < 1:
        raise ConfigError(f"replications must be >= 1, got {replications}")
    if demand is None:
        check_run_size(sc, replications, max_incidents)
    runs = []
    for r in range(replications):
        runs.append(Simulation(sc, seed=seed, replication=r, demand=demand, collect=collect).run())
        if progress is not None:
            progress(r)
    return runs


def simulate(
    scenario: Scenario | str | Path,
    seed: int = 0,
    replications: int = 1,
    out: str | Path | None = None,
    demand: pd.DataFrame | str | Path | None = None,
    progress: Callable[[int], None] | None = None,
    max_incidents: float | None = DEFAULT_MAX_INCIDENTS,
) -> dict[str, Any]:
    """Simulate a scenario and return its summary; write Parquet + JSON when *out* is given.

    Args:
        scenario: A validated scenario or a path to a scenario file.
        seed: The seed (written into the results).
        replications: Independent replications (``ci95`` in the summary when > 1).
        out: Output folder for ``incidents.parquet``, ``units.parquet``, ``summary.json``...
        demand: Optional arrivals table overriding the scenario's demand (replay).
        progress: Called with the replication number after each one finishes.
        max_incidents: Refuse a run beyond this many expected incidents and checkpoint
            vehicles (see :func:`run_replications`).

    Returns:
        The summary in its JSON form (:meth:`twin.model.summary.Summary.to_dict`, the fixed
        keys of :data:`twin.model.summary.SUMMARY_KEYS`).

    """
    runs = run_replications(
        scenario,
        seed,
        replications,
        demand=demand,
        progress=progress,
        max_incidents=max_incidents,
    )
    summary = summarize(runs)
    if out is not None:
        write_outputs(out, runs, summary)
    return summary
