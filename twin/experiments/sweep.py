"""Sweeps: many (variant, replication) runs, batched, resumable, with a precision loop.

The library side of ``twin sweep`` (the Prefect/Dask shell is :mod:`flows.sweep`):

* :func:`build_variants` turns scenario files and ``--vary PATH=V1,V2`` into named
  :class:`Variant` s (a variant is named by its scenario's ``name``, plus ``[path=value]``
  for varied values); every value is checked by validating the resulting scenario.
* :func:`run_batch` runs one :class:`BatchJob` (several replications of one variant) and
  returns one KPI row per replication (:func:`twin.model.kpis.flat_kpis`). Replication r of
  every variant uses ``SeedSequence(seed, spawn_key=(r,))``: the same incidents in every
  variant (common random numbers), whatever executor ran it.
* :class:`SweepStore` owns the sweep folder. **Guarantee**: a finished batch is committed as
  one Parquet file written to a temporary name and renamed (atomic on POSIX), so a killed
  sweep leaves only whole batches; rerunning the same sweep into the same folder skips every
  committed replication and recomputes none. ``replications.parquet`` (all committed batches,
  variant then replication order) and ``compare.json`` are rewritten the same way.
* :func:`run_sweep` plans the missing batches, hands them to an *executor* (any callable
  that takes jobs and yields ``(job, rows)`` as they finish: :func:`local_executor` in this
  process, or Prefect tasks on Dask), commits each as it arrives, and with ``precision``
  adds replications until every headline KPI's 95% half-width is within ``precision x
  |mean|`` for every variant, or the cap is reached.

Folder layout: ``sweep.json`` (the plan: variants with their scenario file, varied values and
digest; seed; replications; thresholds; started / finished), ``batches/`` (committed
batches), ``replications.parquet``, ``zones.parquet``, ``compare.json``.

``zones.parquet`` holds what a map of per-zone differences needs, in long form: one row per
``variant``, ``replication``, ``agency`` (``""`` = all agencies) and ``zone`` with its
``district`` and the KPIs of :func:`twin.model.kpis.area_rows` (the ``zone`` and
``agency_zone`` levels of a run's ``kpis.parquet``). A sweep keeps no per-incident records: the
per-zone KPIs are what the pages read, and they are paired by replication like the rest.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from twin.errors import ConfigError
from twin.experiments.changes import set_path
from twin.model.kpis import DEFAULT_THRESHOLDS, AreaMaps, area_kpis, area_rows, flat_kpis
from twin.scenario import Scenario, parse_scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "HEADLINE_KPIS",
    "ZONES_KEY",
    "BatchJob",
    "Executor",
    "SweepStore",
    "Variant",
    "build_variants",
    "local_executor",
    "parse_vary",
    "plan_jobs",
    "precision_gap",
    "run_batch",
    "run_sweep",
]

ZONES_KEY = "zones"
"""Key of a :func:`run_batch` row holding that replication's per-zone KPI rows."""

HEADLINE_KPIS = ("response_mean_min", "response_p90_min", "p_wait", "within_5_min")
"""Overall KPIs the precision loop watches (``within_5_min`` when 5 is a threshold)."""


@dataclass(frozen=True)
class Variant:
    """One scenario of a sweep.

    Attributes:
        name: The scenario's ``name`` plus ``[path=value,...]`` for varied values.
        source: The scenario file it came from.
        vary: The varied values ``{path: value}``.
        data: The scenario mapping (after the varied values are set).
        digest: SHA-256 of the mapping (canonical JSON): the identity checked on resume.

    """

    name: str
    source: str
    vary: dict[str, Any]
    data: dict[str, Any]
    digest: str


@dataclass(frozen=True)
class BatchJob:
    """Replications of one variant run together (one orchestrated task)."""

    variant: str
    digest: str
    data: dict[str, Any]
    seed: int
    replications: tuple[int, ...]
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS


Executor = Callable[[Sequence[BatchJob]], Iterable[tuple[BatchJob, list[dict[str, Any]]]]]
"""Runs jobs and yields ``(job, rows)`` as each finishes (any order)."""


def _digest(data: dict[str, Any]) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def parse_vary(spec: str) -> tuple[str, list[Any]]:
    """Parse ``PATH=V1,V2,...``; values are read as YAML scalars (``3`` is a number).

    Raises:
        ConfigError: No ``=``, an empty path, or no value.

    """
    path, sep, values = spec.partition("=")
    path = path.strip()
    if not sep or not path:
        raise ConfigError(f"--vary {spec!r}: write PATH=V1,V2 (e.g. travel.speed_kmh=30,40)")
    out: list[Any] = []
    for raw in values.split(","):
        raw = raw.strip()
        if not raw:
            raise ConfigError(f"--vary {spec!r}: empty value; write PATH=V1,V2")
        try:
            out.append(yaml.safe_load(raw))
        except yaml.YAMLError:
            out.append(raw)
    return path, out


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except FileNotFoundError:
        raise ConfigError(f"{path}: scenario file not found; check the path") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario must be a mapping")
    return data


def build_variants(
    scenarios: Sequence[str | Path],
    vary: Sequence[str] = (),
    horizon: float | None = None,
) -> list[Variant]:
    """Return the sweep's variants: every scenario file times every combination of values.

    Args:
        scenarios: Scenario files (each is a variant, named by its ``name``).
        vary: ``PATH=V1,V2`` specs; with several, every combination is a variant.
        horizon: Override every scenario's horizon (minutes after warm-up).

    Raises:
        ConfigError: A file is invalid; a ``--vary`` path does not exist or a value has the
            wrong type (the message names the spec and the scenario's own error); two
            variants share a name.

    """
    if not scenarios:
        raise ConfigError("give at least one scenario file")
    specs = [parse_vary(v) for v in vary]
    out: list[Variant] = []
    for path in scenarios:
        base = _load_mapping(Path(path))
        if horizon is not None:
            if not horizon > 0:
                raise ConfigError(f"--horizon must be > 0 minutes, got {horizon}")
            base["horizon"] = float(horizon)
        parse_scenario(base, source=str(path))
        combos: Iterable[tuple[Any, ...]] = itertools.product(*(vals for _, vals in specs))
        for combo in combos:
            data = copy.deepcopy(base)
            setting: dict[str, Any] = {}
            for (vpath, _), value in zip(specs, combo, strict=True):
                try:
                    set_path(data, vpath, value)
                except KeyError as exc:
                    raise ConfigError(f"--vary {vpath}: unknown path: {exc.args[0]}") from None
                setting[vpath] = value
            label = ",".join(f"{k}={v}" for k, v in setting.items())
            if setting:
                try:
                    parse_scenario(data, source=f"{path} with {label}")
                except ConfigError as exc:
                    raise ConfigError(f"--vary {label}: {exc.message}") from None
            name = str(data["name"]) + (f"[{label}]" if label else "")
            out.append(Variant(name, str(path), setting, data, _digest(data)))
    names = [v.name for v in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise ConfigError(
            f"two variants are named {dup!r}: variants are named by their scenario's name; "
            "give the files different names"
        )
    return out


# ---------------------------------------------------------------------------- running
_PARSED: dict[str, Scenario] = {}


def _scenario(job: BatchJob) -> Scenario:
    """Parse a job's scenario once per process (workers run many batches of a variant)."""
    sc = _PARSED.get(job.digest)
    if sc is None:
        sc = parse_scenario(job.data, source=job.variant)
        if len(_PARSED) > 16:
            _PARSED.clear()
        _PARSED[job.digest] = sc
    return sc


def run_batch(job: BatchJob) -> list[dict[str, Any]]:
    """Run a job's replications; return one row per replication (variant, replication, seed, KPIs).

    Each row also holds, under :data:`ZONES_KEY`, the replication's per-zone KPI rows (all
    agencies and per agency); :meth:`SweepStore.commit` writes them beside the batch. Pure
    apart from CPU: the same job gives the same rows on any machine.
    """
    from twin.model.engine import Simulation

    sc = _scenario(job)
    rows = []
    for r in job.replications:
        run = Simulation(sc, seed=job.seed, replication=r, collect=False).run()
        maps = AreaMaps.of_run(run)
        kpis = area_kpis(run.incidents, run.units, maps, job.thresholds)
        zones = [
            {k: v for k, v in z.items() if k != "level"}
            for z in area_rows(run.incidents, run.units, maps, run.zone_ids, job.thresholds)
            if z["level"] in ("zone", "agency_zone")
        ]
        rows.append(
            {
                "variant": job.variant,
                "replication": r,
                "seed": job.seed,
                **flat_kpis(kpis),
                ZONES_KEY: zones,
            }
        )
    return rows


def local_executor(jobs: Sequence[BatchJob]) -> Iterator[tuple[BatchJob, list[dict[str, Any]]]]:
    """Run jobs one after the other in this process (no orchestration)."""
    for job in jobs:
        yield job, run_batch(job)


def plan_jobs(
    variants: Sequence[Variant],
    replications: int,
    done: set[tuple[str, int]],
    seed: int,
    batch: int,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[BatchJob]:
    """Return the batches of replications ``0..replications-1`` not yet in *done*.

    Batches are interleaved across variants (replication blocks in order) so that partial
    results are paired early.
    """
    per: list[list[BatchJob]] = []
    for v in variants:
        todo = [r for r in range(replications) if (v.name, r) not in done]
        per.append(
            [
                BatchJob(
                    v.name, v.digest, v.data, seed, tuple(todo[i : i + batch]), tuple(thresholds)
                )
                for i in range(0, len(todo), batch)
            ]
        )
    out: list[BatchJob] = []
    for group in itertools.zip_longest(*per):
        out.extend(j for j in group if j is not None)
    return out


# ---------------------------------------------------------------------------- the folder
def _slug(name: str) -> str:
    short = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:60]
    return f"{short}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@dataclass
class SweepStore:
    """The sweep folder: plan, committed batches, merged table, comparison."""

    root: Path
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def plan_path(self) -> Path:
        """Return ``DIR/sweep.json``."""
        return self.root / "sweep.json"

    def open(
        self,
        variants: Sequence[Variant],
        seed: int,
        replications: int,
        thresholds: Sequence[float],
        precision: float | None,
        executor: str,
    ) -> bool:
        """Create the folder or check that it holds this same sweep; return True on resume.

        Raises:
            ConfigError: The folder holds another sweep (other scenarios, values, seed or
                thresholds) or is not a sweep folder.

        """
        want = {
            v.name: {"scenario": v.source, "vary": v.vary, "digest": v.digest} for v in variants
        }
        if self.plan_path.exists():
            old = json.loads(self.plan_path.read_text())
            why = []
            if old.get("seed") != seed:
                why.append(f"seed {old.get('seed')} vs {seed}")
            if [float(x) for x in old.get("thresholds", [])] != [float(x) for x in thresholds]:
                why.append("other --within thresholds")
            old_v = {k: v.get("digest") for k, v in old.get("variants", {}).items()}
            if old_v != {k: v["digest"] for k, v in want.items()}:
                changed = sorted(set(old_v.items()) ^ {(k, v["digest"]) for k, v in want.items()})
                why.append(
                    "other variants or changed scenario files: "
                    + ", ".join(sorted({k for k, _ in changed}))
                )
            if why:
                raise ConfigError(
                    f"{self.root} holds another sweep ({'; '.join(why)}); give a new --out "
                    "folder (or delete this one to start over)"
                )
            self.plan = old
            self.plan["replications"] = max(int(old.get("replications", 0)), replications)
            self.plan.setdefault("resumed", []).append(_now())
            self.plan["finished"] = None
            self._save()
            return True
        if self.root.exists() and any(self.root.iterdir()):
            raise ConfigError(
                f"{self.root} exists and is not a sweep folder (no sweep.json); give a new --out"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self.plan = {
            "variants": want,
            "replications": replications,
            "seed": seed,
            "seeds": {
                "seed": seed,
                "replication_r": "numpy SeedSequence(seed, spawn_key=(r,)): the same incidents "
                "in every variant (common random numbers)",
            },
            "thresholds": [float(x) for x in thresholds],
            "precision": precision,
            "executor": executor,
            "started": _now(),
            "finished": None,
        }
        self._save()
        return False

    def _save(self) -> None:
        _atomic_write_text(self.plan_path, json.dumps(self.plan, indent=2, default=str) + "\n")

    def _batch_dir(self, variant: str) -> Path:
        return self.root / "batches" / _slug(variant)

    def done(self) -> set[tuple[str, int]]:
        """Return the committed ``(variant, replication)`` pairs (read from the batch files)."""
        import pyarrow.parquet as pq

        out: set[tuple[str, int]] = set()
        for name in self.plan.get("variants", {}):
            folder = self._batch_dir(name)
            for f in sorted(folder.glob("r*.parquet")) if folder.exists() else []:
                reps = pq.read_table(f, columns=["replication"]).column(0).to_pylist()
                out.update((name, int(r)) for r in reps if r is not None)
        return out

    def commit(self, job: BatchJob, rows: list[dict[str, Any]]) -> Path:
        """Write one finished batch atomically (temporary file, then rename)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self._batch_dir(job.variant)
        folder.mkdir(parents=True, exist_ok=True)
        first, last = min(job.replications), max(job.replications)
        dest = folder / f"r{first:06d}-{last:06d}.parquet"
        zones = [
            {"variant": row["variant"], "replication": row["replication"], **z}
            for row in rows
            for z in row.get(ZONES_KEY) or []
        ]
        if zones:  # first: the replication file is what marks the batch done
            zdest = folder / f"z{first:06d}-{last:06d}.parquet"
            ztmp = folder / f".{zdest.name}.tmp"
            pq.write_table(pa.Table.from_pylist(zones), ztmp)
            os.replace(ztmp, zdest)
        flat = [{k: v for k, v in row.items() if k != ZONES_KEY} for row in rows]
        tmp = folder / f".{dest.name}.tmp"
        pq.write_table(pa.Table.from_pylist(flat), tmp)
        os.replace(tmp, dest)
        return dest

    def merge(self) -> pd.DataFrame:
        """Rewrite ``replications.parquet`` from the committed batches and return it."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        frames = []
        names = list(self.plan.get("variants", {}))
        for name in names:
            folder = self._batch_dir(name)
            for f in sorted(folder.glob("r*.parquet")) if folder.exists() else []:
                frames.append(pq.read_table(f).to_pandas())
        if not frames:
            return pd.DataFrame(columns=["variant", "replication", "seed"])
        frame = pd.concat(frames, ignore_index=True)
        frame["_order"] = frame["variant"].map({n: i for i, n in enumerate(names)})
        frame = frame.sort_values(["_order", "replication"]).drop(columns="_order")
        frame = frame.drop_duplicates(["variant", "replication"]).reset_index(drop=True)
        frame["replication"] = frame["replication"].astype("int64")
        frame["seed"] = frame["seed"].astype("int64")
        frame["variant"] = frame["variant"].astype(str)
        kpi_cols = [c for c in frame.columns if c not in ("variant", "replication", "seed")]
        frame[kpi_cols] = frame[kpi_cols].astype("float64")
        table = pa.Table.from_pandas(frame, preserve_index=False)
        tmp = self.root / ".replications.parquet.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.root / "replications.parquet")
        self._merge_zones(names, frame)
        return frame

    def _merge_zones(self, names: list[str], frame: pd.DataFrame) -> None:
        """Rewrite ``zones.parquet`` (per-zone KPIs of the committed replications)."""
        import pandas as pd
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = []
        for name in names:
            folder = self._batch_dir(name)
            for f in sorted(folder.glob("z*.parquet")) if folder.exists() else []:
                parts.append(pq.read_table(f).to_pandas())
        dest = self.root / "zones.parquet"
        if not parts:
            dest.unlink(missing_ok=True)
            return
        zones = pd.concat(parts, ignore_index=True)
        done = set(zip(frame["variant"], frame["replication"], strict=True))
        keep = [
            (v, int(r)) in done for v, r in zip(zones["variant"], zones["replication"], strict=True)
        ]
        zones = zones[keep].drop_duplicates(["variant", "replication", "agency", "zone"])
        zones["_order"] = zones["variant"].map({n: i for i, n in enumerate(names)})
        zones = zones.sort_values(["_order", "replication", "agency", "zone"], kind="stable")
        zones = zones.drop(columns="_order").reset_index(drop=True)
        zones["replication"] = zones["replication"].astype("int64")
        kpi_cols = [
            c
            for c in zones.columns
            if c not in ("variant", "replication", "agency", "district", "zone")
        ]
        zones[kpi_cols] = zones[kpi_cols].astype("float64")
        tmp = self.root / ".zones.parquet.tmp"
        pq.write_table(pa.Table.from_pandas(zones, preserve_index=False), tmp)
        os.replace(tmp, dest)

    def finish(self, replications: int, comparison: dict[str, Any]) -> None:
        """Write ``compare.json`` and mark the plan finished."""
        _atomic_write_text(self.root / "compare.json", json.dumps(comparison, indent=2) + "\n")
        self.plan["replications"] = replications
        self.plan["finished"] = _now()
        self._save()


def precision_gap(
    frame: pd.DataFrame, rel: float, kpis: Sequence[str] = HEADLINE_KPIS
) -> tuple[float, str]:
    """Return the largest ``half-width / (rel x |mean|)`` over variants and headline KPIs.

    A value <= 1 means the precision is reached. A KPI whose mean and half-width are both 0
    (e.g. nobody waited) counts as reached; a KPI absent from the table is skipped.

    Returns:
        ``(worst ratio, "variant: kpi")`` (``inf`` when fewer than 2 replications).

    """
    from twin.statistics import mean_ci

    worst, where = 0.0, ""
    for v, rows in frame.groupby("variant", sort=False):
        for k in kpis:
            if k not in rows.columns:
                continue
            vals = rows[k].to_numpy(dtype=float)
            if (~(vals != vals)).sum() < 2:  # fewer than two finite values
                return math.inf, f"{v}: {k}"
            m, h = mean_ci(vals)
            if h == 0:
                continue
            ratio = math.inf if m == 0 else h / (rel * abs(m))
            if ratio > worst:
                worst, where = ratio, f"{v}: {k}"
    return worst, where


def run_sweep(
    variants: Sequence[Variant],
    out: str | Path,
    *,
    replications: int,
    seed: int = 0,
    execute: Executor = local_executor,
    executor_name: str = "local",
    batch: int | None = None,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    precision: float | None = None,
    max_replications: int = 200,
    baseline: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run (or resume) a sweep into folder *out*; return the comparison (``compare.json``).

    Args:
        variants: The variants (:func:`build_variants`).
        out: The sweep folder (created; an existing one must hold the same sweep).
        replications: Replications per variant (the first round with ``precision``).
        seed: The seed; replication r uses ``SeedSequence(seed, spawn_key=(r,))``.
        execute: Runs jobs and yields ``(job, rows)`` as they finish.
        executor_name: Written into ``sweep.json``.
        batch: Replications per job (default: about four jobs per variant and round).
        thresholds: Minutes of the ``within_<t>_min`` KPIs.
        precision: Relative half-width target of the headline KPIs (e.g. 0.05), or None.
        max_replications: Cap of the precision loop.
        baseline: Baseline of the comparison (default: the first variant).
        progress: Called with ``(finished, planned)`` replications after each batch.

    Raises:
        ConfigError: Bad counts, or *out* holds another sweep.

    """
    from twin.experiments.compare import compare

    if replications < 2 and precision is not None:
        raise ConfigError("--precision needs --replications >= 2 to estimate a half-width")
    if replications < 1:
        raise ConfigError(f"--replications must be >= 1, got {replications}")
    if precision is not None and not 0 < precision < 1:
        raise ConfigError(
            f"--precision is a relative half-width in (0, 1), e.g. 0.05; got {precision}"
        )
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    store = SweepStore(Path(out))
    store.open(variants, seed, replications, thresholds, precision, executor_name)
    if baseline is not None:
        store.plan["baseline"] = baseline
    target = int(store.plan["replications"])
    names = [v.name for v in variants]
    while True:
        done = store.done()
        size = batch or max(1, math.ceil(target / 4))
        jobs = plan_jobs(variants, target, done, seed, size, thresholds)
        planned = len(variants) * target
        finished = sum(1 for n, r in done if r < target and n in names)
        if progress is not None:
            progress(finished, planned)
        for job, rows in execute(jobs):
            store.commit(job, rows)
            finished += len(job.replications)
            if progress is not None:
                progress(finished, planned)
        frame = store.merge()
        if precision is None or target >= max_replications:
            break
        gap, _where = precision_gap(frame, precision)
        if gap <= 1.0:
            break
        need = target * gap * gap if math.isfinite(gap) else 2 * target
        target = int(min(max_replications, max(target + 2, math.ceil(need))))
        store.plan["replications"] = target
        store._save()
    comparison = compare(frame, baseline=store.plan.get("baseline"), variants=names)
    store.finish(target, comparison)
    return comparison
