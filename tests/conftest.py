"""Shared test configuration: offline Prefect settings, the embedded data, a synced SF lake."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from twin.paths import default_data_dir


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The embedded open-data folder (read-only)."""
    path = default_data_dir()
    if not (path / "README.md").exists():
        pytest.fail(f"embedded data not found at {path}; set TWIN_DATA_DIR")
    return path


@pytest.fixture(scope="session")
def sf_lake(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    """A lake of San Francisco's calls (``sffd_calls``), synced once per test session.

    Read-only: a test that writes to a lake (fidelity scores, a second sync) syncs its own.
    Under pytest-xdist every worker is its own process with its own session fixtures, so the
    lake lives in the folder the workers share and the first worker to get there syncs it,
    under a file lock the others wait on; later workers find it done.
    """
    from twin.sources import load_config
    from twin.sync import run_sync

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    root = shared / "sf_lake"
    done = shared / "sf_lake.done"
    with (shared / "sf_lake.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            report = run_sync(load_config(), root, only=["sffd_calls"], durable=False)
            bad = {n: r.status for n, r in report.sources.items() if r.status != "ok"}
            assert not bad, bad
            done.write_text("ok\n", encoding="utf-8")
    return root
