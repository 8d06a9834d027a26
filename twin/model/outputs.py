"""Outputs: flat typed rows as Arrow/Parquet, and the summary with fixed keys.

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
* ``summary.json``: exactly the keys of :data:`SUMMARY_KEYS`.

Kinds of statistics: ``p_wait``, ``p_lost``, ``mean_wait_min``, ``response_min``,
``by_priority``, ``dispatch_fractions`` and ``out_of_area_fraction`` are **tallies** over
incidents received in the window; unit ``utilization`` (busy = dispatched + en route + on scene,
over on-duty time), ``presence`` and the mean queue length are **time-weighted** over the window
(unit ``utilization`` is null when the window received no incident).
With R > 1 replications each figure is the mean of the per-replication figures and ``ci95``
holds the half-width of the 95% Student-t interval over replications (dotted metric paths).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from twin.model.engine import RunResult
from twin.statistics import half_width

__all__ = [
    "CI_METRICS",
    "OPTIONAL_KEYS",
    "SUMMARY_KEYS",
    "incidents_table",
    "presence_table",
    "summarize",
    "summarize_run",
    "units_table",
    "write_outputs",
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

OPTIONAL_KEYS = ("by_agency",)
"""Summary keys present only for some scenarios (``by_agency``: several agencies)."""

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
    "units.*.utilization",
    "dispatch_fractions.*.*",
    "out_of_area_fraction",
    "presence.mean_patrolling",
)
"""Dotted metric paths (``*`` = any key) that get a 95% half-width in ``ci95``."""


def _f(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _response(resp: NDArray[np.float64]) -> dict[str, float | None]:
    if resp.size == 0:
        return {"mean": None, "p50": None, "p90": None}
    return {
        "mean": _f(float(resp.mean())),
        "p50": _f(float(np.percentile(resp, 50))),
        "p90": _f(float(np.percentile(resp, 90))),
    }


def _tallies(inc: dict[str, NDArray[Any]], mask: NDArray[np.bool_] | None) -> dict[str, Any]:
    lost = inc["lost"] if mask is None else inc["lost"][mask]
    waited = inc["waited"] if mask is None else inc["waited"][mask]
    wait = inc["wait_min"] if mask is None else inc["wait_min"][mask]
    resp = inc["response_min"] if mask is None else inc["response_min"][mask]
    n = int(lost.size)
    ok = np.isfinite(wait)
    return {
        "incidents": n,
        "p_wait": _f(float(waited.mean())) if n else None,
        "p_lost": _f(float(lost.mean())) if n else None,
        "mean_wait_min": _f(float(wait[ok].mean())) if ok.any() else None,
        "response_min": _response(resp[np.isfinite(resp)]),
    }


def summarize_run(run: RunResult) -> dict[str, Any]:
    """Summarise one replication (same keys as the final summary, without ``ci95``)."""
    inc = run.incidents
    top = _tallies(inc, None)
    by_priority = {
        str(level): _tallies(inc, inc["priority"] == level) for level in dict.fromkeys(run.levels)
    }
    units_cols = run.units
    # A window that received no incident measures no load: its time-weighted utilisation is
    # only work left over from the warm-up, over a window that may be a nanosecond long
    # (``horizon: 1e-9`` reported 100% with 0 dispatches), so it is null, not a number.
    measured = top["incidents"] > 0
    units = {
        uid: {
            "utilization": float(units_cols["utilization"][i]) if measured else None,
            "dispatches": int(units_cols["dispatches"][i]),
        }
        for i, uid in enumerate(run.unit_ids)
    }
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
    total_exposure = float(run.exposure.sum())
    if total_exposure > 0:
        by_zone = run.presence.sum(axis=1) / total_exposure
        hours = run.exposure.reshape(7, 24).sum(axis=0)
        ph = run.presence.sum(axis=0).reshape(7, 24).sum(axis=0)
        by_hour = [float(p / h) if h > 0 else None for p, h in zip(ph, hours, strict=True)]
        presence: dict[str, Any] = {
            "mean_patrolling": float(by_zone.sum()),
            "by_zone": {z: float(v) for z, v in zip(run.zone_ids, by_zone, strict=True)},
            "by_hour": by_hour,
        }
    else:
        presence = {"mean_patrolling": None, "by_zone": {}, "by_hour": []}
    out: dict[str, Any] = {
        "scenario": run.scenario,
        "seed": run.seed,
        "replications": 1,
        "incidents": top["incidents"],
        "p_wait": top["p_wait"],
        "p_lost": top["p_lost"],
        "mean_wait_min": top["mean_wait_min"],
        "response_min": top["response_min"],
        "by_priority": by_priority,
        "units": units,
        "dispatch_fractions": fractions,
        "out_of_area_fraction": ooa,
        "presence": presence,
        "checkpoints": run.checkpoints,
    }
    if len(run.agencies) > 1:
        out["by_agency"] = {
            a: _tallies(inc, inc["agency"] == k) for k, a in enumerate(run.agencies)
        }
    return out


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
    return len(a) == len(b) and all(q in ("*", p) for p, q in zip(a, b, strict=True))


def _mean_tree(trees: Sequence[Any]) -> Any:
    """Average numeric leaves over replications (ints summed for counts named incidents)."""
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
    if isinstance(first, int) and all(isinstance(v, int) for v in vals):
        return float(np.mean(vals))
    return float(np.mean(vals))


def summarize(runs: Sequence[RunResult]) -> dict[str, Any]:
    """Summarise replications into the fixed-key summary (``ci95`` when R > 1).

    Args:
        runs: The replications of one scenario and seed.

    Returns:
        The summary dict (keys :data:`SUMMARY_KEYS`); numbers are means over replications,
        ``incidents`` and unit ``dispatches`` are totals.

    """
    if not runs:
        raise ValueError("summarize needs at least one replication")
    per = [summarize_run(r) for r in runs]
    if len(per) == 1:
        return per[0]
    out: dict[str, Any] = _mean_tree(per)
    out["scenario"] = per[0]["scenario"]
    out["seed"] = per[0]["seed"]
    out["replications"] = len(per)
    out["incidents"] = int(sum(p["incidents"] for p in per))
    for level in out["by_priority"]:
        out["by_priority"][level]["incidents"] = int(
            sum(p["by_priority"][level]["incidents"] for p in per)
        )
    for agency in out.get("by_agency", {}):
        out["by_agency"][agency]["incidents"] = int(
            sum(p["by_agency"][agency]["incidents"] for p in per)
        )
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


def write_outputs(
    out: str | Path, runs: Sequence[RunResult], summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write the Parquet tables and ``summary.json`` for *runs* into folder *out*.

    Args:
        out: Output folder (created).
        runs: The replications.
        summary: A precomputed summary (computed when None).

    Returns:
        The summary written.

    """
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    summary = summary if summary is not None else summarize(runs)
    meta = {
        b"twin.scenario": runs[0].scenario.encode(),
        b"twin.seed": str(runs[0].seed).encode(),
        b"twin.replications": str(len(runs)).encode(),
    }
    for name, table in (
        ("incidents", incidents_table(runs)),
        ("units", units_table(runs)),
        ("presence", presence_table(runs)),
    ):
        # dictionary-encode only the id columns (floats do not compress that way)
        dict_cols: Any = [
            c for c in ("origin", "zone", "unit", "agency") if c in table.column_names
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
