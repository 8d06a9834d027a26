"""Planner variants of a calibrated scenario: the same city with a changed fleet.

:func:`add_units` copies a scenario file, adds units of one agency (default police) to one
district (by default the busiest by that agency's calibrated demand) posted at its busiest zones
not yet holding an added unit, and records the change in the header, the description and the
``assumptions`` list. Everything else (demand, service, travel, dispatch) is untouched, so the
variant and its baseline see the same incidents under the same seed (common random numbers)
and differ only by the fleet.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from pathlib import Path
from typing import Any

from twin.errors import ConfigError
from twin.scenario import DEFAULT_AGENCY, load_scenario, read_yaml, write_scenario

__all__ = ["add_units"]


def add_units(
    scenario: Path | str,
    out: Path | str,
    *,
    n: int = 2,
    district: str | None = None,
    name: str | None = None,
    agency: str | None = None,
) -> dict[str, Any]:
    """Write a variant of *scenario* with *n* more units in one district.

    Args:
        scenario: The baseline scenario file.
        out: The variant file to write.
        n: Units to add (>= 1).
        district: District that gets them (default: the busiest by the agency's zone rate).
        name: Variant name (default ``<baseline name>_plus<n>_<district>``).
        agency: Agency of the added units (default ``police`` when the scenario has it,
            else its first agency); the busiest district is judged by its demand.

    Returns:
        The variant mapping (validated).

    Raises:
        ConfigError: Unknown district, n < 1, or an invalid baseline.

    """
    if n < 1:
        raise ConfigError(f"--add-units must be >= 1, got {n}")
    src = Path(scenario)
    text = src.read_text(encoding="utf-8")
    data = read_yaml(text, source=str(src))
    sc = load_scenario(src)
    agencies = sc.agency_ids
    agency = agency or (DEFAULT_AGENCY if DEFAULT_AGENCY in agencies else agencies[0])
    if agency not in agencies:
        raise ConfigError(f"--agency {agency!r}: not an agency of {src}; known: {agencies}")
    rate: dict[str, float] = defaultdict(float)
    for z in sc.zones:
        rate[str(z.district)] += z.agency_rates().get(agency, 0.0)
    target = district or max(rate, key=lambda d: rate[d])
    if target not in rate:
        raise ConfigError(f"--district {target!r}: not a district of {src}; known: {sorted(rate)}")
    zones = sorted(
        (z for z in sc.zones if str(z.district) == target),
        key=lambda z: -z.agency_rates().get(agency, 0.0),
    )
    zone_ids = {z.id for z in zones}
    template = next(
        (
            u
            for u in data["units"]
            if u["post"] in zone_ids and u.get("agency", DEFAULT_AGENCY) == agency
        ),
        None,
    )
    ids = {u["id"] for u in data["units"]}
    posts = []
    for i in range(n):
        zone = zones[i % len(zones)].id
        k = 1
        while f"added-{target}-{k:02d}" in ids:
            k += 1
        uid = f"added-{target}-{k:02d}"
        ids.add(uid)
        unit: dict[str, Any] = {"id": uid, "post": zone}
        if template is not None:
            for key in ("area", "kind", "shift", "speed_kmh"):
                if key in template:
                    unit[key] = copy.deepcopy(template[key])
        if agency != DEFAULT_AGENCY or any("agency" in u for u in data["units"]):
            unit["agency"] = agency
        data["units"].append(unit)
        posts.append(zone)
    base = data["name"]
    data["name"] = name or f"{base}_plus{n}_{target}"
    change = (
        f"variant of {base}: +{n} {agency} units in district {target} "
        f"({'busiest by calibrated demand' if district is None else 'chosen'}), posted at "
        f"{', '.join(posts)}; everything else unchanged"
    )
    data["description"] = change
    data["assumptions"] = [*data.get("assumptions", []), change]
    head = [f"# {data['name']}: {change}."] + [
        line for line in text.splitlines()[1:] if line.startswith("#")
    ]
    write_scenario(out, data, header=head)
    return data
