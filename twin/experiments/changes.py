"""Layout changes as small files: validated operations applied to a (large) base scenario.

A changes file is data::

    name: seattle_move3_N_to_S          # optional: the variant's name
    description: three units from North to South
    changes:
      - op: move_units
        from: {precinct: N, watch: "07:00"}   # units posted in precinct N on the 07:00 watch
        to: {precinct: S}
        count: 3
        post: auto                            # or a zone id
        shift: keep                           # keep | common | none | {start, hours}
      - op: add_units
        to: {district: Nanhu}
        count: 2
        kind: ptu
        shift: common
      - {op: remove_units, from: {units: [spd-07-E-01]}}
      - {op: set_shift, units: {district: E, watch: "23:00"}, shift: {start: "22:00", hours: 10}}
      - {op: add_checkpoint, district: Nanhu, checkpoint: {id: cp17, lanes: 2,
                                                           arrivals: {rate_per_hour: 60}}}
      - {op: set_lanes, checkpoint: cp01, lanes: 6}
      - {op: remove_checkpoint, checkpoint: cp16}
      - {op: add_camera, id: cam-nanhu-1, district: Nanhu, radius_km: 1.0}
      - {op: remove_camera, id: cam-nanhu-1}
      - {op: set, path: dispatch.policy, value: closest}

Every operation is a strict pydantic model (unknown keys and unknown ``op`` values are errors)
and is checked against the scenario as it stands when the operation runs (unknown unit, zone,
district, checkpoint; more units than the selection holds; a result that is not a valid
scenario). Messages name the changes file, ``changes[i]``, the op and the field. Seattle's
precincts are its districts (``zones[].district``): ``precinct:`` is accepted as a synonym.

Stated rules, written into the output for every choice they make:

* **which units leave** a zone or district: those posted in its lowest-demand zones first
  (demand = the agency's calls per hour of the post zone), ties: last in file order;
* **post** ``auto``: the target's highest-demand zone without a unit of the agency; when every
  zone has one, the zone with the most demand per unit of the agency;
* **shift** ``common``: the most common watch (start, hours) of the agency's units posted in the
  target district (ties: the earliest start), none when they have no shifts; ``keep`` leaves a
  moved unit's own watch;
* **area**: a moved or added unit takes the most common ``area`` of the agency's units posted in
  the target district (Seattle: the precinct's beats); when they have none, an added unit gets
  none and a moved unit keeps its own;
* **preference dispatch**: a removed unit leaves every preference list, an added unit is
  appended at the end of every list of its agency.

Demand, service, travel and the seed are untouched, so variant and base see the same incidents
(common random numbers) and differ only by what the changes say.
"""

from __future__ import annotations

import copy
import textwrap
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from twin.errors import ConfigError
from twin.scenario import DEFAULT_AGENCY, Scenario, parse_scenario, read_yaml, write_scenario

__all__ = [
    "ChangeSet",
    "VariantResult",
    "apply_changes",
    "get_path",
    "load_changes",
    "set_path",
    "write_variant",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Shift(_Strict):
    """An explicit watch: ``{start: "07:00", hours: 8}``."""

    start: str | int
    hours: Annotated[float, Field(gt=0, le=24)]


class Place(_Strict):
    """Where units go: exactly one of ``zone``, ``district`` or ``precinct`` (= district)."""

    zone: str | None = None
    district: str | None = None
    precinct: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Place:
        given = [k for k in ("zone", "district", "precinct") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of zone, district or precinct")
        return self

    @property
    def area(self) -> str | None:
        """Return the district (``precinct`` is its synonym), None for a zone."""
        return self.district if self.district is not None else self.precinct


class Units(_Strict):
    """Which units: ``units: [ids]`` or one of ``zone``/``district``/``precinct``.

    ``watch`` (``"07:00"``) keeps only units whose shift starts then; ``agency`` (default
    police, or the scenario's only agency) applies to zone and district selections.
    """

    units: list[str] | None = None
    zone: str | None = None
    district: str | None = None
    precinct: str | None = None
    watch: str | None = None
    agency: str | None = None

    @model_validator(mode="after")
    def _one(self) -> Units:
        given = [
            k for k in ("units", "zone", "district", "precinct") if getattr(self, k) is not None
        ]
        if len(given) != 1:
            raise ValueError("give exactly one of units, zone, district or precinct")
        if self.units is not None and not self.units:
            raise ValueError("units: the list is empty")
        return self


PostChoice = Literal["auto"] | str
ShiftChoice = Literal["keep", "common", "none"] | Shift


class MoveUnits(_Strict):
    """Move units to another zone or district (their id stays)."""

    op: Literal["move_units"]
    from_: Annotated[Units, Field(alias="from")]
    to: Place
    count: Annotated[int, Field(ge=1)] | None = None
    post: PostChoice = "auto"
    shift: ShiftChoice = "keep"


class AddUnits(_Strict):
    """Add units to a zone or district."""

    op: Literal["add_units"]
    to: Place
    count: Annotated[int, Field(ge=1)] = 1
    agency: str | None = None
    kind: str | None = None
    post: PostChoice = "auto"
    shift: ShiftChoice = "common"
    id_prefix: str | None = None


class RemoveUnits(_Strict):
    """Remove units (all selected, or ``count`` of them by the stated rule)."""

    op: Literal["remove_units"]
    from_: Annotated[Units, Field(alias="from")]
    count: Annotated[int, Field(ge=1)] | None = None


class SetShift(_Strict):
    """Put units on another watch (or none: always on duty)."""

    op: Literal["set_shift"]
    units: Units
    shift: Literal["none"] | Shift
    count: Annotated[int, Field(ge=1)] | None = None


class AddCheckpoint(_Strict):
    """Add a checkpoint; without ``checkpoint.zone`` it stands in the district's busiest zone."""

    op: Literal["add_checkpoint"]
    checkpoint: dict[str, Any]
    district: str | None = None
    precinct: str | None = None


class RemoveCheckpoint(_Strict):
    """Remove a checkpoint by id."""

    op: Literal["remove_checkpoint"]
    checkpoint: str


class SetLanes(_Strict):
    """Change a checkpoint's number of lanes."""

    op: Literal["set_lanes"]
    checkpoint: str
    lanes: Annotated[int, Field(ge=1, le=1000)]


class AddCamera(_Strict):
    """Add a camera in a zone (or the busiest zone of a district)."""

    op: Literal["add_camera"]
    id: str
    zone: str | None = None
    district: str | None = None
    precinct: str | None = None
    radius_km: Annotated[float, Field(gt=0)] = 0.5
    covered_factor: Annotated[float, Field(ge=0, le=1)] | None = None


class RemoveCamera(_Strict):
    """Remove a camera (any device) by id."""

    op: Literal["remove_camera"]
    id: str


class SetValue(_Strict):
    """Set one value by dotted path: ``{path: dispatch.policy, value: preference}``."""

    op: Literal["set"]
    path: Annotated[str, Field(min_length=1)]
    value: Any


Op = Annotated[
    MoveUnits
    | AddUnits
    | RemoveUnits
    | SetShift
    | AddCheckpoint
    | RemoveCheckpoint
    | SetLanes
    | AddCamera
    | RemoveCamera
    | SetValue,
    Field(discriminator="op"),
]


class ChangeSet(_Strict):
    """A changes file: an optional new name and description, and the operations in order."""

    name: str | None = None
    description: str | None = None
    changes: Annotated[list[Op], Field(min_length=1)]


@dataclass
class VariantResult:
    """What :func:`apply_changes` produced.

    Attributes:
        data: The variant as a mapping (validated).
        scenario: The validated variant.
        lines: One sentence per change, with every rule's choice stated.

    """

    data: dict[str, Any]
    scenario: Scenario
    lines: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------- loading
def _loc(loc: Sequence[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _OP_NAMES:
            continue  # the discriminator tag pydantic inserts
        else:
            out += f".{part}" if out else str(part)
    return out.replace(".from_", ".from")


_OP_NAMES = {
    "move_units",
    "add_units",
    "remove_units",
    "set_shift",
    "add_checkpoint",
    "remove_checkpoint",
    "set_lanes",
    "add_camera",
    "remove_camera",
    "set",
}


def load_changes(path: str | Path) -> ChangeSet:
    """Read and validate a changes file.

    Raises:
        ConfigError: Missing file, not YAML, unknown op or key, wrong type; the message names
            the file and the field (``changes[2].to.district``).

    """
    p = Path(path)
    try:
        data = read_yaml(p.read_text(encoding="utf-8"), source=str(p))
    except FileNotFoundError:
        raise ConfigError(f"{p}: changes file not found; check the path") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: a changes file is a mapping with a 'changes:' list of operations")
    try:
        return ChangeSet.model_validate(data)
    except ValidationError as exc:
        parts = []
        for err in exc.errors()[:5]:
            msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
            if err.get("type") == "extra_forbidden":
                msg = "unknown key (typo?); remove it or check the spelling"
            if err.get("type") == "union_tag_invalid":
                msg = f"unknown op; one of {', '.join(sorted(_OP_NAMES))}"
            parts.append(f"{_loc(err.get('loc', ()))}: {msg}")
        raise ConfigError(f"{p}: invalid changes: " + "; ".join(parts)) from None


# ---------------------------------------------------------------------------- paths
def _walk(data: Any, path: str) -> tuple[Any, str | int, str]:
    """Return (container, last key, walked prefix) of a dotted *path* in *data*."""
    segs = path.split(".")
    node = data
    walked = ""
    for i, seg in enumerate(segs):
        last = i == len(segs) - 1
        key: str | int = seg
        if isinstance(node, list):
            ids = [x.get("id") for x in node if isinstance(x, dict)]
            if seg.lstrip("-").isdigit() and seg not in ids:
                key = int(seg)
                if not -len(node) <= key < len(node):
                    raise KeyError(f"{walked or '<top>'}: index {seg} out of range ({len(node)})")
            elif seg in ids:
                key = ids.index(seg)
            else:
                shown = ", ".join(map(str, ids[:8])) + (" ..." if len(ids) > 8 else "")
                raise KeyError(f"{walked or '<top>'}: no item with id {seg!r} (ids: {shown})")
        elif isinstance(node, dict):
            if seg not in node and not last:
                raise KeyError(
                    f"{walked + '.' if walked else ''}{seg}: unknown key; known: "
                    f"{', '.join(map(str, node))}"
                )
        else:
            raise KeyError(f"{walked}: is a value, not a section (cannot go into {seg!r})")
        if last:
            return node, key, walked
        node = node[key]
        walked = f"{walked}.{seg}" if walked else seg
    raise KeyError(path)  # pragma: no cover - empty path is refused earlier


def get_path(data: Any, path: str) -> Any:
    """Return the value at dotted *path* (list items by index or by their ``id``).

    Raises:
        KeyError: The path does not exist (message names the known keys).

    """
    node, key, _walked = _walk(data, path)
    if isinstance(node, dict) and key not in node:
        raise KeyError(f"{path}: unknown key; known: {', '.join(map(str, node))}")
    return node[key]


def set_path(data: dict[str, Any], path: str, value: Any) -> Any:
    """Set the value at dotted *path*; return the old value (None when the key was absent).

    The parent must exist; a missing last key is allowed inside sections (the scenario's
    validation then rejects a key that is not part of the vocabulary). At the top level only
    :class:`~twin.scenario.Scenario` fields may be set.

    Raises:
        KeyError: The path does not exist.

    """
    node, key, _ = _walk(data, path)
    if node is data and key not in data and key not in Scenario.model_fields:
        raise KeyError(f"{path}: unknown key; scenario fields: {', '.join(Scenario.model_fields)}")
    old = node.get(key) if isinstance(node, dict) else node[key]
    node[key] = value
    return old


# ---------------------------------------------------------------------------- applying
class _OpError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _agency_of(sc: Scenario, agency: str | None, field: str) -> str:
    agencies = sc.agency_ids
    if agency is None:
        return DEFAULT_AGENCY if DEFAULT_AGENCY in agencies else agencies[0]
    if agency not in agencies:
        raise _OpError(field, f"unknown agency {agency!r}; agencies: {', '.join(agencies)}")
    return agency


def _districts(sc: Scenario) -> list[str]:
    return list(dict.fromkeys(str(z.district) for z in sc.zones if z.district != ""))


def _check_district(sc: Scenario, d: str, field: str) -> None:
    known = _districts(sc)
    if d not in known:
        raise _OpError(field, f"unknown district {d!r}; districts: {', '.join(known)}")


def _check_zone(sc: Scenario, z: str, field: str) -> None:
    if z not in set(sc.zone_ids):
        shown = ", ".join(sc.zone_ids[:10])
        raise _OpError(field, f"unknown zone {z!r}; zones are e.g. {shown} ...")


def _rate(sc: Scenario, agency: str) -> dict[str, float]:
    return {z.id: z.agency_rates().get(agency, 0.0) for z in sc.zones}


def _zone_district(sc: Scenario) -> dict[str, str]:
    return {z.id: str(z.district) for z in sc.zones}


def _watch(u: dict[str, Any]) -> str | None:
    sh = u.get("shift")
    if not sh:
        return None
    start = sh["start"]
    if isinstance(start, int):
        return f"{start // 60:02d}:{start % 60:02d}"
    hh, mm = str(start).split(":")
    return f"{int(hh):02d}:{mm}"


def _norm_watch(w: str) -> str:
    hh, _, mm = w.partition(":")
    return f"{int(hh):02d}:{mm or '00'}" if hh.isdigit() else w


def _select(
    sc: Scenario, data: dict[str, Any], sel: Units, count: int | None, field: str, verb: str
) -> tuple[list[int], str]:
    """Return indices into data['units'] of the selected units and the rule stated."""
    units = data["units"]
    zd = _zone_district(sc)
    if sel.units is not None:
        index = {u["id"]: i for i, u in enumerate(units)}
        for j, uid in enumerate(sel.units):
            if uid not in index:
                raise _OpError(f"{field}.units[{j}]", f"unknown unit id {uid!r}")
        chosen = [index[u] for u in sel.units]
        if count is not None and count != len(chosen):
            raise _OpError("count", f"count {count} but {len(chosen)} unit ids are listed")
        return chosen, "as listed"
    agency = _agency_of(sc, sel.agency, f"{field}.agency")
    area = sel.district if sel.district is not None else sel.precinct
    if sel.zone is not None:
        _check_zone(sc, sel.zone, f"{field}.zone")
        pool = [i for i, u in enumerate(units) if u["post"] == sel.zone]
        where = f"zone {sel.zone}"
    else:
        assert area is not None
        _check_district(sc, area, f"{field}.{'district' if sel.district else 'precinct'}")
        pool = [i for i, u in enumerate(units) if zd[u["post"]] == area]
        where = f"district {area}"
    pool = [i for i in pool if units[i].get("agency", DEFAULT_AGENCY) == agency]
    if sel.watch is not None:
        w = _norm_watch(sel.watch)
        watches = sorted({_watch(units[i]) or "none" for i in pool})
        pool = [i for i in pool if _watch(units[i]) == w]
        where += f" on the {w} watch"
        if not pool:
            raise _OpError(
                f"{field}.watch",
                f"no {agency} unit in {where}; watches there: {', '.join(watches) or 'none'}",
            )
    if not pool:
        raise _OpError(field, f"no {agency} unit is posted in {where}")
    if count is None:
        return pool, f"all {len(pool)} {agency} units of {where}"
    if count > len(pool):
        raise _OpError(
            "count", f"cannot {verb} {count} units: {where} has only {len(pool)} {agency} units"
        )
    rate = _rate(sc, agency)
    order = sorted(pool, key=lambda i: (rate[units[i]["post"]], -i))
    return (
        order[:count],
        f"{count} of the {len(pool)} {agency} units of {where}, lowest-demand posts first",
    )


def _target_zones(sc: Scenario, place: Place, field: str) -> tuple[list[str], str]:
    if place.zone is not None:
        _check_zone(sc, place.zone, f"{field}.zone")
        return [place.zone], f"zone {place.zone}"
    d = place.area
    assert d is not None
    _check_district(sc, d, f"{field}.{'district' if place.district else 'precinct'}")
    return [z.id for z in sc.zones if z.district == d], f"district {d}"


def _auto_post(
    sc: Scenario,
    data: dict[str, Any],
    zones: list[str],
    agency: str,
    shift: dict[str, Any] | None,
    moving: dict[str, Any] | None = None,
) -> tuple[str, str]:
    """Return the post by the stated rule; with a shift, units of other watches do not count."""
    rate = _rate(sc, agency)
    watch = _watch({"shift": shift}) if shift else None
    held = Counter(
        u["post"]
        for u in data["units"]
        if u.get("agency", DEFAULT_AGENCY) == agency
        and u is not moving
        and (watch is None or _watch(u) == watch)
    )
    on = f" on the {watch} watch" if watch else ""
    free = [z for z in zones if held[z] == 0]
    if free:
        z = max(free, key=lambda z: (rate[z], -zones.index(z)))
        return z, f"highest-demand zone without a unit{on}"
    z = max(zones, key=lambda z: (rate[z] / (held[z] + 1), -zones.index(z)))
    return z, f"every zone has a unit{on}: most demand per unit"


def _district_units(
    sc: Scenario, data: dict[str, Any], zones: list[str], agency: str
) -> list[dict[str, Any]]:
    zs = set(zones)
    return [
        u for u in data["units"] if u["post"] in zs and u.get("agency", DEFAULT_AGENCY) == agency
    ]


def _common_shift(peers: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, str]:
    shifts = [(_watch(u), float(u["shift"]["hours"])) for u in peers if u.get("shift")]
    if not shifts:
        return None, "no shift (the district's units have none)"
    counts = Counter(shifts)
    best = max(counts, key=lambda s: (counts[s], [-int(x) for x in (s[0] or "0:0").split(":")]))
    start, hours = best
    return (
        {"start": start, "hours": int(hours) if hours.is_integer() else hours},
        f"the most common watch there ({start}, {hours:g} h; {counts[best]} of {len(peers)} units)",
    )


def _common_area(peers: list[dict[str, Any]]) -> list[str] | None:
    areas = [tuple(u["area"]) for u in peers if u.get("area")]
    if not areas:
        return None
    best = Counter(areas).most_common(1)[0][0]
    for u in peers:  # reuse the peer's list object (YAML anchors stay shared)
        if u.get("area") and tuple(u["area"]) == best:
            return u["area"]
    return list(best)  # pragma: no cover


def _shift_choice(
    choice: Any, peers: list[dict[str, Any]], own: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, str]:
    if isinstance(choice, Shift):
        sh = choice.model_dump()
        return sh, f"shift {sh['start']} for {sh['hours']:g} h (given)"
    if choice == "none":
        return None, "no shift (always on duty, given)"
    if choice == "keep":
        return own, "own shift kept" if own else "no shift (kept)"
    return _common_shift(peers)


def _preference_lists(data: dict[str, Any]) -> list[dict[str, list[str]]]:
    out = []
    disp = data.get("dispatch") or {}
    if disp.get("preferences"):
        out.append(disp["preferences"])
    for ag in data.get("agencies") or []:
        d = ag.get("dispatch") or {}
        if d.get("preferences"):
            out.append(d["preferences"])
    return out


def _new_id(existing: set[str], prefix: str) -> str:
    k = 1
    while f"{prefix}{k:02d}" in existing:
        k += 1
    existing.add(f"{prefix}{k:02d}")
    return f"{prefix}{k:02d}"


def _move(sc: Scenario, data: dict[str, Any], op: MoveUnits) -> str:
    chosen, rule = _select(sc, data, op.from_, op.count, "from", "move")
    zones, where = _target_zones(sc, op.to, "to")
    units = data["units"]
    parts = []
    for i in chosen:
        u = units[i]
        agency = u.get("agency", DEFAULT_AGENCY)
        peers = [p for p in _district_units(sc, data, zones, agency) if p is not u]
        shift, swhy = _shift_choice(op.shift, peers, u.get("shift"))
        if op.post == "auto":
            post, why = _auto_post(sc, data, zones, agency, shift, moving=u)
        else:
            if op.post not in zones:
                raise _OpError("post", f"zone {op.post!r} is not in {where}")
            post, why = op.post, "given"
        old = u["post"]
        u["post"] = post
        if shift is None:
            u.pop("shift", None)
        else:
            u["shift"] = shift
        area = _common_area(peers)
        if area is not None:
            u["area"] = area
        parts.append(f"{u['id']} {old} -> {post} ({why}; {swhy})")
    return f"move {rule} to {where}: " + "; ".join(parts)


def _add(sc: Scenario, data: dict[str, Any], op: AddUnits) -> str:
    agency = _agency_of(sc, op.agency, "agency")
    zones, where = _target_zones(sc, op.to, "to")
    units = data["units"]
    ids = {u["id"] for u in units}
    peers = _district_units(sc, data, zones, agency)
    template = (
        peers[0]
        if peers
        else next((u for u in units if u.get("agency", DEFAULT_AGENCY) == agency), units[0])
    )
    prefix = op.id_prefix or f"added-{(op.to.area or op.to.zone or 'x')}-"
    multi = any("agency" in u for u in units) or agency != DEFAULT_AGENCY
    parts = []
    for _ in range(op.count):
        shift, swhy = _shift_choice(op.shift, peers, None)
        if op.post == "auto":
            post, why = _auto_post(sc, data, zones, agency, shift)
        else:
            if op.post not in zones:
                raise _OpError("post", f"zone {op.post!r} is not in {where}")
            post, why = op.post, "given"
        unit: dict[str, Any] = {"id": _new_id(ids, prefix), "post": post}
        area = _common_area(peers)
        if area is not None:
            unit["area"] = area
        unit["kind"] = op.kind or template.get("kind", "patrol")
        if shift is not None:
            unit["shift"] = shift
        if template.get("speed_kmh") is not None:
            unit["speed_kmh"] = template["speed_kmh"]
        if multi:
            unit["agency"] = agency
        units.append(unit)
        for prefs in _preference_lists(data):
            for lst in prefs.values():
                if any(
                    next((u.get("agency", DEFAULT_AGENCY) for u in units if u["id"] == x), None)
                    == agency
                    for x in lst
                ):
                    lst.append(unit["id"])
        parts.append(f"{unit['id']} at {post} ({why}; {swhy})")
    return f"add {op.count} {agency} unit(s) to {where}: " + "; ".join(parts)


def _remove(sc: Scenario, data: dict[str, Any], op: RemoveUnits) -> str:
    chosen, rule = _select(sc, data, op.from_, op.count, "from", "remove")
    units = data["units"]
    gone = [units[i]["id"] for i in chosen]
    left = [u for u in units if u["id"] not in set(gone)]
    if not left:
        raise _OpError("from", "this would remove every unit; a scenario needs a fleet")
    data["units"] = left
    for prefs in _preference_lists(data):
        for z, lst in prefs.items():
            prefs[z] = [x for x in lst if x not in set(gone)]
    return f"remove {rule}: {', '.join(gone)}"


def _set_shift(sc: Scenario, data: dict[str, Any], op: SetShift) -> str:
    chosen, rule = _select(sc, data, op.units, op.count, "units", "re-shift")
    names = []
    for i in chosen:
        u = data["units"][i]
        if op.shift == "none":
            u.pop("shift", None)
        else:
            assert isinstance(op.shift, Shift)
            u["shift"] = op.shift.model_dump()
        names.append(u["id"])
    what = (
        "no shift (always on duty)"
        if op.shift == "none"
        else f"shift {op.shift.start} for {op.shift.hours:g} h"
    )
    return f"set {what} on {rule}: {', '.join(names)}"


def _busiest_zone(sc: Scenario, district: str, taken: set[str]) -> str:
    zones = [z for z in sc.zones if z.district == district]
    free = [z for z in zones if z.id not in taken] or zones
    return max(free, key=lambda z: z.total_rate).id


def _add_checkpoint(sc: Scenario, data: dict[str, Any], op: AddCheckpoint) -> str:
    cp = copy.deepcopy(op.checkpoint)
    cid = cp.get("id")
    if not cid:
        raise _OpError("checkpoint.id", "a new checkpoint needs an id")
    if any(c.get("id") == cid for c in data.get("checkpoints") or []):
        raise _OpError("checkpoint.id", f"checkpoint {cid!r} already exists")
    d = op.district if op.district is not None else op.precinct
    why = "given"
    if cp.get("zone") is None:
        if d is None:
            raise _OpError("district", "give checkpoint.zone or a district to place it in")
        _check_district(sc, d, "district")
        taken = {c.get("zone") for c in data.get("checkpoints") or []}
        cp["zone"] = _busiest_zone(sc, d, {str(t) for t in taken})
        why = f"the busiest zone of district {d} without a checkpoint"
    else:
        _check_zone(sc, str(cp["zone"]), "checkpoint.zone")
    data.setdefault("checkpoints", []).append(cp)
    return f"add checkpoint {cid} in zone {cp['zone']} ({why}), {cp.get('lanes', '?')} lanes"


def _find(items: list[dict[str, Any]], key: str, what: str, field: str) -> int:
    ids = [c.get("id") for c in items]
    if key not in ids:
        raise _OpError(
            field, f"unknown {what} {key!r}; known: {', '.join(map(str, ids)) or 'none'}"
        )
    return ids.index(key)


def _remove_checkpoint(sc: Scenario, data: dict[str, Any], op: RemoveCheckpoint) -> str:
    cps = data.get("checkpoints") or []
    i = _find(cps, op.checkpoint, "checkpoint", "checkpoint")
    cps.pop(i)
    return f"remove checkpoint {op.checkpoint}"


def _set_lanes(sc: Scenario, data: dict[str, Any], op: SetLanes) -> str:
    cps = data.get("checkpoints") or []
    i = _find(cps, op.checkpoint, "checkpoint", "checkpoint")
    old = cps[i].get("lanes")
    cps[i]["lanes"] = op.lanes
    return f"checkpoint {op.checkpoint}: lanes {old} -> {op.lanes}"


def _add_camera(sc: Scenario, data: dict[str, Any], op: AddCamera) -> str:
    devs = data.setdefault("devices", [])
    if any(d.get("id") == op.id for d in devs):
        raise _OpError("id", f"device {op.id!r} already exists")
    d = op.district if op.district is not None else op.precinct
    if (op.zone is None) == (d is None):
        raise _OpError("zone", "give exactly one of zone, district or precinct")
    if op.zone is not None:
        _check_zone(sc, op.zone, "zone")
        zone, why = op.zone, "given"
    else:
        assert d is not None
        _check_district(sc, d, "district")
        taken = {str(x.get("zone")) for x in devs}
        zone = _busiest_zone(sc, d, taken)
        why = f"the busiest zone of district {d} without a device"
    cam: dict[str, Any] = {"id": op.id, "kind": "camera", "zone": zone, "radius_km": op.radius_km}
    if op.covered_factor is not None:
        cam["covered_factor"] = op.covered_factor
    devs.append(cam)
    return f"add camera {op.id} in zone {zone} ({why}), radius {op.radius_km:g} km"


def _remove_camera(sc: Scenario, data: dict[str, Any], op: RemoveCamera) -> str:
    devs = data.get("devices") or []
    i = _find(devs, op.id, "device", "id")
    devs.pop(i)
    return f"remove camera {op.id}"


def _set(sc: Scenario, data: dict[str, Any], op: SetValue) -> str:
    if isinstance(op.value, (dict, list)):
        raise _OpError("value", "set takes a single value (text, number, true/false)")
    try:
        old = set_path(data, op.path, op.value)
    except KeyError as exc:
        raise _OpError("path", str(exc.args[0])) from None
    return f"set {op.path}: {old!r} -> {op.value!r}"


_APPLY: dict[type, Callable[[Scenario, dict[str, Any], Any], str]] = {
    MoveUnits: _move,
    AddUnits: _add,
    RemoveUnits: _remove,
    SetShift: _set_shift,
    AddCheckpoint: _add_checkpoint,
    RemoveCheckpoint: _remove_checkpoint,
    SetLanes: _set_lanes,
    AddCamera: _add_camera,
    RemoveCamera: _remove_camera,
    SetValue: _set,
}


def apply_changes(
    base: dict[str, Any],
    changes: ChangeSet,
    *,
    source: str = "<changes>",
    base_name: str | None = None,
) -> VariantResult:
    """Apply *changes* to a copy of the *base* scenario mapping, op by op.

    Args:
        base: The base scenario as ``yaml.safe_load`` returns it (not modified).
        changes: The validated operations.
        source: The changes file's name, for messages.
        base_name: How to call the base in the description (default its ``name``).

    Returns:
        The variant mapping, its validated scenario and one line per change.

    Raises:
        ConfigError: An operation does not fit the scenario as it stands (unknown district,
            too many units, ...) or leaves an invalid scenario; the message names
            ``changes[i]``, the op and the field.

    """
    data = copy.deepcopy(base)
    sc = parse_scenario(data, source=base_name or str(base.get("name", "<base>")))
    lines: list[str] = []
    for i, op in enumerate(changes.changes):
        where = f"{source}: changes[{i}] ({op.op})"
        try:
            lines.append(_APPLY[type(op)](sc, data, op))
        except _OpError as exc:
            raise ConfigError(f"{where}.{exc.field}: {exc.message}") from None
        try:
            sc = parse_scenario(data, source="the result")
        except ConfigError as exc:
            raise ConfigError(f"{where}: leaves an invalid scenario: {exc.message}") from None
    name0 = str(base.get("name", "base"))
    data["name"] = changes.name or f"{name0}_variant"
    summary = changes.description or f"variant of {name0}"
    data["description"] = f"{summary}: " + "; ".join(lines)
    data["assumptions"] = [*(base.get("assumptions") or []), *[f"variant: {x}" for x in lines]]
    sc = parse_scenario(data, source="the variant")
    return VariantResult(data=data, scenario=sc, lines=lines)


def write_variant(
    base_path: str | Path,
    changes_path: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
) -> VariantResult:
    """Apply a changes file to a base scenario file and write the variant YAML.

    The output starts with a comment block saying what changed (and the base's own header
    comments after it); nothing is written when any operation fails.

    Raises:
        ConfigError: The base, the changes file or an operation is invalid.

    """
    src = Path(base_path)
    try:
        text = src.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{src}: scenario file not found; check the path") from None
    base = read_yaml(text, source=str(src))
    if not isinstance(base, dict):
        raise ConfigError(f"{src}: not a scenario mapping")
    changes = load_changes(changes_path)
    if name is not None:
        changes = changes.model_copy(update={"name": name})
    result = apply_changes(base, changes, source=str(changes_path), base_name=str(src))
    head = [
        f"# {result.data['name']}: variant of {base.get('name')} ({src}) by {changes_path}.",
        "# What changed:",
        *(
            wrapped
            for line in result.lines
            for wrapped in textwrap.wrap(
                line, width=98, initial_indent="#  - ", subsequent_indent="#      "
            )
        ),
        "# Everything else (demand, service, travel) is the base's: with the same seed both see",
        "# the same incidents (common random numbers).",
    ]
    base_head = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        base_head.append(line)
    if base_head:
        head += ["#", "# Header of the base file:", *base_head]
    write_scenario(out, result.data, header=head)
    return result
