"""The Socrata client against a real HTTP server on 127.0.0.1 serving the Seattle Fire sample."""

from __future__ import annotations

import csv
import gzip
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pyarrow.compute as pc
import pytest

from twin.errors import DataError
from twin.ingest.base import AdapterContext
from twin.ingest.registry import get_adapter
from twin.ingest.socrata import SodaClient, fetch_soda, records_to_output, watermark_to_floating

pytestmark = pytest.mark.e2e

N_ROWS = 3_000


def _soda_records(data_dir: Path) -> list[dict[str, Any]]:
    """The first N_ROWS rows of the fire sample, shaped like the real SODA API's records."""
    out = []
    with gzip.open(data_dir / "seattle/seattle_fire_911_2015-06_2016-02.csv.gz", "rt") as fh:
        for i, row in enumerate(csv.DictReader(fh)):
            if i == N_ROWS:
                break
            when = datetime.strptime(row["Datetime"], "%m/%d/%Y %I:%M:%S %p %z")
            rec: dict[str, Any] = {
                "address": row["Address"],
                "type": row["Type"],
                "datetime": when.strftime("%Y-%m-%dT%H:%M:%S.000"),
                "incident_number": row["Incident Number"],
            }
            if row["Latitude"]:  # the API omits empty fields
                rec["latitude"] = row["Latitude"]
                rec["longitude"] = row["Longitude"]
                rec["report_location"] = {
                    "type": "Point",
                    "coordinates": [float(row["Longitude"]), float(row["Latitude"])],
                }
            out.append(rec)
    return out


@dataclass
class FakeSoda:
    """State of the test server: its records, the requests seen, pages to fail once."""

    records: list[dict[str, Any]]
    seen: list[dict[str, str]] = field(default_factory=list)
    fail_once: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, params: dict[str, str]) -> tuple[int, Any]:
        with self.lock:
            self.seen.append(params)
            offset = int(params.get("$offset", "0"))
            if offset in self.fail_once:
                self.fail_once.discard(offset)
                return 500, {"error": True, "message": "internal error"}
        rows = [dict(r, **{":id": f"row-{i:06d}"}) for i, r in enumerate(self.records)]
        where = params.get("$where")
        if where:
            m = re.fullmatch(r"(\w+) > '([^']+)'", where)
            if not m:
                return 400, {"message": f"unsupported $where {where}"}
            fld, value = m.groups()
            limit_time = datetime.fromisoformat(value)  # SODA compares timestamps, not text
            rows = [r for r in rows if fld in r and datetime.fromisoformat(r[fld]) > limit_time]
        for key in reversed([k.strip() for k in params.get("$order", ":id").split(",")]):
            name, _, direction = key.partition(" ")
            rows.sort(key=lambda r, name=name: r.get(name, ""), reverse=direction.upper() == "DESC")
        limit = int(params.get("$limit", "1000"))
        page = rows[offset : offset + limit]
        return 200, [{k: v for k, v in r.items() if k != ":id"} for r in page]


@pytest.fixture
def soda(data_dir: Path) -> Iterator[tuple[str, FakeSoda]]:
    state = FakeSoda(_soda_records(data_dir))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path != "/resource/kzjm-xkqj.json":
                self.send_error(404)
                return
            params = {k: v[0] for k, v in parse_qs(parts.query).items()}
            status, body = state.answer(params)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/resource/kzjm-xkqj.json", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _ctx(**options: Any) -> AdapterContext:
    return AdapterContext(
        source="seattle_fire_911",
        city="seattle",
        tz="America/Los_Angeles",
        run_id="soda-run",
        bbox=(-122.50, 47.45, -122.20, 47.78),
        options=options,
    )


def test_paging_and_retry_give_the_complete_result(
    soda: tuple[str, FakeSoda], data_dir: Path
) -> None:
    url, state = soda
    state.fail_once = {1400}  # the third page answers 500 once
    waits: list[float] = []
    client = SodaClient(url, page_size=700, retries=3, backoff=0.25, sleep=waits.append)
    records = client.fetch_since("datetime")
    assert len(records) == N_ROWS
    assert len({json.dumps(r, sort_keys=True) for r in records}) == len(
        {json.dumps(r, sort_keys=True) for r in state.records}
    )
    offsets = [int(p["$offset"]) for p in state.seen]
    assert offsets == [0, 700, 1400, 1400, 2100, 2800]  # 1400 retried once
    assert waits == [0.25]
    assert all(p["$order"] == "datetime,:id" and p["$limit"] == "700" for p in state.seen)
    times = [r["datetime"] for r in records]
    assert times == sorted(times)


def test_incremental_where_on_watermark(soda: tuple[str, FakeSoda]) -> None:
    url, state = soda
    full = fetch_soda(url, "seattle_fire_911", _ctx(), client=SodaClient(url, page_size=1000))
    full.check_accounting()
    assert full.rows_in == N_ROWS
    mark = full.watermark
    assert mark is not None
    assert mark.endswith("Z")
    # Nothing new: one request with the watermark in $where, no rows, the watermark kept.
    state.seen.clear()
    again = fetch_soda(url, "seattle_fire_911", _ctx(), mark, client=SodaClient(url))
    assert again.rows_in == 0
    assert again.watermark == mark
    assert state.seen[0]["$where"] == f"datetime > '{mark[:-1]}'"
    # A watermark in the middle returns exactly the newer rows.
    times = sorted(r["datetime"] for r in state.records)
    middle = times[len(times) // 2]
    newer = sum(1 for t in times if t > middle)
    part = fetch_soda(
        url, "seattle_fire_911", _ctx(), middle + "Z", client=SodaClient(url, page_size=500)
    )
    assert part.rows_in == newer
    assert pc.min(part.tables["incidents"].column("received")).as_py() > datetime.fromisoformat(
        middle + "+00:00"
    )


def test_json_records_parse_like_the_csv(soda: tuple[str, FakeSoda], data_dir: Path) -> None:
    url, _state = soda
    api = get_adapter("seattle_fire_911_soda")(Path("unused"), _ctx(url=url, page_size=1000))
    csv_out = get_adapter("seattle_fire_911")(
        data_dir / "seattle/seattle_fire_911_2015-06_2016-02.csv.gz", _ctx()
    )
    csv_inc = csv_out.tables["incidents"]
    api_inc = api.tables["incidents"]
    keys = ["incident_id", "call_type", "call_group", "received", "lon", "lat"]
    want = {r["incident_id"]: r for r in csv_inc.select(keys).to_pylist()}
    got = api_inc.select(keys).to_pylist()
    assert len(got) > 0.98 * N_ROWS
    for row in got:
        assert row == want[row["incident_id"]]


def test_saved_response_file_and_quarantine_keeps_api_record(tmp_path: Path) -> None:
    recs = [
        {
            "incident_number": "F1",
            "type": "Aid Response",
            "datetime": "2015-06-12T20:52:00.000",
            "address": "x",
            "latitude": "47.6",
            "longitude": "-122.3",
        },
        {
            "incident_number": "F2",
            "type": "Aid Response",
            "datetime": "not a time",
            "address": "y",
            "latitude": "47.6",
            "longitude": "-122.3",
        },
        "garbage",
    ]
    path = tmp_path / "page.json"
    path.write_text(json.dumps(recs))
    out = get_adapter("seattle_fire_911_soda")(path, _ctx())
    out.check_accounting()
    assert out.rows_in == 3
    assert out.rows_ok == 1
    q = out.quarantine.to_pylist()
    assert [r["reason"] for r in q] == ["unparseable_time", "missing_id"]
    assert json.loads(q[0]["raw"])["datetime"] == "not a time"
    inc = out.tables["incidents"].to_pylist()[0]
    assert inc["received"] == datetime(2015, 6, 12, 20, 52, tzinfo=UTC)
    with pytest.raises(DataError, match="lack fields"):
        records_to_output([{"foo": "bar"}], "seattle_fire_911", _ctx(), "mem")


def test_server_down_is_a_clear_data_error(soda: tuple[str, FakeSoda]) -> None:
    url, state = soda
    state.fail_once = {0}
    client = SodaClient(url, retries=0, sleep=lambda s: None)
    with pytest.raises(DataError, match="failed after 1 attempts"):
        client.fetch_since("datetime")
    with pytest.raises(DataError, match="HTTP 404"):
        SodaClient(url.replace("kzjm", "nope")).fetch_since("datetime")
    # nothing listens on a closed port: connection errors are retried, then reported
    closed = SodaClient(
        "http://127.0.0.1:9/resource/x.json", retries=1, sleep=lambda s: None, timeout=2
    )
    with pytest.raises(DataError, match="unreachable"):
        closed.fetch_since("datetime")


def test_watermark_conversion() -> None:
    assert watermark_to_floating("2015-06-12T20:52:00Z", "UTC") == "2015-06-12T20:52:00"
    assert (
        watermark_to_floating("2015-06-12T20:52:00Z", "America/Los_Angeles")
        == "2015-06-12T13:52:00"
    )
    assert watermark_to_floating(None, "UTC") is None
