"""The Parquet lake: atomic, idempotent, partitioned storage of the canonical tables.

Layout under the lake directory (hive style)::

    _manifest.json                                     the commit: every live file, per table
    <table>/source=<s>/date=<YYYY-MM-DD>/part-<h>.parquet   dated tables (``DATE_COLUMN``)
    <table>/source=<s>/part-<h>.parquet                     small tables, quarantine, runs

``<h>`` is a hash of the file's bytes, so a partition's content names its file: writing the same
rows again yields the same name and nothing is rewritten (idempotency), and a new version of a
partition never overwrites the old one before the commit.

**Atomicity.** A :class:`Transaction` writes each new partition file into ``_staging/``,
fsyncs it, renames it into its partition directory (a name no committed file uses), then swaps
``_manifest.json`` with one ``os.replace``. Readers (:meth:`Lake.connect`) only read the files the
manifest lists, so a crash (even SIGKILL) at any moment leaves the previous commit readable and
unchanged; files left by an interrupted write are not referenced and are removed by
:meth:`Lake.cleanup`, which every writer runs after taking the lake lock.

**Idempotency and merge by key.** :meth:`Transaction.upsert` merges rows into the partitions
they touch only: rows identical to stored rows change nothing; a row whose key (``KEYS``) exists
with other content replaces the old version (also when its date, hence its partition, moved).
``rows_new`` counts inserted plus changed rows (or, with ``distinct=``, distinct values of the
columns that identify an input row among them). Row order inside a file is deterministic (input
order when a partition is first written, key order after a merge), so the same input always
gives the same bytes.

**Schema changes.** Readers and writers compare the columns of the stored files of each
canonical table with ``SCHEMAS`` (one Parquet footer per table and source) and refuse a lake
written by an older schema with a :class:`~twin.errors.DataError` that names the fix (``make
clean`` or delete the lake directory, then sync again) instead of failing inside a query.

Quarantine and the runs ledger are lake tables too (``quarantine``, ``runs``), written in the
same commit as the data of their source.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import signal
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from twin.errors import DataError, TwinError
from twin.paths import default_lake_dir
from twin.schemas import DATE_COLUMN, KEYS, QUARANTINE, RUNS, SCHEMAS

__all__ = [
    "CRASH_ENV",
    "MANIFEST",
    "Lake",
    "Transaction",
    "duck_type",
]

MANIFEST: Final = "_manifest.json"
"""Name of the commit file at the lake root."""

CRASH_ENV: Final = "TWIN_LAKE_CRASH_AT"
"""Test hook: ``"<point>[:<n>]"`` makes the writer SIGKILL itself at the n-th hit of a point.

Points: ``stage`` (a file staged and fsynced), ``publish`` (a file renamed into its partition),
``commit`` (just before the manifest swap), ``committed`` (just after it, before old files are
removed), ``gc`` (after each removal of a superseded file).
"""

_STAGING: Final = "_staging"
_LOCK: Final = "_lock"
_FORMAT: Final = 1
_WRITERS: Final = max(2, min(8, os.cpu_count() or 2))
_crash_hits: dict[str, int] = {}
_SCHEMA_CACHE: dict[str, tuple[str, ...]] = {}  # lake file (content-hashed name) -> columns


def _crash_point(name: str) -> None:
    """SIGKILL this process at a named point when ``TWIN_LAKE_CRASH_AT`` asks for it."""
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _crash_hits[name] = _crash_hits.get(name, 0) + 1
    if _crash_hits[name] >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    """Fsync one file or directory by path."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_all(paths: Sequence[Path]) -> None:
    """Fsync files or directories in parallel (the file system batches the journal writes)."""
    if not paths:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(paths))) as pool:
        list(pool.map(_fsync_dir, paths))


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def duck_type(dtype: pa.DataType) -> str:
    """Return the DuckDB SQL type for an Arrow type used by the canonical schemas.

    Args:
        dtype: An Arrow data type.

    Returns:
        The DuckDB type name (``VARCHAR``, ``TIMESTAMPTZ``, ...).

    """
    if pa.types.is_string(dtype) or pa.types.is_large_string(dtype):
        return "VARCHAR"
    if pa.types.is_timestamp(dtype):
        return "TIMESTAMPTZ" if dtype.tz else "TIMESTAMP"
    if pa.types.is_binary(dtype) or pa.types.is_large_binary(dtype):
        return "BLOB"
    simple = {
        pa.int8(): "TINYINT",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float32(): "FLOAT",
        pa.float64(): "DOUBLE",
        pa.bool_(): "BOOLEAN",
        pa.date32(): "DATE",
    }
    if dtype in simple:
        return simple[dtype]
    raise TwinError(f"lake: no DuckDB type for Arrow type {dtype}; use a canonical schema type")


def _duck(threads: int | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET GLOBAL TimeZone='UTC'")  # also for cursor()s of this connection
    if threads:
        con.execute(f"SET threads={int(threads)}")
    return con


@dataclass
class _Manifest:
    version: int = 0
    files: dict[str, list[str]] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {
            "format": _FORMAT,
            "version": self.version,
            "files": {t: sorted(f) for t, f in sorted(self.files.items()) if f},
        }
        return (json.dumps(body, indent=1, sort_keys=True) + "\n").encode()


class Lake:
    """A Parquet lake in one directory.

    Args:
        root: The lake directory; ``twin.paths.default_lake_dir()`` when None. It is created on
            the first write.

    """

    def __init__(self, root: Path | str | None = None) -> None:
        self.root = Path(root) if root is not None else default_lake_dir()
        self._lock_fd: int | None = None

    def __repr__(self) -> str:
        return f"Lake({str(self.root)!r})"

    # ----------------------------------------------------------------- reading
    def _manifest(self) -> _Manifest:
        path = self.root / MANIFEST
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return _Manifest()
        try:
            body = json.loads(raw)
            return _Manifest(version=int(body["version"]), files=dict(body["files"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise DataError(
                f"{path}: the lake manifest is unreadable ({exc}); restore it from a backup or "
                "sync into a new lake directory"
            ) from exc

    @property
    def version(self) -> int:
        """The number of commits so far (0 for an empty lake)."""
        return self._manifest().version

    def tables(self) -> list[str]:
        """Return the names of the tables that have at least one file, sorted."""
        return sorted(self._manifest().files)

    def files(self, table: str) -> list[Path]:
        """Return the committed Parquet files of *table* (absolute paths, sorted)."""
        return [self.root / f for f in self._manifest().files.get(table, [])]

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open an in-memory DuckDB connection with one view per table.

        Every canonical table gets a view, also when it holds no rows (then an empty view with
        the canonical columns); other tables get one when they have files. Views read exactly
        the files of the current commit, so they never see a half-written sync. Open a new
        connection to see later commits.

        Returns:
            The connection (session time zone UTC).

        """
        manifest = self._manifest()
        self._check_schemas(manifest)
        con = _duck()
        for table in sorted(set(SCHEMAS) | set(manifest.files)):
            files = manifest.files.get(table, [])
            con.execute(self.view_sql(table, [str(self.root / f) for f in files]))
        return con

    def check_schema(self) -> None:
        """Raise DataError (naming the fix) when the lake was written by an older schema.

        Cheap (one Parquet footer per table and source, cached); :meth:`connect` and every
        write run it, so callers need it only to fail early (e.g. before starting a flow).
        """
        self._check_schemas(self._manifest())

    def _check_schemas(self, manifest: _Manifest, tables: Sequence[str] | None = None) -> None:
        """Raise DataError when stored files of a canonical table lack or add columns.

        One file per (table, source) is checked (its Parquet footer only; file names are content
        hashes, so a checked file is never checked again): every write refuses a stale table,
        so the files of one (table, source) always share a schema.
        """
        for table in sorted(tables if tables is not None else manifest.files):
            schema = SCHEMAS.get(table)
            if schema is None:
                continue
            first: dict[str, str] = {}
            for rel in manifest.files.get(table, []):
                first.setdefault(rel.split("/", 2)[1], rel)
            for rel in first.values():
                path = self.root / rel
                names = _SCHEMA_CACHE.get(str(path))
                if names is None:
                    try:
                        names = tuple(pq.read_schema(path).names)
                    except (OSError, pa.ArrowInvalid):
                        continue  # superseded by a concurrent commit: the next check sees it
                    _SCHEMA_CACHE[str(path)] = names
                if names != tuple(schema.names):
                    missing = [n for n in schema.names if n not in names]
                    extra = [n for n in names if n not in schema.names]
                    raise DataError(
                        f"lake at {self.root} was written by an older schema (table {table!r}: "
                        f"missing columns {missing}, unexpected columns {extra}, in {rel}); run "
                        f"`make clean` or delete {self.root} and sync again"
                    )

    @staticmethod
    def view_sql(table: str, files: Sequence[str]) -> str:
        """Return ``CREATE VIEW`` SQL for *table* over *files* (canonical columns and types)."""
        schema = SCHEMAS.get(table)
        if not files:
            if schema is None:
                return f"CREATE OR REPLACE VIEW {_ident(table)} AS SELECT NULL AS empty WHERE false"
            cols = ", ".join(
                f"CAST(NULL AS {duck_type(f.type)}) AS {_ident(f.name)}" for f in schema
            )
            return f"CREATE OR REPLACE VIEW {_ident(table)} AS SELECT {cols} WHERE false"
        listing = "[" + ", ".join(_sql_str(f) for f in files) + "]"
        if schema is None:  # a table without a canonical schema: the files' own columns
            plain = f"read_parquet({listing}, hive_partitioning=false, union_by_name=true)"
            return f"CREATE OR REPLACE VIEW {_ident(table)} AS SELECT * FROM {plain}"
        source = f"read_parquet({listing}, hive_partitioning=true, union_by_name=true)"
        cols = ", ".join(
            f"CAST({_ident(f.name)} AS {duck_type(f.type)}) AS {_ident(f.name)}" for f in schema
        )
        return f"CREATE OR REPLACE VIEW {_ident(table)} AS SELECT {cols} FROM {source}"

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run one SQL query against the lake's views and return an Arrow table.

        Args:
            sql: The query, naming tables as views (``SELECT * FROM incidents``).
            params: Optional positional parameters for ``?`` placeholders.

        Returns:
            The result as an Arrow table (timestamps in UTC).

        """
        con = self.connect()
        try:
            return _arrow(con, sql, params)
        finally:
            con.close()

    def last_watermark(self, source: str) -> str | None:
        """Return the watermark of *source*'s newest landed (ok or degraded) run, or None."""
        rows = self.query(
            "SELECT watermark FROM runs WHERE source = ? AND status IN ('ok', 'degraded') "
            "AND watermark IS NOT NULL ORDER BY started DESC, run_id DESC LIMIT 1",
            [source],
        )
        return rows.column(0)[0].as_py() if rows.num_rows else None

    # ----------------------------------------------------------------- writing
    @contextlib.contextmanager
    def lock(self) -> Iterator[Lake]:
        """Hold the lake's writer lock (one writer at a time) and clean leftovers first.

        Raises:
            TwinError: When another process is writing to this lake.

        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / _LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise TwinError(
                f"{self.root}: cannot use as the lake directory ({exc.strerror}); pass --lake "
                "with a writable directory"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise TwinError(
                    f"{self.root}: another sync is writing to this lake; wait for it to finish "
                    "or use another --lake directory"
                ) from exc
            raise
        self._lock_fd = fd
        try:
            self.cleanup()
            yield self
        finally:
            self._lock_fd = None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def cleanup(self) -> int:
        """Remove what interrupted writes left: staged files, unreferenced parts, empty dirs.

        Only files the manifest does not list are removed, so query results never change.
        Must run under :meth:`lock`.

        Returns:
            The number of files removed.

        """
        self._require_lock()
        live = {f for files in self._manifest().files.values() for f in files}
        removed = 0
        staging = self.root / _STAGING
        for path in sorted(self.root.glob(f"{MANIFEST}.*.tmp")):
            path.unlink()
            removed += 1
        if staging.exists():
            for path in sorted(staging.rglob("*"), reverse=True):
                if path.is_dir():
                    path.rmdir()
                else:
                    path.unlink()
                    removed += 1
            staging.rmdir()
        for top in sorted(self.root.iterdir()):
            if not top.is_dir() or top.name.startswith(("_", ".")):
                continue
            for dirpath, _dirnames, filenames in os.walk(top, topdown=False):
                for name in filenames:
                    rel = os.path.relpath(os.path.join(dirpath, name), self.root)
                    if name.endswith(".parquet") and rel not in live:
                        os.unlink(os.path.join(dirpath, name))
                        removed += 1
                if not os.listdir(dirpath):
                    os.rmdir(dirpath)
        return removed

    def _require_lock(self) -> None:
        if self._lock_fd is None:
            raise TwinError("lake: writes must run inside `with lake.lock():`")

    def begin(self, *, durable: bool = True) -> Transaction:
        """Start a transaction (under :meth:`lock`).

        Args:
            durable: fsync files and directories before the commit (survives power loss, not
                only a killed process).

        """
        self._require_lock()
        return Transaction(self, durable=durable)


class Transaction:
    """A set of partition replacements that becomes visible with one manifest swap.

    Each ``(table, source)`` may be written once per transaction. Nothing is visible to readers
    before :meth:`commit`; an abandoned transaction leaves only unreferenced files behind.
    """

    def __init__(self, lake: Lake, *, durable: bool = True) -> None:
        self.lake = lake
        self.durable = durable
        self.id = uuid.uuid4().hex[:12]
        self._base = lake._manifest()
        self._staging = lake.root / _STAGING / self.id
        # partition dir (relative) -> its new files; superseded files to remove after commit
        self._replace: dict[tuple[str, str], list[str]] = {}
        self._written: set[tuple[str, str]] = set()
        self._pending: dict[str, Path] = {}  # relative final path -> staged file
        self._committed = False

    # ----------------------------------------------------------- partitions
    def _source_files(self, table: str, source: str) -> dict[str, list[str]]:
        """Return committed files of (table, source), grouped by partition dir (relative)."""
        prefix = f"{table}/source={source}/"
        out: dict[str, list[str]] = {}
        for rel in self._base.files.get(table, []):
            if rel.startswith(prefix):
                out.setdefault(rel.rsplit("/", 1)[0], []).append(rel)
        return out

    def _claim(self, table: str, source: str) -> None:
        if (table, source) in self._written:
            raise TwinError(f"lake: ({table}, {source}) written twice in one transaction")
        self._written.add((table, source))

    def _stage(self, table: str, part_dir: str, data: pa.Table) -> str:
        """Write *data* as the single file of *part_dir*; return its relative path."""
        sink = pa.BufferOutputStream()
        dictionary: Any = _dictionary_columns(table, data.schema)  # the stubs say bool only
        statistics: Any = _statistics_columns(table, data.schema)
        pq.write_table(
            data,
            sink,
            compression="snappy",
            use_dictionary=dictionary,
            write_statistics=statistics,
        )
        buf = sink.getvalue()
        digest = hashlib.sha256(memoryview(buf)).hexdigest()[:20]
        rel = f"{part_dir}/part-{digest}.parquet"
        if rel in self._pending or (self.lake.root / rel).exists():
            return rel  # the same content is staged or committed already
        self._staging.mkdir(parents=True, exist_ok=True)
        tmp = self._staging / f"{digest}-{uuid.uuid4().hex[:8]}.parquet"
        with open(tmp, "wb") as fh:
            fh.write(memoryview(buf))
        self._pending[rel] = tmp
        _crash_point("stage")
        return rel

    def _set_partition(self, table: str, part_dir: str, files: list[str]) -> None:
        self._replace[(table, part_dir)] = files

    # ----------------------------------------------------------- operations
    def upsert(
        self, table: str, source: str, data: pa.Table, *, distinct: Sequence[str] | None = None
    ) -> int:
        """Merge *data* into the partitions of ``(table, source)`` it touches.

        Rows are conformed to the canonical schema of *table* (``SCHEMAS``; other tables keep
        their own schema and use the whole row as key). Within *data* the last row of a key
        wins. Stored rows identical to incoming ones are left alone; a stored row whose key
        comes in with other content is replaced, wherever its partition is.

        Args:
            table: Canonical table name.
            source: Source name; every row's ``source`` column must equal it.
            data: The rows.
            distinct: Count distinct values of these columns among the new or changed rows
                instead of the rows themselves (the sync passes the columns that identify an
                input row, so that one input row feeding several records counts once).

        Returns:
            rows_new: incoming rows (or distinct *distinct* values) that were inserted or
            changed a stored row.

        Raises:
            DataError: Missing columns, null keys or dates, or a foreign ``source`` value.

        """
        self._claim(table, source)
        self.lake._check_schemas(self._base, [table])
        schema = SCHEMAS.get(table, data.schema)
        data = _conform(table, source, data, schema)
        if data.num_rows == 0:
            return 0
        keys = KEYS.get(table) or tuple(schema.names)
        date_col = DATE_COLUMN.get(table)
        count_cols = tuple(distinct) if distinct else keys
        unknown = [c for c in count_cols if c not in schema.names]
        if unknown:
            raise TwinError(f"lake: upsert distinct={unknown} are not columns of {table!r}")
        cols = ", ".join(_ident(n) for n in schema.names)
        key_cols = ", ".join(_ident(k) for k in keys)
        part = (
            f"strftime(CAST({_ident(date_col)} AS DATE), '%Y-%m-%d')"
            if date_col
            else "CAST('' AS VARCHAR)"
        )
        existing = self._source_files(table, source)
        if not existing:  # nothing stored yet: every row is new, no merge needed
            inserted = self._insert_new(table, source, data, schema, keys, date_col)
            if inserted is not None:
                if count_cols == keys:
                    return inserted
                return (
                    data.select(list(count_cols)).group_by(list(count_cols)).aggregate([]).num_rows
                )
        con = _duck()
        try:
            con.register("incoming", data)
            n_rows, n_keys = con.execute(
                f"SELECT count(*), count(DISTINCT ({key_cols})) FROM incoming"
            ).fetchall()[0]
            if n_rows != n_keys:  # the last row of a key wins
                ordinal = pa.array(range(data.num_rows), pa.int64())
                con.register("incoming_ord", data.append_column("__ord", ordinal))
                con.execute(
                    f"CREATE TEMP VIEW new AS SELECT {cols} FROM incoming_ord "
                    f"QUALIFY row_number() OVER (PARTITION BY {key_cols} ORDER BY __ord DESC) = 1"
                )
            else:
                con.execute(f"CREATE TEMP VIEW new AS SELECT {cols} FROM incoming")
            touched = {
                _part_dir(table, source, p)
                for (p,) in con.execute(f"SELECT DISTINCT {part} FROM new").fetchall()
            }
            old_touched = [f for d in sorted(touched & set(existing)) for f in existing[d]]
            if old_touched:
                con.execute(
                    f"CREATE TEMP TABLE changed AS SELECT *, {part} AS __part FROM ("
                    f"SELECT {cols} FROM new EXCEPT "
                    f"SELECT {cols} FROM {_read(self.lake.root, old_touched)})"
                )
            else:
                con.execute(f"CREATE TEMP TABLE changed AS SELECT *, {part} AS __part FROM new")
            counted = (
                "count(*)"
                if count_cols == keys
                else f"count(DISTINCT ({', '.join(_ident(c) for c in count_cols)}))"
            )
            (rows_new,) = con.execute(f"SELECT {counted} FROM changed").fetchall()[0]
            if rows_new == 0:
                return 0
            rewrite = {
                _part_dir(table, source, p)
                for (p,) in con.execute("SELECT DISTINCT __part FROM changed").fetchall()
            }
            # Older versions of changed keys stored in partitions not being rewritten: also the
            # touched ones (a key can move out of a partition that other incoming rows touch).
            others = [f for d in sorted(set(existing) - rewrite) for f in existing[d]]
            if others:
                moved = con.execute(
                    f"SELECT DISTINCT o.filename FROM "
                    f"{_read(self.lake.root, others, filename=True)} o "
                    f"SEMI JOIN changed c USING ({key_cols})"
                ).fetchall()
                root = str(self.lake.root)
                rewrite |= {os.path.relpath(f, root).rsplit("/", 1)[0] for (f,) in moved}
            old_rewrite = [f for d in sorted(rewrite & set(existing)) for f in existing[d]]
            order = f"ORDER BY __part, {key_cols}"
            if old_rewrite:
                query = (
                    f"SELECT {cols}, {part} AS __part FROM {_read(self.lake.root, old_rewrite)} "
                    f"ANTI JOIN changed USING ({key_cols}) "
                    f"UNION ALL SELECT {cols}, __part FROM changed {order}"
                )
            else:
                query = f"SELECT {cols}, __part FROM changed {order}"
            merged = _arrow(con, query)
        finally:
            con.close()
        written = self._write_parts(table, source, merged, schema)
        for part_dir in rewrite:
            self._set_partition(table, part_dir, written.get(part_dir, []))
        return int(rows_new)

    def _insert_new(
        self,
        table: str,
        source: str,
        data: pa.Table,
        schema: pa.Schema,
        keys: tuple[str, ...],
        date_col: str | None,
    ) -> int | None:
        """Write *data* into an empty ``(table, source)`` with Arrow alone (the fast path).

        Rows keep their input order within a partition (the merge path orders by key): either
        way the same input gives the same bytes.

        Returns:
            rows_new, or None (nothing written) when a key repeats: the merge path resolves it.

        """
        if table not in KEYS:  # whole-row keys may hold nulls: let the merge path decide
            return None
        order: list[tuple[str, Literal["ascending", "descending"]]] = [
            (k, "ascending") for k in keys
        ]
        by_key = pc.sort_indices(data.select(list(keys)), sort_keys=order)
        same: pa.Array | None = None  # row i has the same key as row i - 1 (in key order)
        for k in keys:
            column = data.column(k).take(by_key).combine_chunks()
            eq = pc.equal(column.slice(1), column.slice(0, len(column) - 1))
            same = eq if same is None else pc.and_(same, eq)
        if same is not None and len(same) and pc.any(same).as_py():
            return None
        # Partitions are gathered per input batch (a file's rows, mostly in time order already):
        # rows of a day keep their input order, which is deterministic for the same input, and
        # no full-size copy of the table is made.
        pieces: dict[str, list[pa.RecordBatch]] = {}
        for batch in data.cast(schema).to_batches():
            if not batch.num_rows:
                continue
            if not date_col:
                pieces.setdefault("", []).append(batch)
                continue
            day = pc.cast(batch.column(date_col), pa.date32())
            days = day.cast(pa.int32()).to_numpy(zero_copy_only=False)
            if len(days) > 1 and (days[1:] < days[:-1]).any():
                by_day = pc.sort_indices(day)  # stable: input order within a day
                batch, day = batch.take(by_day), day.take(by_day)
            runs = pc.run_end_encode(day)  # type: ignore[attr-defined]
            start = 0
            for end, value in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
                pieces.setdefault(value.isoformat(), []).append(batch.slice(start, end - start))
                start = end
        jobs = [
            (_part_dir(table, source, p), _const(pa.Table.from_batches(pieces[p], schema=schema)))
            for p in sorted(pieces)
        ]
        written = self._stage_all(table, jobs)
        for part_dir, files in written.items():
            self._set_partition(table, part_dir, files)
        return data.num_rows

    def _write_parts(
        self, table: str, source: str, merged: pa.Table, schema: pa.Schema
    ) -> dict[str, list[str]]:
        """Stage one file per partition of *merged* (sorted by ``__part``)."""
        if merged.num_rows == 0:
            return {}
        column = merged.column("__part").combine_chunks()
        runs = pc.run_end_encode(column)  # type: ignore[attr-defined]
        body = merged.drop_columns(["__part"]).cast(schema)
        return self._write_slices(
            table, source, body, runs.run_ends.to_pylist(), runs.values.to_pylist()
        )

    def _write_slices(
        self, table: str, source: str, body: pa.Table, ends: list[int], parts: list[str]
    ) -> dict[str, list[str]]:
        """Stage ``body[start:end]`` as the file of partition ``parts[i]``."""
        jobs: list[tuple[str, Callable[[], pa.Table]]] = []
        start = 0
        for end, value in zip(ends, parts, strict=True):
            jobs.append((_part_dir(table, source, value), _const(body.slice(start, end - start))))
            start = end
        return self._stage_all(table, jobs)

    def _stage_all(
        self, table: str, jobs: list[tuple[str, Callable[[], pa.Table]]]
    ) -> dict[str, list[str]]:
        """Stage each job's rows as its partition's file, in parallel threads."""
        if len(jobs) == 1:
            return {jobs[0][0]: [self._stage(table, jobs[0][0], jobs[0][1]())]}
        with ThreadPoolExecutor(max_workers=_WRITERS) as pool:
            files = list(pool.map(lambda job: self._stage(table, job[0], job[1]()), jobs))
        return {d: [f] for (d, _), f in zip(jobs, files, strict=True)}

    def replace_quarantine(self, source: str, rows: pa.Table, files: Sequence[str]) -> int:
        """Replace *source*'s quarantine rows for the input *files* by *rows*.

        Rows keep the ``run_id`` of the run that first quarantined them (matched on file, row
        number, reason, raw row and detail), so syncing the same input again rewrites nothing.

        Args:
            source: The source name.
            rows: Its quarantine rows from this run (``QUARANTINE`` schema).
            files: The input files this run read; their older quarantine rows are replaced.

        Returns:
            The number of quarantine rows now stored for *source*.

        """
        self._claim("quarantine", source)
        rows = _conform("quarantine", source, rows, QUARANTINE)
        part_dir = _part_dir("quarantine", source, "")
        old = self._source_files("quarantine", source).get(part_dir, [])
        cols = ", ".join(_ident(n) for n in QUARANTINE.names)
        seen = [str(f) for f in pc.unique(rows.column("file")).drop_null().to_pylist()]
        file_list = sorted(set(files) | set(seen))
        con = _duck()
        try:
            con.register("newq", rows)
            con.execute("CREATE TEMP TABLE files (file VARCHAR)")
            if file_list:
                con.executemany("INSERT INTO files VALUES (?)", [[f] for f in file_list])
            if old:
                con.execute(
                    f"CREATE TEMP VIEW oldq AS SELECT {cols} FROM {_read(self.lake.root, old)}"
                )
            else:
                con.execute(
                    "CREATE TEMP VIEW oldq AS SELECT "
                    + ", ".join(
                        f"CAST(NULL AS {duck_type(f.type)}) AS {_ident(f.name)}" for f in QUARANTINE
                    )
                    + " WHERE false"
                )
            same = (
                "o.file IS NOT DISTINCT FROM n.file AND o.row_number IS NOT DISTINCT FROM "
                "n.row_number AND o.reason = n.reason AND o.raw = n.raw AND o.detail IS NOT "
                "DISTINCT FROM n.detail"
            )
            keep_old = "file IS NULL OR file NOT IN (SELECT file FROM files)"
            first_run = f"coalesce((SELECT min(o.run_id) FROM oldq o WHERE {same}), n.run_id)"
            merged = _arrow(
                con,
                f"SELECT DISTINCT {cols} FROM ("
                f"SELECT {cols} FROM oldq WHERE {keep_old} UNION ALL "
                f"SELECT n.source, {first_run} AS run_id, n.file, n.row_number, n.raw, n.reason, "
                f"n.detail FROM newq n) "
                f"ORDER BY file NULLS FIRST, row_number NULLS FIRST, reason, raw, detail, run_id",
            )
        finally:
            con.close()
        merged = merged.cast(QUARANTINE)
        self._set_partition(
            "quarantine",
            part_dir,
            [self._stage("quarantine", part_dir, merged)] if merged.num_rows else [],
        )
        return merged.num_rows

    def append_runs(self, source: str, rows: pa.Table) -> None:
        """Append ledger rows (``RUNS`` schema) of *source*."""
        self._claim("runs", source)
        rows = _conform("runs", source, rows, RUNS)
        part_dir = _part_dir("runs", source, "")
        old = self._source_files("runs", source).get(part_dir, [])
        tables = [pq.read_table(self.lake.root / f, schema=RUNS) for f in old] + [rows]
        merged = pa.concat_tables(tables)
        merged = merged.sort_by([("started", "ascending"), ("run_id", "ascending")])
        self._set_partition("runs", part_dir, [self._stage("runs", part_dir, merged)])

    # ----------------------------------------------------------- commit
    def commit(self) -> bool:
        """Make every staged partition visible at once, then remove superseded files.

        Returns:
            True when the lake changed (False: every partition was already as staged).

        """
        if self._committed:
            raise TwinError("lake: transaction already committed")
        self._committed = True
        base = self._base
        new_files = {t: list(f) for t, f in base.files.items()}
        superseded: list[str] = []
        changed = False
        for (table, part_dir), files in sorted(self._replace.items()):
            current = [f for f in new_files.get(table, []) if f.rsplit("/", 1)[0] == part_dir]
            if sorted(current) == sorted(files):
                continue
            changed = True
            keep = [f for f in new_files.get(table, []) if f.rsplit("/", 1)[0] != part_dir]
            new_files[table] = keep + files
            superseded += [f for f in current if f not in files]
        root = self.lake.root
        if not changed:
            self._drop_staging()
            return False
        if self.durable:  # staged bytes reach the disk before they are published
            _fsync_all(list(self._pending.values()))
        dirs: set[Path] = set()
        for rel, tmp in sorted(self._pending.items()):
            final = root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            _crash_point("publish")
            d = final.parent
            while d != root and d.is_relative_to(root):
                dirs.add(d)
                d = d.parent
        if self.durable:  # ... and so do the renames, before the commit refers to them
            _fsync_all(sorted(dirs, key=lambda p: (-len(p.parts), str(p))))
        latest = self.lake._manifest()
        if latest.version != base.version:
            raise TwinError(f"{root}: the lake changed during the transaction; sync again")
        manifest = _Manifest(version=base.version + 1, files=new_files)
        tmp = root / f"{MANIFEST}.{self.id}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(manifest.to_bytes())
            fh.flush()
            if self.durable:
                os.fsync(fh.fileno())
        _crash_point("commit")
        os.replace(tmp, root / MANIFEST)
        if self.durable:
            _fsync_dir(root)
        _crash_point("committed")
        for rel in superseded:
            with contextlib.suppress(FileNotFoundError):
                (root / rel).unlink()
            _crash_point("gc")
            with contextlib.suppress(OSError):  # remove the partition dir once empty
                (root / rel).parent.rmdir()
        self._drop_staging()
        return True

    def _drop_staging(self) -> None:
        if self._staging.exists():
            for path in self._staging.iterdir():
                path.unlink()
            self._staging.rmdir()
        with contextlib.suppress(OSError):
            self._staging.parent.rmdir()


def _arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> pa.Table:
    result = con.sql(sql, params=list(params) if params else None).to_arrow_table()
    if result is None:  # pragma: no cover - DuckDB returns a table for every SELECT
        raise TwinError(f"lake: query returned no result: {sql[:200]}")
    return result


_NOT_DICTIONARY: Final = frozenset({"source_id", "raw", "detail", "attributes", "geometry"})


def _dictionary_columns(table: str, schema: pa.Schema) -> list[str]:
    """Return the string columns worth dictionary-encoding: repeated values, not ids or blobs.

    Dictionary-encoding unique values (ids, raw rows) costs time and space for nothing.
    """
    keys = set(KEYS.get(table, ()))
    return [
        f.name
        for f in schema
        if pa.types.is_string(f.type) and f.name not in keys and f.name not in _NOT_DICTIONARY
    ]


def _statistics_columns(table: str, schema: pa.Schema) -> list[str]:
    """Return the columns whose min/max statistics are written: keys, times and numbers.

    Those are what queries filter on (time ranges, ids); min/max of free text (call types,
    addresses, raw rows) prunes nothing in day-sized files and costs ~15% of the write.
    """
    keys = set(KEYS.get(table, ()))
    return [f.name for f in schema if f.name in keys or not pa.types.is_string(f.type)]


def _const(rows: pa.Table) -> Callable[[], pa.Table]:
    return lambda: rows


def _part_dir(table: str, source: str, part: str) -> str:
    return f"{table}/source={source}/date={part}" if part else f"{table}/source={source}"


def _read(root: Path, files: Sequence[str], *, filename: bool = False) -> str:
    listing = "[" + ", ".join(_sql_str(str(root / f)) for f in files) + "]"
    extra = ", filename=true" if filename else ""
    return f"read_parquet({listing}, hive_partitioning=false{extra})"


def _conform(table: str, source: str, data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Select and cast *data* to *schema*; check non-null fields and the source column."""
    missing = [n for n in schema.names if n not in data.column_names]
    if missing:
        raise DataError(
            f"source {source!r}: table {table!r} lacks columns {missing}; expected "
            f"{schema.names}, found {data.column_names}"
        )
    data = data.select(schema.names)
    try:
        data = data.cast(pa.schema([f.with_nullable(True) for f in schema]))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        raise DataError(
            f"source {source!r}: table {table!r} does not fit its schema: {exc}"
        ) from exc
    for f in schema:
        if not f.nullable and data.column(f.name).null_count:
            raise DataError(
                f"source {source!r}: table {table!r} has {data.column(f.name).null_count} "
                f"null values in required column {f.name!r}"
            )
    if "source" in schema.names and data.num_rows:
        bounds = pc.min_max(data.column("source")).as_py()  # cheaper than unique()
        if bounds != {"min": source, "max": source}:
            values = pc.unique(data.column("source")).to_pylist()[:5]
            raise DataError(
                f"source {source!r}: table {table!r} has rows with source values {values}; "
                f"an adapter must set source to {source!r}"
            )
    return data.cast(schema)
