"""Outputs: flat typed rows as Arrow/Parquet, and the typed summary as ``summary.json``.

Files written by :func:`write_outputs` into the output folder:

* ``incidents.parquet``: one row per incident received in the statistics window, every
  lifecycle time (``occurred``, ``received``, ``queued`` (null unless it waited),
  ``dispatched``, ``enroute``, ``onscene``, ``cleared``; minutes since the start), the unit,
  ``agency``, ``wait_min`` (waiting for a unit: dispatchable -> dispatched),
  ``dispatch_delay_min`` (received -> dispatchable, ``dispatch.delay``), ``turnout_min``,
  ``travel_min``, ``service_min``, ``response_min``
  (received -> on scene), ``lost``, ``out_of_area``; plus ``replication``. Lost calls have null
  unit and times after ``received``.
* ``units.parquet``: one row per unit and replication, minutes in each state (off duty, patrol,
  dispatched, en route, on scene, returning) within the window, utilisation and dispatches.
* ``presence.parquet``: mean units patrolling per zone and hour of week.
* ``timeseries.parquet``: mesa ``DataCollector`` snapshots (one row per mesa step).
* ``kpis.parquet``: the KPIs of :mod:`twin.model.kpis` (the same functions as ``summary.json``'s
  ``by_agency`` / ``by_district`` and a sweep's ``replications.parquet``) per replication and
  area: one row per ``replication`` and grouping ``level`` (``all``, ``agency``, ``district``,
  ``agency_district``, ``zone``, ``agency_zone``) with ``agency`` / ``district`` / ``zone``
  (``""`` where the level pools them) and the KPI columns (``incidents`` per replication,
  ``response_mean_min`` ..., ``within_<t>_min``, ``p_wait``, ``utilisation``). Readers average
  over replications (as the summary does) instead of recomputing KPIs from incidents.
* ``checkpoints_hourly.parquet`` (only when the scenario has checkpoints): one row per
  ``replication``, ``checkpoint`` and hour of day with ``mode``, ``lanes`` and the columns of
  :data:`~twin.model.checkpoints.HOURLY_COLUMNS` (arrivals, throughput, manual checks vs
  automatic passes, interceptions per hour; wait mean / p90 as tallies over arrivals in the
  hour; queue length and busy lanes time-weighted over the hour).
* ``summary.json``: the :class:`~twin.model.summary.Summary` (exactly the keys of
  :data:`SUMMARY_KEYS`; see :mod:`twin.model.summary` for what each figure is).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from twin.model.checkpoints import HOURLY_COLUMNS, hourly_rows
from twin.model.engine import RunResult
from twin.model.kpis import DEFAULT_THRESHOLDS, AreaMaps, area_rows, kpi_names
from twin.model.summary import (
    CI_METRICS,
    OPTIONAL_KEYS,
    SUMMARY_KEYS,
    Summary,
    summarize,
    summarize_run,
)

__all__ = [
    "CI_METRICS",
    "OPTIONAL_KEYS",
    "SUMMARY_KEYS",
    "checkpoints_hourly_table",
    "incidents_table",
    "kpis_table",
    "presence_table",
    "summarize",
    "summarize_run",
    "units_table",
    "write_outputs",
]


# ---------------------------------------------------------------------------- tables
def incidents_table(runs: Sequence[RunResult]) -> pa.Table:
    """Return all replications' incident rows as one Arrow table."""
    tables = []
    for run in runs:
        inc = run.incidents
        n = inc["incident"].size
        zone_ids = np.asarray(run.zone_ids, dtype=object)
        unit_ids = np.asarray([*run.unit_ids, None], dtype=object)
        unit = inc["unit"]
        cols: dict[str, Any] = {
            "replication": pa.array(np.full(n, run.replication, dtype=np.int32)),
            "incident": pa.array(inc["incident"]),
            "origin": pa.DictionaryArray.from_arrays(
                inc["origin_code"].astype(np.int32), pa.array(run.origins, pa.string())
            ),
            "zone": pa.DictionaryArray.from_arrays(
                inc["zone"].astype(np.int32), pa.array(zone_ids, pa.string())
            ),
            "priority": pa.array(inc["priority"].astype(np.int16)),
            "agency": pa.DictionaryArray.from_arrays(
                inc["agency"].astype(np.int32), pa.array(run.agencies or ["police"], pa.string())
            ),
        }
        for name in (
            "occurred",
            "received",
            "queued",
            "dispatched",
            "enroute",
            "onscene",
            "cleared",
        ):
            cols[name] = pa.array(inc[name], pa.float64(), from_pandas=True)
        codes: Any = pa.array(np.where(unit >= 0, unit, 0).astype(np.int32), mask=unit < 0)
        cols["unit"] = pa.DictionaryArray.from_arrays(
            codes,
            pa.array(unit_ids[:-1], pa.string()),
        )
        for name in (
            "wait_min",
            "dispatch_delay_min",
            "turnout_min",
            "travel_min",
            "service_min",
            "response_min",
            "detection_min",
        ):
            cols[name] = pa.array(inc[name], pa.float64(), from_pandas=True)
        for name in ("waited", "lost", "out_of_area"):
            cols[name] = pa.array(inc[name], pa.bool_())
        tables.append(pa.table(cols))
    table = pa.concat_tables(tables, promote_options="permissive") if len(tables) > 1 else tables[0]
    return table


def units_table(runs: Sequence[RunResult]) -> pa.Table:
    """Return minutes in each state per unit and replication as an Arrow table."""
    tables = []
    for run in runs:
        cols = dict(run.units)
        n = len(run.unit_ids)
        out: dict[str, Any] = {
            "replication": pa.array(np.full(n, run.replication, dtype=np.int32)),
            "unit": pa.array(run.unit_ids, pa.string()),
        }
        for k, v in cols.items():
            if k != "unit":
                out[k] = pa.array(np.asarray(v))
        tables.append(pa.table(out))
    return pa.concat_tables(tables)


def presence_table(runs: Sequence[RunResult]) -> pa.Table:
    """Return mean patrolling units per zone and hour of week, per replication."""
    tables = []
    for run in runs:
        nz = len(run.zone_ids)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.where(
                run.exposure > 0, run.presence / np.where(run.exposure > 0, run.exposure, 1), np.nan
            )
        tables.append(
            pa.table(
                {
                    "replication": pa.array(np.full(nz * 168, run.replication, dtype=np.int32)),
                    "zone": pa.array(
                        np.repeat(np.asarray(run.zone_ids, dtype=object), 168).astype(str)
                    ),
                    "hour_of_week": pa.array(np.tile(np.arange(168, dtype=np.int16), nz)),
                    "mean_patrolling": pa.array(mean.reshape(-1), from_pandas=True),
                }
            )
        )
    return pa.concat_tables(tables)


def kpis_table(
    runs: Sequence[RunResult], thresholds: Sequence[float] = DEFAULT_THRESHOLDS
) -> pa.Table:
    """Return the KPIs per replication and area (:func:`twin.model.kpis.area_rows`)."""
    names = kpi_names(thresholds)
    cols: dict[str, list[Any]] = {
        k: [] for k in ("replication", "level", "agency", "district", "zone", *names)
    }
    for run in runs:
        for row in area_rows(
            run.incidents, run.units, AreaMaps.of_run(run), run.zone_ids, thresholds
        ):
            cols["replication"].append(run.replication)
            for k in ("level", "agency", "district", "zone", *names):
                cols[k].append(row[k])
    fields: list[tuple[str, pa.DataType]] = [("replication", pa.int32())]
    fields += [(k, pa.string()) for k in ("level", "agency", "district", "zone")]
    fields += [(k, pa.float64()) for k in names]
    schema = pa.schema(fields)
    return pa.table(cols, schema=schema)


def checkpoints_hourly_table(runs: Sequence[RunResult]) -> pa.Table | None:
    """Return each checkpoint's load, queue and wait per hour of day (None: no checkpoints)."""
    rows: list[dict[str, Any]] = []
    for run in runs:
        for cp, records in run.checkpoint_records.items():
            for row in hourly_rows(records, end_min=run.window[1]):
                rows.append(
                    {
                        "replication": run.replication,
                        "checkpoint": cp,
                        "mode": records.mode,
                        "lanes": records.lanes,
                        **row,
                    }
                )
    if not rows:
        return None
    fields: list[tuple[str, pa.DataType]] = [
        ("replication", pa.int32()),
        ("checkpoint", pa.string()),
        ("mode", pa.string()),
        ("lanes", pa.int32()),
        ("hour", pa.int16()),
    ]
    fields += [(k, pa.float64()) for k in HOURLY_COLUMNS if k != "hour"]
    schema = pa.schema(fields)
    return pa.Table.from_pylist(rows, schema=schema)


def write_outputs(
    out: str | Path,
    runs: Sequence[RunResult],
    summary: Summary | dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the Parquet tables and ``summary.json`` for *runs* into folder *out*.

    Args:
        out: Output folder (created).
        runs: The replications.
        summary: A precomputed summary (computed when None).

    Returns:
        The summary written (JSON form).

    """
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    if summary is None:
        summary = summarize(runs)
    elif isinstance(summary, Summary):
        summary = summary.to_dict()
    meta = {
        b"twin.scenario": runs[0].scenario.encode(),
        b"twin.seed": str(runs[0].seed).encode(),
        b"twin.replications": str(len(runs)).encode(),
    }
    tables: list[tuple[str, pa.Table]] = [
        ("incidents", incidents_table(runs)),
        ("units", units_table(runs)),
        ("presence", presence_table(runs)),
        ("kpis", kpis_table(runs)),
    ]
    hourly = checkpoints_hourly_table(runs)
    if hourly is not None:
        tables.append(("checkpoints_hourly", hourly))
    for name, table in tables:
        # dictionary-encode only the id columns (floats do not compress that way)
        dict_cols: Any = [
            c
            for c in ("origin", "zone", "unit", "agency", "level", "district", "checkpoint")
            if c in table.column_names
        ]
        pq.write_table(
            table.replace_schema_metadata(meta),
            dest / f"{name}.parquet",
            use_dictionary=dict_cols,
        )
    series = [
        r.timeseries.assign(replication=r.replication) for r in runs if r.timeseries is not None
    ]
    if series:
        import pandas as pd

        ts = pa.Table.from_pandas(pd.concat(series, ignore_index=True), preserve_index=False)
        pq.write_table(ts.replace_schema_metadata(meta), dest / "timeseries.parquet")
    (dest / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=False) + "\n")
    return summary
