"""The dashboard served for real: ``twin dashboard`` in its own process on a free 127.0.0.1
port over a small lake written through the real store and real results of ``twin simulate`` and
``twin replay``; read over HTTP (malformed callback values included) and in a real headless
Chromium (every page, the replay's play button and slider, a sweep's comparison and map).
Screenshots go to ``test-artifacts/dashboard/`` (git-ignored) or ``$TWIN_DASH_SHOTS``."""

from __future__ import annotations

import base64
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

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dashboard_fixtures import build_lake, build_results

from dashboards import ids

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("dash")
    build_lake(root / "lake")
    build_results(root / "out", root / "lake")
    return root / "lake", root / "out"


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
def server(demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    lake, out = demo
    served = Served(
        tmp_path_factory.mktemp("served"),
        ["--lake", str(lake), "--results", str(out), "--port", "0"],
    )
    yield served
    served.stop()


@pytest.fixture(scope="module")
def served(server: Served) -> str:
    return server.url


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


def _post(url: str, payload: Any) -> tuple[int, str]:
    data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    request = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def _callback(base: str, output_id: str) -> dict[str, Any]:
    """The callback spec (from the server) whose outputs include *output_id*."""
    status, body, _ = _get(base + "_dash-dependencies")
    assert status == 200
    for dep in json.loads(body):
        if f"..{output_id}." in dep["output"] or dep["output"].startswith(f"{output_id}."):
            return dep
    raise AssertionError(f"no callback writes {output_id}")


def _call(base: str, output_id: str, values: dict[str, Any]) -> tuple[int, str]:
    """POST one callback as the browser would, with *values* for its inputs (others None)."""
    dep = _callback(base, output_id)
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        cid, _, prop = part.rpartition(".")
        outputs.append({"id": cid, "property": prop})
    inputs = [
        {
            "id": i["id"],
            "property": i["property"],
            "value": values.get(f"{i['id']}.{i['property']}"),
        }
        for i in dep["inputs"]
    ]
    state = [
        {
            "id": s["id"],
            "property": s["property"],
            "value": values.get(f"{s['id']}.{s['property']}"),
        }
        for s in dep["state"]
    ]
    payload = {
        "output": dep["output"],
        "outputs": outputs if len(outputs) > 1 else outputs[0],
        "inputs": inputs,
        "state": state,
        "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
    }
    return _post(base + "_dash-update-component", payload)


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
    nav = _find(json.loads(body), "nav")["props"]["children"]
    assert [link["props"]["href"] for link in nav] == [
        "/",
        "/map",
        "/replay",
        "/scenarios",
        "/checkpoints",
        "/devices",
        "/data-quality",
    ]
    assert [link["props"]["children"] for link in nav][:2] == ["Overview", "Map"]


MALFORMED = [
    # (output of the callback, input values, text the answer must show)
    (ids.OV_DEMAND, {"ov-city.value": "seattle\x00; drop"}, "control characters"),
    (
        ids.OV_DEMAND,
        {"ov-city.value": "seattle", "ov-dates.start_date": "2015-13-45"},
        "is not a date",
    ),
    (ids.OV_DEMAND, {"ov-city.value": {"$ne": 1}}, "must be text, not dict"),
    (ids.SC_HEADLINE, {"sc-pick.value": "run:" + "x" * 5000}, "5,004 characters long"),
    (ids.SC_HEADLINE, {"sc-pick.value": {"run": "tiny_seattle"}}, "must be text, not dict"),
    (ids.SC_HEADLINE, {"sc-pick.value": "run:../../etc"}, "no result"),
    (ids.RP_REAL, {"rp-run.value": "replay_tiny", "rp-slider.value": "1e999"}, "must be a number"),
    (ids.RP_REAL, {"rp-run.value": "replay\x00tiny", "rp-slider.value": 10}, "control characters"),
    (ids.MAP_GRAPH, {"map-city.value": "seattle", "map-layers.value": [{"a": 1}]}, "must be text"),
    (
        ids.MAP_DETAIL,
        {"map-graph.clickData": {"points": [{"location": ["x"]}]}, "map-city.value": "seattle"},
        "must be text",
    ),
    (ids.DEV_READINGS, {"dev-device.value": ["fremont"], "dev-grain.value": "day"}, "must be text"),
    (ids.DQ_DETAIL, {"dq-row.value": 1e308}, "between 1 and 25"),
    (ids.CP_TABLE, {"cp-run.value": 12}, "must be text, not int"),
]


@pytest.mark.e2e
@pytest.mark.parametrize(("output", "values", "message"), MALFORMED)
def test_malformed_callback_values_get_a_message_not_a_500(
    served: str, output: str, values: dict[str, Any], message: str
) -> None:
    status, body = _call(served, output, values)
    assert status == 200, body[:300]
    assert message in body, body[:500]


@pytest.mark.e2e
def test_broken_requests_are_4xx_and_the_log_has_no_traceback(server: Served) -> None:
    url = server.url + "_dash-update-component"
    assert 400 <= _post(url, b"{not json")[0] < 500
    assert 400 <= _post(url, {"output": "ov-demand.figure"})[0] < 500  # no inputs
    assert 400 <= _post(url, {"output": "nope.figure", "inputs": [], "outputs": {}})[0] < 500
    assert "Traceback" not in server.log.read_text()


@pytest.mark.e2e
def test_a_lake_path_that_does_not_exist_is_an_error_at_start(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin",
            "dashboard",
            "--lake",
            str(tmp_path / "lkae"),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode != 0
    assert "no such folder" in done.stderr
    assert "Dashboard on" not in done.stdout


@pytest.mark.e2e
def test_token_is_required_when_set(tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
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


def _shots() -> Path:
    folder = Path(os.environ.get("TWIN_DASH_SHOTS", REPO / "test-artifacts" / "dashboard"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _texts(tab: Any, selector: str) -> list[str]:
    return [t.strip() for t in tab.locator(selector).all_text_contents()]


PAGES = [
    # path, a selector the page fills from a callback, text it must show
    ("/", f"#{ids.OV_DEMAND} .main-svg", "Last night's sync"),
    ("/map", f"#{ids.MAP_GRAPH} canvas", "Beat One"),
    ("/replay", f"#{ids.RP_TWIN} canvas", "calls so far"),
    ("/scenarios", f"#{ids.SC_DIFF} .main-svg", "Paired differences"),
    ("/checkpoints", f"#{ids.CP_PASS} .main-svg", "Aurora Bridge north end"),
    ("/devices", f"#{ids.DEV_READINGS} .main-svg", "east sidewalk"),
    ("/data-quality", f"#{ids.DQ_SAMPLE} table", "file is truncated"),
]


@pytest.mark.e2e
@pytest.mark.slow
def test_every_page_in_a_real_browser(served: str, chromium: Any) -> None:
    w = Watched(chromium, served, _shots())
    try:
        for path, ready, text in PAGES:
            tab = w.visit(path, ready)
            if text == "Beat One":  # map hover names live in the figure: check the note
                tab.wait_for_selector(f"#{ids.MAP_NOTE}:has-text('polygons from the lake')")
            else:
                tab.wait_for_selector(f"text={text}")
            name = path.strip("/") or "overview"
            w.shot(name)
        # the navigation bar switches pages without a reload
        tab.get_by_role("link", name="Overview").click()
        tab.wait_for_selector(f"#{ids.OV_SOURCES}")
    finally:
        w.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_replay_slider_and_play_move_time(served: str, chromium: Any) -> None:
    w = Watched(chromium, served, _shots())
    try:
        tab = w.visit("/replay", f"#{ids.RP_TWIN} canvas")
        tab.wait_for_selector(f"#{ids.RP_CLOCK}:has-text('08:00')")
        tab.locator(f"#{ids.RP_PLAY}").click()
        tab.wait_for_selector(f"#{ids.RP_PLAY}:has-text('Pause')")
        tab.wait_for_selector(f"#{ids.RP_CLOCK}:has-text('08:20')")  # two ticks later
        tab.locator(f"#{ids.RP_PLAY}").click()
        tab.wait_for_selector(f"#{ids.RP_PLAY}:has-text('Play')")
        # the slider, from the keyboard: End jumps to the last step of the day
        tab.locator(f"#{ids.RP_SLIDER} [role=slider]").first.focus()
        tab.keyboard.press("End")
        tab.wait_for_selector(f"#{ids.RP_CLOCK}:has-text('23:50')")
        tab.wait_for_selector(f"#{ids.RP_TWIN} .gtitle:has-text('Twin — 23:50')")
        w.shot("replay-late")
    finally:
        w.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_picking_a_sweep_updates_comparison_and_map(served: str, chromium: Any) -> None:
    w = Watched(chromium, served, _shots())
    try:
        tab = w.visit("/scenarios?pick=run:tiny_seattle", f"#{ids.SC_HEADLINE} .kpi")
        assert "Paired differences" not in tab.inner_text(f"#{ids.SC_DIFF}")
        tab.locator(f"#{ids.SC_PICK}").click()
        tab.get_by_text("sweep sweeps/tiny_units", exact=True).click()
        tab.wait_for_selector(f"#{ids.SC_DIFF}:has-text('Paired differences')")
        tab.wait_for_selector(
            f"#{ids.SC_MAP} .gtitle:has-text('tiny_seattle_plus − tiny_seattle per zone')"
        )
        verdicts = tab.inner_text(f"#{ids.SC_DIFF}")
        assert any(v in verdicts for v in ("better", "worse", "not distinguishable"))
        # the sweep's means come from its compare.json, with 95% half-widths
        assert "±" in tab.inner_text(f"#{ids.SC_HEADLINE}")
        w.shot("scenarios-sweep")
        # another measure redraws the per-zone map of differences
        tab.locator(f"#{ids.SC_KPI}").click()
        tab.get_by_role("option", name="90th-percentile response (min)").click()
        tab.wait_for_selector(
            f"#{ids.SC_MAP} .gtitle:has-text('90th-percentile response (police): "
            "tiny_seattle_plus − tiny_seattle per zone')"
        )
        w.shot("scenarios-sweep-p90")
    finally:
        w.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_checkpoint_queue_and_wait_over_the_day(served: str, chromium: Any) -> None:
    w = Watched(chromium, served, _shots())
    try:
        tab = w.visit("/checkpoints", f"#{ids.CP_DAY} .gtitle:has-text('Over the day')")
        legend = f"#{ids.CP_DAY} .legendtext"
        tab.wait_for_selector(f"{legend}:has-text('Aurora Bridge north end')")
        names = set(_texts(tab, legend))
        assert names == {"Aurora Bridge north end", "Ballard Bridge south end"}  # names, not ids
        titles = " ".join(_texts(tab, f"#{ids.CP_DAY} .annotation-text"))
        assert "Mean queue" in titles
        assert "Mean wait" in titles
        assert tab.locator(f"#{ids.CP_LANES} .legendtext:has-text('checked by hand')").count()
        w.shot("checkpoints-day")
        # drop one checkpoint: the chart redraws with the other only
        tab.locator(f"#{ids.CP_PICK}").click()
        tab.get_by_role("option", name="Aurora Bridge north end").click()
        tab.keyboard.press("Escape")
        tab.wait_for_function(
            "() => [...document.querySelectorAll('#cp-day .legendtext')]"
            ".map(e => e.textContent).join('|') === 'Ballard Bridge south end'"
        )
    finally:
        w.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_empty_lake_and_no_results_say_what_to_run(chromium: Any, tmp_path: Path) -> None:
    (tmp_path / "lake").mkdir()
    server = Served(
        tmp_path,
        ["--lake", str(tmp_path / "lake"), "--results", str(tmp_path / "out"), "--port", "0"],
    )
    w = Watched(chromium, server.url, _shots())
    try:
        for path in ("/", "/replay", "/scenarios", "/checkpoints", "/devices", "/data-quality"):
            tab = w.visit(path, ".notice")
            assert "twin " in tab.inner_text(".notice .command"), path
        w.shot("empty")
    finally:
        w.close()
        server.stop()
