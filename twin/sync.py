"""Sync orchestration: the one sync loop, its pluggable executor, and the health of each source.

:func:`run_sync` is the only sync loop. It takes the lake's writer lock, records any earlier run
that was killed mid-way as ``interrupted``, then runs the enabled sources in load phases (zone
sources first, so point sources get their city's zones through ``AdapterContext.zones``). An
:class:`Executor` runs each phase's extractions (:class:`ExtractJob`, pure reads of the input
files); the loop then loads every extract in one atomic commit per source (data, quarantine and
the ``runs`` ledger row together). :class:`SerialExecutor` runs the jobs in this process one
after the other; the Prefect flow (:mod:`flows.sync`) passes an executor that runs each job as a
Prefect task with I/O retries. ``twin sync``, the nightly deployment and the tests' lake
fixtures therefore all run this loop.

Every source succeeds or fails on its own: a missing or corrupt file fails that source with a
message in the report and a ``failed`` ledger row; the others still load. For every source the
accounting identity ``rows_in == rows_ok + rows_quarantined + rows_duplicate`` is checked before
anything is written.

**Health.** Each source's run gets a status (:func:`assess_health`): ``failed`` when it could not
be read or loaded; ``degraded`` when it landed but its quarantined share is above the source's
``health.max_quarantined_share`` (default 5%), or jumped above its recent runs (more than
``health.max_quarantine_jump``, default 2 points, above the median of its last ``health.history``
runs and at least double it; needs ``health.min_history`` earlier runs), or when it landed 0 rows;
``ok`` otherwise. The report and the ledger (``status``; the reasons in ``error``) carry it.

**Interrupted runs.** While a run holds the lock, a marker file (:data:`MARKER`) at the lake root
names its run id, pid and planned sources. A run that ends removes it; a run killed mid-way
(SIGKILL, power loss) cannot, and the next run (holding the lock, so the marked run is certainly
gone) writes an ``interrupted`` ledger row for each planned source that had not committed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import statistics
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal, Protocol

import pyarrow as pa

from twin.errors import DataError, TwinError
from twin.ingest.base import AdapterContext, AdapterOutput
from twin.schemas import QUARANTINE, RUNS, ZONES
from twin.sources import Health, Source, SyncConfig
from twin.store.lake import Lake

__all__ = [
    "EXTRACT_THREADS",
    "MARKER",
    "ZONE_ADAPTERS",
    "Executor",
    "Extract",
    "ExtractJob",
    "Outcome",
    "ProgressCallback",
    "RunReport",
    "SerialExecutor",
    "SourceResult",
    "Status",
    "assess_health",
    "city_zones",
    "extract_source",
    "is_zone_source",
    "load_source",
    "new_run_id",
    "phases",
    "prefer_jemalloc",
    "quarantine_history",
    "record_failure",
    "record_interrupted",
    "run_sync",
]

ZONE_ADAPTERS: Final = frozenset({"spd_beats", "spd_precincts", "jiaxing_districts"})
"""Adapters known to produce ``zones`` (with any the registry's ``TABLES`` lists as such);
their sources load before the others."""


def is_zone_source(source: Source) -> bool:
    """Return True when *source*'s adapter produces zones (it loads in the first phase)."""
    from twin.ingest.registry import TABLES

    return source.adapter in ZONE_ADAPTERS or "zones" in TABLES.get(source.adapter, ())


def prefer_jemalloc() -> str:
    """Make jemalloc Arrow's default allocator for this process, unless the user chose one.

    pyarrow's default pool (mimalloc) returns freed pages to the system eagerly; a sync
    allocates and frees hundreds of MB of column buffers, and on Linux that costs ~0.4 s of
    kernel time per million rows (``madvise``/page faults), about a fifth of the whole sync.
    jemalloc keeps them for reuse. ``ARROW_DEFAULT_MEMORY_POOL`` (``mimalloc``, ``jemalloc``,
    ``system``) overrides the choice; builds without jemalloc keep the default. Buffers
    allocated before the switch stay valid (each remembers its pool).

    Returns:
        The backend name of the default pool afterwards.

    """
    if not os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        try:
            pool = pa.jemalloc_memory_pool()
        except (NotImplementedError, pa.ArrowNotImplementedError):  # pragma: no cover
            pool = None
        if pool is not None and pa.default_memory_pool().backend_name != "jemalloc":
            pa.set_memory_pool(pool)
    return str(pa.default_memory_pool().backend_name)


EXTRACT_THREADS: Final = 2
"""Files of one drop-folder source read at once."""

ProgressCallback = Callable[[str, str, "SourceResult | None"], None]
"""``progress(source, phase, result)``; phase is ``start``, ``extracted`` or ``done``."""

Status = Literal["ok", "degraded", "failed", "interrupted"]
"""A source's status in one run (``interrupted`` only in the ledger, written by a later run)."""

_RANK: Final[dict[str, int]] = {"ok": 0, "degraded": 1, "interrupted": 2, "failed": 3}

MARKER: Final = "_sync_running.json"
"""The marker file of the run holding the lake lock (see the module docstring)."""


@dataclass
class SourceResult:
    """What one source did in one run.

    Attributes:
        rows_in: Data rows read from the input.
        rows_ok: Input rows that landed.
        rows_quarantined: Input rows rejected (see the ``quarantine`` table).
        rows_duplicate: Exact duplicates dropped.
        rows_new: Input rows whose records were inserted or changed a stored record
            (``0 <= rows_new <= rows_ok``): distinct values, among the new or changed records of
            the source's row table, of the columns that identify an input row
            (``twin.ingest.registry.row_grain``; e.g. one Fremont row = one hour, whatever its
            channels). A change only in a derived table (the counter's device row) is in
            ``tables``, not in rows_new.
        status: ``ok``, ``degraded`` (landed, see ``reasons``) or ``failed`` (nothing landed).
        reasons: Why the status is not ``ok`` (empty when ok).
        error: Why the source failed (None unless failed; also the first of ``reasons``).
        watermark: The newest source time seen, for incremental pulls.
        tables: New or changed records per table (the row table: input rows, as rows_new).

    """

    rows_in: int = 0
    rows_ok: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_new: int = 0
    status: Status = "ok"
    reasons: list[str] = field(default_factory=list)
    error: str | None = None
    watermark: str | None = None
    tables: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Return the report entry (the ``twin sync --json`` shape)."""
        out: dict[str, Any] = {
            "rows_in": self.rows_in,
            "rows_ok": self.rows_ok,
            "rows_quarantined": self.rows_quarantined,
            "rows_duplicate": self.rows_duplicate,
            "rows_new": self.rows_new,
            "status": self.status,
            "reasons": list(self.reasons),
        }
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class RunReport:
    """The report of one sync run.

    Attributes:
        run_id: The run id (also in the ledger and the quarantine rows).
        sources: Source name -> result, in load order.
        interrupted: Earlier runs this run found killed mid-way and recorded as
            ``interrupted``: ``{"run_id": ..., "sources": [...]}`` each.

    """

    run_id: str
    sources: dict[str, SourceResult] = field(default_factory=dict)
    interrupted: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> Status:
        """The worst source status (``ok`` for a run without sources)."""
        worst: Status = "ok"
        for r in self.sources.values():
            if _RANK[r.status] > _RANK[worst]:
                worst = r.status
        return worst

    @property
    def ok(self) -> bool:
        """True when every source is ok (none degraded or failed)."""
        return self.status == "ok"

    @property
    def failed(self) -> list[str]:
        """Names of the sources that failed."""
        return [n for n, r in self.sources.items() if r.status == "failed"]

    @property
    def problems(self) -> list[str]:
        """One line per source that is not ok: ``<source> <status>: <reasons>``."""
        return [
            f"{n} {r.status}: {'; '.join(r.reasons) or r.error or 'no reason given'}"
            for n, r in self.sources.items()
            if r.status != "ok"
        ]

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"run_id", "status", "sources": {NAME: {...}}}`` (JSON-ready).

        ``interrupted`` is added when this run recorded earlier interrupted runs.
        """
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "sources": {n: r.to_dict() for n, r in self.sources.items()},
        }
        if self.interrupted:
            out["interrupted"] = [dict(i) for i in self.interrupted]
        return out

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RunReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(
            run_id=str(body["run_id"]),
            sources={n: SourceResult(**r) for n, r in body["sources"].items()},
            interrupted=list(body.get("interrupted", [])),
        )


@dataclass
class Extract:
    """A source's adapter output over all its input files, ready to load.

    Attributes:
        source: The source name.
        tables: Canonical table -> rows (all files concatenated, file order).
        quarantine: Rejected rows.
        rows_in: Accounting totals over the files.
        rows_ok: See :class:`SourceResult`.
        rows_quarantined: See :class:`SourceResult`.
        rows_duplicate: See :class:`SourceResult`.
        watermark: The newest watermark over the files.
        files: The input files read (their older quarantine rows are replaced).
        started: When the extraction began (UTC).
        grain: (table, columns) identifying an input row among the records (see
            ``twin.ingest.registry.row_grain``); None: the first table, by its key.

    """

    source: str
    tables: dict[str, pa.Table]
    quarantine: pa.Table
    rows_in: int
    rows_ok: int
    rows_quarantined: int
    rows_duplicate: int
    watermark: str | None
    files: list[str]
    started: dt.datetime
    grain: tuple[str, tuple[str, ...]] | None = None


def new_run_id() -> str:
    """Return a fresh run id: UTC time plus a random suffix (sortable)."""
    now = dt.datetime.now(dt.UTC)
    return now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def phases(config: SyncConfig, only: Sequence[str] | None = None) -> list[list[Source]]:
    """Return the enabled sources in load phases: zone sources first, then the others.

    Args:
        config: The sync config.
        only: Restrict to these source names (all enabled sources when None).

    Raises:
        ConfigError: *only* names an unknown source.

    """
    if only is not None:
        chosen = [config.source(n) for n in only]
    else:
        chosen = config.enabled_sources()
    zones = [s for s in chosen if is_zone_source(s)]
    points = [s for s in chosen if not is_zone_source(s)]
    return [p for p in (zones, points) if p]


def city_zones(lake: Lake, city: str) -> pa.Table | None:
    """Return the committed zones of *city* (``ZONES`` schema), or None when it has none."""
    cols = ", ".join(ZONES.names)
    rows = lake.query(f"SELECT {cols} FROM zones WHERE city = ? ORDER BY zone_id", [city])
    return rows.cast(ZONES) if rows.num_rows else None


def _concat(tables: list[pa.Table]) -> pa.Table:
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def extract_source(
    config: SyncConfig,
    source: Source,
    *,
    run_id: str,
    zones: pa.Table | None = None,
    watermark: str | None = None,
) -> Extract:
    """Run *source*'s adapter over its input files and check the accounting.

    Args:
        config: The sync config (data dir, cities).
        source: The source to extract.
        run_id: The run id given to the adapter (it lands in quarantine rows).
        zones: The city's zones for point-in-zone joins.
        watermark: The source's last watermark; given to ``socrata`` sources as the
            ``watermark`` option (unless the config sets one) for an incremental pull.

    Returns:
        The adapter output over all files.

    Raises:
        DataError: Missing input, an adapter failure, or accounting that does not add up.

    """
    from twin.ingest.registry import get_adapter, row_grain

    prefer_jemalloc()
    started = dt.datetime.now(dt.UTC)
    city = config.city(source.city)
    adapter = get_adapter(source.adapter)
    options = dict(source.options)
    if source.kind == "socrata" and watermark is not None:
        options.setdefault("watermark", watermark)
    files: list[Path]
    if source.kind == "socrata":
        files = [config.source_path(source)] if source.path else []
    else:
        files = config.input_files(source)
    ctx = AdapterContext(
        source=source.name,
        city=city.name,
        tz=city.tz,
        run_id=run_id,
        zones=zones,
        bbox=city.bbox,
        options=options,
    )

    def run_one(path: Path) -> tuple[Path, AdapterOutput]:
        try:
            out = adapter(path, ctx)
        except TwinError:
            raise
        except OSError as exc:  # I/O (a truncated or unreadable file): the flow retries these
            detail = exc.strerror or str(exc)
            raise OSError(f"source {source.name!r}: cannot read {path}: {detail}") from exc
        except Exception as exc:
            raise DataError(
                f"source {source.name!r}: adapter {source.adapter!r} failed on {path}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        try:
            out.check_accounting()
        except AssertionError as exc:
            raise DataError(f"source {source.name!r}: accounting broken on {path}: {exc}") from exc
        return path, out

    inputs = files or [Path(source.name)]
    if len(inputs) == 1:
        outputs = [run_one(inputs[0])]
    else:  # a drop folder: files are independent; Arrow and shapely release the GIL
        with ThreadPoolExecutor(max_workers=min(len(inputs), EXTRACT_THREADS)) as pool:
            outputs = list(pool.map(run_one, inputs))
    by_table: dict[str, list[pa.Table]] = {}
    for _, out in outputs:
        for name, table in out.tables.items():
            by_table.setdefault(name, []).append(table)
    quarantine = [out.quarantine for _, out in outputs if out.quarantine.num_rows]
    marks = [out.watermark for _, out in outputs if out.watermark]
    names: set[str] = {str(options["url"])} if options.get("url") else set()
    for path, _ in outputs:
        names |= {str(path), path.name}
        try:
            names.add(str(path.relative_to(config.data_root())))
        except ValueError:
            pass
    return Extract(
        source=source.name,
        tables={n: _concat(ts) for n, ts in by_table.items()},
        quarantine=_concat(quarantine) if quarantine else QUARANTINE.empty_table(),
        rows_in=sum(o.rows_in for _, o in outputs),
        rows_ok=sum(o.rows_ok for _, o in outputs),
        rows_quarantined=sum(o.rows_quarantined for _, o in outputs),
        rows_duplicate=sum(o.rows_duplicate for _, o in outputs),
        watermark=max(marks) if marks else None,
        files=sorted(names),
        started=started,
        grain=row_grain(source.adapter),
    )


@dataclass(frozen=True)
class ExtractJob:
    """One source's extraction in one run: everything :func:`extract_source` needs.

    Calling the job runs the extraction (and reports ``start``/``extracted`` progress). It reads
    input files only, never the lake, so an executor may run the jobs of a phase in any order,
    in threads or as Prefect tasks.

    Attributes:
        config: The sync config.
        source: The source.
        run_id: The run id.
        zones: The city's committed zones (point sources).
        watermark: The source's last watermark (incremental API pulls).
        progress: Progress callback.

    """

    config: SyncConfig
    source: Source
    run_id: str
    zones: pa.Table | None = None
    watermark: str | None = None
    progress: ProgressCallback | None = None

    @property
    def name(self) -> str:
        """The source name."""
        return self.source.name

    def __call__(self) -> Extract:
        """Run the extraction.

        Raises:
            DataError: Bad input (not worth retrying).
            OSError: The input could not be read (worth retrying).

        """
        if self.progress:
            self.progress(self.name, "start", None)
        out = extract_source(
            self.config, self.source, run_id=self.run_id, zones=self.zones, watermark=self.watermark
        )
        if self.progress:
            self.progress(self.name, "extracted", None)
        return out


Outcome = Extract | Exception
"""What an executor yields per job: the extract, or the exception the job raised."""


class Executor(Protocol):
    """Runs the extraction jobs of one load phase for :func:`run_sync`."""

    def run(self, jobs: Sequence[ExtractJob]) -> Iterable[Outcome]:
        """Run *jobs*; yield each job's outcome, one per job, in job order.

        The loop loads each outcome as it arrives, so a lazy executor (yield after each job)
        keeps one extract in memory at a time. An exception is yielded, never raised: it fails
        that source alone.
        """
        ...


class SerialExecutor:
    """Runs each job in this process, one after the other, when the loop asks for it."""

    def run(self, jobs: Sequence[ExtractJob]) -> Iterator[Outcome]:
        """Yield each job's extract (or its exception), running it just before."""
        for job in jobs:
            try:
                yield job()
            except Exception as exc:
                yield exc


_EPS: Final = 1e-9  # shares are ratios of counts: 0.05 - 0.02 must not count as > 0.03


def assess_health(
    rows_in: int,
    rows_ok: int,
    rows_quarantined: int,
    policy: Health,
    history: Sequence[float] = (),
) -> list[str]:
    """Return why a landed source run is degraded (empty: it is ok).

    Args:
        rows_in: Rows read.
        rows_ok: Rows landed.
        rows_quarantined: Rows quarantined.
        policy: The source's health settings.
        history: Quarantined shares of the source's earlier runs, newest first (see
            :func:`quarantine_history`).

    Returns:
        One sentence per rule broken: landed 0 rows; quarantined share above
        ``max_quarantined_share``; quarantined share more than ``max_quarantine_jump`` above the
        median of the last ``history`` runs and more than double it (with at least
        ``min_history`` earlier runs).

    """
    reasons: list[str] = []
    if rows_ok == 0 and not policy.allow_empty:
        reasons.append(f"landed 0 rows ({rows_in:,} read, {rows_quarantined:,} quarantined)")
    share = rows_quarantined / rows_in if rows_in else 0.0
    if share > policy.max_quarantined_share:
        reasons.append(
            f"quarantined {share:.1%} of {rows_in:,} rows "
            f"(threshold {policy.max_quarantined_share:.1%})"
        )
    recent = list(history[: policy.history])
    if len(recent) >= policy.min_history:
        usual = statistics.median(recent)
        if share - usual > max(policy.max_quarantine_jump, usual) + _EPS:
            reasons.append(
                f"quarantined share jumped to {share:.1%} from a median of {usual:.1%} over its "
                f"last {len(recent)} runs"
            )
    return reasons


def quarantine_history(lake: Lake, source: str, limit: int) -> list[float]:
    """Return the quarantined shares of *source*'s last *limit* landed runs, newest first.

    Landed runs are ``ok`` or ``degraded`` ledger rows that read at least one row.
    """
    rows = lake.query(
        "SELECT rows_quarantined / rows_in AS share FROM runs WHERE source = ? "
        "AND status IN ('ok', 'degraded') AND rows_in > 0 "
        "ORDER BY started DESC, run_id DESC LIMIT ?",
        [source, limit],
    )
    return [float(v or 0.0) for v in rows.column("share").to_pylist()]


def _ledger_row(
    run_id: str, source: str, result: SourceResult, started: dt.datetime, *, ended: bool = True
) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "run_id": run_id,
                "source": source,
                "watermark": result.watermark,
                "rows_in": result.rows_in,
                "rows_ok": result.rows_ok,
                "rows_quarantined": result.rows_quarantined,
                "rows_duplicate": result.rows_duplicate,
                "rows_new": result.rows_new,
                "started": started,
                "ended": dt.datetime.now(dt.UTC) if ended else None,
                "status": result.status,
                "error": "; ".join(result.reasons) or result.error,
            }
        ],
        schema=RUNS,
    )


def _grain(extract: Extract) -> tuple[str | None, tuple[str, ...] | None]:
    """Return the table and columns whose distinct new values count as ``rows_new``."""
    if extract.grain is not None and extract.grain[0] in extract.tables:
        return extract.grain
    if not extract.tables:
        return None, None
    return sorted(extract.tables)[0], None


def load_source(
    lake: Lake,
    extract: Extract,
    *,
    run_id: str,
    durable: bool = True,
    health: Health | None = None,
    history: Sequence[float] = (),
) -> SourceResult:
    """Merge one source's extract into the lake in one atomic commit (data, quarantine, ledger).

    Must run under ``lake.lock()``.

    Args:
        lake: The lake.
        extract: The source's adapter output.
        run_id: The run id.
        durable: fsync before committing.
        health: The source's health settings (defaults when None).
        history: Its recent quarantined shares (:func:`quarantine_history`).

    Returns:
        The source's result: ``ok``, or ``degraded`` with its reasons.

    Raises:
        DataError: A table does not fit its schema.

    """
    prefer_jemalloc()
    result = SourceResult(
        rows_in=extract.rows_in,
        rows_ok=extract.rows_ok,
        rows_quarantined=extract.rows_quarantined,
        rows_duplicate=extract.rows_duplicate,
        watermark=extract.watermark,
    )
    result.reasons = assess_health(
        extract.rows_in, extract.rows_ok, extract.rows_quarantined, health or Health(), history
    )
    result.status = "degraded" if result.reasons else "ok"
    txn = lake.begin(durable=durable)
    grain_table, grain_cols = _grain(extract)
    for name, table in sorted(extract.tables.items()):
        result.tables[name] = txn.upsert(
            name, extract.source, table, distinct=grain_cols if name == grain_table else None
        )
    result.rows_new = result.tables.get(grain_table, 0) if grain_table else 0
    txn.replace_quarantine(extract.source, extract.quarantine, extract.files)
    txn.append_runs(extract.source, _ledger_row(run_id, extract.source, result, extract.started))
    txn.commit()
    return result


def record_failure(
    lake: Lake, source: str, *, run_id: str, error: BaseException | str, started: dt.datetime
) -> SourceResult:
    """Write a ``failed`` ledger row for *source* and return its result.

    Must run under ``lake.lock()``; the source's data and quarantine stay as they were.
    """
    message = error if isinstance(error, str) else _message(error)
    result = SourceResult(status="failed", reasons=[message], error=message)
    txn = lake.begin()
    txn.append_runs(source, _ledger_row(run_id, source, result, started))
    txn.commit()
    return result


def _message(exc: BaseException) -> str:
    if isinstance(exc, TwinError):
        return exc.message
    if isinstance(exc, OSError):
        return f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": ")
    return f"{type(exc).__name__}: {exc}"


# ------------------------------------------------------------------ interrupted runs
def _write_marker(lake: Lake, run_id: str, sources: list[str], started: dt.datetime) -> None:
    body = {
        "run_id": run_id,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": started.isoformat(),
        "sources": sources,
    }
    path = lake.root / MARKER
    tmp = path.with_name(f"{MARKER}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(body, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def record_interrupted(lake: Lake, *, by: str, why: str | None = None) -> dict[str, Any] | None:
    """Turn the marker of a run that did not finish into ``interrupted`` ledger rows.

    Must run under ``lake.lock()``: holding the lock proves the marked run is no longer
    writing (its process is gone, or it is this one stopping). One row per planned source that
    has no ledger row of that run; then the marker is removed.

    Args:
        lake: The lake.
        by: The run id of the run recording it (named in the reason).
        why: The reason; by default "killed mid-run" with the marked pid, host and start.

    Returns:
        ``{"run_id": ..., "sources": [...]}`` of the interrupted run, or None when no marker.

    """
    path = lake.root / MARKER
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        run_id, planned = str(body["run_id"]), [str(s) for s in body["sources"]]
        started = dt.datetime.fromisoformat(str(body["started"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, OSError):  # a torn marker cannot name a run
        path.unlink(missing_ok=True)
        return None
    if why is None:
        why = (
            f"sync killed mid-run (pid {body.get('pid')} on {body.get('host')}, started "
            f"{started:%Y-%m-%d %H:%M:%S} UTC); recorded by run {by}"
        )
    done = set(
        lake.query("SELECT DISTINCT source FROM runs WHERE run_id = ?", [run_id])
        .column("source")
        .to_pylist()
    )
    missing = [s for s in planned if s not in done]
    if missing:
        txn = lake.begin()
        result = SourceResult(status="interrupted", reasons=[why])
        for source in missing:
            txn.append_runs(source, _ledger_row(run_id, source, result, started, ended=False))
        txn.commit()
    path.unlink(missing_ok=True)
    return {"run_id": run_id, "sources": missing}


# ------------------------------------------------------------------ the loop
def run_sync(
    config: SyncConfig,
    lake_dir: Path | str | None = None,
    *,
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
    only: Sequence[str] | None = None,
    run_id: str | None = None,
    durable: bool = True,
) -> RunReport:
    """Sync every enabled source of *config* into the lake: the one sync loop.

    Args:
        config: The sync config.
        lake_dir: The lake directory (``twin.paths.default_lake_dir()`` when None).
        executor: Runs the extractions (:class:`SerialExecutor` when None; the Prefect flow
            passes one that runs Prefect tasks).
        progress: Called as ``progress(source, phase, result)``.
        only: Sync only these sources.
        run_id: The run id (a fresh one when None).
        durable: fsync before each commit.

    Returns:
        The run report; each source ``ok``, ``degraded`` or ``failed``, with reasons.

    Raises:
        TwinError: Another sync holds the lake, or the lake is unusable.
        ConfigError: *only* names an unknown source.

    """
    prefer_jemalloc()
    runner = executor if executor is not None else SerialExecutor()
    lake = Lake(lake_dir)
    report = RunReport(run_id=run_id or new_run_id())
    plan = phases(config, only)
    with lake.lock():
        found = record_interrupted(lake, by=report.run_id)
        if found and found["sources"]:
            report.interrupted.append(found)
        names = [s.name for phase in plan for s in phase]
        _write_marker(lake, report.run_id, names, dt.datetime.now(dt.UTC))
        try:
            for phase in plan:
                _sync_phase(lake, config, phase, runner, report, progress, durable)
        except BaseException as exc:  # Ctrl-C, SIGTERM, a broken lake: record it now
            why = f"sync stopped mid-run ({type(exc).__name__}: {exc})".replace(" ()", "")
            with contextlib.suppress(Exception):
                record_interrupted(lake, by=report.run_id, why=why)
            raise
        (lake.root / MARKER).unlink(missing_ok=True)
    return report


def _sync_phase(
    lake: Lake,
    config: SyncConfig,
    phase: list[Source],
    executor: Executor,
    report: RunReport,
    progress: ProgressCallback | None,
    durable: bool,
) -> None:
    """Extract one load phase through *executor* and load each outcome as it arrives."""
    zones: dict[str, pa.Table | None] = {}
    if not is_zone_source(phase[0]):
        zones = {c.name: city_zones(lake, c.name) for c in config.cities}
    jobs = [
        ExtractJob(
            config=config,
            source=s,
            run_id=report.run_id,
            zones=zones.get(s.city),
            watermark=lake.last_watermark(s.name),
            progress=progress,
        )
        for s in phase
    ]
    started = dt.datetime.now(dt.UTC)
    for job, outcome in zip(jobs, executor.run(jobs), strict=True):
        try:
            if isinstance(outcome, BaseException):
                raise outcome
            if not isinstance(outcome, Extract):
                raise TwinError(f"source {job.name!r}: extraction returned {outcome!r}")
            policy = job.source.health
            history = quarantine_history(lake, job.name, policy.history)
            result = load_source(
                lake,
                outcome,
                run_id=report.run_id,
                durable=durable,
                health=policy,
                history=history,
            )
        except Exception as exc:
            result = record_failure(
                lake, job.name, run_id=report.run_id, error=exc, started=started
            )
        report.sources[job.name] = result
        if progress:
            progress(job.name, "done", result)
