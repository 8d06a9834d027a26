"""Compare replicated simulation output with theory, with tolerances from confidence intervals.

For each metric the replications give values ``x_1..x_R`` (one per replication). The check
passes when ``|mean(x) - theory| <= max(t_{1-a/2, R-1} s / sqrt(R), floor)``: the theory value
lies inside the Student-t confidence interval of the simulated mean. ``a`` is the family error
rate ``1 - family_level`` split over the ``m`` metrics checked together (Bonferroni), so a
correct engine fails a family of checks with probability at most ``1 - family_level`` (1% by
default) whatever the number of metrics. ``floor`` only matters for metrics with (near) zero
spread, such as a loss probability that is exactly 0 in every replication.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twin.statistics.ci import mean_ci

__all__ = ["TheoryCheck", "check_against_theory", "format_checks", "metric_value"]


@dataclass(frozen=True)
class TheoryCheck:
    """One metric's comparison between simulation and theory.

    Attributes:
        metric: Dotted path into the summary (``units.u1.utilization``).
        theory: The analytic value.
        sim_mean: Mean over replications.
        half_width: Confidence half-width at the per-metric level.
        tolerance: ``max(half_width, floor)``.
        level: Per-metric confidence level after the Bonferroni split.
        replications: Number of replications.

    """

    metric: str
    theory: float
    sim_mean: float
    half_width: float
    tolerance: float
    level: float
    replications: int

    @property
    def error(self) -> float:
        """Return ``sim_mean - theory``."""
        return self.sim_mean - self.theory

    @property
    def ok(self) -> bool:
        """Return whether the theory value lies within the tolerance of the simulated mean."""
        return abs(self.error) <= self.tolerance


def metric_value(tree: Mapping[str, Any], path: str) -> float:
    """Return the number at a dotted *path* of a nested summary dict.

    Args:
        tree: A summary (nested dicts).
        path: Keys joined by dots, e.g. ``dispatch_fractions.u1.z3``.

    Raises:
        KeyError: When the path does not exist; ValueError when the leaf is not a number.

    """
    node: Any = tree
    for key in path.split("."):
        node = node[key]
    if node is None:
        return math.nan
    if isinstance(node, bool) or not isinstance(node, (int, float)):
        raise ValueError(f"{path} is not a number: {node!r}")
    return float(node)


def check_against_theory(
    replications: Sequence[Mapping[str, Any]],
    theory: Mapping[str, Any],
    metrics: Sequence[str],
    family_level: float = 0.99,
    floor: float = 5e-4,
) -> list[TheoryCheck]:
    """Compare per-replication summaries with an analytic result, metric by metric.

    Args:
        replications: One summary per replication (the engine's per-run summaries).
        theory: The analytic result (same keys, e.g. from :func:`twin.analytics.analyze`).
        metrics: Dotted metric paths to compare.
        family_level: Joint confidence level over all *metrics* (Bonferroni).
        floor: Smallest tolerance (for metrics with no spread across replications).

    Returns:
        One :class:`TheoryCheck` per metric, in the order given.

    Raises:
        ValueError: With fewer than two replications or no metrics.

    """
    if len(replications) < 2:
        raise ValueError("check_against_theory needs at least two replications")
    if not metrics:
        raise ValueError("check_against_theory needs at least one metric")
    level = 1.0 - (1.0 - family_level) / len(metrics)
    checks = []
    for path in metrics:
        values = [metric_value(r, path) for r in replications]
        mean, half = mean_ci(values, level)
        half = 0.0 if math.isnan(half) else half
        checks.append(
            TheoryCheck(
                metric=path,
                theory=metric_value(theory, path),
                sim_mean=mean,
                half_width=half,
                tolerance=max(half, floor),
                level=level,
                replications=len(values),
            )
        )
    return checks


def format_checks(checks: Sequence[TheoryCheck]) -> str:
    """Return a plain-text table of checks (metric, theory, sim mean ± tolerance, verdict)."""
    lines = [f"{'metric':34s} {'theory':>10s} {'sim mean':>10s} {'± tol':>9s}  ok"]
    for c in checks:
        lines.append(
            f"{c.metric:34s} {c.theory:10.4f} {c.sim_mean:10.4f} {c.tolerance:9.4f}  "
            f"{'yes' if c.ok else 'NO'}"
        )
    return "\n".join(lines)
