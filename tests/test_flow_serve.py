"""`twin serve`: a real local Prefect server schedules the nightly sync at 02:00 city time."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zoneinfo
from pathlib import Path
from typing import Any

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as answer:
        return json.loads(answer.read())


def wait_for(check: Any, proc: subprocess.Popen[str], what: str, timeout: float = 150) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"twin serve exited early while waiting for {what}"
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(1)
    pytest.fail(f"timed out waiting for {what}")


@pytest.mark.e2e
@pytest.mark.slow
def test_serve_schedules_the_nightly_sync_at_2am_local(tmp_path: Path) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")  # a private server database
    twin = shutil.which("twin", path=str(Path(sys.executable).parent)) or "twin"
    proc = subprocess.Popen(
        [twin, "serve", "--lake", str(tmp_path / "lake"), "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def deployment() -> Any:
            found = post(f"{api}/deployments/filter", {})
            return [d for d in found if d["name"] == "nightly"]

        (dep,) = wait_for(deployment, proc, "the nightly deployment")
        (schedule,) = dep["schedules"]
        assert schedule["schedule"]["cron"] == "0 2 * * *"
        assert schedule["schedule"]["timezone"] == "America/Los_Angeles"
        assert Path(dep["parameters"]["lake_dir"]).is_absolute()

        def scheduled_runs() -> Any:
            body = {"deployments": {"id": {"any_": [dep["id"]]}}}
            return post(f"{api}/flow_runs/filter", body)

        runs = wait_for(scheduled_runs, proc, "scheduled runs from the server's scheduler")
        local = zoneinfo.ZoneInfo("America/Los_Angeles")
        for run in runs:
            start = dt.datetime.fromisoformat(run["expected_start_time"]).astimezone(local)
            assert (start.hour, start.minute) == (2, 0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out
    with pytest.raises(urllib.error.URLError):  # the local server stopped with it
        urllib.request.urlopen(f"{api}/health", timeout=2)
