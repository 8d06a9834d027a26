"""One table of human labels for every measure the dashboards show, with its unit and format.

Pages never print a raw key such as ``response_min_mean``: they look it up here. A key that
is not in the table is shown as itself with underscores as spaces (so a new KPI is readable
before it gets a proper label), and :func:`label` says so in the unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "KPIS",
    "Kpi",
    "fmt_value",
    "kpi",
    "label",
    "with_unit",
]


@dataclass(frozen=True)
class Kpi:
    """How to show one measure.

    Attributes:
        label: Human name, sentence case ("Median response").
        unit: Unit shown on axes and beside values ("min", "% of calls", "units").
        kind: Format: ``min`` (minutes, 1 decimal), ``pct`` (share 0..1 as percent),
            ``int`` (count with separators), ``num`` (plain number), ``per_h`` (per hour).
        better: ``low`` or ``high``: which direction is an improvement (for verdicts).
        tally: True for a tally over incidents, False for a time-weighted average.

    """

    label: str
    unit: str
    kind: str = "num"
    better: str = "low"
    tally: bool = True


KPIS: Final[dict[str, Kpi]] = {
    "incidents": Kpi("Incidents", "calls", "int", "high"),
    "response_mean_min": Kpi("Mean response", "min", "min"),
    "response_p50_min": Kpi("Median response", "min", "min"),
    "response_p90_min": Kpi("90th-percentile response", "min", "min"),
    "response_min.mean": Kpi("Mean response", "min", "min"),
    "response_min.p50": Kpi("Median response", "min", "min"),
    "response_min.p90": Kpi("90th-percentile response", "min", "min"),
    "within_1_min": Kpi("Reached within 1 min", "% of calls", "pct", "high"),
    "within_3_min": Kpi("Reached within 3 min", "% of calls", "pct", "high"),
    "within_5_min": Kpi("Reached within 5 min", "% of calls", "pct", "high"),
    "within_8_min": Kpi("Reached within 8 min", "% of calls", "pct", "high"),
    "p_wait": Kpi("Calls that waited for a unit", "% of calls", "pct"),
    "p_lost": Kpi("Calls lost (queue full)", "% of calls", "pct"),
    "mean_wait_min": Kpi("Mean wait for a unit", "min", "min"),
    "utilisation": Kpi("Unit utilisation", "% of shift time", "pct", "low", False),
    "utilization": Kpi("Unit utilisation", "% of shift time", "pct", "low", False),
    "dispatches": Kpi("Dispatches", "calls", "int", "high"),
    "out_of_area_fraction": Kpi("Answered from outside their area", "% of calls", "pct"),
    "mean_patrolling": Kpi("Units on patrol (mean)", "units", "num", "high", False),
    "presence": Kpi("Patrol presence", "units on patrol", "num", "high", False),
    "calls": Kpi("Calls", "calls", "int", "high"),
    "rate_per_hour": Kpi("Expected calls", "calls per hour", "num", "high"),
    # checkpoints
    "vehicles": Kpi("Vehicles through", "vehicles", "int", "high"),
    "throughput_per_hour": Kpi("Throughput", "vehicles per hour", "num", "high"),
    "mean_wait": Kpi("Mean wait in queue", "min", "min"),
    "mean_pass_min": Kpi("Mean pass time", "min", "min"),
    "mean_queue": Kpi("Mean queue", "vehicles", "num", "low", False),
    "max_queue": Kpi("Longest queue", "vehicles", "int"),
    "interceptions": Kpi("Interceptions (watch-list hits)", "vehicles", "int", "high"),
    "lane_utilisation": Kpi("Lane utilisation", "% of time", "pct", "low", False),
    # fidelity
    "score": Kpi("Fidelity score", "0-1, 1 = matches reality", "num", "high"),
}
"""Every KPI key the dashboards know, with its label, unit and format."""


def kpi(key: str) -> Kpi:
    """Return the :class:`Kpi` of *key*; unknown keys get a readable fallback."""
    found = KPIS.get(key)
    if found is not None:
        return found
    base = key.rsplit("/", 1)[-1]
    found = KPIS.get(base)
    if found is not None:
        return found
    text = base.replace("_", " ").replace(".", " ").strip().capitalize() or key
    if base.endswith("_min"):
        return Kpi(text.removesuffix(" min"), "min", "min")
    return Kpi(text, "", "num")


def label(key: str) -> str:
    """Return the human label of *key*."""
    return kpi(key).label


def with_unit(key: str) -> str:
    """Return "Label (unit)" for axis titles."""
    k = kpi(key)
    return f"{k.label} ({k.unit})" if k.unit else k.label


def fmt_value(value: Any, kind: str) -> str:
    """Format *value* by a :class:`Kpi` kind; missing values show as an en dash."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else ("yes" if value else "no")
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x) or math.isinf(x):
        return "–"
    if kind == "pct":
        return f"{x:.1%}"
    if kind == "min":
        return f"{x:.1f} min"
    if kind == "int":
        return f"{round(x):,}"
    if kind == "per_h":
        return f"{x:,.1f}/h"
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}"
