"""Simulation results the dashboards read: runs, sweeps and optimizer curves under ``--results``.

Layout (the output contract between ``twin simulate``/``twin sweep``/``twin optimize`` and the
dashboards, see LAYOUT.md): under the results root every folder holding ``summary.json`` is a
run (a replay's folder also holds ``replay.parquet``), every folder holding ``sweep.json`` is a
sweep (``replications.parquet``: one row per variant and replication with KPI columns; optional
``compare.json``), and every ``*.optimize.json`` is an optimizer result.

Everything is read once and cached by file modification time; callbacks only slice the small
frames kept here. The dashboards compute no KPI themselves: per agency, district and zone they
read the engine's ``kpis.parquet`` (:func:`twin.model.kpis.area_rows`, the functions behind
``summary.json``'s ``by_agency``/``by_district`` and a sweep's ``replications.parquet``) and
only average it over replications with a 95% interval, as ``summary.json`` pools them. A
sweep's per-zone KPIs are its ``zones.parquet``.
"""

from __future__ import annotations

import itertools
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from dashboards.scenario_info import ScenarioInfo, find_scenario_file, load_info
from twin.errors import DataError
from twin.model.kpis import kpi_direction
from twin.statistics import mean_ci, paired_difference
from twin.statistics import verdict as paired_verdict

__all__ = [
    "Optimizer",
    "ResultsIndex",
    "Run",
    "Sweep",
    "comparison_frame",
    "pool_replications",
    "replication_kpis",
    "run_breakdown",
    "scan",
    "zone_differences",
]

_SKIP = (".", "_")
_GENERATIONS = itertools.count(1)
T = TypeVar("T")


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path} not found") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); write it again") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object")
    return data


@dataclass
class Run:
    """One result folder (``twin simulate`` or ``twin replay``).

    Attributes:
        name: Path relative to the results root ("seattle_baseline").
        path: The folder.
        mtime: Modification time of its ``summary.json``.
        is_replay: Whether it holds ``replay.parquet``.

    """

    name: str
    path: Path
    mtime: float
    is_replay: bool = False
    _summary: dict[str, Any] | None = field(default=None, repr=False)
    _info: ScenarioInfo | None = field(default=None, repr=False)
    _info_done: bool = field(default=False, repr=False)
    _hourly: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def summary(self) -> dict[str, Any]:
        """The run's ``summary.json`` (read once)."""
        if self._summary is None:
            self._summary = _read_json(self.path / "summary.json")
        return self._summary

    @property
    def scenario(self) -> str:
        """Scenario name from the summary."""
        return str(self.summary.get("scenario") or self.name)

    def info(self, roots: list[Path]) -> ScenarioInfo | None:
        """Return the scenario's names and places, when its YAML can be found."""
        if not self._info_done:
            found = find_scenario_file(self.scenario, self.path, roots)
            self._info = load_info(found) if found is not None else None
            self._info_done = True
        return self._info

    def checkpoints_hourly(self) -> pd.DataFrame | None:
        """Each checkpoint's hour-of-day table, averaged over replications (None: not written).

        ``checkpoints_hourly.parquet`` (one row per replication, checkpoint and hour, written
        by the simulation) pooled with :func:`pool_replications` over ``checkpoint``, ``mode``,
        ``lanes``, ``hour``.
        """
        if self._hourly is None:
            path = self.path / "checkpoints_hourly.parquet"
            if not path.is_file():
                return None
            try:
                raw = pd.read_parquet(path)
            except Exception as exc:
                raise DataError(f"{path} cannot be read ({exc})") from exc
            self._hourly = pool_replications(raw, ["checkpoint", "mode", "lanes", "hour"])
        return self._hourly

    @property
    def replications(self) -> int:
        """Replications in the run."""
        return int(self.summary.get("replications") or 1)

    def label(self) -> str:
        """Dropdown label: scenario, folder, replications."""
        kind = "replay" if self.is_replay else "run"
        return f"{self.scenario} — {kind} {self.name} ({self.replications} repl.)"


@dataclass
class Sweep:
    """A sweep folder: ``sweep.json``, ``replications.parquet``, optional ``compare.json``."""

    name: str
    path: Path
    mtime: float
    _meta: dict[str, Any] | None = field(default=None, repr=False)
    _reps: pd.DataFrame | None = field(default=None, repr=False)
    _zones: pd.DataFrame | None = field(default=None, repr=False)
    _diffs: pd.DataFrame | None = field(default=None, repr=False)
    _comparison: dict[str, Any] | None = field(default=None, repr=False)
    _zone_diffs: dict[tuple[str, str, str], pd.DataFrame] = field(default_factory=dict, repr=False)

    def comparison(self) -> dict[str, Any]:
        """Return ``compare.json``, else :func:`twin.experiments.compare.compare` of the rows.

        A sweep still running has no ``compare.json`` yet; its committed replications are then
        compared with the same function ``twin compare`` uses.
        """
        if self._comparison is None:
            written = self.compare
            if written is None:
                from twin.experiments.compare import compare

                written = compare(self.replications, baseline=self.baseline, variants=self.variants)
            self._comparison = written
        return self._comparison

    def differences(self) -> pd.DataFrame:
        """Return the comparison's differences and verdicts, one row per variant and KPI."""
        if self._diffs is None:
            self._diffs = comparison_frame(self.comparison())
        return self._diffs

    def zone_diff(self, variant: str, key: str, agency: str) -> pd.DataFrame | None:
        """:func:`zone_differences` against the baseline (None: no ``zones.parquet``; cached)."""
        zones = self.zones
        if zones is None:
            return None
        ck = (variant, key, agency)
        hit = self._zone_diffs.get(ck)
        if hit is None:
            hit = zone_differences(zones, self.baseline, variant, key, agency)
            if len(self._zone_diffs) > 256:
                self._zone_diffs.clear()
            self._zone_diffs[ck] = hit
        return hit

    @property
    def meta(self) -> dict[str, Any]:
        """``sweep.json``."""
        if self._meta is None:
            self._meta = _read_json(self.path / "sweep.json")
        return self._meta

    @property
    def replications(self) -> pd.DataFrame:
        """``replications.parquet`` (one row per variant and replication)."""
        if self._reps is None:
            path = self.path / "replications.parquet"
            if not path.is_file():
                raise DataError(f"{path} is missing: the sweep did not finish; run it again")
            try:
                self._reps = pd.read_parquet(path)
            except Exception as exc:
                raise DataError(f"{path} cannot be read ({exc})") from exc
            if "variant" not in self._reps.columns:
                raise DataError(f"{path} has no 'variant' column")
        return self._reps

    @property
    def zones(self) -> pd.DataFrame | None:
        """``zones.parquet`` (per-zone KPIs per variant and replication), when written."""
        if self._zones is None:
            path = self.path / "zones.parquet"
            if not path.is_file():
                return None
            try:
                self._zones = pd.read_parquet(path)
            except Exception as exc:
                raise DataError(f"{path} cannot be read ({exc})") from exc
        return self._zones

    @property
    def compare(self) -> dict[str, Any] | None:
        """``compare.json`` (``twin compare DIR --json``), when present."""
        path = self.path / "compare.json"
        return _read_json(path) if path.is_file() else None

    @property
    def variants(self) -> list[str]:
        """Variant names in ``sweep.json`` order (else the Parquet's)."""
        declared = self.meta.get("variants")
        if isinstance(declared, dict) and declared:
            return [str(v) for v in declared]
        if isinstance(declared, list) and declared:
            return [str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in declared]
        return [str(v) for v in pd.unique(self.replications["variant"])]

    @property
    def baseline(self) -> str:
        """The baseline variant: ``sweep.json`` ``baseline``, else one named so, else first."""
        declared = self.meta.get("baseline")
        names = self.variants
        if isinstance(declared, str) and declared in names:
            return declared
        for name in names:
            if "baseline" in name:
                return name
        return names[0]

    def variant_dir(self, variant: str) -> Path | None:
        """Return the result folder of one variant (holding its ``summary.json``), when kept."""
        for candidate in (self.path / variant, self.path / "runs" / variant):
            if (candidate / "summary.json").is_file():
                return candidate
        return None

    def scenario_path(self, variant: str) -> Path | None:
        """Return the scenario YAML of a variant as ``sweep.json`` names it."""
        declared = self.meta.get("variants")
        entry: Any = declared.get(variant) if isinstance(declared, dict) else None
        raw = entry.get("scenario") if isinstance(entry, dict) else entry
        if isinstance(raw, str):
            p = Path(raw)
            for candidate in (p, self.path / p):
                if candidate.is_file():
                    return candidate
        return None


@dataclass
class Optimizer:
    """An ``*.optimize.json``: units-vs-KPI curve, the chosen and naive layouts."""

    name: str
    path: Path
    mtime: float

    @property
    def data(self) -> dict[str, Any]:
        """The file's content."""
        return _read_json(self.path)

    def curve(self) -> pd.DataFrame:
        """``units``, ``kpi_mean``, ``ci95``, ``meets`` rows, sorted by units."""
        rows = self.data.get("curve") or []
        frame = pd.DataFrame(
            [r for r in rows if isinstance(r, dict)],
            columns=["units", "kpi_mean", "ci95", "meets"],
        )
        for col in ("units", "kpi_mean", "ci95"):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
        frame["meets"] = frame["meets"].fillna(False).astype(bool)
        return frame.dropna(subset=["units", "kpi_mean"]).sort_values("units")


@dataclass
class ResultsIndex:
    """What the results root holds, newest first."""

    root: Path
    runs: list[Run]
    sweeps: list[Sweep]
    optimizers: list[Optimizer]
    generation: int = field(default_factory=lambda: next(_GENERATIONS))
    """Distinct for every index built (caches key on it)."""

    def run(self, name: str) -> Run:
        """Return the run named *name* (a path relative to the root)."""
        for r in self.runs:
            if r.name == name:
                return r
        raise DataError(f"no result {name!r} under {self.root}; pick one from the list")

    def sweep(self, name: str) -> Sweep:
        """Return the sweep named *name*."""
        for s in self.sweeps:
            if s.name == name:
                return s
        raise DataError(f"no sweep {name!r} under {self.root}; pick one from the list")

    def optimizer(self, name: str) -> Optimizer:
        """Return the optimizer result named *name*."""
        for o in self.optimizers:
            if o.name == name:
                return o
        raise DataError(f"no optimizer result {name!r} under {self.root}")

    @property
    def roots(self) -> list[Path]:
        """Folders searched for scenario YAML files."""
        return [self.root, Path("scenarios")]


_SCANS: dict[str, tuple[float, tuple[Any, ...], ResultsIndex]] = {}
_SCAN_LOCK = threading.Lock()
_RESCAN_S = 5.0


def _walk(root: Path, max_depth: int = 4) -> tuple[list[Path], list[Path], list[Path]]:
    summaries: list[Path] = []
    sweeps: list[Path] = []
    optim: list[Path] = []
    stack = [(root, 0)]
    while stack:
        folder, depth = stack.pop()
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith(_SKIP):
                continue
            if entry.is_dir():
                if depth < max_depth:
                    stack.append((entry, depth + 1))
            elif entry.name == "summary.json":
                summaries.append(entry)
            elif entry.name == "sweep.json":
                sweeps.append(entry)
            elif entry.name.endswith(".optimize.json"):
                optim.append(entry)
    return summaries, sweeps, optim


def scan(root: Path, fresh: bool = False) -> ResultsIndex:
    """Index the results root (re-walked at most every few seconds; parsed files cached).

    A run that belongs to a sweep (a folder inside a sweep folder) is listed under the sweep,
    not as a separate run.

    Args:
        root: The results folder.
        fresh: Walk the folder now even if it was walked a moment ago.

    """
    root = Path(root)
    key = str(root)
    now = time.monotonic()
    with _SCAN_LOCK:
        hit = _SCANS.get(key)
        if hit is not None and now - hit[0] < _RESCAN_S and not fresh:
            return hit[2]
    if not root.is_dir():
        index = ResultsIndex(root, [], [], [])
    else:
        summaries, sweep_files, optim = _walk(root)
        files = sorted(summaries + sweep_files + optim)
        signature = tuple((str(p), p.stat().st_mtime) for p in files if p.exists())
        if hit is not None and hit[1] == signature:
            with _SCAN_LOCK:
                _SCANS[key] = (now, signature, hit[2])
            return hit[2]
        sweep_dirs = [p.parent for p in sweep_files]

        def rel(p: Path) -> str:
            r = p.relative_to(root).as_posix()
            return r if r else "."

        runs = [
            Run(
                rel(p.parent),
                p.parent,
                p.stat().st_mtime,
                is_replay=(p.parent / "replay.parquet").is_file(),
            )
            for p in summaries
            if not any(p.parent != d and p.parent.is_relative_to(d) for d in sweep_dirs)
        ]
        sweeps = [Sweep(rel(p.parent), p.parent, p.stat().st_mtime) for p in sweep_files]
        optimizers = [
            Optimizer(
                p.relative_to(root).as_posix().removesuffix(".optimize.json"), p, p.stat().st_mtime
            )
            for p in optim
        ]
        old = {r.name: r for r in hit[2].runs} if hit is not None else {}
        runs = [old[r.name] if r.name in old and old[r.name].mtime == r.mtime else r for r in runs]
        for items in (runs, sweeps, optimizers):
            items.sort(key=lambda x: (-x.mtime, x.name))
        index = ResultsIndex(root, runs, sweeps, optimizers)
        signature_final = signature
        with _SCAN_LOCK:
            _SCANS[key] = (now, signature_final, index)
        return index
    with _SCAN_LOCK:
        _SCANS[key] = (now, (), index)
    return index


# -- per agency / district / zone KPIs of a run -----------------------------------------------

_BREAKDOWNS: dict[tuple[str, float], dict[str, pd.DataFrame]] = {}
_BD_LOCK = threading.Lock()


def _cached(
    key: tuple[str, float], build: Callable[[], dict[str, pd.DataFrame]]
) -> dict[str, pd.DataFrame]:
    with _BD_LOCK:
        hit = _BREAKDOWNS.get(key)
    if hit is not None:
        return hit
    value = build()
    with _BD_LOCK:
        if len(_BREAKDOWNS) > 64:
            _BREAKDOWNS.clear()
        _BREAKDOWNS[key] = value
    return value


def run_breakdown(run: Run, info: ScenarioInfo | None) -> dict[str, pd.DataFrame]:
    """KPIs of a run per agency, per (agency, district) and per (agency, zone).

    Read from the engine's ``kpis.parquet`` (levels ``agency``, ``agency_district``,
    ``agency_zone``) and averaged over replications; nothing is recomputed from incidents.

    Returns:
        ``{"agency": ..., "district": ..., "zone": ...}``; each frame has ``agency`` (and
        ``district``/``zone``), ``incidents`` (per replication), ``response_mean_min``,
        ``response_p50_min``, ``response_p90_min``, ``within_<k>_min``, ``p_wait``,
        ``utilisation`` and, with several replications, ``<kpi>_ci`` half-widths.

    """
    return _cached((str(run.path), run.mtime), lambda: _breakdown(run, info))


_KEYS = ("level", "agency", "district", "zone")


def _kpis_table(run: Run) -> pd.DataFrame:
    """Read the run's ``kpis.parquet`` (the engine's KPIs per replication and area)."""
    path = run.path / "kpis.parquet"
    if not path.is_file():
        raise DataError(
            f"{path} is missing: this result was written before the twin wrote its KPIs per "
            f"area; simulate it again (`twin simulate SCENARIO --out {run.path}`)"
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(f"{path} cannot be read ({exc})") from exc
    missing = {"replication", *_KEYS} - set(frame.columns)
    if missing:
        raise DataError(f"{path} lacks columns {sorted(missing)}; simulate it again")
    return frame


def pool_replications(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Average KPI rows over replications per group (as ``summary.json`` pools them).

    Returns:
        One row per group: *keys*, the mean of every KPI column and, with two or more
        replications, ``<kpi>_ci`` (95% Student-t half-width across replications).

    """
    cols = [c for c in frame.columns if c not in (*keys, "replication", *_KEYS)]
    rows = []
    for group, part in frame.groupby(keys, sort=False, dropna=False):
        values = group if isinstance(group, tuple) else (group,)
        row: dict[str, Any] = dict(zip(keys, values, strict=True))
        for c in cols:
            vals = part[c].astype(float).dropna().to_numpy()
            row[c] = float(vals.mean()) if vals.size else math.nan
            if vals.size > 1:
                row[f"{c}_ci"] = float(mean_ci(vals)[1])
        rows.append(row)
    return pd.DataFrame(rows)


def _breakdown(run: Run, info: ScenarioInfo | None) -> dict[str, pd.DataFrame]:
    del info  # districts come with the engine's table
    table = _kpis_table(run)
    out: dict[str, pd.DataFrame] = {}
    for name, level, keys in (
        ("agency", "agency", ["agency"]),
        ("district", "agency_district", ["agency", "district"]),
        ("zone", "agency_zone", ["agency", "district", "zone"]),
    ):
        part = table[table["level"] == level].drop(columns=[k for k in _KEYS if k not in keys])
        pooled = pool_replications(part, keys)
        if pooled.empty:
            pooled = pd.DataFrame(columns=keys)
        out[name] = pooled.reset_index(drop=True)
    return out


# -- paired differences of a sweep ------------------------------------------------------------


def kpi_columns(reps: pd.DataFrame) -> list[str]:
    """Return the KPI columns of ``replications.parquet`` (all but variant, replication, seed)."""
    skip = {"variant", "replication", "seed"}
    return [c for c in reps.columns if c not in skip and pd.api.types.is_numeric_dtype(reps[c])]


def comparison_frame(comparison: dict[str, Any]) -> pd.DataFrame:
    """Flatten a sweep's comparison (``compare.json``) into one row per variant and KPI.

    KPIs keep the column names of ``replications.parquet``: ``response_mean_min`` overall,
    ``agency=<id>/<kpi>`` and ``district=<id>/<kpi>`` per group. The figures are the sweep's
    own (:func:`twin.experiments.compare.compare`): nothing is recomputed here.

    Returns:
        Rows of ``variant``, ``kpi``, ``baseline_mean``, ``variant_mean``, ``diff``, ``ci``,
        ``n``, ``verdict`` (the baseline has no rows).

    """
    cols = ["variant", "kpi", "baseline_mean", "variant_mean", "diff", "ci", "n", "verdict"]
    variants = comparison.get("variants") or {}
    base = str(comparison.get("baseline") or "")
    n = comparison.get("replications")
    base_entry = variants.get(base) or {}

    def num(x: Any) -> float:
        return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else math.nan

    rows = []
    for name, entry in variants.items():
        if name == base or not isinstance(entry, dict):
            continue
        sections: list[tuple[str, dict[str, Any], dict[str, Any]]] = [("", entry, base_entry)]
        for kind in ("agency", "district"):
            for group, sub in (entry.get(f"by_{kind}") or {}).items():
                other = (base_entry.get(f"by_{kind}") or {}).get(group) or {}
                sections.append((f"{kind}={group}/", sub, other))
        for prefix, sub, other in sections:
            for k, d in (sub.get("diff") or {}).items():
                rows.append(
                    {
                        "variant": str(name),
                        "kpi": prefix + k,
                        "baseline_mean": num(((other.get("kpis") or {}).get(k) or {}).get("mean")),
                        "variant_mean": num(((sub.get("kpis") or {}).get(k) or {}).get("mean")),
                        "diff": num(d.get("mean")),
                        "ci": num(d.get("ci95")),
                        "n": n,
                        "verdict": str(d.get("verdict") or "not distinguishable"),
                    }
                )
    return pd.DataFrame(rows, columns=cols)


def replication_kpis(run: Run, info: ScenarioInfo | None = None) -> pd.DataFrame:
    """KPIs of each replication of a run, in the columns of the sweep contract.

    One row per replication: ``replication``, overall KPIs, ``agency=<id>/<kpi>`` and
    ``district=<id>/<kpi>`` (districts over all agencies): the ``all``, ``agency`` and
    ``district`` rows of the run's ``kpis.parquet``, exactly what ``twin sweep`` writes into
    ``replications.parquet`` for the same scenario, seed and replication.
    """
    del info
    table = _kpis_table(run)
    kpis = [c for c in table.columns if c not in ("replication", *_KEYS)]
    out = table[table["level"] == "all"].set_index("replication")[kpis]
    for level, col in (("agency", "agency"), ("district", "district")):
        for key, rows in table[table["level"] == level].groupby(col, sort=False):
            sub = rows.set_index("replication")[kpis]
            sub.columns = [f"{level}={key}/{c}" for c in kpis]
            out = out.join(sub, how="left")
    return out.reset_index()


def zone_differences(
    zones: pd.DataFrame, baseline: str, variant: str, key: str, agency: str = ""
) -> pd.DataFrame:
    """Paired difference ``variant − baseline`` of one KPI per zone (a sweep's ``zones.parquet``).

    Replications are paired by index (common random numbers) with the statistics of
    ``twin compare`` (:func:`twin.statistics.paired_difference`, :func:`twin.statistics.verdict`,
    which way is better from :func:`twin.model.kpis.kpi_direction`).

    Returns:
        Rows of ``zone``, ``district``, ``diff``, ``ci``, ``n``, ``verdict``.

    """
    cols = ["zone", "district", "diff", "ci", "n", "verdict"]
    if key not in zones.columns:
        return pd.DataFrame(columns=cols)
    part = zones[
        (zones["agency"].astype(str) == agency) & zones["variant"].isin([baseline, variant])
    ]
    if part.empty:
        return pd.DataFrame(columns=cols)
    # zones x replications, one matrix per variant (NaN where a zone had no call that time)
    wide = part.pivot_table(
        index="zone", columns=["variant", "replication"], values=key, aggfunc="first", dropna=False
    )
    if baseline not in wide.columns.get_level_values(0) or variant not in (
        wide.columns.get_level_values(0)
    ):
        return pd.DataFrame(columns=cols)
    b, v = wide[baseline], wide[variant]
    reps = b.columns.intersection(v.columns)
    bm = b[reps].to_numpy(dtype=float)
    vm = v[reps].to_numpy(dtype=float)
    district = part.drop_duplicates("zone").set_index("zone")["district"]
    direction = kpi_direction(key)
    rows = []
    for i, zone in enumerate(wide.index):
        ok = np.isfinite(bm[i]) & np.isfinite(vm[i])
        if not ok.any():
            continue
        mean, half, n = paired_difference(bm[i], vm[i])
        rows.append(
            {
                "zone": str(zone),
                "district": str(district.get(zone, "")),
                "diff": mean,
                "ci": half,
                "n": n,
                "verdict": paired_verdict(mean, half, direction),
            }
        )
    return pd.DataFrame(rows, columns=cols)
