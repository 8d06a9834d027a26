"""Read-only data access for the dashboards: the lake through DuckDB, and result folders.

Everything the pages read goes through this module, so the way the lake is opened lives in one
place. Each query runs on its own DuckDB cursor (one per callback: a DuckDB connection is not
shared between threads) of a connection from :meth:`twin.store.Lake.connect`, whose views read
the files of the lake's current commit with ``read_parquet(..., hive_partitioning=true)``. An
empty or missing lake gives empty views, so pages show a message, never an error.

Result folders are those written by ``twin simulate --out DIR``: ``summary.json`` plus
``incidents.parquet`` and ``units.parquet``. The pure helpers at the end turn a summary into the
small frames the figures take.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from twin.cities import CITIES
from twin.errors import DataError
from twin.store import Lake as StoreLake

__all__ = [
    "LakeReader",
    "ResultRun",
    "by_priority_frame",
    "city_tz",
    "dispatch_frame",
    "find_results",
    "load_summary",
    "match_zone_counts",
    "period_grain",
    "presence_frames",
    "resolve_result",
    "result_response_minutes",
    "units_frame",
]


def city_tz(city: str) -> str:
    """Local time zone of *city* from :mod:`twin.cities` (UTC for a city it does not know).

    Hour-of-week and day charts use local time.
    """
    return CITIES[city].tz if city in CITIES else "UTC"


_SKIP_PREFIXES = (".", "_")


class LakeReader:
    """Read-only view of a lake directory.

    Args:
        root: The lake directory (``twin sync --lake DIR``). It may be missing or empty.

    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._con: duckdb.DuckDBPyConnection | None = None
        self._version = -1

    def has_data(self) -> bool:
        """Return whether the lake has committed anything yet."""
        return StoreLake(self.root).version > 0

    @contextmanager
    def cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open a fresh DuckDB cursor on the lake's current commit, closed on exit.

        One connection per lake commit is kept (its views list that commit's files; opening
        one binds every file, so it is reused); each caller gets its own cursor on it. A newer
        commit (a sync finished) gets a new connection, so pages never see a half-written
        sync and always see the last complete one. Lake files are immutable (named by their
        content), so DuckDB may cache their Parquet metadata.

        """
        store = StoreLake(self.root)
        version = store.version
        with self._lock:
            if self._con is None or version != self._version:
                con = store.connect()
                con.execute("SET parquet_metadata_cache = true")
                self._con, self._version = con, version
            cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Run *sql* with *params* on a fresh connection and return a DataFrame.

        Args:
            sql: A read-only query over the canonical table names.
            params: Positional ``?`` parameters.

        """
        with self.cursor() as cur:
            try:
                return cur.execute(sql, list(params)).df()
            except duckdb.Error as exc:
                raise DataError(
                    f"could not read the lake at {self.root}: {exc}. If the lake was written by "
                    f"an older version, run `twin sync --lake {self.root}` again."
                ) from exc

    # -- data quality ------------------------------------------------------------------------

    def last_runs(self) -> pd.DataFrame:
        """Return each source's most recent ledger row."""
        return self.query(
            """
            SELECT source, run_id, status, rows_in, rows_ok, rows_quarantined, rows_duplicate,
                   rows_new, started, ended, watermark, error
            FROM runs
            QUALIFY row_number() OVER (PARTITION BY source ORDER BY started DESC, run_id DESC) = 1
            ORDER BY source
            """
        )

    def run_history(self, limit: int = 20) -> pd.DataFrame:
        """Summarise each sync run (sources, totals, failures), newest first."""
        return self.query(
            """
            SELECT run_id, min(started) AS started, max(ended) AS ended,
                   count(*) AS sources, sum(rows_in)::BIGINT AS rows_in,
                   sum(rows_ok)::BIGINT AS rows_ok,
                   sum(rows_quarantined)::BIGINT AS rows_quarantined,
                   sum(rows_duplicate)::BIGINT AS rows_duplicate,
                   sum(rows_new)::BIGINT AS rows_new,
                   count(*) FILTER (WHERE status <> 'ok') AS failed
            FROM runs GROUP BY run_id ORDER BY started DESC, run_id DESC LIMIT ?
            """,
            [limit],
        )

    def quarantine_counts(self) -> pd.DataFrame:
        """Count the quarantined rows the lake holds, by source and reason.

        The quarantine table holds the rejected rows of each source's current input files (a
        re-sync replaces them; a row keeps the id of the run that first rejected it).

        """
        return self.query(
            "SELECT source, reason, count(*) AS n FROM quarantine GROUP BY ALL "
            "ORDER BY source, reason"
        )

    def quarantine_sample(
        self, source: str | None = None, reason: str | None = None, limit: int = 25
    ) -> pd.DataFrame:
        """Return up to *limit* quarantined rows, optionally of one source and reason."""
        return self.query(
            """
            SELECT source, reason, detail, file, row_number, raw, run_id FROM quarantine
            WHERE (?::VARCHAR IS NULL OR source = ?) AND (?::VARCHAR IS NULL OR reason = ?)
            ORDER BY source, reason, file, row_number LIMIT ?
            """,
            [source, source, reason, reason, limit],
        )

    # -- incidents ---------------------------------------------------------------------------

    def incident_overview(self) -> pd.DataFrame:
        """Count calls per city and source, with the first and last ``event_time``."""
        return self.query(
            """
            SELECT city, source, count(*) AS n, min(event_time) AS first, max(event_time) AS last
            FROM incidents GROUP BY ALL ORDER BY city, source
            """
        )

    @staticmethod
    def _incident_filter() -> str:
        return """
            city = ? AND (len(?::VARCHAR[]) = 0 OR list_contains(?::VARCHAR[], source))
            AND (?::DATE IS NULL OR timezone(?, event_time)::DATE >= ?::DATE)
            AND (?::DATE IS NULL OR timezone(?, event_time)::DATE <= ?::DATE)
        """

    @staticmethod
    def _incident_params(
        city: str, sources: Sequence[str], start: date | None, end: date | None
    ) -> list[Any]:
        tz = city_tz(city)
        srcs = list(sources)
        return [city, srcs, srcs, start, tz, start, end, tz, end]

    def incident_zone_counts(
        self, city: str, sources: Sequence[str], start: date | None, end: date | None
    ) -> pd.DataFrame:
        """Count calls per value of ``incidents.zone`` (null zone included as None)."""
        return self.query(
            f"SELECT zone, count(*) AS n FROM incidents WHERE {self._incident_filter()} "
            "GROUP BY zone ORDER BY n DESC",
            self._incident_params(city, sources, start, end),
        )

    def incident_hour_of_week(
        self, city: str, sources: Sequence[str], start: date | None, end: date | None
    ) -> pd.DataFrame:
        """Count calls by local day of week (0 = Monday) and hour."""
        tz = city_tz(city)
        return self.query(
            f"""
            SELECT isodow(timezone(?, event_time)) - 1 AS dow,
                   hour(timezone(?, event_time)) AS hour,
                   count(*) AS n
            FROM incidents WHERE {self._incident_filter()} GROUP BY ALL ORDER BY dow, hour
            """,
            [tz, tz, *self._incident_params(city, sources, start, end)],
        )

    def incident_daily(
        self,
        city: str,
        sources: Sequence[str],
        start: date | None,
        end: date | None,
        grain: str = "day",
    ) -> pd.DataFrame:
        """Count calls per local day (or week, month) and source; ``day`` is the period start."""
        if grain not in ("day", "week", "month"):
            raise DataError(f"unknown time grain {grain!r}; use day, week or month")
        tz = city_tz(city)
        return self.query(
            f"""
            SELECT date_trunc(?, timezone(?, event_time)::DATE)::DATE AS day, source,
                   count(*) AS n
            FROM incidents WHERE {self._incident_filter()} GROUP BY ALL ORDER BY day, source
            """,
            [grain, tz, *self._incident_params(city, sources, start, end)],
        )

    def incident_stats(
        self, city: str, sources: Sequence[str], start: date | None, end: date | None
    ) -> pd.DataFrame:
        """Return calls, located calls, and the median minutes received → on scene (one row).

        Calls are counted (and dated) by ``event_time``. Response times exist only where both
        ``received`` and ``onscene`` do (sources without a received time have ``received``
        null and are left out of the response measures), and are not negative.

        """
        return self.query(
            f"""
            SELECT count(*) AS n, count(lon) AS with_coords,
                   count(*) FILTER (WHERE onscene >= received) AS with_response,
                   median(epoch(onscene - received) / 60.0) FILTER (WHERE onscene >= received)
                       AS median_response_min
            FROM incidents WHERE {self._incident_filter()}
            """,
            self._incident_params(city, sources, start, end),
        )

    def incident_points(
        self,
        city: str,
        sources: Sequence[str],
        start: date | None,
        end: date | None,
        limit: int = 4000,
    ) -> pd.DataFrame:
        """Return a reproducible sample of at most *limit* located calls (lon, lat, label)."""
        return self.query(
            f"""
            SELECT lon, lat, coalesce(call_type, call_group, source) AS label FROM incidents
            WHERE lon IS NOT NULL AND lat IS NOT NULL AND {self._incident_filter()}
            ORDER BY hash(incident_id) LIMIT ?
            """,
            [*self._incident_params(city, sources, start, end), limit],
        )

    # -- zones and devices -------------------------------------------------------------------

    def zones(self, city: str | None = None, kind: str | None = None) -> pd.DataFrame:
        """Return zones (with WKB geometry), optionally of one city and kind."""
        return self.query(
            """
            SELECT zone_id, city, kind, code, district, name, geometry, centroid_lon,
                   centroid_lat, area_km2
            FROM zones WHERE (? IS NULL OR city = ?) AND (? IS NULL OR kind = ?)
            ORDER BY zone_id
            """,
            [city, city, kind, kind],
        )

    def zone_kinds(self) -> pd.DataFrame:
        """Count zones per city and kind."""
        return self.query(
            "SELECT city, kind, count(*) AS n FROM zones GROUP BY ALL ORDER BY city, kind"
        )

    def devices(self) -> pd.DataFrame:
        """Return all devices with their location and the number of readings each has."""
        return self.query(
            """
            SELECT d.device_id, d.kind, d.name, d.city, d.lon, d.lat, d.zone, d.source,
                   coalesce(r.readings, 0) AS readings
            FROM devices d
            LEFT JOIN (SELECT device_id, count(*) AS readings FROM device_readings GROUP BY ALL) r
            USING (device_id)
            ORDER BY d.kind, d.device_id
            """
        )

    def reading_devices(self) -> pd.DataFrame:
        """Return devices that have readings: id, name, metrics, count, first and last time."""
        return self.query(
            """
            SELECT r.device_id, any_value(d.name) AS name, string_agg(DISTINCT r.metric, ', ')
                   AS metrics, count(*) AS n, min(r.time) AS first, max(r.time) AS last
            FROM device_readings r LEFT JOIN devices d USING (device_id)
            GROUP BY r.device_id ORDER BY r.device_id
            """
        )

    def readings(self, device_id: str, grain: str = "day") -> pd.DataFrame:
        """Sum one device's readings per *grain* (``hour``, ``day``, ``week``, ``month``)."""
        if grain not in ("hour", "day", "week", "month"):
            raise DataError(f"unknown time grain {grain!r}; use hour, day, week or month")
        return self.query(
            """
            SELECT date_trunc(?, time) AS time, metric, sum(value) AS value
            FROM device_readings WHERE device_id = ? GROUP BY ALL ORDER BY time, metric
            """,
            [grain, device_id],
        )


def period_grain(first: date | None, last: date | None) -> str:
    """Return the bar width for a date span: ``day`` up to ~4 months, ``week`` up to 3 years."""
    if first is None or last is None:
        return "day"
    days = (last - first).days
    return "day" if days <= 120 else "week" if days <= 3 * 366 else "month"


# -- simulation results ----------------------------------------------------------------------


@dataclass(frozen=True)
class ResultRun:
    """A result folder: where it is, its name relative to the results root, its summary."""

    name: str
    path: Path


def find_results(root: Path, max_depth: int = 3) -> list[ResultRun]:
    """List result folders (holding ``summary.json``) under *root*, newest first.

    Args:
        root: The results directory (``--results``); may be missing.
        max_depth: How many folder levels below *root* to look.

    """
    root = Path(root)
    if not root.is_dir():
        return []
    found: list[tuple[float, ResultRun]] = []
    for summary in root.rglob("summary.json"):
        rel = summary.parent.relative_to(root)
        if len(rel.parts) > max_depth or any(p.startswith(_SKIP_PREFIXES) for p in rel.parts):
            continue
        name = rel.as_posix() if rel.parts else "."
        found.append((summary.stat().st_mtime, ResultRun(name=name, path=summary.parent)))
    found.sort(key=lambda item: (-item[0], item[1].name))
    return [run for _, run in found]


def resolve_result(root: Path, name: str) -> Path:
    """Return the folder of result *name* under *root*, refusing names that leave *root*."""
    base = Path(root).resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base) or not (path / "summary.json").is_file():
        raise DataError(f"no result {name!r} under {base} (expected {name}/summary.json)")
    return path


def load_summary(folder: Path) -> dict[str, Any]:
    """Read ``folder/summary.json``.

    Raises:
        DataError: When the file is missing or not a JSON object.

    """
    path = Path(folder) / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise DataError(f"{path} not found; run `twin simulate SCENARIO --out {folder}`") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); re-run the simulation") from exc
    if not isinstance(data, dict):
        raise DataError(f"{path} must hold a JSON object with the summary keys")
    return data


def units_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Flatten a summary's ``units`` into ``unit_id``, ``utilization``, ``dispatches``."""
    units = summary.get("units") or {}
    rows = [
        {
            "unit_id": str(uid),
            "utilization": float(stats.get("utilization", float("nan"))),
            "dispatches": stats.get("dispatches"),
        }
        for uid, stats in units.items()
        if isinstance(stats, dict)
    ]
    return pd.DataFrame(rows, columns=["unit_id", "utilization", "dispatches"])


def dispatch_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Flatten ``dispatch_fractions`` into ``unit_id``, ``zone_id``, ``fraction``."""
    fractions = summary.get("dispatch_fractions") or {}
    rows = [
        {"unit_id": str(uid), "zone_id": str(zid), "fraction": float(frac)}
        for uid, zones in fractions.items()
        if isinstance(zones, dict)
        for zid, frac in zones.items()
    ]
    return pd.DataFrame(rows, columns=["unit_id", "zone_id", "fraction"])


def by_priority_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """Flatten ``by_priority`` into one row per priority level."""
    rows = []
    for level, stats in (summary.get("by_priority") or {}).items():
        if not isinstance(stats, dict):
            continue
        row: dict[str, Any] = {"priority": str(level)}
        for key, value in stats.items():
            if isinstance(value, dict):
                row.update({f"{key}_{k}": v for k, v in value.items()})
            else:
                row[key] = value
        rows.append(row)
    return pd.DataFrame(rows)


def presence_frames(summary: dict[str, Any]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Flatten ``presence`` into per-zone and per-hour frames of mean units patrolling.

    Returns:
        (``zone_id``, ``units``) and (``hour``, ``units``); hours with no exposure are dropped.

    """
    presence = summary.get("presence") or {}
    if not isinstance(presence, dict):
        presence = {}
    by_zone = presence.get("by_zone") or {}
    zones = pd.DataFrame(
        [{"zone_id": str(z), "units": float(v)} for z, v in by_zone.items() if v is not None],
        columns=["zone_id", "units"],
    )
    by_hour = presence.get("by_hour") or []
    hours = pd.DataFrame(
        [{"hour": h, "units": float(v)} for h, v in enumerate(by_hour) if v is not None],
        columns=["hour", "units"],
    )
    return zones, hours


_RESPONSE_COLUMNS = ("response_min", "response", "response_time_min")


def result_response_minutes(folder: Path) -> pd.Series:
    """Return response minutes (received → on scene) per incident of a result.

    Uses a ``response_min``-like column of ``incidents.parquet`` when present, otherwise
    ``onscene - received``.
    """
    path = Path(folder) / "incidents.parquet"
    if not path.is_file():
        return pd.Series(dtype="float64")
    con = duckdb.connect(":memory:")
    try:
        cols = {
            str(r[0]): str(r[1])
            for r in con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        }
        expr = next((c for c in _RESPONSE_COLUMNS if c in cols), None)
        if expr is None and {"onscene", "received"} <= cols.keys():
            if "TIMESTAMP" in cols["onscene"].upper():
                expr = "epoch(onscene - received) / 60.0"
            else:
                expr = "onscene - received"
        if expr is None:
            return pd.Series(dtype="float64")
        frame = con.execute(
            f"SELECT ({expr})::DOUBLE AS minutes FROM read_parquet(?)", [str(path)]
        ).df()
    except duckdb.Error as exc:
        raise DataError(f"could not read {path}: {exc}") from exc
    finally:
        con.close()
    return frame["minutes"]


def match_zone_counts(
    counts: pd.DataFrame, zones: pd.DataFrame
) -> tuple[str | None, pd.DataFrame, int]:
    """Match per-zone call counts to zone polygons of one kind.

    ``incidents.zone`` holds a zone id (``seattle:beat:C3``) or a zone code (``C3``); both are
    matched. The kind that receives the most calls is chosen (beats over precincts, say).

    Args:
        counts: ``zone`` (may be null) and ``n`` per zone value.
        zones: The city's zones with ``zone_id``, ``kind``, ``code``.

    Returns:
        (chosen kind or None, ``zone_id``/``n`` for that kind, calls matched to no zone of it).

    """
    empty = pd.DataFrame({"zone_id": pd.Series(dtype="str"), "n": pd.Series(dtype="int64")})
    total = int(counts["n"].sum()) if not counts.empty else 0
    if counts.empty or zones.empty:
        return None, empty, total
    kind_of = dict(zip(zones["zone_id"].astype(str), zones["kind"].astype(str), strict=True))
    by_code: dict[str, list[str]] = {}
    for zid, code in zip(zones["zone_id"].astype(str), zones["code"].astype(str), strict=True):
        by_code.setdefault(code, []).append(zid)
    matched: list[tuple[str, str, int]] = []
    for zone, n in zip(counts["zone"], counts["n"], strict=True):
        if zone is None or (isinstance(zone, float) and math.isnan(zone)) or pd.isna(zone):
            continue
        key = str(zone)
        ids = [key] if key in kind_of else by_code.get(key, [])
        matched.extend((zid, kind_of[zid], int(n)) for zid in ids)
    if not matched:
        return None, empty, total
    frame = pd.DataFrame(matched, columns=["zone_id", "kind", "n"])
    per_kind = frame.groupby("kind")["n"].sum()
    kind = str(sorted(per_kind.items(), key=lambda kv: (-kv[1], kv[0]))[0][0])
    picked = frame.loc[frame["kind"] == kind, ["zone_id", "n"]]
    chosen = picked.groupby("zone_id", as_index=False).agg(n=("n", "sum"))
    chosen = chosen.sort_values(by="zone_id", ignore_index=True)
    chosen["n"] = chosen["n"].astype("int64")
    return kind, chosen[["zone_id", "n"]], total - int(chosen["n"].sum())
