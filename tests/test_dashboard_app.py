"""The dashboard served for real: a small lake written through twin.store, the app in its own
process on a free 127.0.0.1 port, read over HTTP and in a real headless Chromium."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import shapely
from shapely.geometry import box

from dashboards import ids
from dashboards.data import LakeReader, match_zone_counts
from twin.errors import DataError
from twin.schemas import SCHEMAS
from twin.store import Lake

UTC = dt.UTC


def _ts(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def _table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = SCHEMAS[name]
    cols = {f.name: [r.get(f.name) for r in rows] for f in schema}
    return pa.table(cols, schema=pa.schema([f.with_nullable(True) for f in schema]))


# Four 0.05° square beats in a 2x2 grid over Seattle, and one precinct covering them.
BEATS = {
    "B1": (-122.40, 47.60),
    "B2": (-122.35, 47.60),
    "B3": (-122.40, 47.65),
    "B4": (-122.35, 47.65),
}


def _zones() -> pa.Table:
    rows = []
    for code, (x, y) in BEATS.items():
        geom = box(x, y, x + 0.05, y + 0.05)
        rows.append(
            {
                "zone_id": f"seattle:beat:{code}",
                "source": "test_beats",
                "city": "seattle",
                "kind": "beat",
                "code": code,
                "district": "P",
                "name": f"beat {code}",
                "geometry": shapely.to_wkb(geom),
                "centroid_lon": geom.centroid.x,
                "centroid_lat": geom.centroid.y,
                "area_km2": 20.0,
            }
        )
    return _table("zones", rows)


def _incident(src: str, n: int, event: str, zone: str | None, **kw: Any) -> dict[str, Any]:
    """An incident dated *event* (event_time; also received unless ``received=None``)."""
    row = {
        "incident_id": f"{src}:{n}",
        "source": src,
        "source_id": str(n),
        "city": "seattle",
        "agency": "police",
        "call_type": "test call",
        "event_time": _ts(event),
        "received": _ts(event),
        "zone": zone,
        "lon": -122.37,
        "lat": 47.62,
    }
    row.update(kw)
    return row


# Local time is America/Los_Angeles (PST = UTC-8 in January). 2024-01-01 is a Monday.
INCIDENTS_A = [
    _incident(
        "src_a", 1, "2024-01-01T17:00:00", "seattle:beat:B1", onscene=_ts("2024-01-01T17:10:00")
    ),  # Mon 09h local
    _incident(
        "src_a", 2, "2024-01-01T17:30:00", "seattle:beat:B1", onscene=_ts("2024-01-01T17:50:00")
    ),  # Mon 09h
    _incident("src_a", 3, "2024-01-02T07:00:00", "seattle:beat:B1"),  # Mon 23h local
    _incident("src_a", 4, "2024-01-02T08:15:00", "seattle:beat:B2"),  # Tue 00h local
    _incident("src_a", 5, "2024-01-03T20:00:00", "seattle:beat:B2"),  # Wed 12h
    _incident("src_a", 6, "2024-01-06T20:00:00", "seattle:beat:B3"),  # Sat 12h
]
INCIDENTS_B = [
    _incident("src_b", 1, "2024-01-01T18:00:00", "B4"),  # a zone code, not an id: Mon 10h
    _incident("src_b", 2, "2024-01-01T18:30:00", None, lon=None, lat=None),  # Mon 10h
    # a source without a received time: dated by its at-scene time, no response measured
    _incident(
        "src_b",
        3,
        "2024-01-07T19:00:00",
        "seattle:beat:B4",
        received=None,
        onscene=_ts("2024-01-07T19:00:00"),
    ),  # Sun 11h
]
INCIDENTS_SF = [
    _incident(
        "sf",
        1,
        "2024-01-01T18:00:00",
        None,
        city="sanfrancisco",
        agency="fire",
        lon=-122.42,
        lat=37.77,
    ),
    _incident(
        "sf",
        2,
        "2024-01-02T18:00:00",
        None,
        city="sanfrancisco",
        agency="fire",
        lon=-122.41,
        lat=37.78,
    ),
]


def _ledger(
    run: str,
    src: str,
    day: str,
    counts: tuple[int, ...],
    status: str = "ok",
    error: str | None = None,
) -> pa.Table:
    rows_in, ok, quarantined, duplicate, new = counts
    return _table(
        "runs",
        [
            {
                "run_id": run,
                "source": src,
                "watermark": None,
                "rows_in": rows_in,
                "rows_ok": ok,
                "rows_quarantined": quarantined,
                "rows_duplicate": duplicate,
                "rows_new": new,
                "started": _ts(f"{day}T02:00:00"),
                "ended": _ts(f"{day}T02:01:00"),
                "status": status,
                "error": error,
            }
        ],
    )


def _quarantine(src: str, run: str, items: list[tuple[int, str]]) -> pa.Table:
    return _table(
        "quarantine",
        [
            {
                "source": src,
                "run_id": run,
                "file": f"{src}.csv",
                "row_number": n,
                "raw": json.dumps({"row": n}),
                "reason": reason,
                "detail": f"row {n}: {reason}",
            }
            for n, reason in items
        ],
    )


def build_lake(root: Path) -> None:
    """Two sync runs through the real store: run r1 loads everything, r2 fails src_b."""
    lake = Lake(root)
    with lake.lock():
        tx = lake.begin(durable=False)
        tx.upsert("zones", "test_beats", _zones())
        tx.upsert("incidents", "src_a", _table("incidents", INCIDENTS_A))
        tx.upsert("incidents", "src_b", _table("incidents", INCIDENTS_B))
        tx.upsert("incidents", "sf", _table("incidents", INCIDENTS_SF))
        tx.upsert(
            "devices",
            "cams",
            _table(
                "devices",
                [
                    {
                        "device_id": f"cam:{i}",
                        "source": "cams",
                        "city": "seattle",
                        "kind": "camera",
                        "name": f"Camera {i}",
                        "lon": -122.39 + 0.01 * i,
                        "lat": 47.61 + 0.01 * i,
                    }
                    for i in range(3)
                ]
                + [
                    {
                        "device_id": "cam:nowhere",
                        "source": "cams",
                        "city": "seattle",
                        "kind": "camera",
                        "name": "No position",
                    }
                ],
            ),
        )
        tx.upsert(
            "devices",
            "counter",
            _table(
                "devices",
                [
                    {
                        "device_id": "fremont",
                        "source": "counter",
                        "city": "seattle",
                        "kind": "counter",
                        "name": "Fremont Bridge",
                        "lon": -122.35,
                        "lat": 47.65,
                    }
                ],
            ),
        )
        readings = [
            {
                "device_id": "fremont",
                "source": "counter",
                "time": _ts("2024-01-01T00:00:00") + dt.timedelta(hours=h),
                "metric": metric,
                "value": float(h if metric == "count_east" else 1),
            }
            for h in range(48)
            for metric in ("count_east", "count_west")
        ]
        tx.upsert("device_readings", "counter", _table("device_readings", readings))
        tx.replace_quarantine(
            "src_a",
            _quarantine(
                "src_a",
                "r1",
                [(3, "missing_time"), (7, "missing_time"), (9, "coordinates_outside_city")],
            ),
            ["src_a.csv"],
        )
        tx.replace_quarantine(
            "src_b", _quarantine("src_b", "r1", [(2, "unparseable_time")]), ["src_b.csv"]
        )
        tx.append_runs("src_a", _ledger("r1", "src_a", "2024-01-08", (9, 6, 3, 0, 6)))
        tx.append_runs("src_b", _ledger("r1", "src_b", "2024-01-08", (5, 3, 1, 1, 3)))
        tx.commit()
    with lake.lock():
        tx = lake.begin(durable=False)
        tx.append_runs("src_a", _ledger("r2", "src_a", "2024-01-09", (9, 6, 3, 0, 0)))
        tx.append_runs(
            "src_b",
            _ledger(
                "r2",
                "src_b",
                "2024-01-09",
                (0, 0, 0, 0, 0),
                status="failed",
                error="src_b.csv: file is truncated",
            ),
        )
        tx.commit()


SUMMARY = {
    "scenario": "tiny",
    "seed": 7,
    "replications": 3,
    "incidents": 1234,
    "p_wait": 0.25,
    "p_lost": 0.0,
    "mean_wait_min": 1.5,
    "response_min": {"mean": 9.0, "p50": 8.0, "p90": 15.5},
    "by_priority": {
        "1": {
            "incidents": 100,
            "p_wait": 0.1,
            "mean_wait_min": 0.5,
            "response_min": {"mean": 6.0, "p50": 5.5, "p90": 9.0},
        }
    },
    "units": {
        "u1": {"utilization": 0.5, "dispatches": 600},
        "u10": {"utilization": 0.25, "dispatches": 300},
        "u2": {"utilization": 0.75, "dispatches": 334},
    },
    "dispatch_fractions": {
        "u1": {"z1": 0.4, "z2": 0.086},
        "u2": {"z1": 0.1, "z2": 0.17},
        "u10": {"z2": 0.244},
    },
    "out_of_area_fraction": 0.2,
    "presence": {},
    "checkpoints": {"cp1": {"mode": "smart", "lanes": 2, "wait_mean_min": 0.4}},
    "ci95": {"p_wait": 0.02, "mean_wait_min": 0.3},
}


def build_results(root: Path) -> None:
    """One result folder as `twin simulate --out` writes it, plus a broken one."""
    good = root / "tiny"
    good.mkdir(parents=True)
    (good / "summary.json").write_text(json.dumps(SUMMARY))
    import pyarrow.parquet as pq

    pq.write_table(
        pa.table(
            {
                "incident_id": [1, 2, 3, 4],
                "received": [0.0, 1.0, 2.0, 3.0],
                "onscene": [5.0, 9.0, 12.0, None],
            }
        ),
        good / "incidents.parquet",
    )
    broken = root / "broken"
    broken.mkdir()
    (broken / "summary.json").write_text("{not json")
    os.utime(broken / "summary.json", (1, 1))  # the oldest: 'tiny' is the default


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dash")
    build_lake(root / "lake")
    build_results(root / "out")
    return root / "lake", root / "out"


# -- the lake through the dashboard's data access (exact) ------------------------------------


@pytest.mark.exact
def test_ledger_and_quarantine(demo: tuple[Path, Path]) -> None:
    reader = LakeReader(demo[0])
    assert reader.has_data()
    last = reader.last_runs()
    assert last[["source", "run_id", "status"]].values.tolist() == [
        ["src_a", "r2", "ok"],
        ["src_b", "r2", "failed"],
    ]
    assert last["error"].tolist()[1] == "src_b.csv: file is truncated"
    history = reader.run_history()
    assert history[["run_id", "sources", "failed", "rows_in", "rows_new"]].values.tolist() == [
        ["r2", 2, 1, 9, 0],
        ["r1", 2, 0, 14, 9],
    ]
    assert reader.quarantine_counts().values.tolist() == [
        ["src_a", "coordinates_outside_city", 1],
        ["src_a", "missing_time", 2],
        ["src_b", "unparseable_time", 1],
    ]
    sample = reader.quarantine_sample(source="src_a", reason="missing_time")
    assert sample["row_number"].tolist() == [3, 7]
    assert len(reader.quarantine_sample()) == 4


@pytest.mark.exact
def test_incident_aggregates_in_local_time(demo: tuple[Path, Path]) -> None:
    reader = LakeReader(demo[0])
    how = reader.incident_hour_of_week("seattle", [], None, None)
    assert how.values.tolist() == [
        [0, 9, 2],
        [0, 10, 2],
        [0, 23, 1],
        [1, 0, 1],
        [2, 12, 1],
        [5, 12, 1],
        [6, 11, 1],
    ]
    only_b = reader.incident_hour_of_week("seattle", ["src_b"], None, None)
    assert only_b["n"].sum() == 3
    first_days = reader.incident_daily("seattle", [], dt.date(2024, 1, 1), dt.date(2024, 1, 2))
    assert first_days.astype({"day": str}).values.tolist() == [
        ["2024-01-01", "src_a", 3],
        ["2024-01-01", "src_b", 2],
        ["2024-01-02", "src_a", 1],
    ]
    weekly = reader.incident_daily("seattle", [], None, None, grain="week")
    assert weekly.astype({"day": str}).values.tolist() == [
        ["2024-01-01", "src_a", 6],
        ["2024-01-01", "src_b", 3],
    ]
    counts = reader.incident_zone_counts("seattle", [], None, None)
    kind, matched, unmatched = match_zone_counts(counts, reader.zones("seattle"))
    assert kind == "beat"
    assert matched.values.tolist() == [
        ["seattle:beat:B1", 3],
        ["seattle:beat:B2", 2],
        ["seattle:beat:B3", 1],
        ["seattle:beat:B4", 2],
    ]
    assert unmatched == 1
    stats = reader.incident_stats("seattle", [], None, None).iloc[0]
    assert (stats["n"], stats["with_coords"], stats["with_response"]) == (9, 8, 2)
    assert stats["median_response_min"] == 15.0
    points = reader.incident_points("sanfrancisco", [], None, None)
    assert sorted(points["lon"].tolist()) == [-122.42, -122.41]


@pytest.mark.exact
def test_devices_and_readings(demo: tuple[Path, Path]) -> None:
    reader = LakeReader(demo[0])
    devices = reader.devices()
    assert devices["device_id"].tolist() == ["cam:0", "cam:1", "cam:2", "cam:nowhere", "fremont"]
    assert devices["readings"].tolist() == [0, 0, 0, 0, 96]
    daily = reader.readings("fremont", "day")
    # east counts h = 0..23 then 24..47; west counts 1 per hour
    assert daily["value"].tolist() == [276.0, 24.0, 852.0, 24.0]
    assert len(reader.readings("fremont", "hour")) == 96
    with pytest.raises(DataError, match="time grain"):
        reader.readings("fremont", "fortnight")


@pytest.mark.exact
def test_empty_lake_gives_empty_frames(tmp_path: Path) -> None:
    reader = LakeReader(tmp_path / "nothing")
    assert not reader.has_data()
    assert reader.last_runs().empty
    assert reader.quarantine_counts().empty
    assert reader.incident_overview().empty
    assert reader.devices().empty
    assert reader.readings("x").empty
    assert not (tmp_path / "nothing").exists()  # reading never creates the lake


# -- the app served for real ----------------------------------------------------------------


class Served:
    """`twin dashboard` in its own process on a free 127.0.0.1 port."""

    def __init__(self, workdir: Path, args: list[str], env: dict[str, str] | None = None):
        self.log = workdir / "dashboard.log"
        self.out = workdir / "dashboard.out"
        cmd = [sys.executable, "-m", "twin", "dashboard", *args]
        self.proc = subprocess.Popen(
            cmd,
            stdout=self.out.open("w"),
            stderr=self.log.open("w"),
            env={**os.environ, **(env or {})},
            cwd=workdir,  # as a user would run it: anywhere, not from the repository
        )
        self.url = self._wait_for_url()

    def _wait_for_url(self) -> str:
        import time

        while True:
            match = re.search(r"http://127\.0\.0\.1:\d+/", self.out.read_text())
            if match:
                return match.group(0)
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"dashboard exited with {self.proc.returncode}: {self.log.read_text()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait()


@pytest.fixture(scope="module")
def served(demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    lake, out = demo
    server = Served(
        tmp_path_factory.mktemp("served"),
        ["--lake", str(lake), "--results", str(out), "--port", "0"],
    )
    yield server.url
    server.stop()


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace"), dict(exc.headers)


def _find(node: Any, component_id: str) -> Any:
    """The component with *component_id* in a serialised Dash layout."""
    if isinstance(node, dict):
        if node.get("props", {}).get("id") == component_id:
            return node
        children = node.get("props", {}).get("children")
        return _find(children, component_id) if children is not None else None
    if isinstance(node, list):
        for child in node:
            found = _find(child, component_id)
            if found is not None:
                return found
    return None


@pytest.mark.e2e
def test_index_loads_everything_from_the_server_itself(served: str) -> None:
    status, html, _ = _get(served)
    assert status == 200
    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any(r.endswith(".js") or "dash_renderer" in r for r in refs)
    assert all(r.startswith("/") for r in refs), refs  # nothing from a CDN
    config = json.loads(re.search(r'id="_dash-config"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert config["serve_locally"] is True
    for ref in refs:
        assert _get(served.rstrip("/") + ref)[0] == 200, ref
    status, body, _ = _get(served + "_dash-layout")
    assert status == 200
    nav = [
        link["props"]["children"] for link in _find(json.loads(body), "nav")["props"]["children"]
    ]
    assert nav == ["Data quality", "Incidents", "Simulation results", "Devices"]


@pytest.mark.e2e
def test_token_is_required_when_set(tmp_path: Path) -> None:
    server = Served(
        tmp_path,
        ["--lake", str(tmp_path / "lake"), "--results", str(tmp_path), "--port", "0"],
        env={"TWIN_DASH_TOKEN": "s3cret"},
    )
    try:
        status, _, headers = _get(server.url)
        assert status == 401
        assert headers["WWW-Authenticate"].startswith("Basic")
        wrong = base64.b64encode(b"me:nope").decode()
        assert _get(server.url, {"Authorization": f"Basic {wrong}"})[0] == 401
        right = base64.b64encode(b"me:s3cret").decode()
        assert _get(server.url, {"Authorization": f"Basic {right}"})[0] == 200
        assert _get(server.url + "_dash-layout", {"Authorization": "Bearer s3cret"})[0] == 200
        assert _get(server.url + "_dash-layout", {"Authorization": "Bearer s3"})[0] == 401
    finally:
        server.stop()


@pytest.mark.exact
def test_refuses_other_interfaces_without_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "TWIN_DASH_TOKEN"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin",
            "dashboard",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--lake",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode != 0
    assert "TWIN_DASH_TOKEN" in done.stderr
    assert "Dashboard on" not in done.stdout


# -- a real browser -------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail("Chromium not found: apt-get install -y chromium chromium-driver (as root)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Watched:
    """A browser tab that records requests leaving 127.0.0.1, console errors, HTTP errors."""

    def __init__(self, browser: Any, base: str, shots: Path) -> None:
        self.base = base.rstrip("/")
        self.shots = shots
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(180_000)  # generous: CI machines are shared and busy
        self.tab = self.context.new_page()
        self.foreign: list[str] = []
        self.errors: list[str] = []
        self.tab.on("request", self._request)
        self.tab.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.tab.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.tab.on(
            "response",
            lambda r: self.errors.append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None,
        )

    def _request(self, request: Any) -> None:
        from urllib.parse import urlparse

        url = urlparse(request.url)
        if url.scheme in ("data", "blob", "about"):
            return
        if url.scheme not in ("http", "https", "ws", "wss") or url.hostname != "127.0.0.1":
            self.foreign.append(request.url)

    def visit(self, path: str, ready: str) -> Any:
        self.tab.goto(self.base + path)
        self.tab.wait_for_selector(ready)
        self.tab.wait_for_load_state("networkidle")
        return self.tab

    def shot(self, name: str) -> None:
        self.tab.screenshot(path=str(self.shots / f"dashboard-{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()
        assert self.foreign == [], f"requests left the machine: {self.foreign}"
        assert self.errors == [], f"browser errors: {self.errors}"


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("TWIN_DASH_SHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _texts(tab: Any, selector: str) -> list[str]:
    return [t.strip() for t in tab.locator(selector).all_text_contents()]


@pytest.mark.e2e
@pytest.mark.slow
def test_every_page_in_a_real_browser(served: str, chromium: Any, tmp_path: Path) -> None:
    w = Watched(chromium, served, _shots(tmp_path))
    try:
        # data quality: ledger, quarantine heatmap, and the sample filled by a callback
        tab = w.visit("/", f"#{ids.DQ_SAMPLE} table")
        ledger = tab.inner_text(f"#{ids.DQ_LEDGER}")
        assert "src_b" in ledger
        assert "failed" in ledger
        assert "file is truncated" in ledger
        assert "unparseable_time" in tab.inner_text(f"#{ids.DQ_SAMPLE}")
        tab.wait_for_selector(f"#{ids.DQ_QUARANTINE} .main-svg")
        w.shot("quality")

        # incidents: KPIs, a choropleth drawn on a map canvas, hour-of-week heatmap
        tab = w.visit("/incidents", f"#{ids.INC_KPIS} .kpi")
        assert _texts(tab, f"#{ids.INC_KPIS} .kpi-value")[0] == "9"
        tab.wait_for_selector(f"#{ids.INC_MAP} canvas")
        assert "Calls per beat" in tab.inner_text(f"#{ids.INC_MAP}")
        assert "Calls per hour of week" in tab.inner_text(f"#{ids.INC_HOUR_OF_WEEK}")
        w.shot("incidents")
        tab = w.visit("/incidents?city=sanfrancisco", f"#{ids.INC_KPIS} .kpi")
        assert _texts(tab, f"#{ids.INC_KPIS} .kpi-value")[0] == "2"
        tab.wait_for_selector(f"#{ids.INC_MAP} canvas")

        # simulation results: KPIs with confidence intervals, units in natural order
        tab = w.visit("/results", f"#{ids.SIM_KPIS} .kpi")
        assert "25.0% ± 2.0%" in tab.inner_text(f"#{ids.SIM_KPIS}")
        tab.wait_for_selector(f"#{ids.SIM_UTILISATION} .xtick")
        assert _texts(tab, f"#{ids.SIM_UTILISATION} .xtick") == ["u1", "u2", "u10"]
        assert "cp1" in tab.inner_text(f"#{ids.SIM_CHECKPOINTS}")
        w.shot("results")
        tab = w.visit("/results?run=broken", f"#{ids.SIM_KPIS} .notice")
        assert "not valid JSON" in tab.inner_text(f"#{ids.SIM_KPIS}")

        # devices: map and the counter's readings
        tab = w.visit("/devices", f"#{ids.DEV_READINGS} .legendtext")
        tab.wait_for_selector(f"#{ids.DEV_MAP} canvas")
        assert _texts(tab, f"#{ids.DEV_READINGS} .legendtext") == ["count_east", "count_west"]
        assert "counter" in tab.inner_text(f"#{ids.DEV_SUMMARY}")
        w.shot("devices")
        # a control drives a callback: hourly readings
        tab.locator(f"#{ids.DEV_GRAIN} input[value='hour']").check()
        tab.wait_for_selector(f"#{ids.DEV_READINGS} .gtitle:has-text('per hour')")

        # the navigation bar switches pages without a reload
        tab.get_by_role("link", name="Data quality").click()
        tab.wait_for_selector(f"#{ids.DQ_LEDGER}")
    finally:
        w.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_empty_lake_and_no_results_say_so(chromium: Any, tmp_path: Path) -> None:
    server = Served(
        tmp_path,
        ["--lake", str(tmp_path / "lake"), "--results", str(tmp_path / "out"), "--port", "0"],
    )
    w = Watched(chromium, server.url, _shots(tmp_path))
    try:
        expected = {
            "/": "no sync runs yet",
            "/incidents": "no incidents yet",
            "/results": "No simulation results",
            "/devices": "no devices yet",
        }
        for path, text in expected.items():
            tab = w.visit(path, ".notice")
            assert text in tab.inner_text(".notice")
            assert "twin " in tab.inner_text(".notice .command")
        w.shot("empty")
        # the server reads the lake per request: a corrupt commit file shows up as a notice
        (tmp_path / "lake").mkdir()
        (tmp_path / "lake" / "_manifest.json").write_text("garbage")
        tab = w.visit("/devices", ".notice")
        assert "manifest is unreadable" in tab.inner_text(".notice")
    finally:
        w.close()
        server.stop()
