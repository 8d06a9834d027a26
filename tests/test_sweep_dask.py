"""Sweeps on real engines: a Dask cluster of separate processes, a killed sweep, a Prefect server.

Starts ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (free ports) and a
Prefect server, runs a small sweep through them and checks the rows equal an in-process run
exactly; kills a ``twin sweep`` with process workers mid-run and checks the rerun resumes and
that the Prefect server it started died with it. Everything started is stopped in ``finally``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from flows.server import free_port, prefect_api
from twin.cli import main
from twin.experiments.sweep import build_variants, run_sweep
from twin.paths import scenarios_dir

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = scenarios_dir() / "example.yaml"
BIN = Path(sys.executable).parent
SWEEP = ["--vary", "travel.speed_kmh=25,35", "--horizon", "1440", "-r", "4", "--seed", "3"]


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


@pytest.fixture
def dask_cluster(tmp_path: Path) -> Iterator[str]:
    """A scheduler and two single-thread workers in their own processes; yields the address."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "dask.log").open("wb")
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(BIN / "dask"),
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--no-dashboard",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        for _ in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        str(BIN / "dask"),
                        "worker",
                        address,
                        "--host",
                        "127.0.0.1",
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    env={**os.environ},  # PREFECT_API_URL of the server started before
                )
            )
        from distributed import Client

        with Client(address, timeout=120) as client:
            client.wait_for_workers(2, timeout=180)
        yield address
    finally:
        _stop(procs)
        log.close()


@pytest.fixture
def prefect_server() -> Iterator[str]:
    with prefect_api(None, ui=False, export_env=True) as url:
        yield url


def test_sweep_on_a_dask_cluster_equals_the_local_run(
    tmp_path: Path, prefect_server: str, dask_cluster: str
) -> None:
    out = tmp_path / "dask"
    done = subprocess.run(
        [
            str(BIN / "twin"),
            "sweep",
            str(EXAMPLE),
            *SWEEP,
            "--dask-address",
            dask_cluster,
            "--batch",
            "1",
            "--out",
            str(out),
        ],
        env={**os.environ, "PREFECT_API_URL": prefect_server},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    got = pd.read_parquet(out / "replications.parquet")
    variants = build_variants([EXAMPLE], vary=["travel.speed_kmh=25,35"], horizon=1440.0)
    run_sweep(variants, tmp_path / "local", replications=4, seed=3)
    want = pd.read_parquet(tmp_path / "local" / "replications.parquet")
    pd.testing.assert_frame_equal(got, want)
    assert "dask tcp://127.0.0.1" in (out / "sweep.json").read_text()


def _servers() -> set[int]:
    mine = str(BIN / "prefect")
    out = set()
    for p in psutil.process_iter(["pid", "cmdline"]):
        cmd = p.info["cmdline"] or []
        full = any(mine in c for c in cmd) and "server" in cmd  # `prefect server start`
        api = "prefect.server.api.server:create_app" in cmd  # the API-only server
        if full or api:
            out.add(p.info["pid"])
    return out


def test_killed_sweep_resumes_and_its_prefect_server_dies(tmp_path: Path) -> None:
    out = tmp_path / "sw"
    before = _servers()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    cmd = [
        str(BIN / "twin"),
        "sweep",
        str(EXAMPLE),
        *SWEEP,
        "-r",
        "8",
        "--batch",
        "1",
        "--workers",
        "1",
        "--out",
        str(out),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while not list(out.glob("batches/*/r*.parquet")):
            assert proc.poll() is None, "the sweep ended before its first batch was seen"
            assert time.monotonic() < deadline, "no batch committed in 10 minutes"
            time.sleep(0.2)
        started = _servers() - before
        assert started, "the sweep runs no Prefect server of its own"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kept = {p: p.stat().st_mtime_ns for p in out.glob("batches/*/r*.parquet")}
        deadline = time.monotonic() + 60
        while _servers() & started and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _servers() & started, "the Prefect server outlived the killed sweep"
    finally:
        if proc.poll() is None:
            proc.kill()
    # resume in this process, without orchestration: finished batches are kept as they are
    assert (
        main(
            ["sweep", str(EXAMPLE), *SWEEP, "-r", "8", "--batch", "1", "--local", "--out", str(out)]
        )
        == 0
    )
    for path, mtime in kept.items():
        assert path.stat().st_mtime_ns == mtime
    frame = pd.read_parquet(out / "replications.parquet")
    assert len(frame) == 16
    variants = build_variants([EXAMPLE], vary=["travel.speed_kmh=25,35"], horizon=1440.0)
    run_sweep(variants, tmp_path / "local", replications=8, seed=3)
    want = pd.read_parquet(tmp_path / "local" / "replications.parquet")
    pd.testing.assert_frame_equal(frame, want)
