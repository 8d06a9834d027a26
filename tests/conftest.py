"""Shared test configuration: offline Prefect settings and the embedded data location."""

from __future__ import annotations

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
