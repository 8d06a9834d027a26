"""Where pages find their data: the settings of the running app, kept in the Flask config.

Pages and callbacks run inside a request, so they read the settings of *their* app through
``flask.current_app`` instead of a module global.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import flask

from dashboards.data import LakeReader
from dashboards.results import ResultsIndex, scan

__all__ = ["SETTINGS_KEY", "Settings", "current", "results_index"]

SETTINGS_KEY = "TWIN_DASHBOARD"


@dataclass(frozen=True)
class Settings:
    """What one dashboard app reads.

    Attributes:
        lake: The lake, read-only.
        results: The folder holding simulation result folders (each with ``summary.json``).

    """

    lake: LakeReader
    results: Path


def current() -> Settings:
    """Return the settings of the app serving the current request."""
    settings = flask.current_app.config[SETTINGS_KEY]
    assert isinstance(settings, Settings)
    return settings


def results_index() -> ResultsIndex:
    """Return the index of the current app's results folder (cached, re-walked every ~5 s)."""
    return scan(current().results)
