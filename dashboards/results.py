"""Simulation results the dashboards read: runs, sweeps and optimizer curves under ``--results``.

Layout (the output contract between ``twin simulate``/``twin sweep``/``twin optimize`` and the
dashboards, see LAYOUT.md): under the results root every folder holding ``summary.json`` is a
run (a replay's folder also holds ``replay.parquet``), every folder holding ``sweep.json`` is a
sweep (``replications.parquet``: one row per variant and replication with KPI columns; optional
``compare.json``), and every ``*.optimize.json`` is an optimizer result.

Everything is read once and cached by file modification time; callbacks only slice the small
frames kept here. KPIs per agency, district and zone come from ``summary.json`` where the run
wrote them (``by_agency``/``by_district``), otherwise they are computed once from the run's
``incidents.parquet`` (the same definitions: response = received → on scene, tallies over
incidents, counts per replication).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pandas as pd

from dashboards.labels import kpi
from dashboards.scenario_info import ScenarioInfo, find_scenario_file, load_info
from twin.errors import DataError
from twin.statistics import paired_difference
from twin.statistics import verdict as paired_verdict

__all__ = [
    "THRESHOLDS",
    "Optimizer",
    "ResultsIndex",
    "Run",
    "Sweep",
    "paired_differences",
    "run_breakdown",
    "scan",
]

THRESHOLDS = (1, 3, 5, 8)
"""Minutes of the "reached within" shares (the contract's defaults)."""

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

    Returns:
        ``{"agency": ..., "district": ..., "zone": ...}``; each frame has ``agency`` (and
        ``district``/``zone``), ``incidents`` (per replication), ``response_mean_min``,
        ``response_p50_min``, ``response_p90_min``, ``within_<k>_min``, ``p_wait``.

    """
    return _cached((str(run.path), run.mtime), lambda: _breakdown(run, info))


def _breakdown(run: Run, info: ScenarioInfo | None) -> dict[str, pd.DataFrame]:
    path = run.path / "incidents.parquet"
    if not path.is_file():
        raise DataError(f"{path} is missing; run `twin simulate` with --out {run.path}")
    districts = pd.DataFrame(
        {
            "zone": list(info.zone_district) if info else [],
            "district": list(info.zone_district.values()) if info else [],
        },
        dtype="str",
    )
    within = ", ".join(
        f"avg((response_min <= {k})::DOUBLE) FILTER (WHERE response_min IS NOT NULL) "
        f"AS within_{k}_min"
        for k in THRESHOLDS
    )
    con = duckdb.connect(":memory:")
    try:
        con.register("zd", districts)
        frame = con.execute(
            f"""
            SELECT agency::VARCHAR AS agency, coalesce(d.district, '') AS district,
                   i.zone::VARCHAR AS zone,
                   GROUPING(d.district, i.zone) AS g,
                   count(*) / ? AS incidents,
                   avg(response_min) AS response_mean_min,
                   median(response_min) AS response_p50_min,
                   quantile_cont(response_min, 0.9) AS response_p90_min,
                   {within},
                   avg(waited::DOUBLE) AS p_wait
            FROM read_parquet(?) i LEFT JOIN zd d ON d.zone = i.zone::VARCHAR
            WHERE NOT coalesce(lost, false)
            GROUP BY GROUPING SETS ((agency), (agency, d.district), (agency, d.district, i.zone))
            """,
            [float(run.replications), str(path)],
        ).df()
    except duckdb.Error as exc:
        raise DataError(f"could not read {path}: {exc}") from exc
    finally:
        con.close()
    g = frame.pop("g")
    agency = frame[g == 3].drop(columns=["district", "zone"]).reset_index(drop=True)
    district = frame[g == 1].drop(columns=["zone"]).reset_index(drop=True)
    zone = frame[g == 0].reset_index(drop=True)
    return {"agency": agency, "district": district, "zone": zone}


# -- paired differences of a sweep ------------------------------------------------------------


def kpi_columns(reps: pd.DataFrame) -> list[str]:
    """Return the KPI columns of ``replications.parquet`` (all but variant, replication, seed)."""
    skip = {"variant", "replication", "seed"}
    return [c for c in reps.columns if c not in skip and pd.api.types.is_numeric_dtype(reps[c])]


def paired_differences(
    reps: pd.DataFrame, baseline: str, columns: list[str] | None = None, level: float = 0.95
) -> pd.DataFrame:
    """Paired differences of every variant against *baseline*, per KPI column.

    Replications are paired by ``replication`` (common random numbers: the same replication
    index sees the same seed in every variant). The verdict is ``better`` or ``worse`` when
    the confidence interval of the mean difference excludes 0 (direction by the KPI's
    ``better`` side), ``not distinguishable`` otherwise (:mod:`twin.statistics.paired`).

    Returns:
        Rows of ``variant``, ``kpi``, ``baseline_mean``, ``variant_mean``, ``diff``, ``ci``,
        ``n``, ``verdict``.

    """
    cols = columns or kpi_columns(reps)
    base = reps[reps["variant"] == baseline].set_index("replication")
    rows = []
    for variant in pd.unique(reps["variant"]):
        if variant == baseline:
            continue
        other = reps[reps["variant"] == variant].set_index("replication")
        common = base.index.intersection(other.index)
        for col in cols:
            if col not in other.columns or col not in base.columns:
                continue
            b = base.loc[common, col].astype(float).to_numpy()
            v = other.loc[common, col].astype(float).to_numpy()
            mean, half, n = paired_difference(b, v, level)
            better = kpi(col).better
            direction = -1 if better == "low" else (1 if better == "high" else 0)
            verdict = paired_verdict(mean, half, direction)
            rows.append(
                {
                    "variant": str(variant),
                    "kpi": col,
                    "baseline_mean": float(base.loc[common, col].astype(float).mean()),
                    "variant_mean": float(other.loc[common, col].astype(float).mean()),
                    "diff": mean,
                    "ci": half,
                    "n": n,
                    "verdict": verdict,
                }
            )
    return pd.DataFrame(
        rows,
        columns=["variant", "kpi", "baseline_mean", "variant_mean", "diff", "ci", "n", "verdict"],
    )


_OVERALL = ("incidents", "response_mean_min", "response_p50_min", "response_p90_min")


def replication_kpis(run: Run, info: ScenarioInfo | None) -> pd.DataFrame:
    """KPIs of each replication of a run, in the columns of the sweep contract.

    One row per replication: ``replication``, overall KPIs, ``agency=<id>/<kpi>`` and
    ``district=<id>/<kpi>`` (districts over all agencies). Used to read runs as a sweep when
    only the variants' result folders exist, and by the tests to build sweep fixtures from real
    ``twin simulate`` output.
    """
    path = run.path / "incidents.parquet"
    districts = pd.DataFrame(
        {
            "zone": list(info.zone_district) if info else [],
            "district": list(info.zone_district.values()) if info else [],
        },
        dtype="str",
    )
    within = ", ".join(
        f"avg((response_min <= {k})::DOUBLE) FILTER (WHERE response_min IS NOT NULL) "
        f"AS within_{k}_min"
        for k in THRESHOLDS
    )
    con = duckdb.connect(":memory:")
    try:
        con.register("zd", districts)
        frame = con.execute(
            f"""
            SELECT replication, agency::VARCHAR AS agency, d.district AS district,
                   GROUPING(agency, d.district) AS g, count(*)::DOUBLE AS incidents,
                   avg(response_min) AS response_mean_min,
                   median(response_min) AS response_p50_min,
                   quantile_cont(response_min, 0.9) AS response_p90_min, {within},
                   avg(waited::DOUBLE) AS p_wait
            FROM read_parquet(?) i LEFT JOIN zd d ON d.zone = i.zone::VARCHAR
            WHERE NOT coalesce(lost, false)
            GROUP BY GROUPING SETS ((replication), (replication, agency),
                                    (replication, d.district))
            """,
            [str(path)],
        ).df()
    except duckdb.Error as exc:
        raise DataError(f"could not read {path}: {exc}") from exc
    finally:
        con.close()
    kpis = [c for c in frame.columns if c not in ("replication", "agency", "district", "g")]
    out = frame[frame["g"] == 3].set_index("replication")[kpis]
    for g, col, prefix in ((1, "agency", "agency"), (2, "district", "district")):
        part = frame[frame["g"] == g]
        for key, rows in part.groupby(col):
            sub = rows.set_index("replication")[kpis]
            sub.columns = [f"{prefix}={key}/{c}" for c in kpis]
            out = out.join(sub, how="left")
    return out.reset_index()
