"""Component ids of every dashboard page, as constants.

Callbacks and tests refer to components only through these names, so renaming a component is
one edit. Ids are prefixed by their page (``dq-``, ``inc-``, ``sim-``, ``dev-``).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEV_DEVICE",
    "DEV_GRAIN",
    "DEV_MAP",
    "DEV_READINGS",
    "DEV_SUMMARY",
    "DQ_ACCOUNTING",
    "DQ_HISTORY",
    "DQ_LEDGER",
    "DQ_OUTCOMES",
    "DQ_QUARANTINE",
    "DQ_REASON",
    "DQ_SAMPLE",
    "DQ_SOURCE",
    "INC_CITY",
    "INC_DAILY",
    "INC_DATES",
    "INC_HOUR_OF_WEEK",
    "INC_KPIS",
    "INC_MAP",
    "INC_SOURCES",
    "NAV",
    "SIM_BY_PRIORITY",
    "SIM_CHECKPOINTS",
    "SIM_DISPATCH",
    "SIM_KPIS",
    "SIM_PRESENCE",
    "SIM_RESPONSE",
    "SIM_RUN",
    "SIM_UTILISATION",
]

NAV: Final = "nav"

# Data quality
DQ_LEDGER: Final = "dq-ledger"
DQ_ACCOUNTING: Final = "dq-accounting"
DQ_OUTCOMES: Final = "dq-outcomes"
DQ_HISTORY: Final = "dq-history"
DQ_QUARANTINE: Final = "dq-quarantine"
DQ_SOURCE: Final = "dq-source"
DQ_REASON: Final = "dq-reason"
DQ_SAMPLE: Final = "dq-sample"

# Incidents
INC_CITY: Final = "inc-city"
INC_SOURCES: Final = "inc-sources"
INC_DATES: Final = "inc-dates"
INC_KPIS: Final = "inc-kpis"
INC_MAP: Final = "inc-map"
INC_HOUR_OF_WEEK: Final = "inc-hour-of-week"
INC_DAILY: Final = "inc-daily"

# Simulation results
SIM_RUN: Final = "sim-run"
SIM_KPIS: Final = "sim-kpis"
SIM_UTILISATION: Final = "sim-utilisation"
SIM_DISPATCH: Final = "sim-dispatch"
SIM_PRESENCE: Final = "sim-presence"
SIM_BY_PRIORITY: Final = "sim-by-priority"
SIM_RESPONSE: Final = "sim-response"
SIM_CHECKPOINTS: Final = "sim-checkpoints"

# Devices
DEV_MAP: Final = "dev-map"
DEV_SUMMARY: Final = "dev-summary"
DEV_DEVICE: Final = "dev-device"
DEV_GRAIN: Final = "dev-grain"
DEV_READINGS: Final = "dev-readings"
