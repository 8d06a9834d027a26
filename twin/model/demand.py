"""Demand sources: where incidents come from, chosen by name (``demand.source``).

A source yields :class:`ArrivalBlock` s, blocks of incidents sorted by the time the call is
received, each incident with its zone, priority and on-scene time already drawn. Everything about
an incident comes from the incident streams (arrivals, zones, priorities, service, detection),
never from the fleet's streams, so scenarios that differ only in their units or dispatch see
the same incident stream for the same seed (common random numbers).

Sources:

* ``poisson``: zone rates with optional hour-of-week profiles, by thinning a homogeneous
  Poisson stream (Lewis–Shedler); each incident's class is drawn from its zone's mix
  (``zones[].shares``, default the city-wide ``priorities[].share``).
* ``trace``: a table of historical arrivals with columns ``time_min`` (minutes after the start
  of the simulation), ``zone``, ``priority`` and optionally ``service_min`` (drawn from the
  scenario's service distribution when absent), ``agency`` (default ``police``) and
  ``dispatch_delay_min`` (observed received -> dispatchable minutes; where missing, drawn from
  the scenario's dispatch delay). The replay tools inject one with
  ``Simulation(scenario, seed, demand=df)``.

Several agencies: demand comes in (zone, agency) cells (``zones[].rates``); each incident's
class index (``priority`` in :class:`ArrivalBlock`) points into
:meth:`~twin.scenario.Scenario.class_keys`, which fixes its agency. Dispatch delays and
trip multipliers (:class:`IncidentExtras`) come from their own streams.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from numpy.typing import NDArray

from twin.errors import DataError
from twin.model.distributions import Distribution, from_spec
from twin.model.registry import Registry
from twin.scenario import DEFAULT_AGENCY, HOURS_PER_WEEK, Scenario

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "DEMAND_SOURCES",
    "ArrivalBlock",
    "DemandSource",
    "DetectionFn",
    "IncidentExtras",
    "PoissonDemand",
    "TraceDemand",
    "build_demand",
    "service_distributions",
]

BLOCK = 16384
"""Candidates drawn per block (fixed, so streams line up across horizons)."""

DetectionFn = Callable[[NDArray[np.int64], NDArray[np.float64]], NDArray[np.float64]]
"""``(zone indices, occurrence times) -> multiplier of the detection delay``."""


@dataclass
class ArrivalBlock:
    """Incidents sorted by received time (all arrays have the same length).

    Attributes:
        incident: Global incident number (order of occurrence).
        occurred: When the incident happened (minutes).
        received: When the call was received (occurred + detection delay).
        zone: Zone index.
        priority: Index into the scenario's call classes (:meth:`Scenario.class_keys`; with a
            single agency, its priority levels).
        service: On-scene minutes.
        ready: When the call can be dispatched (received + dispatch delay); sorted by this.
            Defaults to ``received`` (no dispatch delay).
        tmult: Multiplier of the trip's driving time (class ``travel_factor`` x
            ``travel.noise``); None when every trip drives at the normal speed.

    """

    incident: NDArray[np.int64]
    occurred: NDArray[np.float64]
    received: NDArray[np.float64]
    zone: NDArray[np.int64]
    priority: NDArray[np.int64]
    service: NDArray[np.float64]
    ready: NDArray[np.float64] | None = None
    tmult: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if self.ready is None:
            self.ready = self.received

    def __len__(self) -> int:
        return int(self.incident.size)

    @property
    def ready_times(self) -> NDArray[np.float64]:
        """Return the dispatchable times (``ready``, never None after construction)."""
        assert self.ready is not None
        return self.ready

    def take(self, idx: NDArray[Any]) -> ArrivalBlock:
        """Return the rows *idx* (a mask or index array)."""
        received = self.received[idx]
        return ArrivalBlock(
            self.incident[idx],
            self.occurred[idx],
            received,
            self.zone[idx],
            self.priority[idx],
            self.service[idx],
            received if self.ready is self.received else self.ready_times[idx],
            None if self.tmult is None else self.tmult[idx],
        )

    @staticmethod
    def concat(blocks: list[ArrivalBlock]) -> ArrivalBlock:
        """Concatenate blocks (no reordering)."""
        cols = [np.concatenate([getattr(b, f) for b in blocks]) for f in _FIELDS]
        if all(b.ready is b.received for b in blocks):
            ready = cols[2]
        else:
            ready = np.concatenate([b.ready_times for b in blocks])
        tmult = None
        if any(b.tmult is not None for b in blocks):
            tmult = np.concatenate(
                [b.tmult if b.tmult is not None else np.ones(len(b)) for b in blocks]
            )
        return ArrivalBlock(
            cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], ready=ready, tmult=tmult
        )

    @staticmethod
    def empty() -> ArrivalBlock:
        """Return a block with no rows."""
        i = np.zeros(0, dtype=np.int64)
        f = np.zeros(0, dtype=np.float64)
        return ArrivalBlock(i, f, f, i, i, f)


_FIELDS = ("incident", "occurred", "received", "zone", "priority", "service")


class IncidentExtras:
    """Per-incident draws of the optional features: dispatch delay and trip multiplier.

    Each comes from its own stream (``dispatch_delay``, ``travel_noise``), drawn once per
    incident in incident order, so the incident streams are the same with or without them.

    A class with ``immediate_dispatch`` is dispatched the moment it is received with a
    probability that depends on the calls of its agency received in the 60 minutes before
    (exogenous: counted from the arrival times as each block is drawn, the previous blocks'
    last hour carried over; a replayed trace is one block). Its delays are drawn as without
    it, then one uniform per call of the class (same stream, after all delays of the block)
    decides; without the field nothing more is drawn. Calls without arrival times (injected
    ones) draw the delay without the share. With a detection delay, a call received near a
    block's end does not see the next block's calls received before it.

    Args:
        scenario: The scenario (classes' ``dispatch_delay`` / ``travel_factor`` /
            ``travel_noise`` / ``travel_by_hour``, ``dispatch.delay``, ``travel.noise``).
            With a class's own noise, each class's multipliers are drawn in class order (the
            shared noise's single draw per block is kept when no class has its own).

    """

    def __init__(self, scenario: Scenario) -> None:
        self.delays: list[Distribution | None] = []
        self.factors: list[float] = []
        # per class: its agency index and its immediate-dispatch curve (load points, shares)
        agency_of: list[int] = []
        self.immediate: list[tuple[NDArray[np.float64], NDArray[np.float64]] | None] = []
        noise = scenario.travel.noise
        self.noise = from_spec(noise) if noise is not None else None
        # per-class noise (priorities[].travel_noise); None when no class has its own
        noises: list[Distribution | None] = []
        for a_idx, agency in enumerate(scenario.agency_ids):
            d = scenario.agency_dispatch(agency).delay
            default = from_spec(d) if d is not None else None
            prios = scenario.agency_priorities(agency)
            if not prios:
                self.delays.append(default)
                self.factors.append(1.0)
                noises.append(self.noise)
                agency_of.append(a_idx)
                self.immediate.append(None)
            for p in prios:
                agency_of.append(a_idx)
                im = p.immediate_dispatch
                self.immediate.append(
                    None
                    if im is None
                    else (
                        np.asarray(im.calls_prev_hour, dtype=np.float64),
                        np.asarray(im.share, dtype=np.float64),
                    )
                )
                dd = p.dispatch_delay
                self.delays.append(from_spec(dd) if dd is not None else default)
                self.factors.append(float(p.travel_factor))
                tn = p.travel_noise
                noises.append(from_spec(tn) if tn is not None else self.noise)
        own = any(
            p.travel_noise is not None
            for a in scenario.agency_ids
            for p in scenario.agency_priorities(a)
        )
        self.class_noise = noises if own else None
        # per-class multipliers by hour of the day (priorities[].travel_by_hour)
        self.by_hour: NDArray[np.float64] | None = None
        if any(
            p.travel_by_hour is not None
            for a in scenario.agency_ids
            for p in scenario.agency_priorities(a)
        ):
            rows: list[list[float]] = []
            for agency in scenario.agency_ids:
                prios = scenario.agency_priorities(agency)
                if not prios:
                    rows.append([1.0] * 24)
                rows.extend(p.travel_by_hour or [1.0] * 24 for p in prios)
            self.by_hour = np.asarray(rows, dtype=np.float64)
        self.has_delay = any(d is not None for d in self.delays)
        self.class_agency = np.asarray(agency_of, dtype=np.int64)
        self.has_immediate = self.has_delay and any(
            im is not None and self.delays[c] is not None for c, im in enumerate(self.immediate)
        )
        # per agency: received times of earlier blocks that a later call may still count
        self._tail: dict[int, NDArray[np.float64]] = {}
        self.has_tmult = (
            self.noise is not None
            or own
            or self.by_hour is not None
            or any(f != 1.0 for f in self.factors)
        )
        self.active = self.has_delay or self.has_tmult

    def delay(
        self,
        prio: NDArray[np.int64],
        rng: np.random.Generator,
        load: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Draw the dispatch delay of each incident (by class) from *rng*.

        With *load* (each call's calls in the previous hour, :meth:`calls_prev_hour`), a class
        with ``immediate_dispatch`` has its calls dispatched at once (delay 0) with the
        probability of their load.
        """
        out = np.zeros(prio.size)
        for c, dist in enumerate(self.delays):
            if dist is not None:
                m = prio == c
                k = int(m.sum())
                if k:
                    out[m] = dist.sample_many(rng, k)
        if load is not None and self.has_immediate:
            for c, im in enumerate(self.immediate):
                if im is None or self.delays[c] is None:
                    continue
                m = np.flatnonzero(prio == c)
                if m.size:
                    p = np.interp(load[m], im[0], im[1])
                    out[m[rng.random(m.size) < p]] = 0.0
        return out

    def calls_prev_hour(self, block: ArrivalBlock) -> NDArray[np.float64]:
        """Count, per call of *block*, its agency's calls received in the 60 minutes before.

        Calls of earlier blocks count (their last hour is carried over): call blocks in
        occurrence order, each once.
        """
        agency = self.class_agency[block.priority]
        out = np.zeros(len(block))
        horizon = float(block.occurred.max()) - 60.0  # later calls are received after this + 60
        for a in np.unique(agency).tolist():
            m = agency == a
            t = block.received[m]
            seen = np.sort(np.concatenate([self._tail.get(a, np.zeros(0)), t]))
            out[m] = np.searchsorted(seen, t, side="left") - np.searchsorted(
                seen, t - 60.0, side="left"
            )
            self._tail[a] = seen[seen >= horizon]
        return out

    def tmult(
        self,
        prio: NDArray[np.int64],
        rng: np.random.Generator,
        received: NDArray[np.float64] | None = None,
    ) -> NDArray[np.float64]:
        """Return each trip's driving-time multiplier (class factor x noise from *rng*).

        With ``travel_by_hour``, the class's multiplier of the hour of *received* joins in.
        """
        out = np.asarray(self.factors, dtype=np.float64)[prio] if prio.size else np.ones(0)
        if self.by_hour is not None and received is not None and prio.size:
            hour = (np.floor(received / 60.0) % 24).astype(np.int64)
            out = out * self.by_hour[prio, hour]
        if self.class_noise is not None:
            mult = np.ones(prio.size)
            for c, dist in enumerate(self.class_noise):
                m = prio == c
                k = int(m.sum())
                if dist is not None and k:
                    mult[m] = dist.sample_many(rng, k)
            out = out * mult
        elif self.noise is not None:
            out = out * self.noise.sample_many(rng, prio.size)
        return out

    def apply(self, block: ArrivalBlock, streams: dict[str, np.random.Generator]) -> ArrivalBlock:
        """Return *block* with ``ready`` and ``tmult`` drawn (incident order), sorted by ready."""
        if not self.active or not len(block):
            return block
        if self.has_delay:
            load = self.calls_prev_hour(block) if self.has_immediate else None
            block.ready = block.received + self.delay(
                block.priority, streams["dispatch_delay"], load
            )
        if self.has_tmult:
            block.tmult = self.tmult(block.priority, streams["travel_noise"], block.received)
        return block


class DemandSource(Protocol):
    """A demand source: blocks of arrivals with received time < *end*, in received order."""

    name: str

    def blocks(self, end: float) -> Iterator[ArrivalBlock]:
        """Yield arrival blocks sorted by received time, all received before *end*."""
        ...


def service_distributions(scenario: Scenario) -> list[Distribution]:
    """Return the on-scene distribution per call class (:meth:`Scenario.class_keys` order).

    A class without its own ``service`` uses its agency's, else the scenario's ``service``.
    """
    out: list[Distribution] = []
    for agency in scenario.agency_ids:
        default = from_spec(scenario.agency_service(agency))
        prios = scenario.agency_priorities(agency)
        if not prios:
            out.append(default)
        out.extend(from_spec(p.service) if p.service is not None else default for p in prios)
    return out


def _demand_cells(
    scenario: Scenario,
) -> tuple[list[int], list[int], list[float], list[list[float] | None]]:
    """Return the demand cells: (zone, agency) pairs with a positive rate, their rate and profile.

    One cell per zone when the scenario has a single agency.
    """
    agencies = scenario.agency_ids
    cell_zone: list[int] = []
    cell_agency: list[int] = []
    cell_rate: list[float] = []
    cell_prof: list[list[float] | None] = []
    for i, z in enumerate(scenario.zones):
        for a, r in z.agency_rates().items():
            if r > 0:
                cell_zone.append(i)
                cell_agency.append(agencies.index(a))
                cell_rate.append(r)
                cell_prof.append(z.agency_profile(a))
    return cell_zone, cell_agency, cell_rate, cell_prof


class PoissonDemand:
    """Poisson arrivals per zone, with optional hour-of-week profiles (thinning).

    Args:
        scenario: The scenario (zone rates, profiles, priorities, service, detection).
        streams: Generators keyed ``arrivals``, ``zones``, ``priorities``, ``service``,
            ``detection``.
        detection: Multiplier of the detection delay by zone and time (camera coverage); None
            means 1 everywhere.

    """

    name = "poisson"

    def __init__(
        self,
        scenario: Scenario,
        streams: dict[str, np.random.Generator],
        detection: DetectionFn | None = None,
    ) -> None:
        self.streams = streams
        agencies = scenario.agency_ids
        cell_zone, cell_agency, cell_rate, cell_prof = _demand_cells(scenario)
        self._cell_zone = np.asarray(cell_zone, dtype=np.int64)
        self._cell_agency = np.asarray(cell_agency, dtype=np.int64)
        self._identity = len(cell_zone) == len(scenario.zones) and len(agencies) == 1
        rates = np.array(cell_rate, dtype=np.float64) / 60.0
        prof = np.ones((len(cell_rate), HOURS_PER_WEEK))
        for i, cp in enumerate(cell_prof):
            if cp is not None:
                prof[i] = np.asarray(cp, dtype=np.float64)
        peak = prof.max(axis=1)
        self._thin = bool(np.any(prof != peak[:, None]))
        self._accept = prof / peak[:, None]  # acceptance probability per zone and hour
        cand = rates * peak
        self.rate_max = float(cand.sum())  # per minute
        self._zone_cdf = np.cumsum(cand / cand.sum())
        self._zone_cdf[-1] = 1.0
        # per agency: the cumulative shares of its classes and the index of its first class
        self._prio_cdfs: list[tuple[NDArray[np.float64], int]] = []
        offset = 0
        for a in agencies:
            shares = [p.share for p in scenario.agency_priorities(a)] or [1.0]
            cdf = np.cumsum(np.asarray(shares) / sum(shares))
            cdf[-1] = 1.0
            self._prio_cdfs.append((cdf, offset))
            offset += len(shares)
        self._prio_cdf = self._prio_cdfs[0][0]
        # zones[].shares: one cumulative mix per demand cell (padded with 2.0, above any
        # uniform draw); None keeps the city-wide draw, so files without zone mixes draw
        # exactly as before
        self._cell_cdf: NDArray[np.float64] | None = None
        self._cell_off: NDArray[np.int64] | None = None
        if scenario.has_zone_shares:
            self._cell_cdf = self._zone_mix_table(scenario, cell_zone, cell_agency)
            self._cell_off = np.asarray(
                [self._prio_cdfs[a][1] for a in cell_agency], dtype=np.int64
            )
        self._service = service_distributions(scenario)
        self._extras = IncidentExtras(scenario)
        spec = scenario.detection.delay
        self._delay = from_spec(spec) if spec is not None else None
        self._detection = detection

    def _zone_mix_table(
        self, scenario: Scenario, cell_zone: list[int], cell_agency: list[int]
    ) -> NDArray[np.float64]:
        """Return each demand cell's cumulative class mix (``zones[].shares``), padded."""
        agencies = scenario.agency_ids
        width = max(cdf.size for cdf, _ in self._prio_cdfs)
        table = np.full((len(cell_zone), width), 2.0)
        for c, (zi, ai) in enumerate(zip(cell_zone, cell_agency, strict=True)):
            mix = np.asarray(scenario.zone_class_shares(scenario.zones[zi], agencies[ai]))
            cdf = np.cumsum(mix / mix.sum())
            cdf[-1] = 1.0
            table[c, : cdf.size] = cdf
        return table

    def blocks(self, end: float) -> Iterator[ArrivalBlock]:
        """Yield arrival blocks received before *end*, in received order."""
        s = self.streams
        t = 0.0
        seq = 0
        carry = ArrivalBlock.empty()
        while True:
            gaps = s["arrivals"].exponential(1.0 / self.rate_max, BLOCK)
            occ = t + np.cumsum(gaps)
            t = float(occ[-1])
            zone = np.searchsorted(self._zone_cdf, s["zones"].random(BLOCK), side="right")
            if self._thin:
                how = (occ // 60.0).astype(np.int64) % HOURS_PER_WEEK
                keep = s["arrivals"].random(BLOCK) < self._accept[zone, how]
                occ, zone = occ[keep], zone[keep]
            n = occ.size
            if self._cell_cdf is not None and self._cell_off is not None:
                cell = zone
                zone = self._cell_zone[cell]
                u = s["priorities"].random(n)
                # searchsorted(cdf, u, side="right") per row: the count of cdf values <= u
                local = (self._cell_cdf[cell] <= u[:, None]).sum(axis=1)
                prio = self._cell_off[cell] + local
            elif self._identity:
                prio = np.searchsorted(self._prio_cdf, s["priorities"].random(n), side="right")
            else:
                cell = zone
                zone = self._cell_zone[cell]
                agency = self._cell_agency[cell]
                u = s["priorities"].random(n)
                prio = np.empty(n, dtype=np.int64)
                for a, (cdf, off) in enumerate(self._prio_cdfs):
                    m = agency == a
                    prio[m] = off + np.searchsorted(cdf, u[m], side="right")
            svc = np.empty(n)
            for c, dist in enumerate(self._service):
                m = prio == c
                svc[m] = dist.sample_many(s["service"], int(m.sum()))
            if self._delay is not None:
                delay = self._delay.sample_many(s["detection"], n)
                if self._detection is not None:
                    delay = delay * self._detection(zone, occ)
                recv = occ + delay
            else:
                recv = occ
            ids = np.arange(seq, seq + n, dtype=np.int64)
            seq += n
            block = ArrivalBlock(ids, occ, recv, zone.astype(np.int64), prio.astype(np.int64), svc)
            block = self._extras.apply(block, s)
            if len(carry):
                block = ArrivalBlock.concat([carry, block])
            if self._delay is not None or self._extras.has_delay:
                block = block.take(np.argsort(block.ready_times, kind="stable"))
            # every later incident occurs after t, so it is received (and ready) after t
            if t >= end:
                out = block.take(block.received < end)  # ready may be after the end
                if len(out):
                    yield out
                return
            ready = block.ready_times < t
            out = block.take(ready)
            carry = block.take(~ready)
            if len(out):
                yield out


class TraceDemand:
    """Arrivals read from a table (historical incidents, or a hand-made sequence).

    Args:
        scenario: The scenario (zone ids, priority levels, service distributions).
        table: A DataFrame with ``time_min``, ``zone``, ``priority`` and optional
            ``service_min``, ``agency``, ``dispatch_delay_min``; or a path to a CSV/Parquet
            file with those columns.
        streams: Generators; ``service`` draws missing on-scene times.

    """

    name = "trace"

    def __init__(
        self,
        scenario: Scenario,
        table: pd.DataFrame | str | Path,
        streams: dict[str, np.random.Generator],
    ) -> None:
        import pandas as pd

        src = "trace"
        if isinstance(table, (str, Path)):
            src = str(table)
            path = Path(table)
            if not path.exists():
                raise DataError(f"{path}: demand trace file not found (demand.path)")
            try:
                if path.suffix.lower() == ".parquet":
                    df = pd.read_parquet(path)
                else:
                    df = pd.read_csv(path)
            except Exception as exc:
                raise DataError(f"{path}: cannot read demand trace ({exc})") from None
        else:
            df = table
        for col in ("time_min", "zone", "priority"):
            if col not in df.columns:
                raise DataError(
                    f"{src}: demand trace lacks column {col!r}; "
                    "needs time_min, zone, priority[, service_min, agency, dispatch_delay_min]"
                )
        times = pd.to_numeric(df["time_min"], errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(times) | (times < 0))
        if bad.size:
            raise DataError(f"{src}: row {int(bad[0])}: time_min must be a number >= 0")
        zidx = {z: i for i, z in enumerate(scenario.zone_ids)}
        zones_raw = df["zone"].astype(str).tolist()
        zone = np.empty(len(zones_raw), dtype=np.int64)
        for r, z in enumerate(zones_raw):
            if z not in zidx:
                raise DataError(f"{src}: row {r}: unknown zone {z!r} (not in the scenario's zones)")
            zone[r] = zidx[z]
        classes = scenario.class_keys()
        agencies = scenario.agency_ids
        cidx = {key: i for i, key in enumerate(classes)}
        levels_of = {a: [lvl for b, lvl in classes if b == a] for a in agencies}
        if "agency" in df.columns:
            agency_col = df["agency"].astype(str).tolist()
        else:
            agency_col = [DEFAULT_AGENCY if DEFAULT_AGENCY in agencies else agencies[0]] * len(df)
        prio = np.empty(len(zone), dtype=np.int64)
        for r, (p, a) in enumerate(zip(df["priority"].tolist(), agency_col, strict=True)):
            if a not in levels_of:
                raise DataError(
                    f"{src}: row {r}: agency {a!r} is not one of the scenario's agencies {agencies}"
                )
            levels = levels_of[a]
            try:
                key = int(p)
            except (TypeError, ValueError):
                key = -(10**9)
            if (a, key) not in cidx:
                if len(levels) == 1:  # a single-class agency takes any priority
                    key = levels[0]
                else:
                    raise DataError(
                        f"{src}: row {r}: priority {p!r} is not one of agency {a!r}'s levels "
                        f"{levels}"
                    )
            prio[r] = cidx[(a, key)]
        service = np.full(len(zone), np.nan)
        if "service_min" in df.columns:
            # a copy: pandas may hand out a read-only view of its buffer
            service = np.array(
                pd.to_numeric(df["service_min"], errors="coerce").to_numpy(dtype=np.float64),
                copy=True,
            )
            if np.any(service[np.isfinite(service)] < 0):
                raise DataError(f"{src}: service_min must be >= 0")
        missing = ~np.isfinite(service)
        dists = service_distributions(scenario)
        for c, dist in enumerate(dists):
            m = missing & (prio == c)
            service[m] = dist.sample_many(streams["service"], int(m.sum()))
        order = np.argsort(times, kind="stable")
        ids = np.arange(len(zone), dtype=np.int64)
        block = ArrivalBlock(
            ids[order], times[order], times[order], zone[order], prio[order], service[order]
        )
        extras = IncidentExtras(scenario)
        block = extras.apply(block, streams)
        sort = extras.has_delay
        if "dispatch_delay_min" in df.columns:
            # observed call-taking delays replace drawn ones where known
            obs = np.array(
                pd.to_numeric(df["dispatch_delay_min"], errors="coerce").to_numpy(dtype=np.float64),
                copy=True,
            )[order]
            known = np.isfinite(obs)
            if np.any(obs[known] < 0):
                raise DataError(f"{src}: dispatch_delay_min must be >= 0")
            if known.any():
                ready = block.ready_times.copy()
                ready[known] = block.received[known] + obs[known]
                block.ready = ready
                sort = True
        if sort:
            block = block.take(np.argsort(block.ready_times, kind="stable"))
        self._all = block

    def blocks(self, end: float) -> Iterator[ArrivalBlock]:
        """Yield the trace's arrivals received before *end* (in dispatchable order)."""
        keep = self._all.take(self._all.received < end)
        for i in range(0, len(keep), BLOCK):
            yield keep.take(np.arange(i, min(i + BLOCK, len(keep))))


def build_demand(
    scenario: Scenario,
    streams: dict[str, np.random.Generator],
    detection: DetectionFn | None = None,
    trace: pd.DataFrame | str | Path | None = None,
) -> DemandSource:
    """Build the demand source the scenario names, or a trace when one is given.

    Args:
        scenario: The scenario.
        streams: The incident random streams.
        detection: Detection-delay multiplier by zone and time (Poisson only).
        trace: A table (or file) of arrivals; overrides ``demand.source``.

    Returns:
        The demand source.

    """
    if trace is not None:
        return TraceDemand(scenario, trace, streams)
    builder = DEMAND_SOURCES.get(scenario.demand.source)
    return builder(scenario, streams, detection)


def _trace_from_scenario(
    scenario: Scenario,
    streams: dict[str, np.random.Generator],
    detection: DetectionFn | None,
) -> DemandSource:
    if not scenario.demand.path:
        raise DataError(
            "demand.source is 'trace' but demand.path is not set; give a CSV/Parquet path or "
            "pass demand=<DataFrame> to Simulation"
        )
    return TraceDemand(scenario, scenario.demand.path, streams)


DemandBuilder = Callable[
    [Scenario, dict[str, np.random.Generator], DetectionFn | None], DemandSource
]
"""``(scenario, streams, detection) -> demand source``."""

DEMAND_SOURCES: Registry[DemandBuilder] = Registry("demand source", "demand.source")
"""Registry: ``demand.source`` name -> builder ``(scenario, streams, detection)``."""
DEMAND_SOURCES.register(
    "poisson",
    PoissonDemand,
    theory="Poisson arrivals: Erlang C / B, M/M/c/K, the hypercube model",
)
DEMAND_SOURCES.register("trace", _trace_from_scenario, theory=None)
