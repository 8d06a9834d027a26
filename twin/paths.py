"""Where things live: the embedded data, the lake, the repository.

The embedded open data sits beside the repository at ``../shared/data`` and is read-only;
``TWIN_DATA_DIR`` overrides it. The lake defaults to ``./lake``; ``TWIN_LAKE`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "default_data_dir", "default_lake_dir", "scenarios_dir"]

REPO_ROOT = Path(__file__).resolve().parent.parent


def default_data_dir() -> Path:
    """Return the embedded data directory (``TWIN_DATA_DIR`` or ``../shared/data``)."""
    env = os.environ.get("TWIN_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return (REPO_ROOT.parent / "shared" / "data").resolve()


def default_lake_dir() -> Path:
    """Return the lake directory (``TWIN_LAKE`` or ``./lake``)."""
    env = os.environ.get("TWIN_LAKE")
    return Path(env).expanduser() if env else Path("lake")


def scenarios_dir() -> Path:
    """Return the directory holding the bundled scenario files."""
    return REPO_ROOT / "scenarios"
