"""The typed summary of a simulation: what ``summary.json`` holds, and how it is computed.

:class:`Summary` is the interface between the engine and its readers (the CLI, replay,
fidelity, the dashboards): dataclasses with a fixed set of fields, written to
``summary.json`` by :meth:`Summary.to_dict` with exactly the keys of :data:`SUMMARY_KEYS`
(plus :data:`OPTIONAL_KEYS` where they apply) and read back by :meth:`Summary.from_dict`.

Kinds of statistics: ``p_wait``, ``p_lost``, ``mean_wait_min``, ``response_min``,
``by_priority``, ``dispatch_fractions`` and ``out_of_area_fraction`` are **tallies** over
incidents received in the window; unit ``utilization`` (busy = dispatched + en route + on scene,
over on-duty time), ``presence`` and the mean queue length are **time-weighted** over the window.
With R > 1 replications each figure is the mean of the per-replication figures and ``ci95``
holds the half-width of the 95% Student-t interval over replications (dotted metric paths).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import numpy as np
from numpy.typing import NDArray

from twin.model.engine import RunResult
from twin.model.kpis import DEFAULT_THRESHOLDS, AreaMaps, area_kpis
from twin.statistics import half_width

__all__ = [
    "CI_METRICS",
    "FEATURE_KEYS",
    "OPTIONAL_KEYS",
    "SUMMARY_KEYS",
    "Presence",
    "Response",
    "Summary",
    "Tallies",
    "UnitFigures",
    "confidence_halfwidths",
    "self_initiated_figures",
    "summarize",
    "summarize_run",
]

SUMMARY_KEYS = (
    "scenario",
    "seed",
    "replications",
    "incidents",
    "p_wait",
    "p_lost",
    "mean_wait_min",
    "response_min",
    "by_priority",
    "units",
    "dispatch_fractions",
    "out_of_area_fraction",
    "presence",
    "checkpoints",
    "ci95",
)
"""The fixed keys of ``summary.json`` (``ci95`` only when replications > 1).

With more than one agency the summary also has ``by_agency`` ({agency: the keys of one
``by_priority`` entry}); ``by_priority`` then pools the agencies' classes of the same level.
"""

OPTIONAL_KEYS = ("headline_agency", "by_agency", "by_district")
"""Per-area keys (issue 10): ``headline_agency`` (the agency the headline figures cover, ``all``
when they pool several), ``by_agency`` ({agency: the keys of one ``by_priority`` entry plus the
KPIs of :mod:`twin.model.kpis`}) and ``by_district`` ({district: those KPIs})."""

FEATURE_KEYS = ("self_initiated",)
"""Keys only a scenario with the feature has: ``self_initiated`` (officer-initiated work, kept
out of every response KPI; :func:`self_initiated_figures`)."""

_AREA_CI = (
    "response_mean_min",
    "response_p50_min",
    "response_p90_min",
    "within_*",
    "p_wait",
    "utilisation",
)

CI_METRICS = (
    "p_wait",
    "p_lost",
    "mean_wait_min",
    "response_min.*",
    "by_priority.*.p_wait",
    "by_priority.*.mean_wait_min",
    "by_priority.*.response_min.*",
    "by_agency.*.p_wait",
    "by_agency.*.mean_wait_min",
    "by_agency.*.response_min.*",
    *(f"by_agency.*.{k}" for k in _AREA_CI),
    *(f"by_district.*.{k}" for k in _AREA_CI),
    "units.*.utilization",
    "dispatch_fractions.*.*",
    "out_of_area_fraction",
    "presence.mean_patrolling",
)
"""Dotted metric paths (``*`` = any key) that get a 95% half-width in ``ci95``."""

Number = float | int
"""Counts are ints in one replication; means over replications are floats."""


@dataclass(frozen=True)
class Response:
    """Received -> on scene minutes (tally): mean, median, 90th percentile (None: no data)."""

    mean: float | None
    p50: float | None
    p90: float | None

    def to_dict(self) -> dict[str, float | None]:
        """Return the JSON form."""
        return {"mean": self.mean, "p50": self.p50, "p90": self.p90}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Response:
        """Read the JSON form."""
        return cls(d["mean"], d["p50"], d["p90"])


@dataclass(frozen=True)
class Tallies:
    """Incident tallies of a group of calls (all, a priority level, an agency)."""

    incidents: Number
    p_wait: float | None
    p_lost: float | None
    mean_wait_min: float | None
    response_min: Response

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "incidents": self.incidents,
            "p_wait": self.p_wait,
            "p_lost": self.p_lost,
            "mean_wait_min": self.mean_wait_min,
            "response_min": self.response_min.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Tallies:
        """Read the JSON form."""
        return cls(
            d["incidents"],
            d["p_wait"],
            d["p_lost"],
            d["mean_wait_min"],
            Response.from_dict(d["response_min"]),
        )


@dataclass(frozen=True)
class UnitFigures:
    """A unit's utilisation (time-weighted) and dispatches (count)."""

    utilization: float | None
    dispatches: Number

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {"utilization": self.utilization, "dispatches": self.dispatches}


@dataclass(frozen=True)
class Presence:
    """Mean units patrolling (time-weighted): in total, per zone, per hour of day."""

    mean_patrolling: float | None
    by_zone: dict[str, float]
    by_hour: list[float | None]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form."""
        return {
            "mean_patrolling": self.mean_patrolling,
            "by_zone": dict(self.by_zone),
            "by_hour": list(self.by_hour),
        }


@dataclass(frozen=True)
class Summary:
    """The summary of one scenario's replications (``summary.json``).

    Attributes mirror :data:`SUMMARY_KEYS`; ``by_agency`` is set with several agencies and
    ``ci95`` with more than one replication.

    """

    scenario: str
    seed: int
    replications: int
    incidents: int
    p_wait: float | None
    p_lost: float | None
    mean_wait_min: float | None
    response_min: Response
    by_priority: dict[str, Tallies]
    units: dict[str, UnitFigures]
    dispatch_fractions: dict[str, dict[str, float]]
    out_of_area_fraction: float | None
    presence: Presence
    checkpoints: dict[str, dict[str, Any]]
    headline_agency: str | None = None
    by_agency: dict[str, dict[str, Any]] | None = None
    by_district: dict[str, dict[str, Any]] | None = None
    self_initiated: dict[str, Any] | None = None
    ci95: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON form: :data:`SUMMARY_KEYS` in order (``by_agency`` before ``ci95``)."""
        out: dict[str, Any] = {
            "scenario": self.scenario,
            "seed": self.seed,
            "replications": self.replications,
            "incidents": self.incidents,
            "p_wait": self.p_wait,
            "p_lost": self.p_lost,
            "mean_wait_min": self.mean_wait_min,
            "response_min": self.response_min.to_dict(),
            "by_priority": {k: v.to_dict() for k, v in self.by_priority.items()},
            "units": {k: v.to_dict() for k, v in self.units.items()},
            "dispatch_fractions": {k: dict(v) for k, v in self.dispatch_fractions.items()},
            "out_of_area_fraction": self.out_of_area_fraction,
            "presence": self.presence.to_dict(),
            "checkpoints": self.checkpoints,
        }
        if self.headline_agency is not None:
            out["headline_agency"] = self.headline_agency
        if self.by_agency is not None:
            out["by_agency"] = {k: dict(v) for k, v in self.by_agency.items()}
        if self.by_district is not None:
            out["by_district"] = {k: dict(v) for k, v in self.by_district.items()}
        if self.self_initiated is not None:
            out["self_initiated"] = dict(self.self_initiated)
        if self.ci95 is not None:
            out["ci95"] = dict(self.ci95)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Summary:
        """Read the JSON form (a ``summary.json``); unknown keys are refused."""
        extra = set(d) - set(SUMMARY_KEYS) - set(OPTIONAL_KEYS) - set(FEATURE_KEYS)
        if extra:
            raise ValueError(f"summary: unknown keys {sorted(extra)}")
        p = d["presence"]
        return cls(
            scenario=d["scenario"],
            seed=d["seed"],
            replications=d["replications"],
            incidents=d["incidents"],
            p_wait=d["p_wait"],
            p_lost=d["p_lost"],
            mean_wait_min=d["mean_wait_min"],
            response_min=Response.from_dict(d["response_min"]),
            by_priority={k: Tallies.from_dict(v) for k, v in d["by_priority"].items()},
            units={
                k: UnitFigures(v["utilization"], v["dispatches"]) for k, v in d["units"].items()
            },
            dispatch_fractions=d["dispatch_fractions"],
            out_of_area_fraction=d["out_of_area_fraction"],
            presence=Presence(p["mean_patrolling"], p["by_zone"], p["by_hour"]),
            checkpoints=d["checkpoints"],
            headline_agency=d.get("headline_agency"),
            by_agency=d.get("by_agency"),
            by_district=d.get("by_district"),
            self_initiated=d.get("self_initiated"),
            ci95=d.get("ci95"),
        )

    @classmethod
    def from_runs(
        cls, runs: Sequence[RunResult], thresholds: Sequence[float] = DEFAULT_THRESHOLDS
    ) -> Summary:
        """Summarise replications (means over replications; counts are totals).

        ``thresholds``: minutes of the ``within_<t>_min`` shares of the per-area KPIs.
        """
        if not runs:
            raise ValueError("summarize needs at least one replication")
        per = [_run_summary(r, thresholds) for r in runs]
        if len(per) == 1:
            return per[0]
        return cls.from_dict(_pool([p.to_dict() for p in per]))


# ---------------------------------------------------------------------------- one run
def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _response(resp: NDArray[np.float64]) -> Response:
    if resp.size == 0:
        return Response(None, None, None)
    return Response(
        _f(float(resp.mean())),
        _f(float(np.percentile(resp, 50))),
        _f(float(np.percentile(resp, 90))),
    )


def _tallies(inc: dict[str, NDArray[Any]], mask: NDArray[np.bool_] | None) -> Tallies:
    lost = inc["lost"] if mask is None else inc["lost"][mask]
    waited = inc["waited"] if mask is None else inc["waited"][mask]
    wait = inc["wait_min"] if mask is None else inc["wait_min"][mask]
    resp = inc["response_min"] if mask is None else inc["response_min"][mask]
    n = int(lost.size)
    ok = np.isfinite(wait)
    return Tallies(
        incidents=n,
        p_wait=_f(float(waited.mean())) if n else None,
        p_lost=_f(float(lost.mean())) if n else None,
        mean_wait_min=_f(float(wait[ok].mean())) if ok.any() else None,
        response_min=_response(resp[np.isfinite(resp)]),
    )


def _fractions(run: RunResult) -> tuple[dict[str, dict[str, float]], float | None]:
    """Dispatch fractions per unit and zone, and the out-of-area fraction."""
    inc = run.incidents
    served = inc["unit"] >= 0
    n_disp = int(served.sum())
    counts = np.zeros((len(run.unit_ids), len(run.zone_ids)))
    if n_disp:
        np.add.at(counts, (inc["unit"][served], inc["zone"][served]), 1.0)
        counts /= n_disp
    fractions = {
        uid: {z: float(counts[i, j]) for j, z in enumerate(run.zone_ids)}
        for i, uid in enumerate(run.unit_ids)
    }
    ooa = _f(float(inc["out_of_area"][served].mean())) if n_disp else None
    return fractions, ooa


def _presence(run: RunResult) -> Presence:
    total_exposure = float(run.exposure.sum())
    if total_exposure <= 0:
        return Presence(None, {}, [])
    by_zone = run.presence.sum(axis=1) / total_exposure
    hours = run.exposure.reshape(7, 24).sum(axis=0)
    ph = run.presence.sum(axis=0).reshape(7, 24).sum(axis=0)
    by_hour = [float(p / h) if h > 0 else None for p, h in zip(ph, hours, strict=True)]
    return Presence(
        float(by_zone.sum()),
        {z: float(v) for z, v in zip(run.zone_ids, by_zone, strict=True)},
        by_hour,
    )


def _run_summary(run: RunResult, thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> Summary:
    inc = run.incidents
    top = _tallies(inc, None)
    fractions, ooa = _fractions(run)
    units_cols = run.units
    # A window that received no incident measures no load: its time-weighted utilisation is
    # only work left over from the warm-up, over a window that may be a nanosecond long
    # (``horizon: 1e-9`` reported 100% with 0 dispatches), so it is null, not a number.
    measured = int(top.incidents) > 0
    areas = area_kpis(inc, run.units, AreaMaps.of_run(run), thresholds)
    agencies = run.agencies or ["police"]
    return Summary(
        scenario=run.scenario,
        seed=run.seed,
        replications=1,
        incidents=int(top.incidents),
        p_wait=top.p_wait,
        p_lost=top.p_lost,
        mean_wait_min=top.mean_wait_min,
        response_min=top.response_min,
        by_priority={
            str(level): _tallies(inc, inc["priority"] == level)
            for level in dict.fromkeys(run.levels)
        },
        units={
            uid: UnitFigures(
                float(units_cols["utilization"][i]) if measured else None,
                int(units_cols["dispatches"][i]),
            )
            for i, uid in enumerate(run.unit_ids)
        },
        dispatch_fractions=fractions,
        out_of_area_fraction=ooa,
        presence=_presence(run),
        checkpoints=run.checkpoints,
        headline_agency=agencies[0] if len(agencies) == 1 else "all",
        by_agency={
            a: {**_tallies(inc, inc["agency"] == k).to_dict(), **areas["by_agency"][a]}
            for k, a in enumerate(agencies)
        },
        by_district=areas["by_district"],
        self_initiated=self_initiated_figures(run),
    )


def self_initiated_figures(run: RunResult) -> dict[str, Any] | None:
    """Officer-initiated work of one run: pieces started, minutes, pre-emptions (None: none).

    ``events`` (tally: pieces started in the window), ``preempted`` (tally: of those, pieces
    abandoned for a pre-empting call), ``minutes`` (time-weighted: unit-minutes on the work in
    the window), ``share_of_on_duty_time`` (minutes over on-duty unit-minutes) and
    ``mean_units`` (minutes over the window: units on the work at a random moment); in total
    and ``by_district`` (the district of each unit's post). Not part of any response KPI.
    """
    cols = run.units
    if "self_initiated_min" not in cols:
        return None
    minutes = np.asarray(cols["self_initiated_min"], dtype=np.float64)
    events = np.asarray(cols["self_initiated"], dtype=np.int64)
    pre = np.asarray(cols["self_initiated_preempted"], dtype=np.int64)
    on_duty = np.asarray(cols["on_duty_min"], dtype=np.float64)
    window = float(run.window[1] - run.window[0])
    district = np.asarray(
        [run.zone_districts[p] if run.zone_districts else "" for p in run.unit_post], dtype=object
    )

    def block(mask: NDArray[np.bool_]) -> dict[str, Any]:
        duty = float(on_duty[mask].sum())
        m = float(minutes[mask].sum())
        return {
            "events": int(events[mask].sum()),
            "preempted": int(pre[mask].sum()),
            "minutes": m,
            "share_of_on_duty_time": m / duty if duty > 0 else None,
            "mean_units": m / window if window > 0 else None,
        }

    every = np.ones(minutes.size, dtype=bool)
    out = block(every)
    out["by_district"] = {str(d): block(district == d) for d in sorted(set(district.tolist()))}
    return out


# ---------------------------------------------------------------------------- pooling
def _leaves(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    else:
        out[prefix] = d
    return out


def _match(path: str, pattern: str) -> bool:
    a, b = path.split("."), pattern.split(".")
    return len(a) == len(b) and all(fnmatchcase(p, q) for p, q in zip(a, b, strict=True))


def _mean_tree(trees: Sequence[Any]) -> Any:
    """Average numeric leaves over replications (ints become float means)."""
    first = trees[0]
    if isinstance(first, dict):
        keys = list(first)
        for t in trees[1:]:
            keys += [k for k in t if k not in keys]
        return {k: _mean_tree([t.get(k) for t in trees if isinstance(t, dict)]) for k in keys}
    if isinstance(first, list):
        if all(isinstance(t, list) and len(t) == len(first) for t in trees):
            return [_mean_tree([t[i] for t in trees]) for i in range(len(first))]
        return first
    if isinstance(first, bool) or not isinstance(first, (int, float)):
        return first
    vals = [v for v in trees if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(vals) < len(trees):
        return None
    return float(np.mean(vals))


def _pool(per: list[dict[str, Any]]) -> dict[str, Any]:
    """Pool per-replication summaries (JSON form): means, totals of counts, ``ci95``."""
    out: dict[str, Any] = _mean_tree(per)
    out["scenario"] = per[0]["scenario"]
    out["seed"] = per[0]["seed"]
    out["replications"] = len(per)
    out["incidents"] = int(sum(p["incidents"] for p in per))
    for level in out["by_priority"]:
        out["by_priority"][level]["incidents"] = int(
            sum(p["by_priority"][level]["incidents"] for p in per)
        )
    for key in ("by_agency", "by_district"):
        for group in out.get(key, {}):
            out[key][group]["incidents"] = int(sum(p[key][group]["incidents"] for p in per))
    for uid in out["units"]:
        out["units"][uid]["dispatches"] = int(sum(p["units"][uid]["dispatches"] for p in per))
    out["checkpoints"] = (
        _mean_tree([p["checkpoints"] for p in per]) if per[0]["checkpoints"] else {}
    )
    out["ci95"] = confidence_halfwidths(per)
    return out


def confidence_halfwidths(per: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Return the 95% Student-t half-width over replications for :data:`CI_METRICS`."""
    flat = [_leaves(p) for p in per]
    ci: dict[str, float] = {}
    for path in flat[0]:
        if not any(_match(path, pat) for pat in CI_METRICS):
            continue
        vals = [f.get(path) for f in flat]
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in vals):
            continue
        ci[path] = half_width(np.asarray(vals, dtype=np.float64), 0.95)
    return ci


# ---------------------------------------------------------------------------- dict API
def summarize_run(
    run: RunResult, thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> dict[str, Any]:
    """Summarise one replication (JSON form; the keys of the summary without ``ci95``)."""
    return _run_summary(run, thresholds).to_dict()


def summarize(
    runs: Sequence[RunResult], thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> dict[str, Any]:
    """Summarise replications into the fixed-key summary (JSON form; ``ci95`` when R > 1).

    Args:
        runs: The replications of one scenario and seed.
        thresholds: Minutes of the ``within_<t>_min`` shares in ``by_agency`` / ``by_district``.

    Returns:
        :meth:`Summary.to_dict` of :meth:`Summary.from_runs`: numbers are means over
        replications, ``incidents`` and unit ``dispatches`` are totals.

    """
    return Summary.from_runs(runs, thresholds).to_dict()
