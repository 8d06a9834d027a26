"""Read raw source files into all-string Arrow tables, with clear errors.

Every cell is read as a string (empty cells stay ``""``, never null) so that a quarantined row can
be written back exactly as the source had it. Parsing into types happens later, column by
column, in Arrow kernels. Any I/O or format problem of the *file* (missing file, truncated or
corrupt gzip, columns renamed at the source, a header that is not UTF-8) becomes a
:class:`~twin.errors.DataError` that names the file.

**Malformed records fail only themselves** (:func:`read_csv_rows`). A record with the wrong number
of fields or broken quoting (an unterminated quote, text after a closing quote) is a
``malformed_row``; a record with bytes that are not UTF-8 (a Latin-1 ``é``, byte 0xE9) is
``bad_encoding``. Each comes back as a :class:`~twin.ingest.base.Reject` with its record number,
its raw text (undecodable bytes as backslash escapes) and the reason; every other record loads.
The fast path is one pyarrow read with cells as *binary*, then a UTF-8 check per column; only
when that read fails, a column is not UTF-8, or a cell spans lines (pyarrow lets an unterminated
quote run on over the next lines, swallowing good records) is the file read again record by
record with Python's ``csv`` module (strict quoting), one physical line per record unless
``newlines_in_values``; empty lines are skipped on both paths, so record numbers agree.

Gzip input is decompressed with ISA-L (the optional ``isal`` package) when it is installed: it
inflates about twice as fast as zlib, and inflating is half the cost of reading a ``.csv.gz``.
Without it (or for files over :data:`INFLATE_IN_MEMORY_MAX` compressed bytes, which are
streamed) pyarrow's own gzip reader is used; the result is the same either way.
"""

from __future__ import annotations

import csv
import gzip
import importlib
import io
import json
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc
import pyarrow.csv as pacsv

from twin.errors import DataError
from twin.ingest.base import QuarantineReason, Reject

pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls; use it untyped

_igzip: Any = None
_INFLATE_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, zlib.error, ValueError)
try:  # optional (not every environment has it): ISA-L inflates gzip ~2x faster than zlib
    _igzip = importlib.import_module("isal.igzip")
    _isal_error = importlib.import_module("isal.isal_zlib").error
    _INFLATE_ERRORS = (*_INFLATE_ERRORS, cast(type[BaseException], _isal_error))
except ImportError:  # pragma: no cover - depends on the environment
    _igzip = None

__all__ = [
    "INFLATE_IN_MEMORY_MAX",
    "RawRows",
    "check_columns",
    "csv_header",
    "list_drop_files",
    "read_csv_rows",
    "read_csv_strings",
    "read_json",
    "records_to_table",
]


INFLATE_IN_MEMORY_MAX = 32 << 20
"""Gzip files up to this many compressed bytes are inflated in memory with ISA-L (if installed);
larger ones are streamed through pyarrow's reader, so memory stays bounded."""


def _csv_input(path: Path) -> Any:
    """Return what ``pyarrow.csv.read_csv`` should read for *path* (see the module doc)."""
    if _igzip is None or not path.name.endswith(".gz"):
        return path
    if path.stat().st_size > INFLATE_IN_MEMORY_MAX:
        return path
    try:
        return pa.BufferReader(_igzip.decompress(path.read_bytes()))
    except _INFLATE_ERRORS as exc:  # BadGzipFile is an OSError
        raise DataError(
            f"{path}: cannot decompress the file ({exc}); the file is truncated or corrupt"
        ) from exc


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _open_bytes(path: Path) -> Any:
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found; check the source path in the sync config")
    if not path.is_file():
        raise DataError(f"{path}: not a file; point the source at a file")


def _raw_header(path: Path, delimiter: str) -> list[str]:
    """Return the header fields; only the header line is decoded (data rows may be bad)."""
    _require_file(path)
    try:
        with _open_bytes(path) as fh:
            line = fh.readline()
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: cannot read the header ({exc}); the file is corrupt") from exc
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: the header line is not UTF-8 ({exc.reason} at byte {exc.start}: "
            f"{line[:120]!r}); re-export the file as UTF-8"
        ) from exc
    row = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter), None)
    if not row:
        raise DataError(f"{path}: the file is empty; expected a CSV header line")
    return row


def csv_header(path: Path, delimiter: str = ",") -> list[str]:
    """Return the column names of a CSV (or ``.csv.gz``) file.

    Args:
        path: The file.
        delimiter: Field separator.

    Returns:
        The header fields, stripped of surrounding whitespace.

    Raises:
        DataError: When the file is missing, empty, or not readable (corrupt gzip).

    """
    return [c.strip() for c in _raw_header(path, delimiter)]


def check_columns(path: Path | str, found: Sequence[str], expected: Iterable[str]) -> None:
    """Raise DataError unless every expected column is present.

    Args:
        path: The file (for the message).
        found: Columns the file has.
        expected: Columns the adapter needs.

    Raises:
        DataError: Listing the expected, found and missing columns.

    """
    want = list(expected)
    missing = [c for c in want if c not in found]
    if missing:
        raise DataError(
            f"{path}: the source's columns changed: missing {missing}. "
            f"Expected columns {want}; found {list(found)}. "
            "Update the adapter (or the csv_drop column mapping) to the new layout."
        )


@dataclass
class RawRows:
    """The records of one CSV file: the readable ones as strings, the others rejected.

    Attributes:
        table: The readable records, one ``string`` column per header field.
        row_numbers: 1-based record number in the file of each table row (the header is not
            counted), or None when no record was rejected (then ``index + 1``).
        rejects: Records that could not be read (``malformed_row``, ``bad_encoding``).

    """

    table: pa.Table
    row_numbers: npt.NDArray[np.int64] | None = None
    rejects: list[Reject] = field(default_factory=list)


def read_csv_strings(
    path: Path,
    expected: Iterable[str] = (),
    delimiter: str = ",",
    newlines_in_values: bool = False,
) -> pa.Table:
    """Read a CSV (optionally gzip-compressed) with every column as a string; strict.

    Args:
        path: The file (``.csv`` or ``.csv.gz``).
        expected: Columns that must be present (checked against the header first).
        delimiter: Field separator.
        newlines_in_values: Allow line breaks inside quoted cells.

    Returns:
        A table of ``string`` columns in file order; empty cells are ``""``.

    Raises:
        DataError: When the file is missing, truncated/corrupt, lacks expected columns, or
            has a malformed record (adapters use :func:`read_csv_rows`, which quarantines it).

    """
    rows = read_csv_rows(path, expected, delimiter, newlines_in_values)
    if rows.rejects:
        first = rows.rejects[0]
        raise DataError(
            f"{path}: {len(rows.rejects)} malformed record(s); the first, record "
            f"{first.row_number}: {first.detail}"
        )
    return rows.table


def read_csv_rows(
    path: Path,
    expected: Iterable[str] = (),
    delimiter: str = ",",
    newlines_in_values: bool = False,
) -> RawRows:
    """Read a CSV (optionally gzip-compressed): readable records as strings, the rest rejected.

    Args:
        path: The file (``.csv`` or ``.csv.gz``).
        expected: Columns that must be present (checked against the header first).
        delimiter: Field separator.
        newlines_in_values: Allow line breaks inside quoted cells (slower parsing; then an
            unterminated quote runs to the end of the file and rejects that one record).

    Returns:
        The records (see :class:`RawRows` and the module doc).

    Raises:
        DataError: When the file is missing, truncated/corrupt, its header is unreadable, or it
            lacks expected columns.

    """
    raw_names = _raw_header(path, delimiter)
    header = [c.strip() for c in raw_names]
    check_columns(path, header, expected)
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}; each column must be unique")
    table = _read_fast(path, raw_names, delimiter, newlines_in_values)
    if table is not None:
        # Names as in the header but stripped (pyarrow keeps surrounding spaces); no BOM.
        return RawRows(table.rename_columns(header))
    return _read_slow(path, header, delimiter, newlines_in_values)


def _read_fast(
    path: Path, raw_names: list[str], delimiter: str, newlines_in_values: bool
) -> pa.Table | None:
    """One pyarrow read; None when some record needs the record-by-record path."""
    try:
        table = pacsv.read_csv(
            _csv_input(path),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=newlines_in_values
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.binary() for c in raw_names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error):
        return None  # a malformed record, or a corrupt file: the slow path tells which
    columns = []
    for column in table.columns:
        if not newlines_in_values and table.num_rows:
            if pc.any(pc.match_substring(column, "\n")).as_py():
                return None
        try:
            columns.append(column.cast(pa.string()))
        except (pa.ArrowInvalid, UnicodeDecodeError):
            return None
    return pa.table(columns, names=table.column_names)


def _read_bytes(path: Path) -> bytes:
    try:
        with _open_bytes(path) as fh:
            return cast(bytes, fh.read())
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot parse the CSV ({exc}); the file is truncated or corrupt"
        ) from exc


def _records(data: bytes, newlines_in_values: bool) -> Iterable[bytes]:
    """Yield the data records (bytes, line end removed), header and empty lines skipped."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    pending: list[bytes] = []
    for line in lines[1:]:
        line = line.removesuffix(b"\r")
        if pending:
            pending.append(line)
            if b"\n".join(pending).count(b'"') % 2 == 0:
                yield b"\n".join(pending)
                pending = []
            continue
        if not line.strip():
            continue
        if newlines_in_values and line.count(b'"') % 2:
            pending = [line]
            continue
        yield line
    if pending:
        yield b"\n".join(pending)


def _read_slow(path: Path, header: list[str], delimiter: str, newlines_in_values: bool) -> RawRows:
    """Read record by record; see the module doc."""
    data = _read_bytes(path)
    width = len(header)
    cells: list[list[str]] = [[] for _ in header]
    numbers: list[int] = []
    rejects: list[Reject] = []
    for number, record in enumerate(_records(data, newlines_in_values), start=1):
        reason = detail = None
        try:
            text = record.decode("utf-8")
        except UnicodeDecodeError as exc:
            text = record.decode("utf-8", "backslashreplace")
            bad = record[exc.start : exc.end]
            reason = QuarantineReason.BAD_ENCODING
            detail = f"byte(s) {bad!r} at position {exc.start} are not UTF-8 ({exc.reason})"
        try:
            fields = next(csv.reader([text], delimiter=delimiter, strict=True), [])
        except csv.Error as exc:
            fields = None
            if reason is None:
                reason = QuarantineReason.MALFORMED_ROW
                detail = f"broken quoting ({exc})"
        if fields is not None and len(fields) != width and reason is None:
            reason = QuarantineReason.MALFORMED_ROW
            detail = f"{len(fields)} fields, expected {width} (the header's)"
        if reason is None and fields is not None:
            for column, value in zip(cells, fields, strict=True):
                column.append(value)
            numbers.append(number)
            continue
        raw: dict[str, str] = (
            dict(zip(header, fields, strict=True))
            if fields is not None and len(fields) == width
            else {"_line": text}
        )
        rejects.append(
            Reject(number, json.dumps(raw, ensure_ascii=False), str(reason), str(detail))
        )
    table = pa.table([pa.array(c, pa.string()) for c in cells], names=header)
    return RawRows(table, np.asarray(numbers, dtype=np.int64), rejects)


def read_json(path: Path) -> Any:
    """Load a JSON file, with DataError on a missing or malformed file.

    Args:
        path: The file (``.json`` or ``.json.gz``/``.geojson``).

    Returns:
        The decoded JSON value.

    Raises:
        DataError: When the file is missing, unreadable or not valid JSON.

    """
    _require_file(path)
    try:
        with _open_text(path) as fh:
            return json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            "the file is truncated or corrupt"
        ) from exc
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the file ({exc}); it is corrupt") from exc


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def records_to_table(records: Sequence[dict[str, Any]], columns: Sequence[str]) -> pa.Table:
    """Turn JSON records into an all-string table with the given columns.

    Missing keys become ``""``; numbers and nested objects become their text.

    Args:
        records: JSON objects (e.g. Socrata rows).
        columns: Output columns, looked up as keys in each record.

    Returns:
        A table of ``string`` columns.

    """
    data = {c: pa.array([_cell(r.get(c)) for r in records], pa.string()) for c in columns}
    return pa.table(data) if columns else pa.table({})


def list_drop_files(path: Path, patterns: Sequence[str] = ("*.csv", "*.csv.gz")) -> list[Path]:
    """Return the files a drop-folder source reads (a single file, or a folder's CSVs).

    Args:
        path: A file, or a folder whose matching files are read in name order.
        patterns: Glob patterns inside a folder.

    Returns:
        The files, sorted by name.

    Raises:
        DataError: When the path does not exist or the folder holds no matching file.

    """
    if path.is_file():
        return [path]
    if not path.exists():
        raise DataError(f"{path}: drop folder not found; create it or fix the source path")
    files = sorted({p for pat in patterns for p in path.glob(pat) if p.is_file()})
    if not files:
        raise DataError(f"{path}: no files matching {list(patterns)} in the drop folder")
    return files
