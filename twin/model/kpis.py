"""Key performance indicators per agency and per district: the ONE place they are computed.

Pure functions over the per-incident records of one replication (the columns of
``incidents.parquet`` as numpy arrays), the per-unit minutes (``units.parquet``) and the maps
zone -> district, unit -> agency, unit -> post zone. ``summary.json`` (``by_agency``,
``by_district``), sweeps (``replications.parquet``) and the optimizer all read them from here.

The KPIs of a group of incidents (see :data:`KPI_DIRECTION` for which way is better):

* ``incidents``: incidents received in the statistics window (a count);
* ``response_mean_min``, ``response_p50_min``, ``response_p90_min``: received -> on scene, over
  the incidents that were reached (tallies; lost calls have no response time);
* ``within_<t>_min``: the share of *all* the group's incidents reached within ``t`` minutes of
  being received (a lost call counts as not reached); thresholds default to 1, 3, 5 and 8
  minutes, the "1-3-5 minute" circles of the Jiaxing programme plus the common 8-minute norm;
* ``p_wait``: the share of incidents that waited for a free unit (tally);
* ``utilisation``: busy minutes (dispatched + en route + on scene) over on-duty minutes of the
  group's units, summed over units (time-weighted). For an agency these are its units, for a
  district the units posted in it (all agencies).

An empty group has ``incidents = 0`` and ``None`` for the other incident KPIs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AREA_LEVELS",
    "DEFAULT_THRESHOLDS",
    "KPI_DIRECTION",
    "AreaMaps",
    "IncidentFilter",
    "area_kpis",
    "area_rows",
    "flat_kpis",
    "group_kpis",
    "kpi_direction",
    "kpi_names",
    "within_name",
]

DEFAULT_THRESHOLDS: tuple[float, ...] = (1.0, 3.0, 5.0, 8.0)
"""Minutes of the ``within_<t>_min`` shares unless configured otherwise."""

KPI_DIRECTION: dict[str, int] = {
    "incidents": 0,
    "response_mean_min": -1,
    "response_p50_min": -1,
    "response_p90_min": -1,
    "p_wait": -1,
    "utilisation": 0,
}
"""Which way is better per KPI: -1 lower, +1 higher, 0 neither (a load, not a goal).

``within_<t>_min`` shares are +1 (see :func:`kpi_direction`).
"""


def within_name(minutes: float) -> str:
    """Return the KPI name of the share reached within *minutes* (``within_5_min``)."""
    return f"within_{minutes:g}_min"


def kpi_names(thresholds: Sequence[float] = DEFAULT_THRESHOLDS) -> list[str]:
    """Return the KPI names in report order for the given thresholds."""
    return [
        "incidents",
        "response_mean_min",
        "response_p50_min",
        "response_p90_min",
        *(within_name(t) for t in thresholds),
        "p_wait",
        "utilisation",
    ]


def kpi_direction(name: str) -> int:
    """Return -1 when lower is better, +1 when higher is better, 0 when neither.

    Raises:
        KeyError: *name* is not a KPI.

    """
    if name in KPI_DIRECTION:
        return KPI_DIRECTION[name]
    if name.startswith("within_") and name.endswith("_min"):
        try:
            float(name[len("within_") : -len("_min")])
        except ValueError:
            raise KeyError(name) from None
        return 1
    raise KeyError(name)


@dataclass(frozen=True)
class AreaMaps:
    """Where zones and units belong (index-aligned with a run's zones and units).

    Attributes:
        zone_district: District of each zone (``""`` when the scenario gives none).
        unit_agency: Agency index (into ``agencies``) of each unit.
        unit_post: Zone index of each unit's post.
        agencies: Agency ids in engine order (the codes of ``incidents["agency"]``).

    """

    zone_district: Sequence[str]
    unit_agency: Sequence[int]
    unit_post: Sequence[int]
    agencies: Sequence[str]

    @classmethod
    def of_run(cls, run: Any) -> AreaMaps:
        """Return the maps a :class:`~twin.model.engine.RunResult` carries."""
        return cls(
            zone_district=list(run.zone_districts) or [""] * len(run.zone_ids),
            unit_agency=list(run.unit_agency) or [0] * len(run.unit_ids),
            unit_post=list(run.unit_post) or [0] * len(run.unit_ids),
            agencies=list(run.agencies) or ["police"],
        )

    @property
    def districts(self) -> list[str]:
        """Return the districts in order of first appearance among zones (no empty name)."""
        return [d for d in dict.fromkeys(self.zone_district) if d != ""]


@dataclass(frozen=True)
class IncidentFilter:
    """A subset of incidents: by agency, priority level and/or district (None = any)."""

    agency: str | None = None
    priority: int | None = None
    district: str | None = None

    def mask(self, incidents: Mapping[str, NDArray[Any]], maps: AreaMaps) -> NDArray[np.bool_]:
        """Return the boolean mask of the incidents this filter keeps."""
        n = int(np.asarray(incidents["zone"]).size)
        keep = np.ones(n, dtype=bool)
        if self.agency is not None:
            code = list(maps.agencies).index(self.agency) if self.agency in maps.agencies else -1
            keep &= np.asarray(incidents["agency"]) == code
        if self.priority is not None:
            keep &= np.asarray(incidents["priority"]) == self.priority
        if self.district is not None:
            zd = np.asarray(list(maps.zone_district), dtype=object)
            keep &= zd[np.asarray(incidents["zone"], dtype=np.int64)] == self.district
        return keep

    def unit_mask(self, maps: AreaMaps) -> NDArray[np.bool_]:
        """Return the mask of units counted for utilisation (agency and post district)."""
        keep = np.ones(len(maps.unit_agency), dtype=bool)
        if self.agency is not None:
            code = list(maps.agencies).index(self.agency) if self.agency in maps.agencies else -1
            keep &= np.asarray(maps.unit_agency, dtype=np.int64) == code
        if self.district is not None:
            zd = np.asarray(list(maps.zone_district), dtype=object)
            posts = np.asarray(maps.unit_post, dtype=np.int64)
            keep &= zd[posts] == self.district if posts.size else keep
        return keep


def _num(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def group_kpis(
    response_min: NDArray[np.float64],
    waited: NDArray[np.bool_],
    busy_min: NDArray[np.float64],
    on_duty_min: NDArray[np.float64],
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> dict[str, float | int | None]:
    """Return the KPIs of one group of incidents and units.

    Args:
        response_min: Response time of each incident of the group (NaN when not reached).
        waited: Whether each incident waited for a free unit.
        busy_min: Busy minutes of each unit of the group.
        on_duty_min: On-duty minutes of each unit of the group.
        thresholds: Minutes of the ``within_<t>_min`` shares.

    Returns:
        ``{kpi: value}`` in :func:`kpi_names` order.

    """
    resp = np.asarray(response_min, dtype=np.float64)
    n = int(resp.size)
    reached = resp[np.isfinite(resp)]
    out: dict[str, float | int | None] = {"incidents": n}
    if reached.size:
        out["response_mean_min"] = _num(float(reached.mean()))
        out["response_p50_min"] = _num(float(np.percentile(reached, 50)))
        out["response_p90_min"] = _num(float(np.percentile(reached, 90)))
    else:
        out["response_mean_min"] = out["response_p50_min"] = out["response_p90_min"] = None
    for t in thresholds:
        out[within_name(t)] = float(np.count_nonzero(reached <= t)) / n if n else None
    out["p_wait"] = float(np.asarray(waited, dtype=bool).mean()) if n else None
    duty = float(np.sum(on_duty_min))
    out["utilisation"] = float(np.sum(busy_min)) / duty if duty > 0 else None
    return out


def _subset(
    incidents: Mapping[str, NDArray[Any]],
    units: Mapping[str, Any],
    maps: AreaMaps,
    flt: IncidentFilter,
    thresholds: Sequence[float],
) -> dict[str, float | int | None]:
    m = flt.mask(incidents, maps)
    um = flt.unit_mask(maps)
    return group_kpis(
        np.asarray(incidents["response_min"], dtype=np.float64)[m],
        np.asarray(incidents["waited"], dtype=bool)[m],
        np.asarray(units["busy_min"], dtype=np.float64)[um],
        np.asarray(units["on_duty_min"], dtype=np.float64)[um],
        thresholds,
    )


def area_kpis(
    incidents: Mapping[str, NDArray[Any]],
    units: Mapping[str, Any],
    maps: AreaMaps,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    where: IncidentFilter | None = None,
) -> dict[str, Any]:
    """Return overall, per-agency and per-district KPIs of one replication.

    Args:
        incidents: The incident columns (``zone``, ``agency``, ``priority``, ``response_min``,
            ``waited``).
        units: The unit columns (``busy_min``, ``on_duty_min``), index-aligned with the maps.
        maps: Zone -> district, unit -> agency and post.
        thresholds: Minutes of the ``within_<t>_min`` shares.
        where: An optional filter applied before grouping (e.g. priority 1 only).

    Returns:
        ``{"overall": {kpi: v}, "by_agency": {agency: {kpi: v}}, "by_district": {district:
        {kpi: v}}}`` (districts in zone order; zones without a district are left out of
        ``by_district``).

    """
    base = where or IncidentFilter()
    overall = _subset(incidents, units, maps, base, thresholds)
    by_agency = {
        a: _subset(
            incidents,
            units,
            maps,
            IncidentFilter(a if base.agency in (None, a) else "\0", base.priority, base.district),
            thresholds,
        )
        for a in maps.agencies
    }
    by_district = {
        d: _subset(
            incidents,
            units,
            maps,
            IncidentFilter(base.agency, base.priority, d if base.district in (None, d) else "\0"),
            thresholds,
        )
        for d in maps.districts
    }
    return {"overall": overall, "by_agency": by_agency, "by_district": by_district}


def flat_kpis(sections: Mapping[str, Any]) -> dict[str, float | None]:
    """Flatten :func:`area_kpis` into the columns of ``replications.parquet``.

    Overall KPIs keep their names (``response_mean_min``); per agency and district they are
    ``agency=<id>/<kpi>`` and ``district=<id>/<kpi>``. Counts become floats, missing values
    ``None`` (NaN in the table).
    """
    row: dict[str, float | None] = {}
    for k, v in sections["overall"].items():
        row[k] = None if v is None else float(v)
    for kind, key in (("agency", "by_agency"), ("district", "by_district")):
        for group, kpis in sections[key].items():
            for k, v in kpis.items():
                row[f"{kind}={group}/{k}"] = None if v is None else float(v)
    return row


AREA_LEVELS = ("all", "agency", "district", "agency_district", "zone", "agency_zone")
"""The groupings of :func:`area_rows` (``kpis.parquet``), coarse to fine."""


def _groups(codes: NDArray[np.int64], n: int) -> list[NDArray[np.int64]]:
    """Return, for each code ``0..n-1``, the positions holding it (one sort, no n x N masks)."""
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(n + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(n)]


def area_rows(
    incidents: Mapping[str, NDArray[Any]],
    units: Mapping[str, Any],
    maps: AreaMaps,
    zone_ids: Sequence[str],
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
) -> list[dict[str, Any]]:
    """Return the KPIs of one replication for every area grouping, as flat rows.

    The same :func:`group_kpis` as ``summary.json`` and sweeps, over every grouping a page
    shows (:data:`AREA_LEVELS`): all incidents, per agency, per district, per agency and
    district, per zone, per agency and zone. A zone's units are those posted in it (its
    utilisation), a district's those posted in its zones; an agency's are its own units.
    Empty groups (no incident and no unit) are left out.

    Args:
        incidents: The incident columns (``zone``, ``agency``, ``response_min``, ``waited``).
        units: The unit columns (``busy_min``, ``on_duty_min``), index-aligned with the maps.
        maps: Zone -> district, unit -> agency and post.
        zone_ids: The zone ids (the codes of ``incidents["zone"]``).
        thresholds: Minutes of the ``within_<t>_min`` shares.

    Returns:
        Rows of ``level``, ``agency`` (``""`` = all agencies), ``district`` (``""`` = all or
        none), ``zone`` (``""`` = all) and the KPIs of :func:`kpi_names`.

    """
    resp = np.asarray(incidents["response_min"], dtype=np.float64)
    waited = np.asarray(incidents["waited"], dtype=bool)
    busy = np.asarray(units["busy_min"], dtype=np.float64)
    duty = np.asarray(units["on_duty_min"], dtype=np.float64)
    nz = len(zone_ids)
    agencies = list(maps.agencies)
    districts = maps.districts
    zd = np.asarray(list(maps.zone_district), dtype=object)
    d_of_zone = np.asarray([districts.index(d) if d in districts else -1 for d in zd], np.int64)
    inc_zone = np.asarray(incidents["zone"], dtype=np.int64)
    inc_ag = np.asarray(incidents["agency"], dtype=np.int64)
    u_post = np.asarray(list(maps.unit_post), dtype=np.int64)
    u_ag = np.asarray(list(maps.unit_agency), dtype=np.int64)
    inc_d = d_of_zone[inc_zone] if inc_zone.size else np.zeros(0, np.int64)
    u_d = d_of_zone[u_post] if u_post.size else np.zeros(0, np.int64)
    nd = len(districts)
    scopes: list[tuple[str, int | None]] = [("", None)]
    scopes += [(a, k) for k, a in enumerate(agencies)]
    rows: list[dict[str, Any]] = []

    def emit(level: str, agency: str, district: str, zone: str, i: Any, u: Any) -> None:
        if np.size(i) == 0 and np.size(u) == 0:
            return
        k = group_kpis(resp[i], waited[i], busy[u], duty[u], thresholds)
        rows.append({"level": level, "agency": agency, "district": district, "zone": zone, **k})

    for agency, code in scopes:
        im = np.ones(resp.size, bool) if code is None else inc_ag == code
        um = np.ones(busy.size, bool) if code is None else u_ag == code
        ii, uu = np.flatnonzero(im), np.flatnonzero(um)
        pre = "" if code is None else "agency_"
        emit("all" if code is None else "agency", agency, "", "", ii, uu)
        if nd:
            di, du = _groups(inc_d[ii], nd), _groups(u_d[uu], nd)
            for j, d in enumerate(districts):
                emit(f"{pre}district", agency, d, "", ii[di[j]], uu[du[j]])
        zi, zu = _groups(inc_zone[ii], nz), _groups(u_post[uu], nz)
        for j, z in enumerate(zone_ids):
            district = str(zd[j]) if j < zd.size else ""
            emit(f"{pre}zone", agency, district, str(z), ii[zi[j]], uu[zu[j]])
    return rows
