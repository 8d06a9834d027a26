"""Output statistics: confidence intervals, batch means, theory checks, apportionment.

The one home of each: the engine's summaries (``ci95``), the checkpoint KPIs, the calibration,
the city builders and the validation tests all use these functions.
"""

from __future__ import annotations

from twin.statistics.apportion import largest_remainder
from twin.statistics.ci import batch_means, half_width, mean_ci, t_quantile
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
    "half_width",
    "largest_remainder",
    "mean_ci",
    "metric_value",
    "t_quantile",
]
