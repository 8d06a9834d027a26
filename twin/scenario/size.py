"""How big a run is before it starts: an estimate of incidents and vehicles, and a limit.

A scenario with every value in range can still ask for a run that never ends (a city-wide rate
of 100,000 calls per hour for ten years). :func:`estimate_run` counts what the run will
simulate from the scenario alone (expected Poisson incidents, checkpoint vehicles and patrol
steps over warm-up + horizon, times replications) and :func:`check_run_size` refuses a run
whose incidents and vehicles pass a limit, with the estimate and the flag that lifts it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.errors import ConfigError
from twin.scenario.spec import Scenario

__all__ = ["DEFAULT_MAX_INCIDENTS", "RunEstimate", "check_run_size", "estimate_run"]

DEFAULT_MAX_INCIDENTS = 20_000_000
"""Most incidents + checkpoint vehicles a run may simulate unless the limit is lifted."""


@dataclass(frozen=True)
class RunEstimate:
    """Expected size of a run (all replications together).

    Attributes:
        incidents: Expected incidents from the zones' rates (profiles averaged); a trace
            demand is counted as if the rates applied.
        vehicles: Expected checkpoint vehicles.
        patrol_steps: Mesa patrol steps (one per ``patrol.interval_min`` per replication).
        minutes: Simulated minutes per replication (warm-up + horizon).
        replications: Replications counted.

    """

    incidents: float
    vehicles: float
    patrol_steps: float
    minutes: float
    replications: int

    @property
    def total(self) -> float:
        """Return the incidents and vehicles the limit applies to."""
        return self.incidents + self.vehicles


def estimate_run(scenario: Scenario, replications: int = 1) -> RunEstimate:
    """Estimate the size of a run of *scenario*.

    Args:
        scenario: The validated scenario.
        replications: Replications the run will make.

    Returns:
        The expected counts.

    """
    minutes = float(scenario.warmup) + float(scenario.horizon)
    hours = minutes / 60.0 * replications
    vehicles = sum(c.arrivals.mean_rate_per_hour for c in scenario.checkpoints) * hours
    return RunEstimate(
        incidents=scenario.total_rate_per_hour * hours,
        vehicles=vehicles,
        patrol_steps=minutes / scenario.patrol.interval_min * replications,
        minutes=minutes,
        replications=replications,
    )


def check_run_size(
    scenario: Scenario,
    replications: int = 1,
    max_incidents: float | None = DEFAULT_MAX_INCIDENTS,
    flag: str = "--max-incidents",
    source: str | None = None,
) -> RunEstimate:
    """Refuse a run that would simulate more incidents and vehicles than *max_incidents*.

    Args:
        scenario: The validated scenario.
        replications: Replications the run will make.
        max_incidents: The limit (None: no limit).
        flag: The option that lifts the limit, named in the message.
        source: The scenario file, named in the message (default: the scenario's name).

    Returns:
        The estimate (when the run is within the limit).

    Raises:
        ConfigError: The estimate passes the limit; the message gives the estimate, what it
            comes from and the flag.

    """
    est = estimate_run(scenario, replications)
    if max_incidents is None or est.total <= max_incidents:
        return est
    shown = "more than 1e300" if not math.isfinite(est.total) else f"{est.total:,.0f}"
    parts = [f"{est.incidents:,.0f} incidents ({scenario.total_rate_per_hour:,.6g} per hour)"]
    if scenario.checkpoints:
        parts.append(f"{est.vehicles:,.0f} checkpoint vehicles")
    where = source if source is not None else f"scenario {scenario.name!r}"
    raise ConfigError(
        f"{where}: the run would simulate about {shown} incidents and "
        f"vehicles ({' + '.join(parts)} over {est.minutes:,.6g} min x {replications} "
        f"replication(s)), above the limit of {max_incidents:,.0f}; check the rates, horizon "
        f"and warmup, or lift the limit with {flag} N"
    )
