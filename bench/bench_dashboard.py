"""Dashboard latency and load through real HTTP (``python -m bench bench_dashboard``).

Starts ``twin dashboard`` on 127.0.0.1 (a free port; loopback only) over a lake and a results
folder, then POSTs the callbacks a manager waits on to ``/_dash-update-component`` exactly as the
browser does: page loads (the pages container), the overview per city, the map per city x
colouring x level, results and sweeps (three measures mapped per zone) on /scenarios with the unit
search, checkpoints and their queue and wait over the day, device readings, quarantine samples
and replay frames across the day.

1. cold: one pass over every request (first answers: rollups are built at start-up, per-run
   tables on first use);
2. one client: ``--rounds`` passes, sequential; p50/p95/max per callback and overall;
3. load: ``--clients`` threads for ``--seconds`` seconds each looping over the requests in its
   own shuffled order (bounded by time and by ``--max-requests``); errors = anything but 200,
   and any answer that carries a callback error message;
4. memory: the server's resident set (``/proc/PID/status`` VmRSS) after start-up, after the
   cold pass, the peak during load (sampled), and 10 s after the load.

Baseline in the same run: GET of a static asset (``/assets/style.css``), which measures the HTTP
stack and nothing of ours. Targets (issue 11): one client p95 <= 150 ms; load 0 errors and
p95 <= 1 s; memory after load within 20% of before. Not a test: prints figures.

Usage: ``python -m bench.bench_dashboard --lake LAKE --results OUT [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

_FRIENDLY_ERROR = "Something went wrong while drawing this"


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


class Server:
    """``twin dashboard`` in a child process on a free loopback port."""

    def __init__(self, lake: Path, results: Path) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="bench-dash-"))
        self.out = (self.dir / "out.txt").open("w")
        self.err = (self.dir / "err.txt").open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "twin",
                "dashboard",
                "--lake",
                str(lake),
                "--results",
                str(results),
                "--host",
                "127.0.0.1",
                "--port",
                "0",
            ],
            stdout=self.out,
            stderr=self.err,
            cwd=Path.cwd(),
        )
        t0 = time.monotonic()
        while True:
            text = (self.dir / "out.txt").read_text()
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", text)
            if m:
                self.port = int(m.group(1))
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"dashboard exited: {(self.dir / 'err.txt').read_text()}")
            if time.monotonic() - t0 > 600:
                raise SystemExit("dashboard did not start within 600 s")
            time.sleep(0.2)
        self.startup_s = time.monotonic() - t0

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Client:
    """One keep-alive HTTP connection to the server."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _deps(client: Client) -> list[dict[str, Any]]:
    status, body = client.request("GET", "/_dash-dependencies")
    assert status == 200, status
    return json.loads(body)


def _payload(dep: dict[str, Any], values: dict[str, Any]) -> bytes:
    outputs = []
    for part in dep["output"].strip(".").split("..."):
        cid, _, prop = part.rpartition(".")
        outputs.append({"id": cid, "property": prop})

    def items(specs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "id": s["id"],
                "property": s["property"],
                "value": values.get(f"{s['id']}.{s['property']}"),
            }
            for s in specs
        ]

    inputs = items(dep["inputs"])
    return json.dumps(
        {
            "output": dep["output"],
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": inputs,
            "state": items(dep.get("state", [])),
            "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"],
        }
    ).encode()


def build_requests(client: Client, lake: Path, results: Path) -> list[tuple[str, bytes]]:
    """(name, body) of every callback request of the workload."""
    from dashboards.data import LakeReader
    from dashboards.results import scan

    deps = _deps(client)

    def dep(output_id: str) -> dict[str, Any]:
        for d in deps:
            if f"..{output_id}." in d["output"] or d["output"].startswith(f"{output_id}."):
                return d
        raise SystemExit(f"no callback writes {output_id}")

    r = LakeReader(lake).rollups()
    idx = scan(results)
    cities = r.cities
    runs = [x for x in idx.runs if not x.is_replay]
    replays = [x for x in idx.runs if x.is_replay]
    reqs: list[tuple[str, bytes]] = []
    pages = dep("_pages_content")
    for path in ("/", "/map", "/replay", "/scenarios", "/checkpoints", "/devices", "/data-quality"):
        values = {"_pages_location.pathname": path, "_pages_location.search": ""}
        reqs.append((f"page {path}", _payload(pages, values)))
    for c in cities:
        reqs.append(("overview city", _payload(dep("ov-demand"), {"ov-city.value": c})))
        reqs.append(("map results", _payload(dep("map-run"), {"map-city.value": c})))
        for colour in ("calls", "expected", "response_real"):
            for level in ("zone", "district"):
                values = {
                    "map-city.value": c,
                    "map-colour.value": colour,
                    "map-level.value": level,
                    "map-layers.value": ["posts", "checkpoints"],
                }
                reqs.append(("map", _payload(dep("map-graph"), values)))
    for run in runs:
        city = ""
        info = run.info(idx.roots)
        city = info.city if info else ""
        reqs.append(
            (
                "overview presence",
                _payload(dep("ov-presence"), {"ov-run.value": run.name, "ov-city.value": city}),
            )
        )
        if city in cities:
            values = {
                "map-city.value": city,
                "map-colour.value": "response_twin",
                "map-level.value": "zone",
                "map-run.value": run.name,
                "map-layers.value": [],
            }
            reqs.append(("map twin", _payload(dep("map-graph"), values)))
        pick = f"run:{run.name}"
        reqs.append(("scenarios pick", _payload(dep("sc-variant"), {"sc-pick.value": pick})))
        reqs.append(
            (
                "scenarios result",
                _payload(
                    dep("sc-headline"), {"sc-pick.value": pick, "sc-kpi.value": "response_p50_min"}
                ),
            )
        )
        for search, page in ((None, 1), ("police", 2), ("patrol", 1)):
            reqs.append(
                (
                    "scenarios units",
                    _payload(
                        dep("sc-units"),
                        {
                            "sc-pick.value": pick,
                            "sc-units-search.value": search,
                            "sc-units-page.value": page,
                        },
                    ),
                )
            )
        if run.summary.get("checkpoints"):
            reqs.append(("checkpoints", _payload(dep("cp-table"), {"cp-run.value": run.name})))
            hourly = run.checkpoints_hourly()
            ids_ = (
                sorted(str(c) for c in hourly["checkpoint"].unique()) if hourly is not None else []
            )
            for picked in (ids_[:6], ids_[:1], ids_):
                reqs.append(
                    (
                        "checkpoints over the day",
                        _payload(
                            dep("cp-day"), {"cp-run.value": run.name, "cp-pick.value": picked}
                        ),
                    )
                )
    for sweep in idx.sweeps:
        pick = f"sweep:{sweep.name}"
        variants = [v for v in sweep.variants if v != sweep.baseline]
        reqs.append(("scenarios pick", _payload(dep("sc-variant"), {"sc-pick.value": pick})))
        for key in ("response_mean_min", "response_p90_min", "within_5_min"):
            reqs.append(
                (
                    "scenarios sweep",
                    _payload(
                        dep("sc-headline"),
                        {
                            "sc-pick.value": pick,
                            "sc-variant.value": variants[0] if variants else None,
                            "sc-kpi.value": key,
                        },
                    ),
                )
            )
    for opt in idx.optimizers:
        reqs.append(("optimizer", _payload(dep("sc-opt-graph"), {"sc-opt.value": opt.name})))
    readers = r.devices[r.devices["readings"] > 0]["device_id"].astype(str).tolist()
    for device in readers[:3]:
        for grain in ("day", "week", "month"):
            reqs.append(
                (
                    "device readings",
                    _payload(
                        dep("dev-readings"), {"dev-device.value": device, "dev-grain.value": grain}
                    ),
                )
            )
    for src in [None, *sorted(r.quarantine["source"].unique().tolist())[:4]]:
        reqs.append(("quarantine sample", _payload(dep("dq-sample"), {"dq-source.value": src})))
    for rep in replays:
        for minute in range(0, 1440, 60):
            reqs.append(
                (
                    "replay frame",
                    _payload(dep("rp-real"), {"rp-run.value": rep.name, "rp-slider.value": minute}),
                )
            )
    return reqs


def _timed(client: Client, body: bytes) -> tuple[float, bool]:
    t0 = time.perf_counter()
    status, data = client.request("POST", "/_dash-update-component", body)
    dt = time.perf_counter() - t0
    ok = status in (200, 204) and _FRIENDLY_ERROR.encode() not in data
    return dt, ok


def _passes(client: Client, reqs: list[tuple[str, bytes]], rounds: int) -> dict[str, Any]:
    """Send every request *rounds* times in order; the latencies' summary and the errors."""
    lat: dict[str, list[float]] = {}
    errors = 0
    for _ in range(rounds):
        for name, body in reqs:
            dt, ok = _timed(client, body)
            lat.setdefault(name, []).append(dt)
            errors += not ok
    return _summary(lat) | {"errors": errors}


def _summary(lat: dict[str, list[float]]) -> dict[str, Any]:
    every = [x for v in lat.values() for x in v]
    per = {
        name: {
            "n": len(v),
            "p50_ms": 1000 * statistics.median(v),
            "p95_ms": 1000 * _percentile(v, 95),
            "max_ms": 1000 * max(v),
        }
        for name, v in sorted(lat.items())
    }
    return {
        "n": len(every),
        "p50_ms": 1000 * statistics.median(every) if every else None,
        "p95_ms": 1000 * _percentile(every, 95) if every else None,
        "max_ms": 1000 * max(every) if every else None,
        "per_callback": per,
    }


def main(argv: list[str]) -> int:
    """Run the benchmark and print its figures (JSON and a short text)."""
    ap = argparse.ArgumentParser(prog="bench_dashboard")
    ap.add_argument("--lake", type=Path, default=Path(os.environ.get("TWIN_LAKE", "lake")))
    ap.add_argument("--results", type=Path, default=Path("out"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)

    server = Server(args.lake, args.results)
    out: dict[str, Any] = {
        "startup_s": server.startup_s,
        "lake": str(args.lake),
        "results": str(args.results),
    }
    try:
        out["rss_mb_started"] = server.rss_mb()
        client = Client(server.port)
        reqs = build_requests(client, args.lake, args.results)
        out["requests"] = len(reqs)
        # baseline: a static asset through the same HTTP stack
        base = []
        for _ in range(50):
            t0 = time.perf_counter()
            status, _ = client.request("GET", "/assets/style.css")
            base.append(time.perf_counter() - t0)
            assert status == 200
        out["baseline_static_p50_ms"] = 1000 * statistics.median(base)
        out["baseline_static_p95_ms"] = 1000 * _percentile(base, 95)
        # 1. cold pass
        out["cold"] = _passes(client, reqs, 1)
        out["rss_mb_after_cold"] = server.rss_mb()
        # 2. one client, warm
        out["one_client"] = _passes(client, reqs, args.rounds)
        out["rss_mb_before_load"] = server.rss_mb()
        # 3. load
        lat: list[float] = []
        errs = [0]
        lock = threading.Lock()
        stop_at = time.monotonic() + args.seconds
        count = [0]
        peak = [server.rss_mb()]

        def worker(seed: int) -> None:
            c = Client(server.port)
            order = list(reqs)
            random.Random(seed).shuffle(order)
            i = 0
            while time.monotonic() < stop_at:
                with lock:
                    if count[0] >= args.max_requests:
                        return
                    count[0] += 1
                _, body = order[i % len(order)]
                i += 1
                try:
                    dt, ok = _timed(c, body)
                except Exception:
                    dt, ok = float("nan"), False
                with lock:
                    if dt == dt:
                        lat.append(dt)
                    errs[0] += not ok

        def sampler() -> None:
            while time.monotonic() < stop_at:
                peak[0] = max(peak[0], server.rss_mb())
                time.sleep(0.5)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.clients)]
        threads.append(threading.Thread(target=sampler))
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - t0
        out["load"] = {
            "clients": args.clients,
            "seconds": wall,
            "requests": len(lat) + 0,
            "errors": errs[0],
            "throughput_rps": len(lat) / wall if wall else None,
            "p50_ms": 1000 * statistics.median(lat) if lat else None,
            "p95_ms": 1000 * _percentile(lat, 95),
            "max_ms": 1000 * max(lat) if lat else None,
        }
        out["rss_mb_peak"] = peak[0]
        time.sleep(10)
        out["rss_mb_after_load"] = server.rss_mb()
        before = out["rss_mb_before_load"]
        out["rss_after_vs_before"] = out["rss_mb_after_load"] / before if before else None
        log = (server.dir / "err.txt").read_text()
        out["server_log_tracebacks"] = log.count("Traceback")
    finally:
        server.stop()
    print(
        json.dumps(
            {k: v for k, v in out.items() if k not in ("cold", "one_client")}
            | {
                "cold": {k: v for k, v in out["cold"].items() if k != "per_callback"},
                "one_client": {k: v for k, v in out["one_client"].items() if k != "per_callback"},
            },
            indent=2,
        )
    )
    print("one client, per callback (warm):")
    for name, s in out["one_client"]["per_callback"].items():
        print(
            f"  {name:<20} n={s['n']:>4}  p50 {s['p50_ms']:7.1f} ms  p95 {s['p95_ms']:7.1f} ms"
            f"  max {s['max_ms']:7.1f} ms"
        )
    print("cold pass, per callback (first answers):")
    for name, s in out["cold"]["per_callback"].items():
        print(f"  {name:<20} n={s['n']:>4}  p50 {s['p50_ms']:7.1f} ms  max {s['max_ms']:7.1f} ms")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
