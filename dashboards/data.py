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

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from twin.calibrate.drift import drift_band
from twin.cities import CITIES
from twin.errors import DataError
from twin.store import Lake as StoreLake

__all__ = [
    "LakeReader",
    "Rollups",
    "build_rollups",
    "city_tz",
    "fidelity_scores",
    "outages",
    "period_grain",
]


def city_tz(city: str) -> str:
    """Return the local time zone of *city* from :mod:`twin.cities` (UTC for unknown cities).

    Day and hour-of-week charts use local time.
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
        self._rollup_lock = threading.Lock()
        self._rollups: Rollups | None = None
        self._building = -1

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

    # -- rollups -----------------------------------------------------------------------------

    def rollups(self) -> Rollups:
        """Return the pre-aggregated tables of the lake's current commit (built once per commit).

        Every page reads these small frames; no callback scans the raw incident table. A newer
        commit (a sync finished) builds a new set on first use; the old one is dropped.
        """
        version = StoreLake(self.root).version
        with self._rollup_lock:
            cached = self._rollups
            if cached is not None and cached.version == version:
                return cached
            if cached is not None:
                # serve the previous commit's rollups while the new ones are built
                if self._building != version:
                    self._building = version
                    threading.Thread(
                        target=self._rebuild, args=(version,), daemon=True, name="rollups"
                    ).start()
                return cached
            built = build_rollups(self, version)
            self._rollups = built
            return built

    def _rebuild(self, version: int) -> None:
        try:
            built = build_rollups(self, version)
        except Exception:
            with self._rollup_lock:
                self._building = -1
            return
        with self._rollup_lock:
            self._rollups = built
            self._building = -1

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


# -- rollups ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rollups:
    """Small pre-aggregated tables of one lake commit; pages read only these.

    Attributes:
        version: The lake commit they were built from.
        built_s: Seconds the build took.
        daily: ``city, agency, day`` (local date), ``n``, ``n_resp``, ``resp_p50`` (minutes,
            received → on scene, over calls that have both times).
        weekly: The same per local week (``day`` = the Monday), medians over the week.
        monthly: The same per local month.
        zone: ``city, agency, zone, district, n, n_resp, resp_p50`` over all dates.
        hour_of_week: ``city, agency, how`` (0 = Monday 00h .. 167), ``n``, ``days`` (local days
            covered, to turn counts into a mean per hour).
        basis: ``city, agency, source, n, n_resp, zones_resp, first, last``: what each measure
            rests on.
        ledger: Each source's last ``runs`` row (every column the ledger has).
        history: One row per sync run.
        quarantine: ``source, reason, n``.
        fidelity: The ``fidelity`` table (empty when the lake has none).
        devices: Devices with their readings count.
        readings_daily: ``device_id, metric, day`` (UTC), ``value`` (sum), ``hours`` (hours
            with a reading).
        zones: The ``zones`` table (with WKB geometry).

    """

    version: int
    built_s: float
    daily: pd.DataFrame
    weekly: pd.DataFrame
    monthly: pd.DataFrame
    zone: pd.DataFrame
    hour_of_week: pd.DataFrame
    basis: pd.DataFrame
    ledger: pd.DataFrame
    history: pd.DataFrame
    quarantine: pd.DataFrame
    fidelity: pd.DataFrame
    devices: pd.DataFrame
    readings_daily: pd.DataFrame
    zones: pd.DataFrame

    def dense_span(self, city: str, share: float = 0.995) -> tuple[Any, Any, int]:
        """Return the local dates holding the central *share* of a city's calls, and calls outside.

        A few calls years away from the rest (a small sample of a later export) would
        otherwise stretch every time axis until the bulk of the data is a sliver.
        """
        part = self.daily[self.daily["city"] == city].groupby("day")["n"].sum().sort_index()
        if part.empty:
            return None, None, 0
        cum = part.cumsum() / part.sum()
        tail = (1 - share) / 2
        first = cum.index[int(np.searchsorted(cum.to_numpy(), tail))]
        last = cum.index[min(len(cum) - 1, int(np.searchsorted(cum.to_numpy(), 1 - tail)))]
        outside = int(part[(part.index < first) | (part.index > last)].sum())
        return first, last, outside

    @property
    def cities(self) -> list[str]:
        """Cities with incidents or zones, the one with most calls first."""
        counts = self.daily.groupby("city")["n"].sum().sort_values(ascending=False)
        seen = [str(c) for c in counts.index]
        seen += (
            sorted({str(c) for c in self.zones["city"]} - set(seen)) if not self.zones.empty else []
        )
        return seen


def _tz_case(column: str = "city") -> str:
    """Return an SQL ``CASE`` giving each known city's time zone (UTC otherwise)."""
    arms = " ".join(f"WHEN '{c}' THEN '{city_tz(c)}'" for c in sorted(CITIES))
    return f"(CASE {column} {arms} ELSE 'UTC' END)"


_RESP = "epoch(onscene - received) / 60.0"
_HAS_RESP = "onscene >= received"


def build_rollups(lake: LakeReader, version: int) -> Rollups:
    """Aggregate the lake once: the work every page would otherwise repeat per request."""
    t0 = time.perf_counter()
    tz = _tz_case()
    with lake.cursor() as cur:
        tables = {str(r[0]) for r in cur.execute("SELECT view_name FROM duckdb_views()").fetchall()}

    def q(sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return lake.query(sql, params)

    base = f"""
        SELECT city, agency, timezone({tz}, event_time) AS local, zone, district,
               CASE WHEN {_HAS_RESP} THEN {_RESP} END AS resp
        FROM incidents
    """
    daily = q(
        f"""
        WITH b AS ({base})
        SELECT city, agency, local::DATE AS day, count(*) AS n, count(resp) AS n_resp,
               median(resp) AS resp_p50
        FROM b GROUP BY ALL ORDER BY city, agency, day
        """
    )
    weekly, monthly = (
        q(
            f"""
            WITH b AS ({base})
            SELECT city, agency, date_trunc('{grain}', local)::DATE AS day, count(*) AS n,
                   count(resp) AS n_resp, median(resp) AS resp_p50
            FROM b GROUP BY ALL ORDER BY city, agency, day
            """
        )
        for grain in ("week", "month")
    )
    zone = q(
        f"""
        WITH b AS ({base})
        SELECT city, agency, zone, any_value(district) AS district, count(*) AS n,
               count(resp) AS n_resp, median(resp) AS resp_p50
        FROM b WHERE zone IS NOT NULL GROUP BY ALL
        """
    )
    how = q(
        f"""
        WITH b AS ({base})
        SELECT city, agency, ((isodow(local) - 1) * 24 + hour(local))::INTEGER AS how,
               count(*) AS n, count(DISTINCT local::DATE) AS days
        FROM b GROUP BY ALL ORDER BY city, agency, how
        """
    )
    basis = q(
        f"""
        SELECT city, agency, source, count(*) AS n,
               count(*) FILTER (WHERE {_HAS_RESP}) AS n_resp,
               count(DISTINCT zone) FILTER (WHERE {_HAS_RESP}) AS zones_resp,
               min(event_time) AS first, max(event_time) AS last
        FROM incidents GROUP BY ALL ORDER BY city, agency, source
        """
    )
    ledger = q(
        """
        SELECT * FROM runs
        QUALIFY row_number() OVER (PARTITION BY source ORDER BY started DESC, run_id DESC) = 1
        ORDER BY source
        """
    )
    history = q(
        """
        SELECT run_id, min(started) AS started, max(ended) AS ended,
               count(*) AS sources, sum(rows_in)::BIGINT AS rows_in,
               sum(rows_ok)::BIGINT AS rows_ok,
               sum(rows_quarantined)::BIGINT AS rows_quarantined,
               sum(rows_duplicate)::BIGINT AS rows_duplicate,
               sum(rows_new)::BIGINT AS rows_new,
               count(*) FILTER (WHERE status <> 'ok') AS not_ok
        FROM runs GROUP BY run_id ORDER BY started DESC, run_id DESC LIMIT 200
        """
    )
    quarantine = q(
        "SELECT source, reason, count(*) AS n FROM quarantine GROUP BY ALL ORDER BY source, reason"
    )
    fidelity = (
        q("SELECT * FROM fidelity ORDER BY computed_at") if "fidelity" in tables else pd.DataFrame()
    )
    devices = lake.devices()
    readings = q(
        """
        SELECT device_id, metric, time::DATE AS day, sum(value) AS value,
               count(value) AS hours
        FROM device_readings GROUP BY ALL ORDER BY device_id, metric, day
        """
    )
    zones = lake.zones()
    return Rollups(
        version=version,
        built_s=time.perf_counter() - t0,
        daily=daily,
        weekly=weekly,
        monthly=monthly,
        zone=zone,
        hour_of_week=how,
        basis=basis,
        ledger=ledger,
        history=history,
        quarantine=quarantine,
        fidelity=fidelity,
        devices=devices,
        readings_daily=readings,
        zones=zones,
    )


def outages(daily: pd.DataFrame, min_hours: int = 24) -> pd.DataFrame:
    """Periods of consecutive days on which a device reported fewer than 24 hourly readings.

    Args:
        daily: ``day``, ``hours`` (hours with a reading; per metric, the most complete one is
            used) of one device.
        min_hours: Hours a complete day has.

    Returns:
        ``start``, ``end`` (dates), ``days``, ``missing_hours``, one row per period.

    """
    if daily.empty:
        return pd.DataFrame(columns=["start", "end", "days", "missing_hours"])
    per_day = daily.groupby("day")["hours"].max()
    full = pd.date_range(per_day.index.min(), per_day.index.max(), freq="D").date
    per_day = per_day.reindex(full, fill_value=0)
    missing = (min_hours - per_day).clip(lower=0)
    rows = []
    start = None
    lost = 0
    prev = None
    for d, m in zip(missing.index.tolist(), missing.tolist(), strict=True):
        if m > 0:
            if start is None:
                start, lost = d, 0
            lost += int(m)
            prev = d
        elif start is not None:
            rows.append((start, prev, (prev - start).days + 1, lost))
            start = None
    if start is not None:
        rows.append((start, prev, (prev - start).days + 1, lost))
    return pd.DataFrame(rows, columns=["start", "end", "days", "missing_hours"])


def fidelity_scores(f: pd.DataFrame) -> pd.DataFrame:
    """One row per fidelity run: ``city``, ``computed_at``, ``score``, ``in_sample``, ``drift``.

    The score is the run's headline error (smaller is better, see :mod:`twin.fidelity`). Where
    the nightly loop stored its band and flag with the score (metrics ``band_low``,
    ``band_high``, ``drift``), those are shown as they are; other runs (manual ``twin
    fidelity``) get the nightly rule (:func:`twin.calibrate.drift.drift_band`) over the city's
    earlier out-of-sample scores.
    """
    cols = ["city", "computed_at", "score", "in_sample", "drift", "band"]
    if f.empty or not {"metric", "value", "computed_at"} <= set(f.columns):
        return pd.DataFrame(columns=cols)
    stored = {
        (str(r["city"]), pd.Timestamp(r["computed_at"]), str(r["metric"])): r["value"]
        for r in f[f["metric"].isin(["band_low", "band_high", "drift"])].to_dict("records")
    }
    rows = f[f["metric"] == "score"].sort_values("computed_at")
    out = []
    for city, part in rows.groupby("city", sort=True):
        history: list[float] = []
        for rec in part.to_dict("records"):
            score = rec["value"]
            at = pd.Timestamp(rec["computed_at"])
            in_sample = bool(rec.get("in_sample")) if rec.get("in_sample") is not None else False
            ok = score is not None and score == score
            key = (str(city), at)
            if (*key, "drift") in stored:
                lo, hi = stored.get((*key, "band_low")), stored.get((*key, "band_high"))
                drift = bool(stored[(*key, "drift")])
                how = f"nightly band [{lo:.3g}, {hi:.3g}]" if lo is not None else "nightly flag"
            else:
                band = drift_band((), history)
                drift = bool(ok and not band.low <= float(score) <= band.high)
                how = band.how
            out.append(
                {
                    "city": str(city),
                    "computed_at": at,
                    "score": float(score) if ok else None,
                    "in_sample": in_sample,
                    "drift": drift,
                    "band": how,
                }
            )
            if ok and not in_sample:
                history.append(float(score))
    return pd.DataFrame(out, columns=cols)
