"""The scenario: the fixed vocabulary of ``scenarios/*.yaml``, as pydantic models.

A scenario file is data, never code. :class:`Scenario` holds its sections (zones, units,
priorities, service, travel, dispatch, queue, demand, detection, patrol, checkpoints, devices,
agencies) with defaults, per-field checks and cross-field checks (unknown zone ids, a
preference list that misses a unit, coordinates outside the CRS) that name the offending
field. Reading a file is :mod:`twin.scenario.load`; building the simulation is the engine's
business (:mod:`twin.model.engine`).

Conventions: durations are in minutes, rates per hour, locations in km on a plane
(``crs: plane``) or ``[lon, lat]`` (``crs: wgs84``). Simulated time 0 is Monday 00:00 and the
start of the warm-up; statistics cover ``[warmup, warmup + horizon)``.

Optional features (defaults keep the plain behaviour): ``priorities[].travel_factor``
(multiplies the class's drive time), ``travel.noise`` (a random per-trip multiplier of drive
time; ``priorities[].travel_noise`` gives a class its own, ``priorities[].travel_by_hour``
a multiplier per hour of the day), ``dispatch.delay`` and
``priorities[].dispatch_delay`` (received -> dispatchable call processing before a unit is
sought), and several agencies (``units[].agency``,
``zones[].rates`` / ``zones[].profiles`` per agency, ``agencies: [{id, priorities, service,
dispatch}]``; an agency's incidents are served only by its units). See
``scenarios/example_agencies.yaml``. ``self_initiated`` makes free units of some districts
unavailable for officer-initiated work that only the most urgent calls may pre-empt.
``zones[].shares`` gives a zone its own priority-class mix per agency (default: the
city-wide ``priorities[].share``).

Every level refuses unknown keys, the top level and ``demand`` included: tools that annotate a
scenario use the declared annotation fields (``assumptions``, ``calibration``, ``provenance``,
``summary``, ``targets``, ``district_zones``, ``zone_facts``, ``checkpoint_sites``, ``meta``),
which the engine ignores.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import Field, Strict, field_validator, model_validator

from twin.scenario.base import (
    DEFAULT_AGENCY,
    HOURS_PER_WEEK,
    MAX_COORD_KM,
    MAX_MINUTES,
    MAX_RATE_PER_HOUR,
    AgencyId,
    Duration,
    Location,
    NonNegative,
    Probability,
    Rate,
    Spec,
    Speed,
    UnitId,
    ZoneId,
)
from twin.scenario.checkpoints import CheckpointSpec
from twin.scenario.distributions import DistSpec, ExponentialSpec, spec_mean

__all__ = [
    "AgencySpec",
    "DemandSpec",
    "DetectionSpec",
    "DeviceSpec",
    "DispatchSpec",
    "OutageSpec",
    "PatrolSpec",
    "PrioritySpec",
    "QueueSpec",
    "Scenario",
    "SelfInitiatedDistrictSpec",
    "SelfInitiatedSpec",
    "ShiftSpec",
    "TravelSpec",
    "UnitSpec",
    "ZoneSpec",
]

_Share = Probability
_Level = Annotated[int, Strict(False)]
"""A priority level as a mapping key: ``1`` in YAML, ``"1"`` in JSON."""
_PositiveRate = Annotated[float, Field(gt=0, le=MAX_RATE_PER_HOUR, allow_inf_nan=False)]


# --------------------------------------------------------------------------- sections
class ZoneSpec(Spec):
    """A demand zone: its district, location and call rate.

    Attributes:
        id: Unique zone id.
        district: The district (grouping for reports).
        location: ``[x, y]`` in km (plane) or ``[lon, lat]`` (wgs84).
        rate_per_hour: Mean calls per hour (> 0) of the default agency (``police``); required
            unless ``rates`` is given.
        profile: Optional 168 hour-of-week multipliers of the rate (Monday 00:00 first).
        rates: Optional calls per hour per agency, ``{police: 2.0, fire: 0.5}`` (>= 0 each,
            positive in total); an agency's incidents are served only by its own units
            (``units[].agency``). Give the default agency's rate either here or in
            ``rate_per_hour``, not both.
        profiles: Optional 168 hour-of-week multipliers per agency, ``{fire: [...]}``; an
            agency without one uses ``profile``.
        name: Optional display name.
        sector: Optional sector of the zone within its district (a dispatch area): with
            ``self_initiated.dispatch_scope: district`` a call that may not pre-empt the work
            goes to the closest free unit posted in its district's zones of the same sector
            and waits in that sector's queue (default: the whole district is one area).
            Officer-initiated rates, weights and reports stay per district.
        intra_km: Mean driving distance of a trip that starts and ends inside this zone
            (incidents sit at the zone's location, so without it such trips take 0 min);
            used by the coordinate travel models, the matrix model uses its own diagonal.
        shares: Optional priority-class mix of this zone's calls. With one agency
            ``{level: share}``, e.g. ``{1: 0.2, 2: 0.5, 3: 0.3}``; with several, per agency
            ``{police: {1: 0.2, 2: 0.8}}`` (an agency left out, e.g. a single-class fire
            agency, keeps its city-wide shares). Levels must be the agency's priority levels
            (``priorities`` or ``agencies[].priorities``), each share >= 0, summing to 1 within
            1e-6; a level left out has share 0. Default: the city-wide ``priorities[].share``.

    """

    id: ZoneId
    district: str = ""
    location: Location
    rate_per_hour: _PositiveRate | None = None
    profile: list[NonNegative] | None = None
    name: str | None = None
    sector: str | None = None
    intra_km: Annotated[float, Field(ge=0, le=MAX_COORD_KM, allow_inf_nan=False)] | None = None
    rates: dict[AgencyId, Rate] | None = None
    profiles: dict[AgencyId, list[NonNegative]] | None = None
    shares: dict[_Level, _Share] | dict[AgencyId, dict[_Level, _Share]] | None = None

    @field_validator("profile")
    @classmethod
    def _profile_168(cls, v: list[float] | None) -> list[float] | None:
        if v is not None:
            _check_profile(v)
        return v

    @field_validator("profiles")
    @classmethod
    def _profiles_168(cls, v: dict[str, list[float]] | None) -> dict[str, list[float]] | None:
        for agency, prof in (v or {}).items():
            try:
                _check_profile(prof)
            except ValueError as exc:
                raise ValueError(f"{agency}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _has_rate(self) -> ZoneSpec:
        if self.rates is None:
            if self.rate_per_hour is None:
                raise ValueError(
                    f"zone {self.id!r} needs rate_per_hour (calls per hour) or rates "
                    "({agency: calls per hour})"
                )
            return self
        if self.rate_per_hour is not None and DEFAULT_AGENCY in self.rates:
            raise ValueError(
                f"zone {self.id!r}: rate_per_hour is the {DEFAULT_AGENCY!r} rate and rates also "
                f"gives one; keep only one of them"
            )
        if sum(self.agency_rates().values()) <= 0:
            raise ValueError(f"zone {self.id!r}: rates are all zero; give a positive rate")
        return self

    @model_validator(mode="after")
    def _shares_sum(self) -> ZoneSpec:
        for agency, mix in self.share_mixes().items():
            total = sum(mix.values())
            if abs(total - 1.0) > 1e-6:
                got = ", ".join(f"{k}: {v:g}" for k, v in mix.items())
                where = "shares" if agency is None else f"shares.{agency}"
                raise ValueError(
                    f"zone {self.id!r}: {where} sum to {total:g}, they must sum to 1 (got {got})"
                )
        return self

    def share_mixes(self) -> dict[str | None, dict[int, float]]:
        """Return the zone's class mixes by agency (key None: the flat one-agency form)."""
        sh = self.shares
        if not sh:
            return {}
        if all(isinstance(v, dict) for v in sh.values()):
            return {str(a): {int(k): float(x) for k, x in v.items()} for a, v in sh.items()}  # type: ignore[union-attr]
        return {None: {int(k): float(v) for k, v in sh.items()}}  # type: ignore[arg-type]

    @property
    def area(self) -> str:
        """Return the zone's dispatch area: ``DISTRICT/SECTOR`` with a sector, else the district.

        The key of a sector in ``self_initiated.districts`` and the optimizer's areas.
        """
        return f"{self.district}/{self.sector}" if self.sector else self.district

    def agency_rates(self) -> dict[str, float]:
        """Return calls per hour per agency (``rate_per_hour`` is the default agency's)."""
        out: dict[str, float] = {}
        if self.rate_per_hour is not None:
            out[DEFAULT_AGENCY] = float(self.rate_per_hour)
        for a, r in (self.rates or {}).items():
            out[a] = float(r)
        return out

    def agency_profile(self, agency: str) -> list[float] | None:
        """Return the hour-of-week multipliers of *agency* in this zone (None: flat)."""
        if self.profiles and agency in self.profiles:
            return self.profiles[agency]
        return self.profile

    @property
    def total_rate(self) -> float:
        """Return the calls per hour of all agencies together (before profiles)."""
        return sum(self.agency_rates().values())


def _check_profile(v: list[float]) -> None:
    if len(v) != HOURS_PER_WEEK:
        raise ValueError(f"profile needs {HOURS_PER_WEEK} hour-of-week values, got {len(v)}")
    if max(v) <= 0:
        raise ValueError("profile must have at least one positive multiplier")


_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ShiftSpec(Spec):
    """A daily shift: ``{start: "07:00", hours: 10}`` (may run past midnight).

    ``start`` is ``"HH:MM"`` or minutes after midnight (YAML reads unquoted ``10:30`` as 630).
    """

    start: str | int
    hours: Annotated[float, Field(gt=0, le=24, allow_inf_nan=False)]

    @field_validator("start")
    @classmethod
    def _valid_start(cls, v: str | int) -> str | int:
        if isinstance(v, int):
            if not 0 <= v < 24 * 60:
                raise ValueError("start in minutes after midnight must be in [0, 1440)")
        elif not _HHMM.match(v):
            raise ValueError(f"start {v!r} is not a time like '07:00'")
        return v

    @property
    def start_min(self) -> float:
        """Return the start as minutes after midnight."""
        if isinstance(self.start, int):
            return float(self.start)
        hh, mm = self.start.split(":")
        return float(int(hh) * 60 + int(mm))


class UnitSpec(Spec):
    """A patrol unit.

    Attributes:
        id: Unique unit id.
        post: The zone it is posted at (returns there after each call).
        area: Its home response area; default the zones where it is first choice.
        shift: Daily shift; default always on duty.
        kind: Free label (``patrol``, ``ptu``, ...).
        speed_kmh: Overrides the travel speed for this unit.
        agency: The agency the unit belongs to (default ``police``); it answers only that
            agency's incidents.

    """

    id: UnitId
    post: ZoneId
    area: list[ZoneId] | None = None
    shift: ShiftSpec | None = None
    kind: str = "patrol"
    speed_kmh: Speed | None = None
    agency: AgencyId = DEFAULT_AGENCY


class ImmediateDispatchSpec(Spec):
    """A class's probability of dispatch the moment a call is received, by load.

    Attributes:
        calls_prev_hour: Load points, increasing: calls of the class's agency received in the
            60 minutes before the call (every class counts).
        share: Probability of immediate dispatch (delay 0) at each point; linear in between,
            the end values beyond. The other calls draw the class's ``dispatch_delay``.

    """

    calls_prev_hour: list[Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]] = Field(
        min_length=1
    )
    share: list[Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _points(self) -> ImmediateDispatchSpec:
        x = self.calls_prev_hour
        if len(x) != len(self.share):
            raise ValueError(
                f"immediate_dispatch: {len(x)} calls_prev_hour points but {len(self.share)} shares"
            )
        if any(x[i + 1] <= x[i] for i in range(len(x) - 1)):
            raise ValueError("immediate_dispatch: calls_prev_hour must be strictly increasing")
        return self


class PrioritySpec(Spec):
    """A priority class: level (1 = most urgent), share of calls, optional on-scene time.

    Attributes:
        level: Priority level (1 = most urgent).
        share: Share of the agency's calls in this class (shares sum to 1).
        service: On-scene time of this class (default: the agency's / scenario's ``service``).
        name: Optional display name.
        travel_factor: Multiplier of this class's driving time (> 0, default 1), e.g. 2.5 for
            calls answered without lights and sirens.
        dispatch_delay: Received -> dispatchable delay of this class (call taking and
            dispatch processing); overrides ``dispatch.delay``.
        travel_noise: Random multiplier of this class's driving time, drawn per trip (any
            distribution spec, e.g. ``{dist: gamma, mean: 1.0, sd: 0.7}``); overrides
            ``travel.noise`` for this class (calls answered by roaming ambulances spread
            wider than engines leaving their station). Default: ``travel.noise``.
        travel_by_hour: 24 multipliers of this class's driving time by the hour of the day
            the call is received (simulated hour ``floor(t / 60) mod 24``; minute 0 is
            midnight), e.g. crews turning out from sleep at night. Default: none (1 at
            every hour).
        immediate_dispatch: Probability that a call of this class is dispatched the moment it
            is received, by the calls received in the previous hour; the other calls draw
            ``dispatch_delay``. Default: none (every call draws it).

    """

    level: Annotated[int, Field(ge=0)]
    share: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    service: DistSpec | None = None
    name: str | None = None
    travel_factor: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = 1.0
    dispatch_delay: DistSpec | None = None
    travel_noise: DistSpec | None = None
    travel_by_hour: list[Annotated[float, Field(gt=0, le=10, allow_inf_nan=False)]] | None = None
    immediate_dispatch: ImmediateDispatchSpec | None = None

    @field_validator("travel_by_hour")
    @classmethod
    def _by_hour_24(cls, v: list[float] | None) -> list[float] | None:
        if v is not None and len(v) != 24:
            raise ValueError(f"travel_by_hour needs 24 multipliers (hour 0 first), got {len(v)}")
        return v

    @field_validator("travel_noise")
    @classmethod
    def _noise_multiplier(cls, v: DistSpec | None) -> DistSpec | None:
        if v is not None and not 0 < spec_mean(v) <= 100:
            raise ValueError(
                f"a trip multiplier must have a mean in (0, 100], got {spec_mean(v):g}; "
                "write e.g. {dist: gamma, mean: 1.0, sd: 0.7}"
            )
        return v


class TravelSpec(Spec):
    """How long driving takes.

    Attributes:
        model: ``none`` (zero travel), ``euclidean``, ``manhattan``, ``haversine`` (great
            circle on wgs84) or ``matrix`` (zone-to-zone minutes given in ``matrix``).
        speed_kmh: Driving speed.
        circuity: Road distance / model distance (>= 1 typically).
        turnout_min: Minutes from dispatch to rolling (added to every response).
        matrix: ``{from_zone: {to_zone: minutes}}`` for ``model: matrix``.
        noise: A random multiplier of each trip's driving time (any distribution spec, e.g.
            ``{dist: lognormal, mean: 1.0, sd: 0.5}``), drawn per incident from its own random
            stream (the incident stream is unchanged: common random numbers hold). Default:
            none (driving times are deterministic).

    """

    model: Literal["none", "euclidean", "manhattan", "haversine", "matrix"] = "manhattan"
    speed_kmh: Speed = 30.0
    circuity: Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)] = 1.0
    turnout_min: Duration = 0.0
    matrix: dict[ZoneId, dict[ZoneId, Duration]] | None = None
    noise: DistSpec | None = None


class DispatchSpec(Spec):
    """The dispatch policy: ``closest`` free unit, or a fixed ``preference`` list per zone.

    Attributes:
        policy: ``closest`` or ``preference``.
        preferences: ``{zone: [unit ids in order]}`` for ``policy: preference`` (every unit of
            the agency, in order of preference).
        delay: Call-taking / dispatch processing time, received -> dispatchable (any
            distribution spec, drawn per incident from its own random stream). A unit is
            sought only after it; response (received -> on scene) includes it, ``wait_min``
            does not. ``priorities[].dispatch_delay`` overrides it per class. Default: none.

    """

    policy: Literal["closest", "preference"] = "closest"
    preferences: dict[ZoneId, list[UnitId]] | None = None
    delay: DistSpec | None = None


class AgencySpec(Spec):
    """An agency's own call classes and dispatch (``agencies: [...]``).

    Everything left out is taken from the scenario's top level (``priorities``, ``service``,
    ``dispatch``). The agency's units are ``units`` with ``agency: <id>``; its demand is
    ``zones[].rates.<id>``. Each agency has its own call queue with the top-level ``queue``
    settings; travel, patrol and detection are shared. Agencies are independent: an incident
    of agency A is served only by A's units. Checkpoint watch-list hits are ``police``
    incidents. Example::

        zones:
          - {id: b1, location: [-122.33, 47.61], rate_per_hour: 1.2, rates: {fire: 0.4}}
        units:
          - {id: spd-1, post: b1}
          - {id: e10, post: b1, agency: fire}
        agencies:
          - id: fire
            priorities: [{level: 1, share: 0.7}, {level: 2, share: 0.3}]
            service: {dist: lognormal, mean: 35, sd: 20}
            dispatch: {policy: closest, delay: {dist: lognormal, mean: 1.2, sd: 0.8}}

    Attributes:
        id: The agency id (``police``, ``fire``).
        priorities: The agency's priority classes (shares sum to 1 within the agency).
        service: The agency's default on-scene time.
        dispatch: The agency's dispatch policy (and ``delay``); replaces the top-level one.
        name: Optional display name.

    """

    id: AgencyId
    priorities: list[PrioritySpec] | None = None
    service: DistSpec | None = None
    dispatch: DispatchSpec | None = None
    name: str | None = None


class SelfInitiatedDistrictSpec(Spec):
    """One district's officer-initiated work (an entry of ``self_initiated.districts``).

    Attributes:
        rate_per_hour: Starts per hour of a *free* on-duty unit posted in the district (a unit
            patrolling or driving back to its post; a unit on a call, on self-initiated work or
            off duty starts none). In [0, 60].
        duration: Minutes of each piece of work (any distribution spec with a positive mean).

    """

    rate_per_hour: Annotated[float, Field(ge=0, le=60, allow_inf_nan=False)]
    duration: DistSpec

    @model_validator(mode="after")
    def _positive_duration(self) -> SelfInitiatedDistrictSpec:
        if not spec_mean(self.duration) > 0:
            raise ValueError(
                "duration: the mean must be > 0 minutes (a unit would start and end its "
                "work at the same instant); remove the district or give a positive duration"
            )
        return self


class SelfInitiatedSpec(Spec):
    """Officer-initiated (self-initiated, on-view) work: time units are unavailable for calls.

    A free unit of a listed district starts a piece of work at ``rate_per_hour`` per free
    on-duty hour (so fewer units mean less proactive work, and fewer free units too); while on
    it the unit stays in its zone and takes no call, except a call of a ``preempted_by`` class,
    which may take it when it is the nearest (the work is then abandoned). When the work ends
    the unit takes the next waiting call or patrols again. Units posted in districts not listed
    never self-initiate. Example::

        self_initiated:
          agency: police
          preempted_by: [1]
          districts:
            N: {rate_per_hour: 0.4, duration: {dist: lognormal, mean: 60, sd: 45}}

    Attributes:
        agency: The agency whose units self-initiate (default ``police``).
        preempted_by: Priority levels of that agency whose calls may pre-empt the work
            (default: the agency's first class, the one its queue serves first).
        districts: ``{district: {rate_per_hour, duration}}`` (districts of the units' posts).
            A key ``DISTRICT/SECTOR`` (a ``zones[].sector`` of that district) sets the work of
            units posted in that sector's zones, before the district's own entry; units of a
            district listed only by its sectors, posted outside those sectors, start none.
        weight: ``none`` (every free unit of a district starts work at its rate) or
            ``zone_calls`` (a free unit starts work at the rate times the call rate of the zone
            it is in when it becomes free over the mean call rate of that zone's district's
            zones: on-view work is found where the calls are; ``rate_per_hour`` is then the
            rate in a zone of average volume).
        dispatch_scope: Who answers the agency's calls of the classes that may *not* pre-empt
            the work: ``agency`` (the closest free unit of the agency, as without this section)
            or ``district`` (the closest free unit posted in the call zone's district; with
            none free the call waits in its district's queue, which that district's units
            take as they become free, after any more urgent call waiting for the agency; a
            district where no unit of the agency is posted is served agency-wide).
        overflow_after_min: With ``dispatch_scope: district`` and zones split into sectors
            (``zones[].sector``): minutes after which a call still waiting in its sector's
            queue may also be taken by a unit of another sector of its district. At that
            moment the closest *free* unit (patrolling or driving back) posted in the
            district takes it; with none free (units on calls or on self-initiated work) the
            call joins the queue of every staffed sector of the district, where it ranks as
            any call of its class and age, and the first unit of the district to become free
            with it at the head of its queue takes it. Default: none (a call waits for its
            own sector's units).

    """

    agency: AgencyId = DEFAULT_AGENCY
    preempted_by: list[_Level] | None = None
    weight: Literal["none", "zone_calls"] = "none"
    dispatch_scope: Literal["agency", "district"] = "agency"
    overflow_after_min: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    districts: Annotated[dict[str, SelfInitiatedDistrictSpec], Field(min_length=1)]


class QueueSpec(Spec):
    """The call queue: order (``fcfs`` or ``priority``) and capacity (0 = calls lost)."""

    discipline: Literal["fcfs", "priority"] = "fcfs"
    capacity: Annotated[int, Field(ge=0)] | Literal["unlimited"] = "unlimited"

    @property
    def max_waiting(self) -> float:
        """Return the capacity as a number (``inf`` when unlimited)."""
        return math.inf if self.capacity == "unlimited" else float(self.capacity)


class DemandSpec(Spec):
    """Where incidents come from: ``poisson`` (zone rates) or ``trace`` (a table of arrivals).

    A ``trace`` reads ``path`` (CSV or Parquet, relative to the scenario file) with columns
    ``time_min``, ``zone``, ``priority`` and optionally ``service_min``; a trace can also be
    passed to :class:`~twin.model.engine.Simulation` directly. Unknown keys are refused; a tool
    that annotates the demand writes under ``meta``.
    """

    source: Literal["poisson", "trace"] = "poisson"
    path: str | None = None
    meta: dict[str, Any] | None = None


class DetectionSpec(Spec):
    """Delay between an incident happening and the call being received.

    Attributes:
        delay: Distribution of the delay outside camera coverage (default: none).
        covered_factor: Multiplier of the delay inside an active camera's coverage.

    """

    delay: DistSpec | None = None
    covered_factor: Probability = 0.25


class PatrolSpec(Spec):
    """Idle patrol movement, stepped by mesa at a coarse interval.

    Attributes:
        interval_min: Minutes between mesa steps (and DataCollector snapshots).
        policy: ``area`` (random walk inside the unit's area), ``network`` (random walk over
            neighbouring zones) or ``post`` (stay at the post).
        neighbour_km: Zones closer than this are neighbours in the zone network (default:
            1.5 x the smallest distance between two zones).

    """

    interval_min: Annotated[float, Field(ge=1, le=MAX_MINUTES, allow_inf_nan=False)] = 15.0
    policy: Literal["area", "network", "post"] = "area"
    neighbour_km: Annotated[float, Field(gt=0, le=MAX_COORD_KM, allow_inf_nan=False)] | None = None


class OutageSpec(Spec):
    """A window of simulated minutes ``[start, end)`` in which a device is down."""

    start: Duration
    end: Annotated[float, Field(gt=0, le=MAX_MINUTES, allow_inf_nan=False)]

    @model_validator(mode="after")
    def _ordered(self) -> OutageSpec:
        if self.end <= self.start:
            raise ValueError(f"outage end {self.end} must be after start {self.start}")
        return self


class DeviceSpec(Spec):
    """A sensing device; cameras shorten detection delay within ``radius_km``.

    Attributes:
        id: Unique device id.
        kind: ``camera`` (others are carried but have no effect yet).
        zone: Zone the device stands in (its location defaults to the zone's).
        location: ``[x, y]`` km or ``[lon, lat]``; overrides the zone location.
        radius_km: Coverage radius.
        outages: Windows in which the device is down (no coverage).
        covered_factor: Overrides ``detection.covered_factor`` for this device.

    """

    id: str
    kind: Literal["camera", "anpr", "counter"] = "camera"
    zone: ZoneId | None = None
    location: Location | None = None
    radius_km: Annotated[float, Field(gt=0, le=MAX_COORD_KM, allow_inf_nan=False)] = 0.5
    outages: list[OutageSpec] = Field(default_factory=list)
    covered_factor: Probability | None = None

    @model_validator(mode="after")
    def _placed(self) -> DeviceSpec:
        if self.zone is None and self.location is None:
            raise ValueError(f"device {self.id!r} needs a zone or a location")
        return self


def _default_service() -> ExponentialSpec:
    return ExponentialSpec(dist="exponential", mean=30.0)


class Scenario(Spec):
    """A complete scenario: the fixed vocabulary of ``scenarios/*.yaml``.

    Unknown keys are refused at every level. Cross-field checks run after the per-field ones
    and name the offending field. The annotation fields at the end are written by the tools
    that build scenarios (calibration, the Jiaxing builder, planner variants) and read by
    replay, fidelity and reports; the engine ignores them.

    Attributes:
        assumptions: What the builder assumed: sentences, or ``{key, value, rationale, ...}``.
        calibration: How a calibrated scenario was fitted (``city``, ``agency``, ``tz``,
            ``fit_window``, ``holdout``, ...).
        provenance: Which builder and inputs made the file.
        summary: Headline figures of a built scenario (districts, zones, calls per hour, ...).
        targets: Response-time norms the scenario is judged against.
        district_zones: ``{district: [zone ids]}`` written once for YAML aliases.
        zone_facts: Per-zone facts the builder used (population, area, ...).
        checkpoint_sites: Per-checkpoint facts the builder used.
        meta: Free annotations of any other tool (keep new tools' notes here).

    """

    name: str
    description: str | None = None
    time_unit: Literal["min"] = "min"
    warmup: Duration = 0.0
    horizon: Annotated[float, Field(gt=0, le=MAX_MINUTES, allow_inf_nan=False)]
    crs: Literal["plane", "wgs84"] = "plane"
    zones: Annotated[list[ZoneSpec], Field(min_length=1)]
    units: list[UnitSpec]
    priorities: list[PrioritySpec] = Field(default_factory=list)
    service: DistSpec = Field(default_factory=_default_service)
    travel: TravelSpec = Field(default_factory=TravelSpec)
    dispatch: DispatchSpec = Field(default_factory=DispatchSpec)
    queue: QueueSpec = Field(default_factory=QueueSpec)
    demand: DemandSpec = Field(default_factory=DemandSpec)
    detection: DetectionSpec = Field(default_factory=DetectionSpec)
    patrol: PatrolSpec = Field(default_factory=PatrolSpec)
    checkpoints: list[CheckpointSpec] = Field(default_factory=list)
    devices: list[DeviceSpec] = Field(default_factory=list)
    agencies: list[AgencySpec] = Field(default_factory=list)
    self_initiated: SelfInitiatedSpec | None = None
    # annotations (the engine ignores them)
    assumptions: list[str | dict[str, Any]] | None = None
    calibration: dict[str, Any] | None = None
    provenance: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    targets: dict[str, Any] | None = None
    district_zones: dict[str, list[ZoneId]] | None = None
    zone_facts: dict[str, dict[str, Any]] | None = None
    checkpoint_sites: dict[str, dict[str, Any]] | None = None
    meta: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _cross_checks(self) -> Scenario:
        zone_ids = [z.id for z in self.zones]
        zones = set(zone_ids)
        _no_duplicates("zones", zone_ids)
        if not self.units:
            raise ValueError("units: the fleet is empty; add at least one unit {id, post}")
        unit_ids = [u.id for u in self.units]
        _no_duplicates("units", unit_ids)
        known_z = _known(zone_ids)
        for i, u in enumerate(self.units):
            if u.post not in zones:
                raise ValueError(f"units[{i}].post: unknown zone id {u.post!r}; {known_z}")
            for j, z in enumerate(u.area or []):
                if z not in zones:
                    raise ValueError(f"units[{i}].area[{j}]: unknown zone id {z!r}; {known_z}")
        _check_priorities("priorities", self.priorities)
        agency_list = [a.id for a in self.agencies]
        _no_duplicates("agencies", agency_list)
        for i, ag in enumerate(self.agencies):
            if ag.priorities is not None:
                _check_priorities(f"agencies[{i}].priorities", ag.priorities)
        agencies = self.agency_ids
        with_units = {u.agency for u in self.units}
        for i, zs in enumerate(self.zones):
            for a, r in zs.agency_rates().items():
                if r > 0 and a not in with_units:
                    field = "rate_per_hour" if a == DEFAULT_AGENCY and zs.rate_per_hour else "rates"
                    raise ValueError(
                        f"zones[{i}].{field}: agency {a!r} has demand in zone {zs.id!r} but no "
                        f"units; add units with agency: {a} (units have agencies "
                        f"{sorted(with_units)})"
                    )
            for a in zs.profiles or {}:
                if a not in agencies:
                    raise ValueError(f"zones[{i}].profiles: unknown agency {a!r}")
            for key, mix in zs.share_mixes().items():
                if key is None and len(agencies) > 1:
                    raise ValueError(
                        f"zones[{i}].shares: the scenario has agencies {agencies}; key the "
                        "shares by agency ({agency: {level: share}})"
                    )
                a = agencies[0] if key is None else key
                if a not in agencies:
                    raise ValueError(
                        f"zones[{i}].shares: unknown agency {a!r}; agencies are {agencies}"
                    )
                where = f"zones[{i}].shares" if key is None else f"zones[{i}].shares.{a}"
                levels = [p.level for p in self.agency_priorities(a)] or [1]
                for lvl in mix:
                    if lvl not in levels:
                        raise ValueError(
                            f"{where}: {lvl} is not one of agency {a!r}'s priority levels {levels}"
                        )
        if self.crs == "plane" and self.travel.model == "haversine":
            raise ValueError("travel.model: haversine needs crs: wgs84 (locations [lon, lat])")
        if self.crs == "wgs84":
            placed: list[tuple[str, tuple[float, float] | None]] = [
                (f"zones[{i}]", z.location) for i, z in enumerate(self.zones)
            ]
            placed += [(f"devices[{i}]", d.location) for i, d in enumerate(self.devices)]
            for where, loc in placed:
                if loc is not None and not (-180 <= loc[0] <= 180 and -90 <= loc[1] <= 90):
                    raise ValueError(
                        f"{where}.location: {list(loc)} is not [lon, lat] with lon in "
                        "[-180, 180] and lat in [-90, 90] (crs: wgs84)"
                    )
        if self.travel.model == "matrix":
            if self.travel.matrix is None:
                raise ValueError("travel.matrix: model 'matrix' needs {from_zone: {to_zone: min}}")
            for a in zone_ids:
                row = self.travel.matrix.get(a)
                if row is None:
                    raise ValueError(f"travel.matrix: missing row for zone {a!r}")
                for b in zone_ids:
                    if b not in row and a != b:
                        raise ValueError(f"travel.matrix.{a}: missing travel time to zone {b!r}")
            for a, row in self.travel.matrix.items():
                if a not in zones:
                    raise ValueError(f"travel.matrix: unknown zone id {a!r}; {known_z}")
                for b in row:
                    if b not in zones:
                        raise ValueError(f"travel.matrix.{a}: unknown zone id {b!r}; {known_z}")
        agency_of = {u.id: u.agency for u in self.units}
        own = {a.id: a for a in self.agencies}
        for agency in agencies:
            own_ag = own.get(agency)
            if agency not in with_units:
                where = f"agencies[{agency_list.index(agency)}]" if own_ag is not None else "zones"
                raise ValueError(
                    f"{where}: agency {agency!r} has no units; add units with agency: {agency}"
                )
            if own_ag is not None and own_ag.dispatch is not None:
                i = agency_list.index(agency)
                _check_dispatch(
                    f"agencies[{i}].dispatch", own_ag.dispatch, zone_ids, agency_of, {agency}
                )
        shared = {a for a in agencies if own.get(a) is None or own[a].dispatch is None}
        _check_dispatch("dispatch", self.dispatch, zone_ids, agency_of, shared)
        if self.demand.source == "trace" and not self.demand.path:
            # A trace can also be injected programmatically; the file path is then optional.
            pass
        dev_ids = [d.id for d in self.devices]
        _no_duplicates("devices", dev_ids)
        for i, d in enumerate(self.devices):
            if d.zone is not None and d.zone not in zones:
                raise ValueError(f"devices[{i}].zone: unknown zone id {d.zone!r}; {known_z}")
        _no_duplicates("checkpoints", [c.id for c in self.checkpoints])
        levels = [p.level for p in self.agency_priorities(DEFAULT_AGENCY)]
        for i, c in enumerate(self.checkpoints):
            cz = getattr(c, "zone", None)
            if cz is not None and cz not in zones:
                raise ValueError(f"checkpoints[{i}].zone: unknown zone id {cz!r}; {known_z}")
            hp = getattr(c, "hit_priority", None)
            if levels and hp is not None and hp not in levels:
                raise ValueError(
                    f"checkpoints[{i}].hit_priority: {hp} is not one of the priority levels "
                    f"{levels}"
                )
            if getattr(c, "watchlist_hit_probability", 0) and DEFAULT_AGENCY not in agencies:
                raise ValueError(
                    f"checkpoints[{i}]: watch-list hits create {DEFAULT_AGENCY!r} incidents but "
                    f"the scenario has no {DEFAULT_AGENCY!r} units"
                )
        if self.self_initiated is not None:
            self._check_self_initiated(self.self_initiated)
        return self

    def _check_self_initiated(self, si: SelfInitiatedSpec) -> None:
        """Check that the agency has units, the districts exist and the levels are its classes."""
        if si.agency not in {u.agency for u in self.units}:
            raise ValueError(
                f"self_initiated.agency: agency {si.agency!r} has no units (units have "
                f"agencies {sorted({u.agency for u in self.units})})"
            )
        # a district must exist; it may have no units of the agency (a layout that moved them
        # all elsewhere, an optimizer's candidate): its rate then applies to nobody
        districts = sorted({z.district for z in self.zones})
        sectors = {z.area for z in self.zones if z.sector}
        for d in si.districts:
            if d in districts or d in sectors:
                continue
            if "/" in d:
                raise ValueError(
                    f"self_initiated.districts.{d}: no zone is in district/sector {d!r} "
                    f"(zones[].sector); sectors: {', '.join(map(repr, sorted(sectors))) or 'none'}"
                )
            raise ValueError(
                f"self_initiated.districts.{d}: no zone is in district {d!r}; districts: "
                f"{', '.join(map(repr, districts))}"
            )
        if si.overflow_after_min is not None:
            if si.dispatch_scope != "district":
                raise ValueError(
                    "self_initiated.overflow_after_min: calls overflow from their sector's "
                    "queue to the rest of the district only with dispatch_scope: district "
                    f"(got {si.dispatch_scope!r})"
                )
            if not sectors:
                raise ValueError(
                    "self_initiated.overflow_after_min: no zone has a sector (zones[].sector), "
                    "so each district is one dispatch area and a call has nowhere to overflow; "
                    "give the zones sectors or remove overflow_after_min"
                )
        levels = [p.level for p in self.agency_priorities(si.agency)] or [1]
        if si.preempted_by is not None:
            _no_duplicates("self_initiated.preempted_by", si.preempted_by, what="level")
            for j, lvl in enumerate(si.preempted_by):
                if lvl not in levels:
                    raise ValueError(
                        f"self_initiated.preempted_by[{j}]: {lvl} is not a priority level of "
                        f"{si.agency!r} (levels {levels})"
                    )

    def preempting_levels(self) -> list[int]:
        """Return the levels whose calls may pre-empt self-initiated work ([] without it)."""
        si = self.self_initiated
        if si is None:
            return []
        if si.preempted_by is not None:
            return list(si.preempted_by)
        levels = [p.level for p in self.agency_priorities(si.agency)] or [1]
        return levels[:1]

    # ---------------------------------------------------------------- convenience
    @property
    def zone_ids(self) -> list[str]:
        """Return the zone ids in file order."""
        return [z.id for z in self.zones]

    @property
    def unit_ids(self) -> list[str]:
        """Return the unit ids in file order."""
        return [u.id for u in self.units]

    @property
    def total_rate_per_hour(self) -> float:
        """Return the mean call rate per hour over all zones and agencies (profiles averaged)."""
        total = 0.0
        for z in self.zones:
            for a, rate in z.agency_rates().items():
                prof = z.agency_profile(a)
                mult = sum(prof) / HOURS_PER_WEEK if prof else 1.0
                total += rate * mult
        return total

    def priority_levels(self) -> list[int]:
        """Return the priority levels in file order (``[1]`` when none are given).

        With several agencies these are the default agency's levels (see :meth:`class_keys`).
        """
        return [p.level for p in self.priorities] or [1]

    @property
    def agency_ids(self) -> list[str]:
        """Return the agencies in order of first mention (``agencies``, units, zone rates)."""
        seen: dict[str, bool] = {}
        for a in self.agencies:
            seen.setdefault(a.id, True)
        for u in self.units:
            seen.setdefault(u.agency, True)
        for z in self.zones:
            for agency in z.agency_rates():
                seen.setdefault(agency, True)
        return list(seen)

    @property
    def multi_agency(self) -> bool:
        """Return whether the scenario has more than one agency."""
        return len(self.agency_ids) > 1

    def agency_spec(self, agency: str) -> AgencySpec | None:
        """Return the ``agencies[]`` entry of *agency* (None when it has none)."""
        for a in self.agencies:
            if a.id == agency:
                return a
        return None

    def agency_priorities(self, agency: str) -> list[PrioritySpec]:
        """Return *agency*'s priority classes (its own, else the top-level ``priorities``)."""
        spec = self.agency_spec(agency)
        if spec is not None and spec.priorities is not None:
            return spec.priorities
        return self.priorities

    def agency_service(self, agency: str) -> DistSpec:
        """Return *agency*'s default on-scene distribution."""
        spec = self.agency_spec(agency)
        if spec is not None and spec.service is not None:
            return spec.service
        return self.service

    def agency_dispatch(self, agency: str) -> DispatchSpec:
        """Return *agency*'s dispatch spec (its own, else the top-level ``dispatch``)."""
        spec = self.agency_spec(agency)
        if spec is not None and spec.dispatch is not None:
            return spec.dispatch
        return self.dispatch

    def class_keys(self) -> list[tuple[str, int]]:
        """Return the call classes ``(agency, level)`` in engine order (agency by agency).

        With a single agency these are the priority levels of :meth:`priority_levels`.
        """
        out: list[tuple[str, int]] = []
        for a in self.agency_ids:
            levels = [p.level for p in self.agency_priorities(a)] or [1]
            out.extend((a, lvl) for lvl in levels)
        return out

    @property
    def uses_dispatch_delay(self) -> bool:
        """Return whether any call class has a dispatch delay."""
        for a in self.agency_ids:
            if self.agency_dispatch(a).delay is not None:
                return True
            if any(p.dispatch_delay is not None for p in self.agency_priorities(a)):
                return True
        return False

    @property
    def has_zone_shares(self) -> bool:
        """Return whether any zone has its own priority-class mix (``zones[].shares``)."""
        return any(z.shares for z in self.zones)

    def zone_mix(self, zone: ZoneSpec, agency: str) -> dict[int, float] | None:
        """Return *zone*'s own ``{level: share}`` of *agency* (None: the city-wide shares)."""
        mixes = zone.share_mixes()
        if None in mixes and len(self.agency_ids) == 1:
            return mixes[None]
        return mixes.get(agency)

    def zone_class_shares(self, zone: ZoneSpec, agency: str) -> list[float]:
        """Return *zone*'s class shares of *agency*, in its priority order (``[1.0]`` if none).

        The zone's ``shares`` for the agency when given (missing levels 0), else the
        city-wide ``priorities[].share``.
        """
        prios = self.agency_priorities(agency)
        if not prios:
            return [1.0]
        mix = self.zone_mix(zone, agency)
        if mix is None:
            return [float(p.share) for p in prios]
        return [float(mix.get(p.level, 0.0)) for p in prios]

    @property
    def uses_travel_factor(self) -> bool:
        """Return whether any call class drives at other than the normal speed."""
        return any(
            p.travel_factor != 1.0 for a in self.agency_ids for p in self.agency_priorities(a)
        )


def _known(ids: list[Any]) -> str:
    shown = ", ".join(str(i) for i in ids[:12])
    more = f" (+{len(ids) - 12} more)" if len(ids) > 12 else ""
    return f"known: {shown}{more}"


def _check_priorities(field: str, priorities: list[PrioritySpec]) -> None:
    if not priorities:
        return
    _no_duplicates(field, [p.level for p in priorities], what="level")
    total = sum(p.share for p in priorities)
    if abs(total - 1.0) > 1e-6:
        raise ValueError(
            f"{field}: shares sum to {total:g}, they must sum to 1 "
            f"(got {', '.join(f'{p.level}: {p.share:g}' for p in priorities)})"
        )


def _check_dispatch(
    field: str,
    spec: DispatchSpec,
    zone_ids: list[str],
    agency_of: dict[str, str],
    agencies: set[str],
) -> None:
    """Check a dispatch spec used by *agencies* (preference lists name all their units)."""
    zones = set(zone_ids)
    known_z = _known(zone_ids)
    unit_ids = list(agency_of)
    if spec.policy == "preference":
        prefs = spec.preferences
        if not prefs:
            raise ValueError(
                f"{field}.preferences: policy 'preference' needs {{zone: [unit ids...]}} "
                "for every zone"
            )
        for z, lst in prefs.items():
            if z not in zones:
                raise ValueError(f"{field}.preferences: unknown zone id {z!r}; {known_z}")
            for j, uid in enumerate(lst):
                if uid not in agency_of:
                    raise ValueError(
                        f"{field}.preferences.{z}[{j}]: unknown unit id {uid!r}; {_known(unit_ids)}"
                    )
                if field != "dispatch" and agency_of[uid] not in agencies:
                    raise ValueError(
                        f"{field}.preferences.{z}[{j}]: unit {uid!r} belongs to agency "
                        f"{agency_of[uid]!r}; list only this agency's units"
                    )
            _no_duplicates(f"{field}.preferences.{z}", lst, what="unit")
            missing = [u for u in unit_ids if agency_of[u] in agencies and u not in lst]
            if missing:
                raise ValueError(
                    f"{field}.preferences.{z}: the preference list misses unit(s) "
                    f"{', '.join(missing)}; list every unit in order of preference"
                )
        for z in zone_ids:
            if z not in prefs:
                raise ValueError(f"{field}.preferences: no preference list for zone {z!r}")
    elif spec.preferences is not None:
        raise ValueError(
            f"{field}.preferences: only used with policy 'preference' (remove it or set "
            "policy: preference)"
        )


def _no_duplicates(field: str, ids: list[Any], what: str = "id") -> None:
    seen: set[Any] = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise ValueError(f"{field}[{i}]: duplicate {what} {x!r}; each {what} must be unique")
        seen.add(x)
