"""Component ids of every dashboard page, as constants.

Callbacks and tests refer to components only through these names, so renaming a component is
one edit. Ids are prefixed by their page (``ov-`` overview, ``map-``, ``rp-`` replay, ``sc-``
scenarios, ``cp-`` checkpoints, ``dev-`` devices, ``dq-`` data quality).
"""

from __future__ import annotations

from typing import Final

NAV: Final = "nav"

# Overview (/)
OV_SOURCES: Final = "ov-sources"
OV_FIDELITY: Final = "ov-fidelity"
OV_CITY: Final = "ov-city"
OV_DATES: Final = "ov-dates"
OV_DEMAND: Final = "ov-demand"
OV_RESPONSE: Final = "ov-response"
OV_BASIS: Final = "ov-basis"
OV_RUN: Final = "ov-run"
OV_PRESENCE: Final = "ov-presence"
OV_JIAXING: Final = "ov-jiaxing"

# Map (/map)
MAP_CITY: Final = "map-city"
MAP_COLOUR: Final = "map-colour"
MAP_RUN: Final = "map-run"
MAP_LAYERS: Final = "map-layers"
MAP_GRAPH: Final = "map-graph"
MAP_NOTE: Final = "map-note"
MAP_DETAIL: Final = "map-detail"

# Replay (/replay)
RP_RUN: Final = "rp-run"
RP_SLIDER: Final = "rp-slider"
RP_PLAY: Final = "rp-play"
RP_INTERVAL: Final = "rp-interval"
RP_CLOCK: Final = "rp-clock"
RP_REAL: Final = "rp-real"
RP_TWIN: Final = "rp-twin"
RP_KPIS: Final = "rp-kpis"

# Scenarios (/scenarios)
SC_PICK: Final = "sc-pick"
SC_HEADLINE: Final = "sc-headline"
SC_AGENCIES: Final = "sc-agencies"
SC_DISTRICTS: Final = "sc-districts"
SC_KPI: Final = "sc-kpi"
SC_DIFF: Final = "sc-diff"
SC_VARIANT: Final = "sc-variant"
SC_MAP: Final = "sc-map"
SC_UNITS_SEARCH: Final = "sc-units-search"
SC_UNITS_PAGE: Final = "sc-units-page"
SC_UNITS: Final = "sc-units"
SC_OPT: Final = "sc-opt"
SC_OPT_GRAPH: Final = "sc-opt-graph"

# Checkpoints (/checkpoints)
CP_RUN: Final = "cp-run"
CP_TABLE: Final = "cp-table"
CP_PASS: Final = "cp-pass"
CP_LOAD: Final = "cp-load"
CP_MODES: Final = "cp-modes"
CP_PICK: Final = "cp-pick"
CP_DAY: Final = "cp-day"
CP_LANES: Final = "cp-lanes"

# Devices (/devices)
DEV_MAP: Final = "dev-map"
DEV_SUMMARY: Final = "dev-summary"
DEV_DEVICE: Final = "dev-device"
DEV_GRAIN: Final = "dev-grain"
DEV_READINGS: Final = "dev-readings"
DEV_OUTAGES: Final = "dev-outages"

# Data quality (/data-quality)
DQ_HEALTH: Final = "dq-health"
DQ_LEDGER: Final = "dq-ledger"
DQ_OUTCOMES: Final = "dq-outcomes"
DQ_HISTORY: Final = "dq-history"
DQ_QUARANTINE: Final = "dq-quarantine"
DQ_SOURCE: Final = "dq-source"
DQ_REASON: Final = "dq-reason"
DQ_SAMPLE: Final = "dq-sample"
DQ_ROW: Final = "dq-row"
DQ_DETAIL: Final = "dq-detail"
DQ_FIDELITY: Final = "dq-fidelity"

__all__ = sorted(name for name in dir() if name.isupper())
