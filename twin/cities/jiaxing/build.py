"""Jiaxing's recipe: build the baseline scenario from the lake's districts and public facts.

No incident-level data for Jiaxing is public, so the scenario is *built*, not fitted: the
district zones the ``jiaxing_districts`` source put in the lake are cut into patrol zones
(:mod:`.geometry`), demand comes from census populations and published 110 call volumes, and
the fleet, the checkpoints and the response norms are the figures of the 2021 report
(:mod:`.facts`). Every number that is not read from the lake is an assumption with its
rationale and source, and the rendered file carries all of them (as a comment header and as
the extra top-level ``assumptions`` key, which the scenario model keeps). Travel inside a zone
is not modelled by the engine (incidents sit at zone locations); each zone's mean distance to
its residents is written under ``zone_facts`` for when it is.

Regenerate the checked-in file with (:func:`calibrate`)::

    twin sync --lake lake --only jiaxing_districts
    twin calibrate --lake lake --city jiaxing --out scenarios/jiaxing_baseline.yaml

The file is rendered by :func:`render_scenario_yaml` (one zone, unit and checkpoint per line;
district zone lists written once and referred to by YAML aliases).
"""

from __future__ import annotations

import math
import textwrap
from pathlib import Path
from typing import Any, Final, Unpack

from shapely.geometry import Point

from twin.calibrate.assemble import Calibration, CalibrationRequest
from twin.calibrate.report import FitReport, Parameter
from twin.cities.jiaxing import CITY
from twin.cities.jiaxing.facts import (
    CHECKPOINT_CLASSES,
    CHECKPOINT_SITES,
    DISTRICTS,
    FLAG_PROBABILITY,
    WATCHLIST_HIT,
    assumptions,
)
from twin.cities.jiaxing.geometry import (
    ZONE_SOURCE,
    LayoutOptions,
    build_jiaxing_layout,
    representative,
)
from twin.errors import ConfigError
from twin.scenario import Anchored, FlowList, FlowMap, flow, parse_scenario, render_yaml

__all__ = ["COMMAND", "build_jiaxing_scenario", "calibrate", "render_scenario_yaml"]

COMMAND: Final = "twin calibrate --city jiaxing --out scenarios/jiaxing_baseline.yaml"
"""The command that writes the checked-in scenario (after ``twin sync``)."""
BOUNDARY_FILE: Final = "jiaxing/330400_full.json"
"""The file the ``jiaxing_districts`` source reads (relative to the data folder)."""


def calibrate(req: CalibrationRequest) -> Calibration:
    """Build the Jiaxing baseline (``twin calibrate --city jiaxing``); nothing is held out.

    The fit report lists every assumption (there is nothing to fit: no incident data).
    """
    scenario = build_jiaxing_scenario(req.lake_dir)
    if req.name:
        scenario["name"] = req.name
    parse_scenario(scenario, source=f"built {scenario['name']}")  # raises ConfigError
    report = FitReport(city=CITY.name, agency=req.agency, scenario=scenario["name"])
    report.inputs = {
        f"{ZONE_SOURCE} districts": int(scenario["summary"]["districts"]),
        "zones built": int(scenario["summary"]["zones"]),
    }
    for a in scenario["assumptions"]:
        report.add(
            Parameter(name=a["key"], value=a["value"], data="assumption", notes=[a["rationale"]])
        )
    report.add(
        Parameter(
            name="check: load-response curve, real vs twin",
            value="not checkable",
            data="no Jiaxing incident or response data is public",
            notes=[
                "nothing here shows how Jiaxing's response moves with load, so the twin's answer "
                "to a fleet change rests on the assumptions above (service time, speed, demand): "
                "read it as a what-if, not as evidence; Seattle and San Francisco carry the checks",
            ],
        )
    )
    report.assume(*(f"{a['key']}: {a['rationale']}" for a in scenario["assumptions"]))
    return Calibration(scenario=scenario, yaml_text=render_scenario_yaml(scenario), report=report)


def build_jiaxing_scenario(
    lake_dir: str | Path,
    *,
    priority_shares: tuple[float, float, float] = (0.12, 0.17, 0.71),
    service_mean_min: float = 30.0,
    speed_kmh: float = 36.0,
    circuity: float = 1.35,
    turnout_min: float = 1.0,
    warmup: float = 1440.0,
    horizon: float = 10080.0,
    **layout_options: Unpack[LayoutOptions],
) -> dict[str, Any]:
    """Build the Jiaxing baseline scenario as a plain mapping (the YAML file's content).

    Pure: reads only the district zones from the lake, returns a new mapping, writes nothing.
    The mapping validates with :func:`twin.scenario.parse_scenario`; its extra top-level keys
    (``assumptions``, ``district_zones``, ``zone_facts``, ``checkpoint_sites``, ``targets``,
    ``provenance``) carry the assumptions and the derived facts.

    Args:
        lake_dir: The lake holding Jiaxing's districts (the ``jiaxing_districts`` source).
        priority_shares: Shares of priorities 1, 2, 3 (sum 1).
        service_mean_min: Mean on-scene time (exponential), minutes.
        speed_kmh: Driving speed.
        circuity: Road distance over great-circle distance.
        turnout_min: Minutes from dispatch to rolling.
        warmup: Minutes simulated before statistics start.
        horizon: Minutes of statistics.
        **layout_options: The zones' and demand's knobs (``zone_km``, ``min_zone_fraction``,
            ``calls_per_1000_per_day``, ``core_boost``, ``core_scale_km``), passed on to
            :func:`~twin.cities.jiaxing.geometry.build_jiaxing_layout`, which holds their
            defaults and ranges.

    Returns:
        The scenario mapping.

    Raises:
        ConfigError: A parameter is out of range.
        DataError: The lake lacks Jiaxing's districts.

    """
    if len(priority_shares) != 3 or abs(sum(priority_shares) - 1.0) > 1e-9:
        raise ConfigError(f"priority_shares={priority_shares}: give three shares summing to 1")
    for label, v in (("service_mean_min", service_mean_min), ("speed_kmh", speed_kmh)):
        if v <= 0:
            raise ConfigError(f"{label}={v}: must be > 0")
    if circuity < 1 or turnout_min < 0 or warmup < 0 or horizon <= 0:
        raise ConfigError("circuity must be >= 1, turnout_min and warmup >= 0, horizon > 0")
    layout = build_jiaxing_layout(lake_dir, **layout_options)
    params = dict(layout.params)
    params.update(
        priority_shares=tuple(priority_shares),
        service_mean_min=service_mean_min,
        speed_kmh=speed_kmh,
        circuity=circuity,
        turnout_min=turnout_min,
    )
    names = {d.fact.adcode: d.fact.name for d in layout.districts}
    district_zones = {
        names[d.fact.adcode]: [z.id for z in layout.zones if z.adcode == d.fact.adcode]
        for d in layout.districts
    }
    city_zones = [z.id for z in layout.zones]

    zones = [
        {
            "id": z.id,
            "district": names[z.adcode],
            "location": [z.location[0], z.location[1]],
            "rate_per_hour": round(z.rate_per_hour, 6),
            "intra_km": round(z.intra_km, 3),
        }
        for z in layout.zones
    ]
    units = [
        {
            "id": u["id"],
            "post": u["post"],
            "kind": u["kind"],
            "area": list(
                district_zones[names[u["district"]]] if u["district"] is not None else city_zones
            ),
        }
        for u in layout.units
    ]
    checkpoints: list[dict[str, Any]] = []
    sites: dict[str, Any] = {}
    for cp, site in zip(layout.checkpoints, CHECKPOINT_SITES, strict=True):
        cls = CHECKPOINT_CLASSES[site.kind]
        checkpoints.append(
            {
                "id": cp["id"],
                "name": cp["name"],
                "zone": cp["zone"],
                "lanes": int(cls["lanes"]),
                "mode": "smart",
                "arrivals": {"rate_per_hour": cls["rate_per_hour"]},
                "manual_inspection": {"dist": "lognormal", "mean": 2.5, "sd": 1.0},
                "classification": {"dist": "lognormal", "mean": 0.35, "sd": 0.1},
                "flag_probability": FLAG_PROBABILITY,
                "watchlist_hit_probability": WATCHLIST_HIT,
                "hit_priority": 1,
            }
        )
        sites[cp["id"]] = {
            "kind": site.kind,
            "district": names[site.adcode],
            "location": cp["location"],
            "guess": [site.guess[0], site.guess[1]],
            "placed": {
                "city": "city border",
                "district": "district border",
                "coast": "coast",
                "none": "as guessed",
            }[site.snap],
        }

    by_code = {d.fact.adcode: d for d in layout.districts}
    core: list[str] = []
    key: list[str] = []
    for z in layout.zones:
        rx, ry = representative(z.geometry)
        sx, sy = by_code[z.adcode].seat
        dist = math.hypot(rx - sx, ry - sy)
        if dist <= 2.0 or z.geometry.covers(Point(sx, sy)):
            core.append(z.id)
        elif dist <= 6.0:
            key.append(z.id)

    total_rate = sum(z.rate_per_hour for z in layout.zones)
    station = sum(1 for u in layout.units if u["kind"] == "station")
    ptu = sum(1 for u in layout.units if u["kind"] == "ptu")
    return {
        "name": "jiaxing_baseline",
        "description": (
            "Jiaxing (Zhejiang): 7 districts cut into patrol zones, 116 PTU teams + 245 station "
            "patrol groups (361 units), 16 smart checkpoints; demand from census population and "
            "published 110 volumes (no incident data is public). Built by twin.cities.jiaxing; "
            "every assumption is listed under 'assumptions'."
        ),
        "time_unit": "min",
        "warmup": warmup,
        "horizon": horizon,
        "crs": "wgs84",
        "travel": {
            "model": "haversine",
            "speed_kmh": speed_kmh,
            "circuity": circuity,
            "turnout_min": turnout_min,
        },
        "dispatch": {"policy": "closest"},
        "queue": {"discipline": "priority", "capacity": "unlimited"},
        "demand": {"source": "poisson"},
        "service": {"dist": "exponential", "mean": service_mean_min},
        "priorities": [
            {"level": 1, "share": priority_shares[0], "name": "crime in progress / danger to life"},
            {"level": 2, "share": priority_shares[1], "name": "disputes, urgent"},
            {"level": 3, "share": priority_shares[2], "name": "help requests and other"},
        ],
        "patrol": {"interval_min": 15.0, "policy": "post"},
        "summary": {
            "districts": len(layout.districts),
            "zones": len(layout.zones),
            "area_km2": round(sum(d.area_km2 for d in layout.districts), 1),
            "residents": sum(d.population for d in DISTRICTS),
            "calls_per_hour": round(total_rate, 3),
            "calls_per_day": round(total_rate * 24.0, 1),
            "units": {"station": station, "ptu": ptu, "total": station + ptu},
            "checkpoints": len(checkpoints),
        },
        "district_zones": district_zones,
        "zones": zones,
        "units": units,
        "checkpoints": checkpoints,
        "checkpoint_sites": sites,
        "zone_facts": {
            z.id: {
                "area_km2": round(z.area_km2, 3),
                "residents": round(z.population),
                "intra_km": round(z.intra_km, 3),
                "posts": dict(z.posts),
            }
            for z in layout.zones
        },
        "targets": {
            "norm": "1-3-5 minute rapid response",
            "core_min": 1,
            "key_min": 3,
            "anywhere_min": 5,
            "core_zones": core,
            "key_zones": key,
        },
        "assumptions": [a.as_dict() for a in assumptions(params)],
        "provenance": {
            "builder": "twin.cities.jiaxing.build.build_jiaxing_scenario",
            "command": COMMAND,
            "boundary_file": BOUNDARY_FILE,
            "zones_source": ZONE_SOURCE,
            "zones_wkb_sha256": layout.boundaries_sha256,
            "projection": {
                "kind": "spherical Lambert azimuthal equal-area (km)",
                "lon0": layout.projection.lon0,
                "lat0": layout.projection.lat0,
            },
            "parameters": {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()},
        },
        "calibration": {"city": CITY.name, "agency": "police", "tz": CITY.tz},
    }


def _header(scenario: dict[str, Any]) -> list[str]:
    lines = [
        "# Jiaxing baseline scenario -- GENERATED, do not edit by hand. Regenerate with:",
        f"#     {COMMAND}",
        "# (tests/test_jiaxing.py checks that this file equals the builder's output).",
        "#",
        "# No incident-level data for Jiaxing is public: zones, demand, posts and checkpoints are",
        "# built from the district boundaries, census populations, published 110 volumes and the",
        "# figures of the 2021 report (../shared/BACKGROUND.md). Assumptions (also machine-",
        "# readable under 'assumptions' at the end of this file):",
    ]
    for a in scenario.get("assumptions", []):
        value = a["value"]
        if isinstance(value, dict):
            shown = ", ".join(f"{k}={v}" for k, v in value.items())
        else:
            shown = str(value)
        lines.append("#")
        lines.extend(
            textwrap.wrap(
                f"{a['key']}: {shown}", 97, initial_indent="# - ", subsequent_indent="#     "
            )
        )
        lines.extend(
            textwrap.wrap(a["rationale"], 97, initial_indent="#     ", subsequent_indent="#     ")
        )
    return lines


def render_scenario_yaml(scenario: dict[str, Any]) -> str:
    """Render a scenario mapping from :func:`build_jiaxing_scenario` as the YAML file text.

    Zones, units and checkpoints are written one per line (flow style); each district's zone
    list is written once under ``district_zones`` and the units' ``area`` lists refer to it with
    a YAML alias (``*Nanhu``, ``*city`` for the whole city), which ``yaml.safe_load`` expands.
    A comment header repeats every assumption with its rationale.

    Args:
        scenario: The mapping.

    Returns:
        The file text (deterministic for a given mapping).

    """
    shared: dict[tuple[str, ...], Anchored] = {}
    for name, ids in scenario.get("district_zones", {}).items():
        shared[tuple(ids)] = Anchored(ids, anchor=str(name))
    city = [z["id"] for z in scenario.get("zones", [])]
    shared.setdefault(tuple(city), Anchored(city, anchor="city"))
    out: dict[str, Any] = {}
    for key, value in scenario.items():
        if key == "district_zones":
            out[key] = {k: shared[tuple(v)] for k, v in value.items()}
        elif key == "units":
            units = []
            for u in value:
                fu = FlowMap((k, v) for k, v in u.items() if k != "area")
                if "area" in u:
                    fu["area"] = shared.get(tuple(u["area"])) or FlowList(u["area"])
                units.append(fu)
            out[key] = units
        elif key in ("zones", "priorities"):
            out[key] = [flow(v) for v in value]
        elif key == "checkpoints":
            out[key] = [
                {k: flow(v) if isinstance(v, dict) else v for k, v in cp.items()} for cp in value
            ]
        elif key in ("zone_facts", "checkpoint_sites", "targets"):
            out[key] = {k: flow(v) for k, v in value.items()}
        elif key in ("travel", "dispatch", "queue", "demand", "service", "patrol"):
            out[key] = flow(value)
        else:
            out[key] = value
    return render_yaml(out, header=_header(scenario), block=True)
