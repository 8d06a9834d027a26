"""Sync orchestration: run each configured source's adapter and load the result into the lake.

Pure library code (no Prefect): :func:`run_sync` runs a whole sync in-process; the Prefect flow
(:mod:`flows.sync`) calls the same steps, :func:`extract_source` in a task per source and
:func:`load_source` afterwards.

Zone sources load first so point sources get their city's zones (``AdapterContext.zones``).
Every source succeeds or fails on its own: a missing or corrupt file fails that source with a
message in the report and a ``failed`` row in the runs ledger; the others still load. For every
source the accounting identity ``rows_in == rows_ok + rows_quarantined + rows_duplicate`` is
checked before anything is written.
"""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from twin.errors import DataError, TwinError
from twin.ingest.base import AdapterContext, AdapterOutput
from twin.schemas import QUARANTINE, RUNS, ZONES
from twin.sources import Source, SyncConfig
from twin.store.lake import Lake

__all__ = [
    "EXTRACT_THREADS",
    "ZONE_ADAPTERS",
    "Extract",
    "ProgressCallback",
    "RunReport",
    "SourceResult",
    "city_zones",
    "extract_source",
    "is_zone_source",
    "load_source",
    "new_run_id",
    "phases",
    "prefer_jemalloc",
    "record_failure",
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
        status: ``ok`` or ``failed``.
        error: Why the source failed (None when ok).
        watermark: The newest source time seen, for incremental pulls.
        tables: New or changed records per table (the row table: input rows, as rows_new).

    """

    rows_in: int = 0
    rows_ok: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    rows_new: int = 0
    status: str = "ok"
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

    """

    run_id: str
    sources: dict[str, SourceResult] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every source succeeded."""
        return all(r.status == "ok" for r in self.sources.values())

    @property
    def failed(self) -> list[str]:
        """Names of the sources that failed."""
        return [n for n, r in self.sources.items() if r.status != "ok"]

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"run_id": ..., "sources": {NAME: {...}}}`` (JSON-ready)."""
        return {"run_id": self.run_id, "sources": {n: r.to_dict() for n, r in self.sources.items()}}

    @classmethod
    def from_dict(cls, body: dict[str, Any]) -> RunReport:
        """Rebuild a report from :meth:`to_dict` output."""
        return cls(
            run_id=str(body["run_id"]),
            sources={n: SourceResult(**r) for n, r in body["sources"].items()},
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


def _ledger_row(run_id: str, source: str, result: SourceResult, started: dt.datetime) -> pa.Table:
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
                "ended": dt.datetime.now(dt.UTC),
                "status": result.status,
                "error": result.error,
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


def load_source(lake: Lake, extract: Extract, *, run_id: str, durable: bool = True) -> SourceResult:
    """Merge one source's extract into the lake in one atomic commit (data, quarantine, ledger).

    Must run under ``lake.lock()``.

    Args:
        lake: The lake.
        extract: The source's adapter output.
        run_id: The run id.
        durable: fsync before committing.

    Returns:
        The source's result (status ok).

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
    result = SourceResult(status="failed", error=message)
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


def run_sync(
    config: SyncConfig,
    lake_dir: Path | str | None = None,
    *,
    progress: ProgressCallback | None = None,
    only: Sequence[str] | None = None,
    run_id: str | None = None,
    durable: bool = True,
) -> RunReport:
    """Sync every enabled source of *config* into the lake.

    Args:
        config: The sync config.
        lake_dir: The lake directory (``twin.paths.default_lake_dir()`` when None).
        progress: Called as ``progress(source, phase, result)``.
        only: Sync only these sources.
        run_id: The run id (a fresh one when None).
        durable: fsync before each commit.

    Returns:
        The run report; failed sources carry an ``error``.

    """
    prefer_jemalloc()
    lake = Lake(lake_dir)
    report = RunReport(run_id=run_id or new_run_id())
    with lake.lock():
        for phase in phases(config, only):
            zones: dict[str, pa.Table | None] = {}
            if not is_zone_source(phase[0]):
                zones = {c.name: city_zones(lake, c.name) for c in config.cities}
            for source in phase:
                if progress:
                    progress(source.name, "start", None)
                started = dt.datetime.now(dt.UTC)
                try:
                    extract = extract_source(
                        config,
                        source,
                        run_id=report.run_id,
                        zones=zones.get(source.city),
                        watermark=lake.last_watermark(source.name),
                    )
                    if progress:
                        progress(source.name, "extracted", None)
                    result = load_source(lake, extract, run_id=report.run_id, durable=durable)
                except Exception as exc:
                    result = record_failure(
                        lake, source.name, run_id=report.run_id, error=exc, started=started
                    )
                report.sources[source.name] = result
                if progress:
                    progress(source.name, "done", result)
    return report
