"""How Seattle's police and fire become one scenario (``agency: all``).

Each agency is calibrated on its own (same beats); :func:`combine_agencies` merges them:
zones get rates and profiles per agency, units keep their agency, each agency keeps its
priorities, on-scene time and dispatch; one travel matrix and one turnout are shared.
"""

from __future__ import annotations

from typing import Any

from twin.calibrate.report import FitReport, Parameter
from twin.errors import DataError

__all__ = ["combine_agencies"]


def combine_agencies(
    name: str,
    parts: dict[str, tuple[dict[str, Any], FitReport]],
    *,
    delay_shape_from: str | None = None,
) -> tuple[dict[str, Any], FitReport]:
    """Merge single-agency scenarios of one city (same zones) into one multi-agency scenario.

    Zones get ``rates``/``profiles`` per agency; units keep their agency (``units[].agency``);
    each agency keeps its priorities, on-scene time and dispatch (``agencies[]``). The travel
    matrix is the first agency's (police: fitted to observed response); another agency with a
    different speed gets it as a ``travel_factor`` of its classes. The engine's turnout is one
    number: the smallest agency turnout is kept and each agency's excess moves into its
    dispatch delay (a deterministic delay, or the mean of its fitted delay distribution).

    Args:
        name: The combined scenario's name.
        parts: agency -> (its scenario mapping, its fit report); the first is the reference.
        delay_shape_from: An agency whose fitted dispatch-delay distribution lends its family
            and coefficient of variation to agencies whose delay is only known as a mean
            (Seattle police: mean response only; the shape comes from San Francisco's life
            cycle through the fire agency).

    Returns:
        ``(scenario, report)``: the combined mapping and fit report.

    Raises:
        DataError: When the agencies' zones differ.

    """
    agencies = list(parts)
    ref_sc, ref_rep = parts[agencies[0]]
    ids = [z["id"] for z in ref_sc["zones"]]
    for ag in agencies[1:]:
        if [z["id"] for z in parts[ag][0]["zones"]] != ids:
            raise DataError(
                f"{ref_rep.city}: the {ag} and {agencies[0]} calibrations have different zones"
            )
    turnouts = {ag: float(sc["travel"].get("turnout_min", 0.0)) for ag, (sc, _) in parts.items()}
    shared = min(turnouts.values())
    ref_speed = float(ref_sc["travel"].get("speed_kmh", 30.0))
    report = FitReport(city=ref_rep.city, agency="all", scenario=name)
    report.fit_window = dict(ref_rep.fit_window)
    report.holdout = dict(ref_rep.holdout) if ref_rep.holdout else None
    zones = []
    for i, z in enumerate(ref_sc["zones"]):
        entry = {k: v for k, v in z.items() if k not in ("rate_per_hour", "profile", "shares")}
        entry["rates"] = {ag: parts[ag][0]["zones"][i]["rate_per_hour"] for ag in agencies}
        entry["profiles"] = {ag: parts[ag][0]["zones"][i]["profile"] for ag in agencies}
        mixes = {
            ag: parts[ag][0]["zones"][i]["shares"]
            for ag in agencies
            if "shares" in parts[ag][0]["zones"][i]
        }
        if mixes:
            entry["shares"] = mixes  # per agency; an agency left out keeps its city shares
        zones.append(entry)
    units: list[dict[str, Any]] = []
    agency_specs: list[dict[str, Any]] = []
    for ag, (sc, rep) in parts.items():
        report.inputs.update({f"{ag}.{k}": v for k, v in rep.inputs.items()})
        for prm in rep.parameters:
            report.add(
                Parameter(
                    name=f"{ag}: {prm.name}",
                    value=prm.value,
                    data=prm.data,
                    n=prm.n,
                    fit=prm.fit,
                    notes=prm.notes,
                )
            )
        report.assume(*(f"{ag}: {a}" for a in rep.assumptions))
        for fb in rep.fallbacks:
            report.fallback(f"{ag}: {fb}")
        report.details[ag] = rep.details
        own_patrol = sc.get("patrol", {}).get("policy", "area")
        for u in sc["units"]:
            unit = {**u, "agency": ag}
            if own_patrol == "post":
                unit["area"] = [u["post"]]  # stays at its post under the area patrol
            units.append(unit)
        prios, dispatch, notes = _agency_classes_and_dispatch(
            ag, sc, parts, agencies[0], ref_speed, turnouts[ag], shared, delay_shape_from
        )
        agency_specs.append(
            {
                "id": ag,
                "name": sc.get("description") or ag,
                "priorities": prios,
                "service": sc["service"],
                "dispatch": dispatch,
            }
        )
        if notes:
            report.add(
                Parameter(
                    name=f"agencies[{ag}] (combination)",
                    value={
                        "dispatch": dispatch,
                        "travel_factor": [p.get("travel_factor") for p in prios],
                    },
                    data="derived from the single-agency fits above",
                    notes=notes,
                )
            )
            report.assume(*notes)
    report.assume(
        "the agencies share the zones (police beats) and one travel matrix; each answers only "
        "its own calls with its own units (no cross-agency help), from its own queue",
        f"the shared matrix is {agencies[0]}'s: its within-zone entries assume a patrolling "
        "unit (0.5214 x sqrt(area)), so the other agencies' units, which wait at a post "
        "(0.3826 x sqrt(area)), take about 36 % longer within their own zone than their "
        "single-agency file says",
    )
    travel = dict(ref_sc["travel"])
    travel["turnout_min"] = round(shared, 3)
    scenario: dict[str, Any] = {
        "name": name,
        "description": f"{ref_rep.city}: " + ", ".join(agencies) + " in one twin, calibrated "
        "from the lake",
        "time_unit": "min",
        "warmup": ref_sc["warmup"],
        "horizon": ref_sc["horizon"],
        "crs": ref_sc["crs"],
        "zones": zones,
        "units": units,
        "service": ref_sc["service"],
        "travel": travel,
        "dispatch": {"policy": "closest"},
        "queue": ref_sc["queue"],
        "demand": ref_sc["demand"],
        "patrol": ref_sc["patrol"],
        "agencies": agency_specs,
        **_self_initiated(parts),
        "assumptions": list(report.assumptions),
        "calibration": {
            **ref_sc["calibration"],
            "agency": "all",
            "agencies": {ag: sc["calibration"] for ag, (sc, _) in parts.items()},
        },
    }
    return scenario, report


def _self_initiated(parts: dict[str, tuple[dict[str, Any], FitReport]]) -> dict[str, Any]:
    """Return ``{"self_initiated": ...}`` of the one agency that has it (else nothing)."""
    found = [
        (ag, sc["self_initiated"]) for ag, (sc, _) in parts.items() if sc.get("self_initiated")
    ]
    if len(found) > 1:
        raise DataError(
            "the combined scenario holds one self_initiated section; agencies "
            f"{[ag for ag, _ in found]} each have one"
        )
    if not found:
        return {}
    ag, si = found[0]
    return {"self_initiated": {**si, "agency": ag}}


def _agency_classes_and_dispatch(
    ag: str,
    sc: dict[str, Any],
    parts: dict[str, tuple[dict[str, Any], FitReport]],
    ref: str,
    ref_speed: float,
    turnout: float,
    shared: float,
    delay_shape_from: str | None,
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Return one agency's classes and dispatch on the shared matrix and turnout, with notes.

    Its speed becomes a ``travel_factor`` on the reference agency's matrix; its turnout above
    the shared one moves into its dispatch delay; a delay known only as a mean takes the shape
    of *delay_shape_from*'s fitted delay.
    """
    prios = [dict(p) for p in sc.get("priorities") or [{"level": 1, "share": 1.0}]]
    speed = float(sc["travel"].get("speed_kmh", ref_speed))
    notes: list[str] = []
    if ag != ref and abs(speed - ref_speed) > 1e-9:
        for p in prios:
            p["travel_factor"] = round(float(p.get("travel_factor", 1.0)) * ref_speed / speed, 4)
        notes.append(
            f"{ag} drives at {speed:g} km/h on {ref}'s matrix ({ref_speed:g} km/h): "
            f"travel_factor x {ref_speed / speed:.4f} on every {ag} class"
        )
    dispatch = dict(sc.get("dispatch") or {"policy": "closest"})
    extra = turnout - shared
    if extra > 1e-9:
        delay = dispatch.get("delay")
        if delay is None or delay.get("dist") == "deterministic":
            base = float(delay["value"]) if delay else 0.0
            dispatch["delay"] = {"dist": "deterministic", "value": round(base + extra, 3)}
        else:
            dispatch["delay"] = {**delay, "mean": round(float(delay["mean"]) + extra, 4)}
        notes.append(
            f"{ag}'s turnout {turnout:.3f} min exceeds the shared {shared:.3f}: the "
            f"{extra:.3f} min difference is in {ag}'s dispatch.delay"
        )
    shape = (
        (parts[delay_shape_from][0].get("dispatch") or {}).get("delay")
        if delay_shape_from in parts and delay_shape_from != ag
        else None
    )
    delay_now = dispatch.get("delay")
    if (
        shape
        and shape.get("sd")
        and delay_now is not None
        and delay_now.get("dist") == "deterministic"
        and float(delay_now["value"]) > 0
    ):
        mean = float(delay_now["value"])
        cv = float(shape["sd"]) / float(shape["mean"])
        dispatch["delay"] = {"dist": shape["dist"], "mean": mean, "sd": round(mean * cv, 4)}
        notes.append(
            f"{ag}'s dispatch delay is known only as a mean ({mean:.3f} min, from the "
            f"response fit): it takes the {shape['dist']} shape and coefficient of "
            f"variation {cv:.3f} of {delay_shape_from}'s fitted delay (San Francisco's "
            "received -> dispatched)"
        )
    return prios, dispatch, notes
