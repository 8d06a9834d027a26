"""Compare the variants of a sweep: per-KPI means and 95% CIs, paired differences, verdicts.

Input: ``replications.parquet`` (one row per (variant, replication); KPI columns as written by
:func:`twin.model.kpis.flat_kpis`). Every variant of a sweep ran replication r with the same
seed, so replication r of two variants saw the same incidents: differences are paired by
replication (:func:`twin.statistics.paired_difference`) over the replications all variants
have. Output (:func:`compare`), exactly what ``twin compare DIR --json`` prints::

    {"baseline": NAME, "replications": R,
     "variants": {NAME: {"kpis": {KPI: {"mean": x, "ci95": h}},
                         "diff": {KPI: {"mean": d, "ci95": h, "verdict": "better"}},
                         "by_agency": {AGENCY: {"kpis": {...}, "diff": {...}}},
                         "by_district": {DISTRICT: {"kpis": {...}, "diff": {...}}}}}}

The baseline's entries have no ``diff``. Verdicts: ``better`` / ``worse`` when the paired
interval excludes 0 (which way is better per KPI: :func:`twin.model.kpis.kpi_direction`),
``not distinguishable`` otherwise; KPIs with no better direction (``incidents``,
``utilisation``) say ``higher`` / ``lower``. Unknown values (no incident of a district in any
replication, a single replication's interval) are ``null``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from twin.errors import ConfigError
from twin.model.kpis import kpi_direction
from twin.statistics import mean_ci, paired_difference, verdict

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["GROUPS", "compare", "kpi_columns", "read_sweep"]

GROUPS = ("agency", "district")
"""The breakdowns ``--by`` accepts (columns ``agency=<id>/<kpi>``, ``district=<id>/<kpi>``)."""


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def kpi_columns(frame: pd.DataFrame) -> dict[str | None, dict[str, list[tuple[str, str]]]]:
    """Return ``{kind: {group: [(kpi, column)]}}``; kind None is the overall KPIs."""
    out: dict[str | None, dict[str, list[tuple[str, str]]]] = {None: {"": []}}
    for col in frame.columns:
        if col in ("variant", "replication", "seed"):
            continue
        if "/" in col and "=" in col.split("/", 1)[0]:
            head, kpi = col.split("/", 1)
            kind, group = head.split("=", 1)
            out.setdefault(kind, {}).setdefault(group, []).append((kpi, col))
        else:
            out[None][""].append((col, col))
    return out


def _block(
    reps: Sequence[int],
    cols: list[tuple[str, str]],
    values: dict[str, dict[str, dict[int, float]]],
    variant: str,
    baseline: str,
) -> dict[str, Any]:
    kpis: dict[str, Any] = {}
    diff: dict[str, Any] = {}
    for kpi, col in cols:
        series = values[col]
        x = [series[variant].get(r, math.nan) for r in reps]
        if all(not math.isfinite(v) for v in x):
            kpis[kpi] = {"mean": None, "ci95": None}
        else:
            m, h = mean_ci(x)
            kpis[kpi] = {"mean": _num(m), "ci95": _num(h)}
        if variant == baseline:
            continue
        b = [series[baseline].get(r, math.nan) for r in reps]
        d, h, _pairs = paired_difference(b, x)
        try:
            direction = kpi_direction(kpi)
        except KeyError:
            direction = 0
        diff[kpi] = {"mean": _num(d), "ci95": _num(h), "verdict": verdict(d, h, direction)}
    out: dict[str, Any] = {"kpis": kpis}
    if variant != baseline:
        out["diff"] = diff
    return out


def compare(
    frame: pd.DataFrame,
    baseline: str | None = None,
    by: Sequence[str] = GROUPS,
    variants: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Compare the variants of a sweep against a baseline.

    Args:
        frame: The rows of ``replications.parquet``.
        baseline: The baseline variant (default: the first variant).
        by: Breakdowns to include (``agency``, ``district``).
        variants: Variant order (default: order of first appearance in *frame*).

    Returns:
        The comparison mapping described in the module docstring.

    Raises:
        ConfigError: Unknown baseline or breakdown, or no replication that every variant has.

    """
    names = list(variants) if variants is not None else list(dict.fromkeys(frame["variant"]))
    if not names:
        raise ConfigError("the sweep has no finished replication yet; run `twin sweep` first")
    base = baseline if baseline is not None else names[0]
    if base not in names:
        raise ConfigError(f"--baseline {base!r}: not a variant of this sweep; variants: {names}")
    for kind in by:
        if kind not in GROUPS:
            raise ConfigError(f"--by {kind!r}: use one of {', '.join(GROUPS)}")
    sets = [set(frame.loc[frame["variant"] == v, "replication"].astype(int)) for v in names]
    reps = sorted(set.intersection(*sets)) if sets else []
    if not reps:
        raise ConfigError("no replication has finished for every variant; resume the sweep")
    columns = kpi_columns(frame)
    values: dict[str, dict[str, dict[int, float]]] = {}
    for col in frame.columns:
        if col in ("variant", "replication", "seed"):
            continue
        per: dict[str, dict[int, float]] = {}
        for v, r, x in zip(frame["variant"], frame["replication"], frame[col], strict=True):
            per.setdefault(str(v), {})[int(r)] = math.nan if x is None else float(x)
        values[col] = per
    out: dict[str, Any] = {"baseline": base, "replications": len(reps), "variants": {}}
    for v in names:
        entry = _block(reps, columns[None][""], values, v, base)
        for kind in by:
            entry[f"by_{kind}"] = {
                group: _block(reps, cols, values, v, base)
                for group, cols in columns.get(kind, {}).items()
            }
        out["variants"][v] = entry
    return out


def read_sweep(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Return a sweep folder's plan (``sweep.json``) and ``replications.parquet``.

    Raises:
        ConfigError: The folder is not a sweep folder or has no finished replication.

    """
    import json

    import pandas as pd

    root = Path(folder)
    plan_path = root / "sweep.json"
    if not plan_path.exists():
        raise ConfigError(f"{root}: not a sweep folder (no sweep.json); run `twin sweep --out`")
    plan = json.loads(plan_path.read_text())
    table = root / "replications.parquet"
    if not table.exists():
        raise ConfigError(f"{root}: no replications.parquet yet; run or resume the sweep")
    return plan, pd.read_parquet(table)
