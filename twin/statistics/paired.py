"""Paired comparisons under common random numbers: differences, their intervals, verdicts.

Two variants simulated with the same seed and replication number see the same incidents, so
their per-replication results are positively correlated; the difference of each pair cancels
that shared noise and the Student-t interval of the mean difference is much narrower than
the difference of two independent intervals (Law, *Simulation Modeling and Analysis*, 5th
ed., section 10.2, the paired-t confidence interval).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from twin.statistics.ci import mean_ci

__all__ = ["BETTER", "UNCLEAR", "WORSE", "paired_difference", "verdict"]

BETTER = "better"
WORSE = "worse"
UNCLEAR = "not distinguishable"


def paired_difference(
    baseline: ArrayLike, variant: ArrayLike, level: float = 0.95
) -> tuple[float, float, int]:
    """Return the mean of ``variant - baseline`` over pairs, its t half-width and the pairs used.

    Pairs where either value is NaN (no observation in that replication) are dropped.

    Args:
        baseline: One value per replication of the baseline.
        variant: The variant's values for the same replications (same order).
        level: Confidence level in (0, 1).

    Returns:
        ``(mean difference, half-width, pairs)``; the half-width is NaN with fewer than two
        pairs, and both are NaN with none.

    Raises:
        ValueError: The two series have different lengths.

    """
    a = np.asarray(baseline, dtype=float).ravel()
    b = np.asarray(variant, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"paired series differ in length: {a.size} vs {b.size}")
    ok = np.isfinite(a) & np.isfinite(b)
    if not ok.any():
        return math.nan, math.nan, 0
    mean, half = mean_ci(b[ok] - a[ok], level)
    return mean, half, int(ok.sum())


def verdict(diff: float, half: float, direction: int) -> str:
    """Say whether a variant is better, worse or not distinguishable from the baseline.

    Args:
        diff: Mean difference ``variant - baseline``.
        half: Half-width of its confidence interval.
        direction: -1 when lower is better, +1 when higher is better, 0 when neither.

    Returns:
        ``better`` / ``worse`` when the interval excludes 0 (for direction 0: ``higher`` /
        ``lower``), else ``not distinguishable`` (also when the interval is unknown).

    """
    if not (math.isfinite(diff) and math.isfinite(half)) or abs(diff) <= half:
        return UNCLEAR
    if direction == 0:
        return "higher" if diff > 0 else "lower"
    return BETTER if diff * direction > 0 else WORSE
