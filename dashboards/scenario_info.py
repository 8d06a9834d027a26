"""What a page needs to know about a scenario: display names, districts, posts, checkpoints.

Results name their scenario (``summary.json`` → ``scenario``); this module finds that scenario's
YAML (beside the result, under the results root, or in ``scenarios/``) and turns it into
look-up tables so pages show names, not ids: a zone's name and district, a unit's kind, agency,
post and district, a checkpoint's name and place, the Jiaxing 1-3-5 minute targets.

The YAML is read as data (``yaml.safe_load``); the dashboards never build or run a scenario.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from twin.cities import CITIES
from twin.errors import DataError

__all__ = ["ScenarioInfo", "find_scenario_file", "load_info", "scenario_dirs"]

_NAME = re.compile(r"^name:\s*['\"]?([^'\"\n#]+?)['\"]?\s*(#.*)?$", re.MULTILINE)


@dataclass
class ScenarioInfo:
    """Names and places of one scenario.

    Attributes:
        name: Scenario name.
        path: The YAML file.
        city: City key (``seattle``, ``sanfrancisco``, ``jiaxing``) or "" when unknown.
        crs: ``wgs84`` (lon/lat) or ``plane`` (km).
        zone_name: Zone id → display name.
        zone_district: Zone id → district.
        zone_xy: Zone id → (lon, lat) or (x, y) km.
        zone_rate: Zone id → expected calls per hour (all agencies).
        unit_post: Unit id → post zone id.
        unit_kind: Unit id → kind (patrol, station, ptu, medic...).
        unit_agency: Unit id → agency id.
        agency_name: Agency id → display name.
        checkpoints: Checkpoint id → {name, zone, mode, lanes, location, rate_per_hour}.
        targets: The scenario's response targets (Jiaxing's 1-3-5 norm) or {}.
        speed_kmh: Travel speed; circuity: road / straight-line distance.
        turnout_min: Minutes from dispatch to rolling.

    """

    name: str
    path: Path
    city: str = ""
    crs: str = "wgs84"
    zone_name: dict[str, str] = field(default_factory=dict)
    zone_district: dict[str, str] = field(default_factory=dict)
    zone_xy: dict[str, tuple[float, float]] = field(default_factory=dict)
    zone_rate: dict[str, float] = field(default_factory=dict)
    unit_post: dict[str, str] = field(default_factory=dict)
    unit_kind: dict[str, str] = field(default_factory=dict)
    unit_agency: dict[str, str] = field(default_factory=dict)
    agency_name: dict[str, str] = field(default_factory=dict)
    checkpoints: dict[str, dict[str, Any]] = field(default_factory=dict)
    targets: dict[str, Any] = field(default_factory=dict)
    speed_kmh: float = 30.0
    circuity: float = 1.0
    turnout_min: float = 0.0

    def zone_label(self, zone: str) -> str:
        """Return the display name of a zone (its name, else its short code)."""
        if zone in self.zone_name:
            return self.zone_name[zone]
        return zone.rsplit(":", 1)[-1]

    def unit_district(self, unit: str) -> str:
        """Return the district of a unit's post ("" when unknown)."""
        return self.zone_district.get(self.unit_post.get(unit, ""), "")

    def unit_label(self, unit: str) -> str:
        """Return "id — kind, district" for a unit."""
        bits = [b for b in (self.unit_kind.get(unit, ""), self.unit_district(unit)) if b]
        return f"{unit} — {', '.join(bits)}" if bits else unit

    def checkpoint_label(self, cp: str) -> str:
        """Return a checkpoint's name (its id when it has none)."""
        return str(self.checkpoints.get(cp, {}).get("name") or cp)

    def agency_label(self, agency: str) -> str:
        """Return an agency's short display name."""
        name = self.agency_name.get(agency, "")
        short = name.split(",")[0].strip() if name else ""
        return short or agency.capitalize()

    @property
    def districts(self) -> list[str]:
        """Return the districts, sorted."""
        return sorted({d for d in self.zone_district.values() if d})


def _city_of(raw: dict[str, Any]) -> str:
    """Return the city a scenario models, as :func:`twin.cities.city_of_scenario` decides it.

    Its ``calibration.city``, else its zone ids' ``<city>:`` prefix; "" when neither names a
    city of :data:`twin.cities.CITIES`. (Read from the raw YAML: the dashboards do not build
    scenarios.)
    """
    cal = raw.get("calibration")
    name = str(cal.get("city") or "") if isinstance(cal, dict) else ""
    zones = raw.get("zones") or []
    if not name and zones and isinstance(zones[0], dict):
        name = str(zones[0].get("id", "")).split(":", 1)[0]
    return name if name in CITIES else ""


def _info(raw: dict[str, Any], path: Path) -> ScenarioInfo:
    info = ScenarioInfo(name=str(raw.get("name") or path.stem), path=path)
    info.city = _city_of(raw)
    info.crs = str(raw.get("crs") or "wgs84")
    for z in raw.get("zones") or []:
        if not isinstance(z, dict) or "id" not in z:
            continue
        zid = str(z["id"])
        if z.get("name"):
            info.zone_name[zid] = str(z["name"])
        if z.get("district") is not None:
            info.zone_district[zid] = str(z["district"])
        loc = z.get("location")
        if isinstance(loc, list | tuple) and len(loc) == 2:
            info.zone_xy[zid] = (float(loc[0]), float(loc[1]))
        rate = float(z.get("rate_per_hour") or 0.0)
        rates = z.get("rates")
        if isinstance(rates, dict):
            rate += sum(float(v) for v in rates.values() if isinstance(v, int | float))
        info.zone_rate[zid] = rate
    agencies = raw.get("agencies") or []
    for a in agencies:
        if isinstance(a, dict) and a.get("id"):
            info.agency_name[str(a["id"])] = str(a.get("name") or a["id"])
    default_agency = str(agencies[0]["id"]) if agencies and isinstance(agencies[0], dict) else ""
    for u in raw.get("units") or []:
        if not isinstance(u, dict) or "id" not in u:
            continue
        uid = str(u["id"])
        info.unit_post[uid] = str(u.get("post", ""))
        info.unit_kind[uid] = str(u.get("kind") or "patrol")
        info.unit_agency[uid] = str(u.get("agency") or default_agency or "police")
    for cp in raw.get("checkpoints") or []:
        if not isinstance(cp, dict) or "id" not in cp:
            continue
        arrivals: dict[str, Any] = cp["arrivals"] if isinstance(cp.get("arrivals"), dict) else {}
        loc = cp.get("location")
        zone = str(cp.get("zone", ""))
        site = (raw.get("checkpoint_sites") or {}).get(str(cp["id"])) or {}
        if not loc and isinstance(site, dict):
            loc = site.get("location")
        if not loc:
            loc = info.zone_xy.get(zone)
        info.checkpoints[str(cp["id"])] = {
            "name": str(cp.get("name") or cp["id"]),
            "zone": zone,
            "mode": str(cp.get("mode", "")),
            "lanes": cp.get("lanes"),
            "location": tuple(loc) if loc else None,
            "rate_per_hour": float(arrivals.get("rate_per_hour") or 0.0),
            "profile": arrivals.get("profile"),
            "district": str(site.get("district", "")) if isinstance(site, dict) else "",
        }
    targets = raw.get("targets")
    info.targets = targets if isinstance(targets, dict) else {}
    travel: dict[str, Any] = raw["travel"] if isinstance(raw.get("travel"), dict) else {}
    info.speed_kmh = float(travel.get("speed_kmh") or 30.0)
    info.circuity = float(travel.get("circuity") or 1.0)
    info.turnout_min = float(travel.get("turnout_min") or 0.0)
    return info


_CACHE: dict[tuple[str, float], ScenarioInfo] = {}
_LOCK = threading.Lock()


def load_info(path: Path) -> ScenarioInfo:
    """Read a scenario YAML into a :class:`ScenarioInfo` (cached by path and mtime).

    Raises:
        DataError: When the file is missing or not a YAML mapping.

    """
    path = Path(path)
    try:
        key = (str(path.resolve()), path.stat().st_mtime)
    except OSError as exc:
        raise DataError(f"scenario file {path} cannot be read ({exc.strerror})") from exc
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DataError(f"scenario file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise DataError(f"scenario file {path} must hold a mapping")
    info = _info(raw, path)
    with _LOCK:
        _CACHE[key] = info
    return info


def scenario_dirs(results: Path) -> list[Path]:
    """Folders searched for scenario files: the results root (recursively) and ./scenarios."""
    return [Path(results), Path("scenarios")]


_INDEX: dict[str, tuple[float, dict[str, Path]]] = {}


def _index(folder: Path) -> dict[str, Path]:
    """Map scenario name → YAML file for the files under *folder* (names read by regex)."""
    try:
        stamp = folder.stat().st_mtime
    except OSError:
        return {}
    key = str(folder.resolve())
    hit = _INDEX.get(key)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    found: dict[str, Path] = {}
    files = sorted(folder.rglob("*.yaml")) if folder.is_dir() else []
    for f in files[:2000]:
        if any(p.startswith(".") for p in f.parts):
            continue
        try:
            with f.open(encoding="utf-8", errors="replace") as handle:
                head = handle.read(20000)
        except OSError:
            continue
        m = _NAME.search(head)
        if m:
            found.setdefault(m.group(1).strip(), f)
    _INDEX[key] = (stamp, found)
    return found


def find_scenario_file(name: str, near: Path, roots: list[Path]) -> Path | None:
    """Find the YAML of scenario *name*: beside *near*, then under each of *roots*."""
    for candidate in (near / "scenario.yaml", near / f"{name}.yaml"):
        if candidate.is_file():
            return candidate
    for root in roots:
        hit = _index(root).get(name)
        if hit is not None:
            return hit
    return None
