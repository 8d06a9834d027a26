"""Drift that works from night one: a seeded band, honest windows, a flag.

A nightly score alone says nothing; it needs a band of *normal* scores. Waiting for a history
of nights leaves the first weeks blind, so the band is **seeded from the calibration itself**:

* the out-of-sample scores of single days in the calibration's cross-validation (each held-out
  day of each fold, each replication — :func:`twin.calibrate.crossval.cross_validate_replay`
  stores them), which carry both the model's period-to-period error and the Monte-Carlo noise
  of one night's score at the nightly window's size;
* once nights accumulate, the stored history joins them (:func:`drift_band`).

A window is scored only on the days that have data (:func:`window_coverage`): a window partly
covered is scored on its covered days and says so; a window with too few covered days or calls
is refused (:class:`Coverage.refused`), never scored under the full window's label.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

__all__ = ["Band", "Coverage", "drift_band", "flag", "window_coverage"]


@dataclass(frozen=True)
class Band:
    """The usual range of a score (smaller is better).

    Attributes:
        low: Lower end (scores below it are flagged too: an implausibly perfect night is as
            suspicious as a bad one, e.g. a replay of training days by mistake).
        high: Upper end.
        center: Mean of the scores the band was built from.
        sd: Their standard deviation (floored).
        n_seed: Seed scores used (calibration cross-validation).
        n_history: Earlier nightly scores used.
        how: One line saying how the band was set.

    """

    low: float
    high: float
    center: float
    sd: float
    n_seed: int
    n_history: int
    how: str

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return dict(self.__dict__)


def _finite(values: Iterable[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def drift_band(
    seed_scores: Sequence[float | None],
    history: Sequence[float | None] = (),
    *,
    k_sd: float = 3.0,
    min_scores: int = 5,
    floor_sd: float = 0.01,
    fixed_max: float = 1.0,
) -> Band:
    """Build the band from the calibration's seed scores and the nightly history.

    Seed and history scores are pooled (same window size, same score): mean +- ``k_sd``
    standard deviations, the low end clipped at 0. With fewer than ``min_scores`` scores in
    all, the fixed band ``[0, fixed_max]`` is returned and says so.

    Args:
        seed_scores: Out-of-sample scores of single windows from the calibration.
        history: Earlier nightly scores (oldest first).
        k_sd: Width in standard deviations.
        min_scores: Fewest scores for a data-driven band.
        floor_sd: Smallest standard deviation used.
        fixed_max: Upper end of the fallback band.

    Returns:
        The :class:`Band`.

    """
    seed = _finite(seed_scores)
    hist = _finite(history)
    vals = seed + hist
    if len(vals) < min_scores:
        return Band(
            0.0,
            fixed_max,
            math.nan,
            math.nan,
            len(seed),
            len(hist),
            f"fixed band [0, {fixed_max:g}]: only {len(seed)} seed and {len(hist)} earlier "
            f"scores (need {min_scores})",
        )
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    sd = max(sd, floor_sd)
    return Band(
        max(0.0, mean - k_sd * sd),
        mean + k_sd * sd,
        mean,
        sd,
        len(seed),
        len(hist),
        f"mean {mean:.4f} +- {k_sd:g} sd ({sd:.4f}) of {len(seed)} calibration "
        f"cross-validation scores and {len(hist)} earlier nightly scores",
    )


def flag(score: float | None, band: Band) -> bool:
    """Return True when *score* lies outside the band (a missing score is not flagged)."""
    if score is None or not math.isfinite(score):
        return False
    return not (band.low <= score <= band.high)


@dataclass
class Coverage:
    """Which days of a window have data, and whether the window may be scored.

    Attributes:
        start: First day asked for.
        end: Last day asked for (inclusive).
        covered: Days with at least ``min_calls_per_day`` calls.
        calls: Calls on the covered days.
        min_days: Fewest covered days to score.
        min_calls: Fewest calls (on covered days) to score.
        notes: What the scorer must say about the window.

    """

    start: date
    end: date
    covered: list[date]
    calls: int
    min_days: int
    min_calls: int
    notes: list[str] = field(default_factory=list)

    @property
    def days(self) -> int:
        """Days in the window asked for."""
        return (self.end - self.start).days + 1

    @property
    def share(self) -> float:
        """Share of the window's days that are covered."""
        return len(self.covered) / self.days if self.days > 0 else 0.0

    @property
    def partial(self) -> bool:
        """Some, not all, days are covered."""
        return 0 < len(self.covered) < self.days

    @property
    def refused(self) -> bool:
        """Too little data to score."""
        return len(self.covered) < self.min_days or self.calls < self.min_calls

    @property
    def label(self) -> str:
        """The window's label for stored scores: the covered span, marked when partial."""
        if not self.covered:
            return f"{self.start}..{self.end} (no data)"
        lab = f"{self.covered[0]}..{self.covered[-1]}"
        if self.partial:
            lab += f" ({len(self.covered)} of {self.days} days covered)"
        return lab

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return {
            "start": str(self.start),
            "end": str(self.end),
            "days": self.days,
            "covered_days": [str(d) for d in self.covered],
            "share": self.share,
            "calls": self.calls,
            "partial": self.partial,
            "refused": self.refused,
            "label": self.label,
            "notes": list(self.notes),
        }


def window_coverage(
    calls_per_day: dict[date, int],
    start: date,
    end: date,
    *,
    min_days: int = 1,
    min_calls: int = 100,
    min_calls_per_day: int = 1,
) -> Coverage:
    """Decide which days of ``[start, end]`` are scored.

    Args:
        calls_per_day: Scoreable calls per local day (days without calls may be absent).
        start: First day of the window.
        end: Last day (inclusive).
        min_days: Fewest covered days to score the window.
        min_calls: Fewest calls on the covered days to score it.
        min_calls_per_day: A day with fewer calls counts as not covered.

    Returns:
        The :class:`Coverage` (its ``notes`` say what was left out, or why it is refused).

    """
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    covered = [d for d in days if calls_per_day.get(d, 0) >= min_calls_per_day]
    calls = sum(calls_per_day.get(d, 0) for d in covered)
    cov = Coverage(start, end, covered, calls, min_days, min_calls)
    if cov.refused:
        cov.notes.append(
            f"refused: {len(covered)} of {cov.days} days have data and {calls} calls "
            f"(need {min_days} days and {min_calls} calls); not scored"
        )
    elif cov.partial:
        missing = len(days) - len(covered)
        cov.notes.append(
            f"partly covered: scored on {len(covered)} of {cov.days} days ({cov.label}); "
            f"{missing} days without data are left out of the score"
        )
    return cov
