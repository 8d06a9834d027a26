"""Calibration: build a scenario of a real city from the lake, with a fit report.

Public entry points: :func:`calibrate` (lake -> :class:`Calibration`: scenario mapping, YAML
text, :class:`FitReport`), :func:`write_calibration`, and :func:`after_sync` (the nightly
recalibrate / replay / score / drift loop).
"""

from __future__ import annotations

from twin.calibrate.build import AGENCIES, Calibration, calibrate, write_calibration
from twin.calibrate.nightly import NightlyReport, after_sync
from twin.calibrate.report import FitReport, Parameter

__all__ = [
    "AGENCIES",
    "Calibration",
    "FitReport",
    "NightlyReport",
    "Parameter",
    "after_sync",
    "calibrate",
    "write_calibration",
]
