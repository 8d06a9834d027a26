"""Planner experiments: layout changes, sweeps with paired statistics, an optimizer.

* :mod:`twin.experiments.changes`: validated layout operations applied to a base scenario;
* :mod:`twin.experiments.sweep`: (variant, replication) batches, resume, precision loop;
* :mod:`twin.experiments.compare`: per-KPI means, paired differences and verdicts;
* :mod:`twin.experiments.optimize`: the fewest units that meet a target.

The Prefect/Dask shell is :mod:`flows.sweep`; the library never imports it.
"""

from __future__ import annotations

__all__: list[str] = []
