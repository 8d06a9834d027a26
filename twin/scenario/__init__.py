"""The scenario vocabulary: what a scenario file may say, how it is read, written and checked.

This package is the language of ``scenarios/*.yaml`` and nothing else: pydantic models of every
section (distribution and checkpoint specs included), loading with errors that name the file,
the field and the fix, the one YAML writer, the JSON Schema, and the size estimate that guards
a run. It imports only the standard library, pydantic, PyYAML and :mod:`twin.errors` /
:mod:`twin.paths`, so calibration and analytics can read a scenario without loading the engine
(simpy, mesa, numpy, pyarrow).

Typical use::

    from twin.scenario import load_scenario, write_scenario

    sc = load_scenario("scenarios/example.yaml")   # ConfigError on any problem
    write_scenario("out/copy.yaml", sc)
"""

from __future__ import annotations

from twin.scenario.base import (
    DEFAULT_AGENCY,
    HOURS_PER_WEEK,
    MAX_COORD_KM,
    MAX_MINUTES,
    MAX_RATE_PER_HOUR,
    MAX_SPEED_KMH,
    MIN_SPEED_KMH,
    AgencyId,
    Minutes,
    UnitId,
    ZoneId,
)
from twin.scenario.checkpoints import ArrivalSpec, CheckpointSpec
from twin.scenario.distributions import (
    DeterministicSpec,
    DistSpec,
    EmpiricalSpec,
    ExponentialSpec,
    GammaSpec,
    LognormalSpec,
    spec_mean,
)
from twin.scenario.load import format_validation_error, load_scenario, parse_scenario, read_yaml
from twin.scenario.render import Anchored, FlowList, FlowMap, flow, render_yaml, write_scenario
from twin.scenario.schema import export_schema, scenario_json_schema, schema_path
from twin.scenario.size import (
    DEFAULT_MAX_INCIDENTS,
    RunEstimate,
    check_run_size,
    estimate_run,
)
from twin.scenario.spec import (
    AgencySpec,
    DemandSpec,
    DetectionSpec,
    DeviceSpec,
    DispatchSpec,
    OutageSpec,
    PatrolSpec,
    PrioritySpec,
    QueueSpec,
    Scenario,
    SelfInitiatedDistrictSpec,
    SelfInitiatedSpec,
    ShiftSpec,
    TravelSpec,
    UnitSpec,
    ZoneSpec,
)

__all__ = [
    "DEFAULT_AGENCY",
    "DEFAULT_MAX_INCIDENTS",
    "HOURS_PER_WEEK",
    "MAX_COORD_KM",
    "MAX_MINUTES",
    "MAX_RATE_PER_HOUR",
    "MAX_SPEED_KMH",
    "MIN_SPEED_KMH",
    "AgencyId",
    "AgencySpec",
    "Anchored",
    "ArrivalSpec",
    "CheckpointSpec",
    "DemandSpec",
    "DetectionSpec",
    "DeterministicSpec",
    "DeviceSpec",
    "DispatchSpec",
    "DistSpec",
    "EmpiricalSpec",
    "ExponentialSpec",
    "FlowList",
    "FlowMap",
    "GammaSpec",
    "LognormalSpec",
    "Minutes",
    "OutageSpec",
    "PatrolSpec",
    "PrioritySpec",
    "QueueSpec",
    "RunEstimate",
    "Scenario",
    "SelfInitiatedDistrictSpec",
    "SelfInitiatedSpec",
    "ShiftSpec",
    "TravelSpec",
    "UnitId",
    "UnitSpec",
    "ZoneId",
    "ZoneSpec",
    "check_run_size",
    "estimate_run",
    "export_schema",
    "flow",
    "format_validation_error",
    "load_scenario",
    "parse_scenario",
    "read_yaml",
    "render_yaml",
    "scenario_json_schema",
    "schema_path",
    "spec_mean",
    "write_scenario",
]
