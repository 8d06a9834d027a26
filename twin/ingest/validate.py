"""The checks every adapter shares, and the row triage that guarantees nothing is lost.

A :class:`Triage` holds one verdict per input row: ok, exact duplicate, or quarantined with a
reason. Checks run in a fixed order and the *first* failing check gives the reason, so a row is
quarantined exactly once. All checks are numpy/Arrow masks over the whole table; details and the
raw-row JSON are built only for the (few) rejected rows.

Duplicate policy (:func:`classify_duplicates`): rows with the same id *and* the same content as an
earlier row are exact duplicates (counted in ``rows_duplicate``, first copy kept). When one id
comes with two or more different contents in the same input, **every version is quarantined** as
``conflicting_duplicate`` (keeping none): the file itself does not say which version is right, and
landing one would silently hide the other. (A record that changes *between* syncs is different:
the lake replaces it by id.) Repeated copies of a conflicting version still count as duplicates.

Check order used by the incident adapters: missing id, conflicting duplicate, unparseable time,
missing time, unparseable number, lifecycle order, coordinates outside the city, unknown zone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc

from twin.ingest.base import AdapterOutput
from twin.schemas import QUARANTINE

pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls; use it untyped

__all__ = [
    "Detail",
    "Triage",
    "as_array",
    "blank_to_null",
    "classify_duplicates",
    "empty_mask",
    "lifecycle_violations",
    "outside_bbox",
    "parse_floats",
    "timestamps_to_int",
]

BoolArray = npt.NDArray[np.bool_]
Detail = str | Callable[[npt.NDArray[np.int64]], Sequence[str]]
"""A quarantine detail: one text for all rows, or a function of the rejected row indices."""

_NUM_RE = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
_NAT = np.iinfo(np.int64).min


def _np_bool(arr: pa.Array | pa.ChunkedArray) -> BoolArray:
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=bool)


def as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return *values* as one contiguous Array (chunks concatenated only when needed)."""
    if isinstance(values, pa.ChunkedArray):
        if values.num_chunks == 1:
            return cast(pa.Array, values.chunk(0))
        if values.num_chunks == 0:
            return pa.array([], values.type)
        return pa.concat_arrays(values.chunks)
    return values


def empty_mask(values: pa.Array | pa.ChunkedArray) -> BoolArray:
    """Return True where a string value is null, empty or only whitespace.

    Args:
        values: A string column.

    Returns:
        A boolean numpy array.

    """
    blank = pc.or_(pc.equal(values, ""), pc.utf8_is_space(values))
    return _np_bool(pc.fill_null(blank, True))


def blank_to_null(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return the strings with empty and whitespace-only values made null (others unchanged).

    Args:
        values: A string column.

    Returns:
        A string array; for a column without nulls the data buffers are shared, not copied.

    """
    arr = as_array(values)
    keep = pc.invert(pc.or_(pc.equal(arr, ""), pc.utf8_is_space(arr)))
    if arr.type == pa.string() and arr.offset == 0 and arr.null_count == 0:
        bufs = arr.buffers()
        return pa.Array.from_buffers(
            pa.string(), len(arr), [keep.buffers()[1], bufs[1], bufs[2]], offset=0
        )
    return pc.if_else(pc.fill_null(keep, False), arr, pa.scalar(None, pa.string()))


def parse_floats(values: pa.Array | pa.ChunkedArray) -> tuple[npt.NDArray[np.float64], BoolArray]:
    """Parse decimal numbers from strings.

    Args:
        values: A string column.

    Returns:
        ``(numbers, bad)``: float64 values (NaN where empty or unreadable) and where a non-empty
        value was not a number.

    """
    values = pc.cast(values, pa.string())
    empty = empty_mask(values)
    blank = pa.scalar(None, pa.string())
    try:
        # Fast path: every non-empty cell is a plain number.
        some_empty = bool(empty.any())
        fast = pc.cast(
            pc.if_else(pa.array(empty), blank, values) if some_empty else values, pa.float64()
        )
        arr = np.asarray(fast.to_numpy(zero_copy_only=False), dtype=np.float64)
        if np.isfinite(arr[~empty]).all():  # "nan"/"inf" are not numbers here
            return arr, np.zeros(len(values), dtype=bool)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass
    ok = pc.fill_null(pc.match_substring_regex(values, _NUM_RE), False)
    clean = pc.if_else(ok, pc.utf8_trim_whitespace(values), blank)
    nums = pc.cast(clean, pa.float64()).to_numpy(zero_copy_only=False)
    bad = ~_np_bool(ok) & ~empty
    return np.asarray(nums, dtype=np.float64), bad


def timestamps_to_int(ts: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.int64]:
    """Return microseconds since the epoch, with the minimum int64 for null."""
    ints = pc.cast(pc.cast(ts, pa.timestamp("us", tz="UTC")), pa.int64())
    return np.asarray(pc.fill_null(ints, _NAT).to_numpy(zero_copy_only=False), dtype=np.int64)


def lifecycle_violations(times: Sequence[npt.NDArray[np.int64]]) -> BoolArray:
    """Return where lifecycle times run backwards (equal times are fine; nulls are skipped).

    Each time must be >= every earlier non-null time in the sequence, so received <= onscene is
    checked even when dispatched is missing.

    Args:
        times: Times in lifecycle order, as from :func:`timestamps_to_int` (null = int64 min).

    Returns:
        A boolean array, True where some time is earlier than a previous one.

    """
    if not times:
        return np.zeros(0, dtype=bool)
    bad = np.zeros(len(times[0]), dtype=bool)
    running = np.full(len(times[0]), _NAT, dtype=np.int64)
    for col in times:
        present = col != _NAT
        bad |= present & (col < running)
        running = np.maximum(running, col)
    return bad


def outside_bbox(
    lon: npt.NDArray[np.float64],
    lat: npt.NDArray[np.float64],
    bbox: tuple[float, float, float, float] | None,
) -> BoolArray:
    """Return where coordinates are present but outside *bbox* (``0, 0`` included).

    Args:
        lon: Longitudes (NaN = missing).
        lat: Latitudes (NaN = missing).
        bbox: ``(min_lon, min_lat, max_lon, max_lat)``; None accepts every coordinate.

    Returns:
        A boolean array.

    """
    present = np.isfinite(lon) | np.isfinite(lat)
    if bbox is None:
        return np.zeros(len(lon), dtype=bool)
    x0, y0, x1, y1 = bbox
    with np.errstate(invalid="ignore"):
        inside = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    return present & ~inside


def classify_duplicates(
    raw: pa.Table, key: pa.Array | pa.ChunkedArray
) -> tuple[BoolArray, BoolArray]:
    """Find exact and conflicting duplicates by *key* (see module doc for the policy).

    Only rows whose key occurs more than once are compared cell by cell, so the cost is one
    dictionary encoding of the key column plus work proportional to the repeated rows.

    Args:
        raw: The raw rows (all columns are compared).
        key: The id of each row (nulls are never duplicates).

    Returns:
        ``(exact, conflict)``: masks of exact later copies, and of rows whose id has several
        different contents (every distinct version, first copies included).

    """
    n = raw.num_rows
    exact = np.zeros(n, dtype=bool)
    conflict = np.zeros(n, dtype=bool)
    if n == 0:
        return exact, conflict
    if isinstance(key, pa.ChunkedArray):
        key = key.combine_chunks()
    enc = pc.dictionary_encode(key)
    codes = np.asarray(pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int64)
    valid = codes >= 0
    if not valid.any():
        return exact, conflict
    counts = np.bincount(codes[valid], minlength=len(enc.dictionary))
    repeated = np.flatnonzero(valid & (counts[np.maximum(codes, 0)] > 1))
    if len(repeated) == 0:
        return exact, conflict
    rows = raw.take(np.asarray(repeated)).to_pylist()
    seen: dict[int, dict[tuple[Any, ...], int]] = {}
    for pos, row in zip(repeated.tolist(), rows, strict=True):
        content = tuple(row.values())
        versions = seen.setdefault(int(codes[pos]), {})
        if content in versions:
            exact[pos] = True
        else:
            versions[content] = pos
    for versions in seen.values():
        if len(versions) > 1:
            conflict[list(versions.values())] = True
    return exact, conflict


class Triage:
    """Verdicts for the rows of one input: ok, exact duplicate, or quarantined with a reason.

    Args:
        n: Number of input rows.

    """

    _OK, _DUP, _BAD = 0, 1, 2

    def __init__(self, n: int) -> None:
        self.n = n
        self.status = np.zeros(n, dtype=np.int8)
        self._rejects: list[tuple[npt.NDArray[np.int64], str, Sequence[str] | str]] = []

    @property
    def pending(self) -> BoolArray:
        """Rows with no verdict against them yet (still ok)."""
        return np.asarray(self.status == self._OK)

    @property
    def rows_ok(self) -> int:
        """Rows still ok."""
        return int((self.status == self._OK).sum())

    @property
    def rows_duplicate(self) -> int:
        """Rows marked as exact duplicates."""
        return int((self.status == self._DUP).sum())

    @property
    def rows_quarantined(self) -> int:
        """Rows quarantined."""
        return int((self.status == self._BAD).sum())

    def output(
        self, tables: dict[str, pa.Table], quarantine: pa.Table, watermark: str | None = None
    ) -> AdapterOutput:
        """Return the adapter's result with this triage's counts, accounting checked.

        Args:
            tables: Canonical table name -> rows that landed.
            quarantine: The rejected rows (from :meth:`quarantine`).
            watermark: The newest source time seen, if any.

        Returns:
            The :class:`~twin.ingest.base.AdapterOutput` (``rows_in`` = the triaged rows).

        """
        out = AdapterOutput(
            tables=tables,
            quarantine=quarantine,
            rows_in=self.n,
            rows_ok=self.rows_ok,
            rows_quarantined=self.rows_quarantined,
            rows_duplicate=self.rows_duplicate,
            watermark=watermark,
        )
        out.check_accounting()
        return out

    def duplicates(self, mask: BoolArray) -> int:
        """Mark still-ok rows in *mask* as exact duplicates; return how many."""
        new = mask & self.pending
        self.status[new] = self._DUP
        return int(new.sum())

    def flag(self, mask: BoolArray, reason: str, detail: Detail) -> int:
        """Quarantine still-ok rows in *mask* with *reason*; return how many.

        Args:
            mask: Rows failing the check.
            reason: A :class:`~twin.ingest.base.QuarantineReason` code.
            detail: Human-readable explanation, or a function of the new row indices that
                returns one explanation per row.

        Returns:
            The number of rows newly quarantined.

        """
        new = np.flatnonzero(mask & self.pending)
        if len(new) == 0:
            return 0
        self.status[new] = self._BAD
        text = detail(new) if callable(detail) else detail
        if not isinstance(text, str) and len(text) != len(new):
            raise ValueError("detail function must return one text per rejected row")
        self._rejects.append((new, reason, text))
        return len(new)

    def reasons(self) -> dict[str, int]:
        """Return the number of quarantined rows per reason."""
        out: dict[str, int] = {}
        for idx, reason, _ in self._rejects:
            out[reason] = out.get(reason, 0) + len(idx)
        return out

    def quarantine(
        self,
        raw: pa.Table,
        *,
        source: str,
        run_id: str,
        file: str | None,
        row_numbers: npt.NDArray[np.int64] | None = None,
    ) -> pa.Table:
        """Build the ``QUARANTINE`` rows: raw row as JSON, row number, reason and detail.

        Args:
            raw: The raw input rows (only the rejected ones are read).
            source: Source name.
            run_id: Sync run id.
            file: The input file (or URL) the rows came from.
            row_numbers: 1-based row number of each input row; default ``index + 1``.

        Returns:
            A table with the ``QUARANTINE`` schema, in input row order.

        """
        if not self._rejects:
            return QUARANTINE.empty_table()
        idx = np.concatenate([r[0] for r in self._rejects])
        reasons: list[str] = []
        details: list[str] = []
        for rows, reason, text in self._rejects:
            reasons.extend([reason] * len(rows))
            details.extend([text] * len(rows) if isinstance(text, str) else list(text))
        order = np.argsort(idx, kind="stable")
        idx = idx[order]
        raws = raw.take(np.asarray(idx)).to_pylist()
        numbers = row_numbers[idx] if row_numbers is not None else idx + 1
        return pa.table(
            {
                "source": pa.array([source] * len(idx), pa.string()),
                "run_id": pa.array([run_id] * len(idx), pa.string()),
                "file": pa.array([file] * len(idx), pa.string()),
                "row_number": pa.array(numbers, pa.int64()),
                "raw": pa.array(
                    [json.dumps(r, ensure_ascii=False, default=str) for r in raws], pa.string()
                ),
                "reason": pa.array([reasons[i] for i in order], pa.string()),
                "detail": pa.array([details[i] for i in order], pa.string()),
            },
            schema=QUARANTINE,
        )
