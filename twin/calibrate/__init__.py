"""Calibration: city-agnostic fitters that build a scenario of a real city from the lake.

The fitters (:mod:`.data`, :mod:`.demand`, :mod:`.service`, :mod:`.travel`, :mod:`.fleet`,
:mod:`.refine`, :mod:`.report`) know no city; each city's recipe in ``twin/cities/<city>/build``
combines them through :mod:`.assemble`. Public entry points: :func:`calibrate` (lake ->
:class:`Calibration`: scenario mapping, YAML text, :class:`FitReport`; the city is looked up in
:mod:`twin.cities`) and :func:`write_calibration`.
"""

from __future__ import annotations

from twin.calibrate.assemble import Calibration, calibrate, write_calibration
from twin.calibrate.report import FitReport, Parameter

__all__ = [
    "Calibration",
    "FitReport",
    "Parameter",
    "calibrate",
    "write_calibration",
]
