"""The fit report: every parameter, the data behind it, its goodness of fit, every assumption.

A :class:`FitReport` is built up by :func:`twin.calibrate.build.calibrate` and written as JSON
(:meth:`FitReport.to_json`, machine-readable, complete) and as readable text
(:meth:`FitReport.to_text`, one line per parameter plus the assumptions and fallbacks).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["FitReport", "Parameter", "jsonable"]


def jsonable(value: Any) -> Any:
    """Return *value* converted to plain JSON types (numpy, pandas, NaN -> None)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating | float):
        f = float(value)
        return None if math.isnan(f) or math.isinf(f) else f
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


@dataclass
class Parameter:
    """One calibrated parameter.

    Attributes:
        name: Dotted name (``"travel.speed_kmh"``, ``"fleet.N"``).
        value: The value written into the scenario (number, spec or short summary).
        data: Where it came from (table, source, filter).
        n: Observations behind it.
        fit: Goodness of fit (KS, MAPE, R², dispersion...).
        notes: Fallbacks and caveats.

    """

    name: str
    value: Any
    data: str
    n: int | None = None
    fit: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass
class FitReport:
    """The report of one calibration.

    Attributes:
        city: City key.
        agency: Agency modelled (police, fire).
        scenario: Name of the scenario written.
        fit_window: {start, end} of the incident data used (UTC dates, inclusive).
        holdout: {start, end} of the days left out of the fit (for fidelity), or None.
        inputs: Row counts of every table read.
        parameters: The calibrated parameters.
        assumptions: Every assumption made, in plain language.
        fallbacks: Where data were too thin and a pooled estimate was used.
        details: Larger tables (demand counts per zone, QQ data, fleet search).

    """

    city: str
    agency: str
    scenario: str
    fit_window: dict[str, str | None] = field(default_factory=dict)
    holdout: dict[str, str | None] | None = None
    inputs: dict[str, int] = field(default_factory=dict)
    parameters: list[Parameter] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, param: Parameter) -> None:
        """Append a parameter."""
        self.parameters.append(param)

    def assume(self, *texts: str) -> None:
        """Record assumptions (duplicates are ignored)."""
        for t in texts:
            if t not in self.assumptions:
                self.assumptions.append(t)

    def fallback(self, text: str) -> None:
        """Record a pooled fallback."""
        if text not in self.fallbacks:
            self.fallbacks.append(text)

    def param(self, name: str) -> Parameter:
        """Return the parameter called *name*.

        Raises:
            KeyError: When there is none.

        """
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain JSON-ready data."""
        return jsonable(
            {
                "city": self.city,
                "agency": self.agency,
                "scenario": self.scenario,
                "fit_window": self.fit_window,
                "holdout": self.holdout,
                "inputs": self.inputs,
                "parameters": [p.__dict__ for p in self.parameters],
                "assumptions": self.assumptions,
                "fallbacks": self.fallbacks,
                "details": self.details,
            }
        )

    def to_json(self) -> str:
        """Return the report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    def to_text(self) -> str:
        """Return a readable summary: parameters with data and fit, assumptions, fallbacks."""
        lines = [
            f"Fit report: {self.scenario} ({self.city}, {self.agency})",
            f"fit window: {self.fit_window.get('start')} .. {self.fit_window.get('end')}"
            + (
                f"; held out: {self.holdout.get('start')} .. {self.holdout.get('end')}"
                if self.holdout
                else "; nothing held out"
            ),
            "inputs: " + ", ".join(f"{k}={v}" for k, v in self.inputs.items()),
            "",
            "Parameters:",
        ]
        for p in self.parameters:
            lines.append(f"- {p.name} = {_short(p.value)}")
            n = f" (n={p.n})" if p.n is not None else ""
            lines.append(f"    data: {p.data}{n}")
            if p.fit:
                lines.append("    fit: " + ", ".join(f"{k}={_short(v)}" for k, v in p.fit.items()))
            for note in p.notes:
                lines.append(f"    note: {note}")
        lines += ["", "Assumptions:"] + [f"- {a}" for a in self.assumptions]
        lines += ["", "Pooled fallbacks:"] + (
            [f"- {f}" for f in self.fallbacks] if self.fallbacks else ["- none"]
        )
        return "\n".join(lines) + "\n"


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple) and len(value) > 6:
        return f"[{len(value)} values]"
    return str(value)
