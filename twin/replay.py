"""Replay: drive the twin with the historical incidents of some days (trace-driven demand).

:func:`replay` takes a scenario (its fleet, travel, dispatch and queue), reads the incidents of
``[start, end]`` (local dates of the scenario's city) from the lake and runs them through the
engine as a trace: real receive times, zones and priorities, and real on-scene durations where
the data have them (the first unit's on scene -> available where the lake has unit life cycles,
else the incident's on scene -> cleared). The city (time zone, how its priorities become the
scenario's classes) is looked up in :mod:`twin.cities`. The day before ``start`` is replayed
as warm-up so the fleet is not idle at midnight.
Outputs are those of ``twin simulate`` (``incidents.parquet``, ``units.parquet``,
``summary.json``...) plus ``replay.parquet``: one row per incident and replication with the
simulated life cycle beside the actual one (``actual_*`` columns, null where unknown), and
``replay_summary.json``.

Incidents are placed in time by ``event_time`` (the call-received time where the source has
one). A priority the data lack is drawn from the scenario's shares (seeded); an incident without
a received time (``received`` null: the SPD "911 Incident Response" layouts) is replayed at its
``event_time`` (the at-scene time, a proxy for the arrival, stated in the notes) and never
compared as a response.

A scenario with several agencies (the combined Seattle file) replays every agency's incidents
(``agency: all``): each trace row carries its ``agency`` and is answered only by that agency's
units; priorities are mapped per agency by the city's ``priority_levels`` (SPD classes for
Seattle police, the single class for fire).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from twin.calibrate.data import CityData, first_units, load_city, local_dates, parse_date
from twin.calibrate.report import jsonable
from twin.cities import city_of_scenario, get_city, scenario_agency
from twin.errors import DataError, TwinError
from twin.model.engine import RunResult
from twin.model.outputs import incidents_table, summarize, write_outputs
from twin.model.runner import run_replications
from twin.scenario import Scenario, load_scenario

__all__ = [
    "ReplayResult",
    "Trace",
    "build_trace",
    "replay",
    "scenario_city",
]


def scenario_city(scenario: Scenario) -> tuple[str, str]:
    """Return ``(city, agency)`` of a scenario (its ``calibration`` block, else its zone ids).

    Raises:
        TwinError: When neither tells a known city.

    """
    return city_of_scenario(scenario).name, scenario_agency(scenario)


@dataclass
class Trace:
    """A replay trace and what it is compared with.

    Attributes:
        arrivals: ``time_min, zone, priority, service_min`` (row i = engine incident i).
        actual: Actual values per trace row: ``incident_id``, ``source``, ``event_utc``,
            ``received_utc`` (null where the source has none),
            ``actual_response_min``, ``actual_dispatch_onscene_min``, ``actual_service_min``,
            ``priority_known``.
        t_zero: UTC time of simulated minute 0 (local midnight of the warm-up day).
        warmup: Minutes of warm-up (the day before ``start``).
        horizon: Minutes from ``start`` to the end of ``end``.
        notes: What was drawn or dropped.

    """

    arrivals: pd.DataFrame
    actual: pd.DataFrame
    t_zero: pd.Timestamp
    warmup: float
    horizon: float
    notes: list[str] = field(default_factory=list)


def _midnight(d: date, tz: str) -> pd.Timestamp:
    return pd.Timestamp(datetime.combine(d, time(0), tzinfo=ZoneInfo(tz))).tz_convert("UTC")


def build_trace(
    scenario: Scenario,
    data: CityData,
    start: date,
    end: date,
    *,
    agency: str = "",
    warmup_days: int = 1,
    seed: int = 1,
) -> Trace:
    """Build the arrivals table of ``[start, end]`` (plus warm-up days) for the engine.

    Args:
        scenario: The scenario (zones and priority levels).
        data: The city's tables.
        start: First local date.
        end: Last local date (inclusive).
        agency: Only incidents of this agency (all of the scenario's agencies when empty or
            ``all``; a multi-agency trace gets an ``agency`` column).
        warmup_days: Days before ``start`` replayed as warm-up.
        seed: Seed for priorities the data lack.

    Returns:
        The :class:`Trace`.

    Raises:
        TwinError: When no incident of the window lies in the scenario's zones.

    """
    tz = data.tz
    levels_of = get_city(data.city).priority_levels
    inc = data.incidents
    multi = scenario.multi_agency
    if agency and agency != "all":
        inc = inc.loc[inc["agency"] == agency]
    elif multi:
        inc = inc.loc[inc["agency"].isin(scenario.agency_ids)]
    first = start - timedelta(days=warmup_days)
    d = local_dates(inc["event_time"], tz)
    window = inc.loc[(d >= first) & (d <= end)]
    zones = set(scenario.zone_ids)
    in_zone = window["zone"].isin(zones)
    main = window.loc[in_zone & (local_dates(window["event_time"], tz) >= start)]
    if main.empty:
        span = f"{d.min()} .. {d.max()}" if len(d) else "no dates"
        raise TwinError(
            f"replay: no {agency or ''} incidents of {data.city} between {start} and {end} in "
            f"the scenario's zones (the lake holds {span}); choose days with data"
        )
    window = window.loc[in_zone].sort_values("event_time").reset_index(drop=True)
    notes: list[str] = []
    dropped = int((~in_zone).sum())
    if dropped:
        notes.append(
            f"{dropped} incidents outside the scenario's zones (or without a zone) were left out"
        )
    t_zero = _midnight(first, tz)
    t_start = _midnight(start, tz)
    t_end = _midnight(end + timedelta(days=1), tz)
    rng = np.random.default_rng(seed)
    if multi:
        agency_of = window["agency"].astype(str)
    else:
        agency_of = pd.Series(scenario.agency_ids[0], index=window.index)
    pri = pd.Series(np.nan, index=window.index, dtype="float64")
    known = pd.Series(False, index=window.index)
    n_draw = 0
    for ag in scenario.agency_ids:
        rows = agency_of == ag
        if not rows.any():
            continue
        specs = scenario.agency_priorities(ag)
        levels = [p.level for p in specs] or [1]
        shares = np.array([p.share for p in specs]) if specs else None
        data_ag = ag if multi else agency
        raw = levels_of(data_ag, window.loc[rows, "priority"]).astype("float64")
        ok = raw.isin(levels)
        if len(levels) == 1:
            raw[:] = float(levels[0])  # a single-class agency takes every call
            ok[:] = True
        miss = int((~ok).sum())
        if miss:
            raw.loc[~ok] = (
                rng.choice(levels, size=miss, p=shares / shares.sum())
                if shares is not None
                else np.full(miss, levels[0])
            )
            n_draw += miss
        pri.loc[rows] = raw
        known.loc[rows] = ok
    if n_draw:
        notes.append(
            f"{n_draw} incidents without a usable priority got one drawn from the scenario's shares"
        )
    service = pd.Series(np.nan, index=window.index)
    disp_onscene = pd.Series(np.nan, index=window.index)
    if not data.unit_responses.empty:
        fu = first_units(data.unit_responses).set_index("incident_id")
        ids = window["incident_id"]
        onsc = ids.map(fu["onscene"])
        avail = ids.map(fu["available"])
        disp = ids.map(fu["dispatched"])
        service = (
            pd.to_datetime(avail, utc=True) - pd.to_datetime(onsc, utc=True)
        ).dt.total_seconds() / 60
        disp_onscene = (
            pd.to_datetime(onsc, utc=True) - pd.to_datetime(disp, utc=True)
        ).dt.total_seconds() / 60
    if "cleared" in window.columns:
        own = (window["cleared"] - window["onscene"]).dt.total_seconds() / 60
        service = service.fillna(own)
    service = service.where((service >= 0) & (service <= 24 * 60))
    response = (window["onscene"] - window["received"]).dt.total_seconds() / 60
    response = response.where(response >= 0)  # NaN where received (or on scene) is null
    no_received = int(window["received"].isna().sum())
    if no_received:
        notes.append(
            f"{no_received} incidents have no received time (their source lacks it): they "
            "arrive at their event_time (the at-scene time), a proxy, and have no actual "
            "response time"
        )
    arrivals = pd.DataFrame(
        {
            "time_min": ((window["event_time"] - t_zero).dt.total_seconds() / 60).to_numpy(),
            "zone": window["zone"].astype(str).to_numpy(),
            "priority": pri.astype("int64").to_numpy(),
            "service_min": service.to_numpy(dtype=float),
        }
    )
    if multi:
        arrivals["agency"] = agency_of.to_numpy()
    actual = pd.DataFrame(
        {
            "incident_id": window["incident_id"].to_numpy(),
            "source": window["source"].to_numpy(),
            "event_utc": window["event_time"].to_numpy(),
            "received_utc": window["received"].to_numpy(),
            "actual_response_min": response.to_numpy(dtype=float),
            "actual_dispatch_onscene_min": disp_onscene.where(disp_onscene >= 0).to_numpy(
                dtype=float
            ),
            "actual_service_min": service.to_numpy(dtype=float),
            "priority_known": known.to_numpy(),
        }
    )
    n_svc = int(np.isfinite(service.to_numpy(dtype=float)).sum())
    if n_svc < len(arrivals):
        notes.append(
            f"{len(arrivals) - n_svc} incidents without a known "
            "on-scene time draw one from the scenario's service distribution"
        )
    return Trace(
        arrivals=arrivals,
        actual=actual,
        t_zero=t_zero,
        warmup=(t_start - t_zero).total_seconds() / 60,
        horizon=(t_end - t_start).total_seconds() / 60,
        notes=notes,
    )


@dataclass
class ReplayResult:
    """The outcome of a replay.

    Attributes:
        scenario: Scenario name.
        city: City key.
        agency: Agency replayed.
        start: First local date.
        end: Last local date.
        summary: The ``twin simulate`` summary plus ``replay`` (window, counts, notes) and
            ``actual`` (the same statistics from the data, where known).
        records: One row per incident and replication: simulated and ``actual_*`` columns.
        runs: The engine's replications.
        out_dir: Where outputs were written, or None.

    """

    scenario: str
    city: str
    agency: str
    start: date
    end: date
    summary: dict[str, Any]
    records: pd.DataFrame
    runs: list[RunResult]
    out_dir: Path | None = None

    def text(self) -> str:
        """Return a short readable summary (simulated vs actual)."""
        s = self.summary
        sim = s.get("response_min", {})
        act = s["actual"]
        lines = [
            f"replay of {self.city} {self.agency} {self.start} .. {self.end} under "
            f"{self.scenario}: {s['replay']['incidents']} incidents, "
            f"{s.get('replications', 1)} replication(s)",
            f"  response (received -> on scene) simulated mean {_fmt(sim.get('mean'))} "
            f"p50 {_fmt(sim.get('p50'))} p90 {_fmt(sim.get('p90'))} min; actual mean "
            f"{_fmt(act['response_min']['mean'])} p50 {_fmt(act['response_min']['p50'])} "
            f"p90 {_fmt(act['response_min']['p90'])} min (n={act['response_min']['n']})",
            f"  dispatch -> on scene simulated p50 {_fmt(s['replay']['dispatch_onscene']['p50'])}"
            f" p90 {_fmt(s['replay']['dispatch_onscene']['p90'])}; actual p50 "
            f"{_fmt(act['dispatch_onscene_min']['p50'])} p90 "
            f"{_fmt(act['dispatch_onscene_min']['p90'])} (n={act['dispatch_onscene_min']['n']})",
        ]
        lines += [f"  note: {n}" for n in s["replay"]["notes"]]
        if self.out_dir is not None:
            lines.append(f"  outputs in {self.out_dir}")
        return "\n".join(lines)


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{float(x):.2f}"


def _stats(values: pd.Series | np.ndarray) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return {"n": 0, "mean": None, "p50": None, "p90": None}
    return {
        "n": int(v.size),
        "mean": float(v.mean()),
        "p50": float(np.median(v)),
        "p90": float(np.quantile(v, 0.9)),
    }


def replay(
    scenario: Scenario | str | Path,
    lake_dir: Path | str,
    start: str | date,
    end: str | date,
    *,
    out_dir: Path | str | None = None,
    seed: int = 1,
    replications: int = 1,
    data: CityData | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Replay the historical incidents of ``[start, end]`` under a scenario.

    Args:
        scenario: Scenario (or its file) whose fleet and policies are used.
        lake_dir: The lake.
        start: First local date (``YYYY-MM-DD``).
        end: Last local date (inclusive).
        out_dir: Folder for the outputs (none written when None).
        seed: Seed (on-scene times the data lack, priorities drawn, patrol).
        replications: Replications.
        data: The city's tables, when already loaded.
        progress: Called with the replication number after each replication.

    Returns:
        The :class:`ReplayResult`.

    Raises:
        TwinError: Bad dates, a window with no incidents, an empty lake.

    """
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    d0 = parse_date(start, "--start")
    d1 = parse_date(end, "--end")
    if d0 is None or d1 is None:
        raise DataError("replay: --start and --end are required")
    if d1 < d0:
        raise DataError(f"replay: --end {d1} is before --start {d0}")
    city, agency = scenario_city(sc)
    if data is None:
        data = load_city(lake_dir, city)
    trace = build_trace(sc, data, d0, d1, agency=agency, seed=seed)
    run_sc = sc.model_copy(
        update={
            "warmup": trace.warmup,
            "horizon": trace.horizon,
            "demand": sc.demand.model_copy(update={"source": "trace"}),
        }
    )
    runs = run_replications(
        run_sc,
        seed=seed,
        replications=replications,
        demand=trace.arrivals,
        collect=False,
        progress=progress,
    )
    summary = summarize(runs)
    inc = incidents_table(runs).to_pandas()
    inc["zone"] = inc["zone"].astype(str)
    inc["unit"] = inc["unit"].astype("string")
    act = trace.actual.reset_index(names="incident")
    records = inc.merge(act, on="incident", how="left")
    records["sim_dispatch_onscene_min"] = records["onscene"] - records["dispatched"]
    in_window = trace.arrivals["time_min"] >= trace.warmup
    act_w = trace.actual.loc[in_window.to_numpy()]
    summary["replay"] = {
        "start": str(d0),
        "end": str(d1),
        "city": city,
        "agency": agency,
        "incidents": int(in_window.sum()),
        "warmup_incidents": int((~in_window).sum()),
        "t_zero_utc": trace.t_zero.isoformat(),
        "dispatch_onscene": _stats(records["sim_dispatch_onscene_min"]),
        "notes": trace.notes,
    }
    summary["actual"] = {
        "response_min": _stats(act_w["actual_response_min"]),
        "dispatch_onscene_min": _stats(act_w["actual_dispatch_onscene_min"]),
        "service_min": _stats(act_w["actual_service_min"]),
    }
    summary = jsonable(summary)
    out: Path | None = None
    if out_dir is not None:
        out = Path(out_dir)
        write_outputs(
            out, runs, {k: v for k, v in summary.items() if k not in ("replay", "actual")}
        )
        records.to_parquet(out / "replay.parquet", index=False)
        (out / "replay_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return ReplayResult(
        scenario=sc.name,
        city=city,
        agency=agency,
        start=d0,
        end=d1,
        summary=summary,
        records=records,
        runs=runs,
        out_dir=out,
    )
