"""Parse source time strings and convert local wall-clock times to UTC, vectorised.

Sources write times as text in their own formats and, mostly, in local wall-clock time.
:func:`parse_times` turns a string column into UTC timestamps in one pass of Arrow kernels (no
per-row Python) and reports which non-empty values could not be read.

Daylight-saving rules (deterministic, the same for every source):

* **Ambiguous** local times (the repeated hour when clocks fall back, e.g. 01:30 on
  2018-11-04 in Seattle) are read as the *first* occurrence, i.e. daylight time
  (``ambiguous="earliest"``). A source that writes one row per local hour has a single row for
  that hour, so this keeps such grids free of collisions.
* **Nonexistent** local times (the skipped hour when clocks spring forward, e.g. 02:30 on
  2019-03-10) are either moved to the first valid instant after the gap (03:00 daylight time,
  ``nonexistent="shift_forward"``, the default for incident sources: a call at a CAD clock
  reading that cannot exist still happened) or returned as null and flagged
  (``nonexistent="null"``, used for hourly grids such as the Fremont counter, where the skipped
  hour would collide with the next one).

**Calendar dates are checked strictly.** pyarrow's ``strptime`` rolls an impossible day over
(``02/30/2016`` becomes 1 March, ``04/31`` 1 May); here the day of month is read from the text
(a regular expression built from the format) and a day past the month's length (leap years
counted) makes the value unreadable, i.e. ``unparseable_time``, never another day.

Time formats are ``strptime`` patterns (``%m/%d/%Y %I:%M:%S %p``); a pattern with ``%z`` reads
an explicit UTC offset and then ignores the source time zone. The pseudo-format ``"ISO"`` reads
ISO 8601 date-times such as Socrata's floating timestamps (``2015-06-12T20:52:00.000``; fractions
of a second are dropped).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as _pc

from twin.errors import ConfigError
from twin.ingest.validate import as_array

pc: Any = _pc  # the pyarrow-stubs overloads reject valid kernel calls; use it untyped

__all__ = [
    "ISO",
    "Nonexistent",
    "ParsedTimes",
    "check_tz",
    "local_to_utc",
    "parse_times",
]

ISO = "ISO"
"""Pseudo-format for ISO 8601 date-times (``YYYY-MM-DDTHH:MM:SS[.fff]``)."""

Nonexistent = Literal["shift_forward", "null"]

_US = pa.timestamp("us")
_NAT = np.iinfo(np.int64).min
_UTC = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class ParsedTimes:
    """The result of parsing one time column.

    Attributes:
        utc: UTC timestamps (``timestamp[us, tz=UTC]``), null where empty or unreadable.
        empty: True where the source value is empty (a lifecycle time the source lacks).
        bad: True where the value is non-empty but matches no format, or (with
            ``nonexistent="null"``) names a local time skipped by a DST change.
        nonexistent: True where the local time fell in a DST gap (subset of ``bad`` when
            ``nonexistent="null"``, otherwise shifted forward and not bad).

    """

    utc: pa.Array
    empty: np.ndarray
    bad: np.ndarray
    nonexistent: np.ndarray


def check_tz(tz: str) -> ZoneInfo:
    """Return the IANA zone *tz*, or raise ConfigError naming it.

    Args:
        tz: An IANA time zone name such as ``"America/Los_Angeles"``.

    Returns:
        The zone.

    Raises:
        ConfigError: When the name is not a known IANA zone.

    """
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {tz!r}: use an IANA name such as 'America/Los_Angeles' or 'UTC'"
        ) from exc


def local_to_utc(
    naive: pa.Array, tz: str, nonexistent: Nonexistent = "shift_forward"
) -> tuple[pa.Array, np.ndarray]:
    """Convert naive local wall-clock timestamps to UTC.

    Args:
        naive: ``timestamp[us]`` without a zone, read as wall-clock time in *tz*.
        tz: IANA zone of the wall clock.
        nonexistent: What to do with a time skipped by a spring-forward change (see module doc).

    Returns:
        ``(utc, nonexistent_mask)``: UTC timestamps and where the input fell in a DST gap.

    """
    check_tz(tz)
    naive = pc.cast(naive, _US)
    if tz in ("UTC", "Etc/UTC"):
        return pc.cast(pc.assume_timezone(naive, "UTC"), _UTC), np.zeros(len(naive), bool)
    # "latest" for a nonexistent time is the first instant after the gap (03:00 daylight time).
    utc = pc.assume_timezone(naive, tz, ambiguous="earliest", nonexistent="latest")
    # A nonexistent input does not come back unchanged when converted to local time again.
    back = pc.local_timestamp(utc)
    gap = pc.fill_null(pc.not_equal(pc.cast(back, _US), naive), False)
    gap_np = gap.to_numpy(zero_copy_only=False).astype(bool)
    if nonexistent == "null" and gap_np.any():
        utc = pc.if_else(gap, pa.scalar(None, utc.type), utc)
    return pc.cast(utc, _UTC), gap_np


_DIRECTIVES = {
    "d": r"(?P<d>[0-9]{1,2})",
    "m": r"(?P<m>[0-9]{1,2})",
    "Y": r"(?P<Y>[0-9]{4})",
    "y": r"(?P<y>[0-9]{2})",
    "%": "%",
}
_MONTH_DAYS = np.array([31, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


@lru_cache(maxsize=64)
def _calendar_regex(fmt: str) -> str | None:
    """Return a regex that captures day, month and year from text in *fmt* (None: no day)."""
    if fmt == ISO:
        return r"^\s*(?P<Y>[0-9]{4})-(?P<m>[0-9]{2})-(?P<d>[0-9]{2})"
    if "%d" not in fmt or "%m" not in fmt:
        return None
    out = ["^\\s*"]
    i = 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt):
            out.append(_DIRECTIVES.get(fmt[i + 1], r".*?"))
            i += 2
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


def _impossible_days(values: pa.Array, parsed: pa.Array, fmt: str) -> pa.Array | None:
    """Return True where the text names a day past its month's end (None: nothing to check).

    A rolled-over day lands on day 1-3 of the next month (shifted by at most a day by an
    offset), so only values parsed to days 1-4 or 28-31 are read again from the text.
    """
    pattern = _calendar_regex(fmt)
    if pattern is None:
        return None
    day_of = np.asarray(pc.fill_null(pc.day(parsed), 15).to_numpy(zero_copy_only=False))
    suspect = np.flatnonzero((day_of <= 4) | (day_of >= 28))
    if len(suspect) == 0:
        return None
    bad = np.zeros(len(values), dtype=bool)
    bad[suspect] = _past_month_end(values.take(suspect), pattern)
    return pa.array(bad)


def _past_month_end(values: pa.Array, pattern: str) -> npt.NDArray[np.bool_]:
    """Return True where the day read by *pattern* is past the end of its month."""
    parts = pc.extract_regex(values, pattern)
    names = {parts.type.field(i).name for i in range(parts.type.num_fields)}

    def ints(name: str) -> npt.NDArray[np.int64]:
        text = pc.struct_field(parts, name)
        nums = pc.cast(pc.fill_null(text, "0"), pa.int64())
        return np.asarray(nums.to_numpy(zero_copy_only=False), dtype=np.int64)

    day, month = ints("d"), ints("m")
    if "Y" in names:
        year = ints("Y")
    elif "y" in names:
        year = 2000 + ints("y")  # leap years agree for 1969-2068, pyarrow's %y range
    else:
        year = np.full(len(day), 2000)  # no year: 29 February is possible
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    length = _MONTH_DAYS[np.clip(month, 0, 12)] + ((month == 2) & leap)
    return np.asarray((month >= 1) & (month <= 12) & (day > length), dtype=bool)


def _strptime(values: pa.Array, fmt: str) -> pa.Array:
    if fmt == ISO:
        head = pc.utf8_slice_codeunits(values, 0, 19)
        parsed = pc.strptime(head, format="%Y-%m-%dT%H:%M:%S", unit="us", error_is_null=True)
    else:
        parsed = pc.strptime(values, format=fmt, unit="us", error_is_null=True)
    if parsed.null_count == len(parsed):
        return parsed
    impossible = _impossible_days(values, parsed, fmt)
    if impossible is None or not pc.any(impossible).as_py():
        return parsed
    return pc.if_else(impossible, pa.scalar(None, parsed.type), parsed)


def _parse_into(
    values: pa.Array,
    formats: Sequence[str],
    tz: str,
    nonexistent: Nonexistent,
    out: npt.NDArray[np.int64],
    read: npt.NDArray[np.bool_],
    gap_out: npt.NDArray[np.bool_],
) -> None:
    """Parse *values* with each format in turn, writing UTC microseconds into *out*."""
    for fmt in formats:
        parsed = _strptime(values, fmt)
        got = np.asarray(pc.is_valid(parsed).to_numpy(zero_copy_only=False), dtype=bool) & ~read
        if not got.any():
            continue
        if "%z" in fmt:
            utc = pc.cast(parsed, _UTC)
            gap = np.zeros(len(values), bool)
        else:
            utc, gap = local_to_utc(pc.cast(parsed, _US), tz, nonexistent)
        micros = pc.fill_null(pc.cast(pc.cast(utc, _UTC), pa.int64()), _NAT)
        out[got] = np.asarray(micros.to_numpy(zero_copy_only=False), dtype=np.int64)[got]
        gap_out |= gap & got
        read |= got
        if bool(read.all()):
            break


def parse_times(
    values: pa.Array | pa.ChunkedArray,
    formats: Sequence[str],
    tz: str,
    nonexistent: Nonexistent = "shift_forward",
) -> ParsedTimes:
    """Parse a string column of times in any of *formats* and convert it to UTC.

    The first format that reads a value wins. Formats with ``%z`` carry their own offset; the
    others are local wall-clock time in *tz*. Values are read as they are; only the few that
    fail are retried with surrounding whitespace removed (a whitespace-only value is empty).

    Args:
        values: Strings; empty strings and nulls mean "no time".
        formats: ``strptime`` patterns (or :data:`ISO`), tried in order.
        tz: IANA zone of the local times.
        nonexistent: DST-gap policy (see module doc).

    Returns:
        The parsed times with masks for empty, unreadable and nonexistent values.

    """
    if not formats:
        raise ConfigError("a time column needs at least one time format")
    check_tz(tz)
    values = as_array(pc.cast(values, pa.string()))
    n = len(values)
    empty = np.asarray(
        pc.fill_null(pc.equal(values, ""), True).to_numpy(zero_copy_only=False), dtype=bool
    )
    out = np.full(n, _NAT, dtype=np.int64)
    read = empty.copy()  # nothing to read in empty cells
    gap = np.zeros(n, bool)
    _parse_into(values, formats, tz, nonexistent, out, read, gap)
    retry = np.flatnonzero(~read)
    if len(retry):
        sub = pc.utf8_trim_whitespace(values.take(retry))
        sub_empty = np.asarray(
            pc.fill_null(pc.equal(sub, ""), True).to_numpy(zero_copy_only=False), dtype=bool
        )
        empty[retry[sub_empty]] = True
        sub_out = np.full(len(retry), _NAT, dtype=np.int64)
        sub_read = sub_empty.copy()
        sub_gap = np.zeros(len(retry), bool)
        _parse_into(sub, formats, tz, nonexistent, sub_out, sub_read, sub_gap)
        out[retry] = sub_out
        read[retry] = sub_read
        gap[retry] = sub_gap
    bad = ~read
    if nonexistent == "null":
        bad |= gap
    valid = (out != _NAT) & ~bad
    utc = pa.array(out, pa.int64(), mask=~valid).cast(_UTC)
    return ParsedTimes(utc=utc, empty=empty, bad=bad, nonexistent=gap)
