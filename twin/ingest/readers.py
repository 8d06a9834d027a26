"""Read raw source files into all-string Arrow tables, with clear errors.

Every cell is read as a string (empty cells stay ``""``, never null) so that a quarantined row can
be written back exactly as the source had it. Parsing into types happens later, column by
column, in Arrow kernels. Any I/O or format problem (missing file, truncated or corrupt gzip,
columns renamed at the source) becomes a :class:`~twin.errors.DataError` that names the file.

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
from pathlib import Path
from typing import Any, cast

import pyarrow as pa
import pyarrow.csv as pacsv

from twin.errors import DataError

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
    "check_columns",
    "csv_header",
    "list_drop_files",
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


def _require_file(path: Path) -> None:
    if not path.exists():
        raise DataError(f"{path}: file not found; check the source path in the sync config")
    if not path.is_file():
        raise DataError(f"{path}: not a file; point the source at a file")


def _raw_header(path: Path, delimiter: str) -> list[str]:
    _require_file(path)
    try:
        with _open_text(path) as fh:
            row = next(csv.reader(fh, delimiter=delimiter), None)
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read the header ({exc}); the file is corrupt") from exc
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


def read_csv_strings(
    path: Path,
    expected: Iterable[str] = (),
    delimiter: str = ",",
    newlines_in_values: bool = False,
) -> pa.Table:
    """Read a CSV (optionally gzip-compressed) with every column as a string.

    Args:
        path: The file (``.csv`` or ``.csv.gz``).
        expected: Columns that must be present (checked against the header first).
        delimiter: Field separator.
        newlines_in_values: Allow line breaks inside quoted cells (slower parsing).

    Returns:
        A table of ``string`` columns in file order; empty cells are ``""``.

    Raises:
        DataError: When the file is missing, truncated/corrupt, or lacks expected columns.

    """
    raw_names = _raw_header(path, delimiter)
    header = [c.strip() for c in raw_names]
    check_columns(path, header, expected)
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: duplicate column names {dupes}; each column must be unique")
    try:
        table = pacsv.read_csv(
            _csv_input(path),
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(
                delimiter=delimiter, newlines_in_values=newlines_in_values
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.string() for c in raw_names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot parse the CSV ({exc}); the file is truncated or corrupt"
        ) from exc
    # Names as in the header but stripped (pyarrow keeps surrounding spaces); the BOM is gone.
    return table.rename_columns(header)


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
