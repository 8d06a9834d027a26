"""Replication statistics: t-based confidence intervals and batch means.

Independent replications give independent, identically distributed estimates of a steady-state
metric; their mean has a Student-t confidence interval. Within one long run, batch means split
the post-warm-up output into consecutive batches whose means are treated as approximately
independent (Law, *Simulation Modeling and Analysis*, 5th ed., sections 9.4-9.5).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

__all__ = ["batch_means", "half_width", "mean_ci", "t_quantile"]


def t_quantile(level: float, dof: int) -> float:
    """Return the two-sided Student-t critical value ``t_{(1+level)/2, dof}``.

    Args:
        level: Confidence level in (0, 1), e.g. 0.95.
        dof: Degrees of freedom (>= 1).

    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if dof < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {dof}")
    from scipy import stats  # loaded on first use: the engine imports this module

    return float(stats.t.ppf(0.5 + level / 2.0, dof))


def half_width(values: ArrayLike, level: float = 0.95) -> float:
    """Return the half-width ``t_{(1+level)/2, n-1} * s / sqrt(n)`` of the mean of *values*.

    Every value counts (a NaN makes the half-width NaN; :func:`mean_ci` drops NaNs first).
    This is the one formula behind the replication ``ci95`` of the engine's summaries, the
    checkpoint KPIs and the validation tier.

    Args:
        values: One estimate per replication (at least two).
        level: Confidence level in (0, 1).

    Raises:
        ValueError: With fewer than two values or a level outside (0, 1).

    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size < 2:
        raise ValueError(f"half_width needs at least two values, got {x.size}")
    return float(t_quantile(level, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


def mean_ci(values: ArrayLike, level: float = 0.95) -> tuple[float, float]:
    """Return the mean of replication values and the half-width of its t confidence interval.

    The half-width is ``t_{(1+level)/2, R-1} * s / sqrt(R)`` with ``s`` the sample standard
    deviation (``ddof=1``). NaN values are ignored (a replication with no observations).

    Args:
        values: One estimate per replication.
        level: Confidence level in (0, 1).

    Returns:
        ``(mean, half_width)``; the half-width is ``nan`` with fewer than two values.

    Raises:
        ValueError: When there is no finite value or the level is outside (0, 1).

    """
    arr = np.asarray(values, dtype=float).ravel()
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValueError("mean_ci needs at least one value")
    mean = float(arr.mean())
    if arr.size < 2:
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        return mean, math.nan
    return mean, half_width(arr, level)


def batch_means(values: ArrayLike, batches: int = 20, level: float = 0.95) -> tuple[float, float]:
    """Return the mean of a long output series and a batch-means confidence half-width.

    The series is cut into ``batches`` consecutive batches of equal size (a remainder at the
    start is dropped, so the latest observations are kept); the batch means are then treated
    as independent replications.

    Args:
        values: Observations in time order, after the warm-up.
        batches: Number of batches (>= 2; 10 to 30 is usual).
        level: Confidence level in (0, 1).

    Returns:
        ``(mean of the kept observations, half_width)``.

    Raises:
        ValueError: When there are fewer observations than batches.

    """
    arr = np.asarray(values, dtype=float).ravel()
    if batches < 2:
        raise ValueError("batch_means needs at least 2 batches")
    size = arr.size // batches
    if size < 1:
        raise ValueError(f"batch_means needs at least {batches} observations, got {arr.size}")
    kept = arr[arr.size - size * batches :]
    return mean_ci(kept.reshape(batches, size).mean(axis=1), level)
