"""Output statistics: replication confidence intervals, batch means, checks against theory."""

from __future__ import annotations

from twin.statistics.ci import batch_means, mean_ci, t_quantile
from twin.statistics.paired import paired_difference, verdict
from twin.statistics.validation import (
    TheoryCheck,
    check_against_theory,
    format_checks,
    metric_value,
)

__all__ = [
    "TheoryCheck",
    "batch_means",
    "check_against_theory",
    "format_checks",
    "mean_ci",
    "metric_value",
    "paired_difference",
    "t_quantile",
    "verdict",
]
