"""A Socrata (SODA 2) JSON API client, and the adapter path from its records to canonical rows.

Seattle and San Francisco publish their datasets through Socrata: ``GET
<portal>/resource/<dataset id>.json`` returns a JSON list of records whose keys are the column
names in lower snake case (``incident_number``, ``datetime``, ``report_location``) and whose
values are strings (numbers and timestamps too; points are GeoJSON objects). :class:`SodaClient`
pages through a query with ``$limit``/``$offset`` under a stable ``$order`` (the time field, then
the row id ``:id``), pulls incrementally with ``$where=<time_field> > '<watermark>'``, and retries
5xx answers and connection failures with exponential backoff before failing with a
:class:`~twin.errors.DataError` that names the URL. Only the standard library is used.

:func:`records_to_output` turns fetched records into canonical tables through the *same* per-source
parsing as the CSV adapters: the source's :class:`~twin.ingest.incidents.IncidentSpec` with every
column renamed to its snake-case API field, plus ISO timestamps. Socrata "floating timestamps"
carry no zone; ``time_zone`` says what they are (the Seattle Fire sample's times are UTC, so that
is the default for ``seattle_fire_911``; set ``America/Los_Angeles`` for a dataset that publishes
local times). Incremental pulls use ``>``: a record published later with exactly the watermark's
time would be missed, so the watermark is the newest time *landed*, never "now".
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from twin.errors import ConfigError, DataError
from twin.ingest.base import AdapterContext, AdapterOutput
from twin.ingest.incidents import IncidentSpec, build_incidents, empty_output
from twin.ingest.readers import read_json, records_to_table
from twin.ingest.seattle import FIRE_SPEC, SPD_CALL_DATA_SPEC
from twin.ingest.timeconv import ISO, check_tz

__all__ = [
    "SODA_SOURCES",
    "SodaClient",
    "SodaSource",
    "fetch_soda",
    "records_to_output",
    "seattle_fire_911_soda",
    "snake",
    "watermark_to_floating",
]


def snake(column: str) -> str:
    """Return Socrata's API field name for a display column.

    Args:
        column: The display name (``"Incident Number"``).

    Returns:
        The API field (``"incident_number"``).

    """
    return re.sub(r"[^0-9a-z]+", "_", column.lower()).strip("_")


@dataclass(frozen=True)
class SodaSource:
    """How one dataset's API records map onto a CSV adapter's parsing.

    Attributes:
        spec: The CSV adapter's incident spec (display column names).
        time_field: API field used for ``$order`` and the incremental ``$where``.
        time_zone: Zone of the API's floating timestamps (None: the context's zone).

    """

    spec: IncidentSpec
    time_field: str
    time_zone: str | None = None

    def api_spec(self) -> IncidentSpec:
        """Return the spec with API field names and ISO timestamps accepted."""
        s = self.spec

        def opt(c: str | None) -> str | None:
            return None if c is None else snake(c)

        return dataclasses.replace(
            s,
            columns=tuple(snake(c) for c in s.columns),
            id_column=opt(s.id_column),
            times={k: snake(v) for k, v in s.times.items()},
            time_formats=(ISO, *s.time_formats),
            time_tz=self.time_zone if self.time_zone is not None else s.time_tz,
            lon=opt(s.lon),
            lat=opt(s.lat),
            location=opt(s.location),
            call_type=opt(s.call_type),
            call_group=opt(s.call_group),
            priority=opt(s.priority),
            zone_code=opt(s.zone_code),
            shapes={},
            time_examples={},
        )


SODA_SOURCES: dict[str, SodaSource] = {
    "seattle_fire_911": SodaSource(FIRE_SPEC, time_field="datetime", time_zone="UTC"),
    "spd_call_data": SodaSource(SPD_CALL_DATA_SPEC, time_field="original_time_queued"),
}
"""Source kinds whose Socrata records the adapter path understands."""


class SodaClient:
    """Fetch a Socrata resource page by page, with retries.

    Args:
        url: The resource endpoint, e.g. ``https://data.seattle.gov/resource/kzjm-xkqj.json``.
        page_size: Records per request (``$limit``).
        retries: Extra attempts per page after a 5xx/429 answer or a connection failure.
        backoff: Seconds before the first retry; doubles on each further retry.
        timeout: Socket timeout per request in seconds.
        app_token: Optional Socrata app token (sent as ``X-App-Token``).
        sleep: The wait function (injectable so tests need not really wait).

    """

    def __init__(
        self,
        url: str,
        *,
        page_size: int = 1000,
        retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 30.0,
        app_token: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if page_size < 1:
            raise ConfigError(f"Socrata page_size must be >= 1, got {page_size}")
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"Socrata url {url!r} is not an http(s) URL of a resource")
        self.url = url
        self.page_size = page_size
        self.retries = retries
        self.backoff = backoff
        self.timeout = timeout
        self.app_token = app_token
        self.sleep = sleep
        self.requests = 0

    def _get(self, params: Mapping[str, str]) -> list[dict[str, Any]]:
        query = urllib.parse.urlencode(params)
        sep = "&" if urllib.parse.urlsplit(self.url).query else "?"
        full = f"{self.url}{sep}{query}"
        headers = {"Accept": "application/json"}
        if self.app_token:
            headers["X-App-Token"] = self.app_token
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            self.requests += 1
            try:
                req = urllib.request.Request(full, headers=headers)
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    body = resp.read()
                data = json.loads(body)
            except urllib.error.HTTPError as exc:
                if exc.code >= 500 or exc.code == 429:
                    last = f"HTTP {exc.code} {exc.reason}"
                    continue
                detail = exc.read()[:300].decode("utf-8", "replace")
                raise DataError(
                    f"Socrata request {full} failed with HTTP {exc.code} {exc.reason}: {detail}; "
                    "check the dataset id, field names and query"
                ) from exc
            except (
                urllib.error.URLError,
                http.client.HTTPException,
                ConnectionError,
                TimeoutError,
                json.JSONDecodeError,
            ) as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            if not isinstance(data, list):
                raise DataError(
                    f"Socrata request {full} returned {type(data).__name__}, not a list"
                )
            return [r if isinstance(r, dict) else {"_value": r} for r in data]
        raise DataError(
            f"Socrata request {full} failed after {self.retries + 1} attempts (last: {last}); "
            "the portal is down or unreachable, try the sync again later"
        )

    def pages(
        self, *, order: str, where: str | None = None, select: str | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the query's records one page at a time.

        Args:
            order: ``$order`` clause; must be total (end with ``:id``) for paging to be stable.
            where: Optional ``$where`` clause.
            select: Optional ``$select`` clause.

        Yields:
            Lists of records, each at most ``page_size`` long.

        """
        offset = 0
        while True:
            params = {"$limit": str(self.page_size), "$offset": str(offset), "$order": order}
            if where:
                params["$where"] = where
            if select:
                params["$select"] = select
            page = self._get(params)
            if page:
                yield page
            if len(page) < self.page_size:
                return
            offset += len(page)

    def fetch_since(
        self, time_field: str, watermark: str | None = None, where: str | None = None
    ) -> list[dict[str, Any]]:
        """Return every record newer than *watermark*, ordered by time then row id.

        Args:
            time_field: The API's time field (``datetime``).
            watermark: Floating timestamp ``YYYY-MM-DDTHH:MM:SS`` (exclusive); None for all.
            where: An extra ``$where`` condition ANDed with the watermark.

        Returns:
            The records.

        """
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", time_field):
            raise ConfigError(f"Socrata time field {time_field!r} is not a field name")
        clauses = []
        if watermark:
            if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", watermark):
                raise ConfigError(
                    f"watermark {watermark!r} is not a floating timestamp YYYY-MM-DDTHH:MM:SS"
                )
            clauses.append(f"{time_field} > '{watermark}'")
        if where:
            clauses.append(f"({where})")
        records: list[dict[str, Any]] = []
        for page in self.pages(
            order=f"{time_field},:id", where=" AND ".join(clauses) if clauses else None
        ):
            records.extend(page)
        return records


def watermark_to_floating(watermark: str | None, tz: str) -> str | None:
    """Convert an ISO UTC watermark (``...Z``) to a floating timestamp in *tz*.

    Args:
        watermark: ``YYYY-MM-DDTHH:MM:SSZ`` as written by the adapters, or None.
        tz: Zone of the API's floating timestamps.

    Returns:
        ``YYYY-MM-DDTHH:MM:SS`` local to *tz*, or None.

    """
    if not watermark:
        return None
    try:
        when = datetime.fromisoformat(watermark.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ConfigError(f"watermark {watermark!r} is not an ISO 8601 time") from exc
    if when.tzinfo is None:
        raise ConfigError(f"watermark {watermark!r} has no zone; expected UTC ('...Z')")
    return when.astimezone(ZoneInfo(check_tz(tz).key)).strftime("%Y-%m-%dT%H:%M:%S")


def _source(kind: str) -> SodaSource:
    try:
        return SODA_SOURCES[kind]
    except KeyError:
        raise ConfigError(
            f"no Socrata mapping for source kind {kind!r}; known: {sorted(SODA_SOURCES)}"
        ) from None


def records_to_output(
    records: list[dict[str, Any]],
    kind: str,
    ctx: AdapterContext,
    origin: str,
    time_zone: str | None = None,
) -> AdapterOutput:
    """Turn Socrata records into canonical tables with the CSV adapter's parsing.

    Args:
        records: API records (lower snake-case keys).
        kind: Source kind in :data:`SODA_SOURCES` (``"seattle_fire_911"``).
        ctx: Adapter context.
        origin: URL or file the records came from (written into quarantine rows).
        time_zone: Zone of the floating timestamps (default: the kind's).

    Returns:
        The adapter output; quarantined rows carry the API record as JSON.

    Raises:
        DataError: When the records lack fields the source needs.

    """
    src = _source(kind)
    if time_zone is not None:
        src = dataclasses.replace(src, time_zone=time_zone)
    spec = src.api_spec()
    if not records:
        return empty_output()
    present = {k for r in records for k in r}
    missing = [c for c in spec.columns if c not in present]
    if missing:
        raise DataError(
            f"{origin}: Socrata records lack fields {missing}; expected {list(spec.columns)}, "
            f"found {sorted(present)}. The dataset's columns changed: update the mapping."
        )
    columns = list(dict.fromkeys([*spec.columns, *sorted(present)]))
    raw = records_to_table(records, columns)
    return build_incidents(raw, spec, ctx, origin)


def fetch_soda(
    url: str,
    kind: str,
    ctx: AdapterContext,
    watermark: str | None = None,
    *,
    client: SodaClient | None = None,
    time_zone: str | None = None,
) -> AdapterOutput:
    """Pull new records from a Socrata resource and turn them into canonical tables.

    Args:
        url: Resource endpoint (``.../resource/<id>.json``).
        kind: Source kind in :data:`SODA_SOURCES`.
        ctx: Adapter context.
        watermark: The last run's watermark (ISO UTC), or None for a full pull.
        client: A configured client (default: one for *url* with default paging).
        time_zone: Zone of the floating timestamps (default: the kind's).

    Returns:
        The adapter output; its watermark is the newest time landed (or the old watermark when
        nothing new came).

    """
    src = _source(kind)
    tz = time_zone or src.time_zone or ctx.tz
    soda = client or SodaClient(url)
    records = soda.fetch_since(src.time_field, watermark_to_floating(watermark, tz))
    out = records_to_output(records, kind, ctx, url, time_zone=tz)
    if out.watermark is None or (watermark is not None and out.watermark < watermark):
        out.watermark = watermark
    return out


def seattle_fire_911_soda(path: Path, ctx: AdapterContext) -> AdapterOutput:
    """Seattle Fire 911 through the Socrata API (or a saved API response).

    With ``ctx.options["url"]`` the records are fetched from that endpoint (options
    ``watermark``, ``page_size``, ``retries``, ``time_zone``, ``app_token``); otherwise *path* is
    a JSON file holding a list of API records.

    Args:
        path: A saved JSON response (ignored when ``url`` is given).
        ctx: Adapter context.

    Returns:
        Incidents and quarantine.

    """
    opts = ctx.options
    tz = opts.get("time_zone")
    if opts.get("url"):
        client = SodaClient(
            str(opts["url"]),
            page_size=int(opts.get("page_size", 1000)),
            retries=int(opts.get("retries", 4)),
            app_token=opts.get("app_token"),
        )
        return fetch_soda(
            str(opts["url"]),
            "seattle_fire_911",
            ctx,
            opts.get("watermark"),
            client=client,
            time_zone=tz,
        )
    doc = read_json(Path(path))
    if not isinstance(doc, list):
        raise DataError(f"{path}: expected a JSON list of Socrata records")
    return records_to_output(
        [r if isinstance(r, dict) else {"_value": r} for r in doc],
        "seattle_fire_911",
        ctx,
        str(path),
        time_zone=tz,
    )
