"""Map a scenario onto the analytic queueing models and answer with the summary's keys.

:func:`analyze` checks the scenario against the models' assumptions, then solves Erlang B/C or
Larson's hypercube model and returns a dict with the same keys as the engine's summary
(:data:`twin.model.summary.SUMMARY_KEYS`), plus ``method`` and ``notes``.

Assumptions (each violation is reported by :func:`check_assumptions`, naming the field):

* Demand is Poisson (``demand.source: poisson``) with constant rates (no zone ``profile``).
* On-scene times are exponential with one mean for every priority class. Priorities then
  do not change the fleet's behaviour: with FCFS they are ignored; with the ``priority`` queue
  discipline the fleet-level figures are unchanged (a work-conserving order of identical
  exponential jobs) and each class's mean wait follows Cobham's formula for the non-preemptive
  M/M/c priority queue (its percentiles are not given).
* The fleet is constant: no unit has a ``shift``.
* The queue is FCFS or priority with ``capacity`` unlimited (Erlang C / hypercube with an
  infinite queue), 0 (Erlang B / hypercube loss system) or ``K`` waiting places (M/M/c/c+K /
  hypercube with a finite queue; with the priority discipline per-class waits are then not
  given).
* The scenario's rules have a theory: :func:`check_assumptions` asks each rule's registry
  (dispatch policies, travel models, demand sources, patrol policies; see
  :mod:`twin.model.registry`) and refuses, by name, a rule registered without one. Dispatch
  policies give the hypercube their preference lists
  (``hypercube_preferences``): for ``closest`` the units ordered by driving time from their
  posts to the zone (ties to the lower unit index, as the engine does), for ``preference`` the
  scenario's lists; travel only orders the units.
* Checkpoint watch-list hits (``watchlist_hit_probability`` h > 0) are Poisson only when the
  checkpoint's vehicle arrivals are Poisson with a constant rate r (no ``arrivals.profile``,
  ``process: poisson``): the hits are then a thinned Poisson stream of rate r x h, added to
  the checkpoint zone's rate in the ``hit_priority`` class. Other checkpoints with hits are
  refused, one message per checkpoint.
* Zone class mixes (``zones[].shares``) are accepted when every class has the same on-scene
  time and driving speed (they then only split each zone's calls into classes); otherwise they
  are refused, naming the zones.
* No officer-initiated work (``self_initiated``): units unavailable for some classes and
  pre-empted by others are outside Erlang C and the hypercube (refused, naming the field).
* One agency, no ``dispatch.delay`` / ``priorities[].dispatch_delay`` and no ``travel.noise``
  (with ``travel: {model: none}`` noise and ``priorities[].travel_factor`` change nothing and
  are accepted; with travel they are refused, since the response would need the drive's
  distribution per class).

The hypercube takes the on-scene time as the service time, independent of unit and zone. The
engine counts turnout and travel as busy time too, so with ``travel.model`` other than ``none``
(or a turnout) the analytic utilisations and waits are optimistic; the result then carries a
note, and the validation tests use ``travel: {model: none}`` where both agree exactly. With
travel, ``response_min.mean`` adds turnout and the mean driving time from the posts (queued
calls are assumed served from a random unit's post, as in Larson 1974); its percentiles are
given only when travel is ``none``. Idle patrol movement is ignored (units are at their posts).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from twin.analytics.erlang import MMc, MMcK, erlang_b
from twin.analytics.hypercube import (
    MAX_EXACT_UNITS,
    HypercubeResult,
    hypercube_approx,
    hypercube_exact,
)
from twin.errors import TwinError
from twin.model.demand import DEMAND_SOURCES
from twin.model.dispatch import DISPATCH_POLICIES
from twin.model.patrol import PATROL_POLICIES
from twin.model.registry import Registry
from twin.model.travel import TRAVEL_MODELS, build_travel

if TYPE_CHECKING:
    from twin.scenario import Scenario

__all__ = [
    "ANALYTIC_EXIT_CODE",
    "EXACT_AUTO_MAX_UNITS",
    "METHODS",
    "AssumptionError",
    "HypercubeInputs",
    "analyze",
    "check_assumptions",
    "hypercube_inputs",
]

ANALYTIC_EXIT_CODE = 3
"""Exit code of ``twin analytic`` when the scenario is outside the models' assumptions."""

EXACT_AUTO_MAX_UNITS = 12
"""``method="auto"`` solves the hypercube exactly up to this many units."""

METHODS = ("auto", "erlang", "hypercube_exact", "hypercube_approx")
"""Accepted values of ``analyze(method=...)``."""

Method = Literal["auto", "erlang", "hypercube_exact", "hypercube_approx"]


class AssumptionError(TwinError):
    """The scenario is outside the analytic models' assumptions.

    Attributes:
        failures: One message per failed assumption, each naming the scenario field.

    """

    def __init__(self, scenario: str, failures: list[str]) -> None:
        lines = "\n".join(f"  - {f}" for f in failures)
        super().__init__(
            f"scenario {scenario!r} is outside the analytic model's assumptions:\n{lines}\n"
            "Use `twin simulate` for this scenario, or change the listed fields.",
            exit_code=ANALYTIC_EXIT_CODE,
        )
        self.failures = failures


@dataclass(frozen=True)
class HypercubeInputs:
    """A scenario translated into hypercube inputs (rates per minute, times in minutes).

    Attributes:
        zone_ids: Atom ids in scenario order.
        unit_ids: Unit ids in scenario order.
        rates: Call rate of each zone per minute.
        preferences: For each zone, unit indices in dispatch order.
        service_rate: 1 / mean on-scene minutes.
        home_areas: For each unit, the zone indices of its home area.
        travel: Driving minutes from each unit's post to each zone, ``(N, J)``.
        notes: Caveats found while translating (not failures).

    """

    zone_ids: list[str]
    unit_ids: list[str]
    rates: NDArray[np.float64]
    preferences: list[list[int]]
    service_rate: float
    home_areas: list[list[int]]
    travel: NDArray[np.float64]
    notes: list[str] = field(default_factory=list)


def _service_mean(scenario: Scenario, failures: list[str]) -> float | None:
    """Return the common exponential on-scene mean, or record why there is none."""
    specs = [("service", scenario.service)]
    for i, p in enumerate(scenario.priorities):
        if p.service is not None:
            specs.append((f"priorities[{i}].service", p.service))
    if scenario.priorities and all(p.service is not None for p in scenario.priorities):
        specs = specs[1:]  # the default is never used
    means: list[tuple[str, float]] = []
    for name, spec in specs:
        if spec.dist != "exponential":
            failures.append(
                f"{name}: dist {spec.dist!r}; the analytic models need exponential on-scene "
                "times (dist: exponential)"
            )
        else:
            means.append((name, float(spec.mean)))
    if len(means) != len(specs):
        return None
    first = means[0][1]
    odd = [f"{n} mean {m:g}" for n, m in means if not math.isclose(m, first, rel_tol=1e-9)]
    if odd:
        failures.append(
            f"{means[0][0]} mean {first:g} differs from {', '.join(odd)}; the hypercube and "
            "Erlang models need one service rate for all priorities"
        )
        return None
    return first


def _hit_rates(scenario: Scenario) -> dict[str, float]:
    """Return watch-list hits per hour by zone, from checkpoints with constant Poisson arrivals."""
    out: dict[str, float] = {}
    for cp in scenario.checkpoints:
        arr = cp.arrivals
        if cp.watchlist_hit_probability and arr.profile is None and arr.process == "poisson":
            rate = arr.rate_per_hour * cp.watchlist_hit_probability
            out[cp.zone] = out.get(cp.zone, 0.0) + rate
    return out


def _check_zone_shares(scenario: Scenario, failures: list[str]) -> None:
    """Refuse zone class mixes (``zones[].shares``) when the class changes service or travel.

    With one on-scene distribution and one driving speed for every class, a zone's class mix
    only relabels its calls: the fleet-level figures are unchanged and the class rates are the
    zones' rates times their mixes. Otherwise the service (or drive) time would depend on the
    zone, which the models do not have.
    """
    zones = [i for i, z in enumerate(scenario.zones) if z.shares]
    if not zones:
        return
    why: list[str] = []
    specs = {
        json.dumps((p.service or scenario.service).model_dump(), sort_keys=True)
        for p in scenario.priorities
    }
    if len(specs) > 1:
        why.append("on-scene time (priorities[].service)")
    travels = scenario.travel.model != "none" or scenario.travel.turnout_min > 0
    if travels and scenario.uses_travel_factor:
        why.append("driving speed (priorities[].travel_factor)")
    if not why:
        return
    shown = ", ".join(f"zones[{i}].shares" for i in zones[:5])
    more = f" (+{len(zones) - 5} more)" if len(zones) > 5 else ""
    failures.append(
        f"{shown}{more}: zone-specific class mixes with classes that differ in "
        f"{' and '.join(why)} make the service time depend on the zone, which the models do "
        "not have (remove the zones' shares or give every class the same service and speed)"
    )


def _class_rates(scenario: Scenario) -> dict[int, float]:
    """Return calls per hour by priority level: zone demand by share, plus watch-list hits."""
    levels = scenario.priority_levels()
    base = sum(z.total_rate for z in scenario.zones)
    share_of = {p.level: p.share for p in scenario.priorities} or {levels[0]: 1.0}
    if scenario.has_zone_shares:
        agency = scenario.agency_ids[0]
        out = dict.fromkeys(levels, 0.0)
        for z in scenario.zones:
            mix = scenario.zone_mix(z, agency)
            for lvl in levels:
                share = share_of[lvl] if mix is None else float(mix.get(lvl, 0.0))
                out[lvl] += z.total_rate * share
    else:
        out = {lvl: base * share_of[lvl] for lvl in levels}
    for cp in scenario.checkpoints:
        arr = cp.arrivals
        if cp.watchlist_hit_probability and arr.profile is None and arr.process == "poisson":
            lvl = cp.hit_priority if cp.hit_priority in out else levels[0]
            out[lvl] += arr.rate_per_hour * cp.watchlist_hit_probability
    return out


def _rule_failure(registry: Registry[Any], field: str, name: str) -> str | None:
    """Return why the rule *name* has no analytic model, or None when it has one."""
    if name not in registry:
        return (
            f"{field}: {name!r} is not a registered {registry.kind} (known: {', '.join(registry)})"
        )
    if registry.theory(name) is None:
        known = [n for n in registry if registry.theory(n) is not None]
        return (
            f"{field}: {registry.kind} {name!r} has no analytic model (the models cover "
            f"{', '.join(known)}); simulate it instead"
        )
    return None


def _check_rules(scenario: Scenario, failures: list[str]) -> None:
    """Ask each rule's registry whether a theory supports the scenario's choice."""
    rules: list[tuple[Registry[Any], str, str]] = [
        (DEMAND_SOURCES, "demand.source", scenario.demand.source),
        (TRAVEL_MODELS, "travel.model", scenario.travel.model),
        (PATROL_POLICIES, "patrol.policy", scenario.patrol.policy),
        (DISPATCH_POLICIES, "dispatch.policy", scenario.dispatch.policy),
    ]
    for i, a in enumerate(scenario.agencies):
        if a.dispatch is not None:
            rules.append((DISPATCH_POLICIES, f"agencies[{i}].dispatch.policy", a.dispatch.policy))
    for registry, where, name in rules:
        why = _rule_failure(registry, where, name)
        if why is not None:
            failures.append(why)


def _check_demand(scenario: Scenario, failures: list[str]) -> None:
    """Constant-rate Poisson demand, one agency."""
    for i, z in enumerate(scenario.zones):
        if z.profile is not None:
            failures.append(
                f"zones[{i}].profile: zone {z.id!r} has an hour-of-week profile; the models "
                "need constant rates (remove profile)"
            )
        if z.profiles:
            failures.append(
                f"zones[{i}].profiles: zone {z.id!r} has hour-of-week profiles; the models "
                "need constant rates (remove profiles)"
            )
    agencies = scenario.agency_ids
    if len(agencies) > 1:
        failures.append(
            f"agencies: the scenario has {len(agencies)} agencies ({', '.join(agencies)}); the "
            "models take one fleet answering one demand (analyse each agency as its own "
            "scenario)"
        )


def _check_delays(scenario: Scenario, failures: list[str]) -> None:
    """No dispatch delay; no random or class-specific driving when there is driving."""
    if scenario.uses_dispatch_delay:
        where = ["dispatch.delay"] if scenario.dispatch.delay is not None else []
        where += [
            f"priorities[{i}].dispatch_delay"
            for i, p in enumerate(scenario.priorities)
            if p.dispatch_delay is not None
        ]
        where += [
            f"agencies[{i}].dispatch.delay"
            for i, a in enumerate(scenario.agencies)
            if a.dispatch is not None and a.dispatch.delay is not None
        ]
        failures.append(
            f"{', '.join(where) or 'dispatch.delay'}: a dispatch delay is not part of the "
            "models (remove it)"
        )
    if scenario.travel.model != "none" or scenario.travel.turnout_min > 0:
        if scenario.travel.noise is not None:
            failures.append(
                "travel.noise: random drive times are not part of the models (remove noise or "
                "use travel: {model: none})"
            )
        for i, p in enumerate(scenario.priorities):
            if p.travel_factor != 1.0:
                failures.append(
                    f"priorities[{i}].travel_factor: {p.travel_factor:g}; class-specific "
                    "driving speeds are not part of the models (remove it or use travel: "
                    "{model: none})"
                )


def _check_checkpoints(scenario: Scenario, failures: list[str]) -> None:
    """Watch-list hits must be a constant-rate Poisson stream."""
    for i, cp in enumerate(scenario.checkpoints):
        if not cp.watchlist_hit_probability:
            continue
        if cp.arrivals.profile is not None:
            failures.append(
                f"checkpoints[{i}].arrivals.profile: checkpoint {cp.id!r} has hourly vehicle "
                "arrivals, so its watch-list hits are not a constant-rate Poisson stream "
                "(remove the profile or set watchlist_hit_probability to 0)"
            )
        elif cp.arrivals.process != "poisson":
            failures.append(
                f"checkpoints[{i}].arrivals.process: checkpoint {cp.id!r} has "
                f"{cp.arrivals.process} vehicle arrivals, so its watch-list hits are not "
                "Poisson (use process: poisson or set watchlist_hit_probability to 0)"
            )


def _notes(scenario: Scenario, hit_rate: float) -> list[str]:
    """Caveats that do not stop the models."""
    notes: list[str] = []
    if hit_rate > 0:
        notes.append(
            f"checkpoints: watch-list hits add {hit_rate:.4g} interception calls per hour "
            "(thinned Poisson) to their zones"
        )
    if scenario.checkpoints:
        notes.append("checkpoint KPIs are not modelled analytically (checkpoints: {})")
    if scenario.travel.model != "none" or scenario.travel.turnout_min > 0:
        notes.append(
            "travel: the model treats on-scene time as the service time; the engine also counts "
            "turnout and driving as busy, so analytic utilisations and waits are optimistic "
            "(use travel: {model: none} for an exact comparison)"
        )
        if scenario.dispatch.policy == "closest" and scenario.patrol.policy != "post":
            notes.append(
                "dispatch: closest is ordered from the units' posts; idle patrol movement "
                f"(patrol.policy: {scenario.patrol.policy}) is ignored"
            )
    if len(scenario.priorities) > 1 and scenario.queue.discipline == "priority":
        notes.append(
            "queue.discipline: priority; fleet figures are those of FCFS, per-class mean waits "
            "use Cobham's formula (no percentiles)"
        )
    if scenario.detection.delay is not None:
        notes.append("detection: delays shift arrivals; times are measured from the received call")
    return notes


def check_assumptions(scenario: Scenario) -> tuple[list[str], list[str]]:
    """Check a scenario against the analytic models' assumptions.

    Args:
        scenario: A validated scenario.

    Returns:
        ``(failures, notes)``: failures name the field and why it breaks the model (empty when
        the scenario is within the assumptions); notes are caveats that do not stop the model.

    """
    failures: list[str] = []
    _check_rules(scenario, failures)
    _check_demand(scenario, failures)
    _check_delays(scenario, failures)
    mean = _service_mean(scenario, failures)
    _check_zone_shares(scenario, failures)
    for i, u in enumerate(scenario.units):
        if u.shift is not None:
            failures.append(
                f"units[{i}].shift: unit {u.id!r} works a shift; the models need a constant "
                "fleet (remove shift)"
            )
    _check_checkpoints(scenario, failures)
    if scenario.self_initiated is not None:
        failures.append(
            "self_initiated: officer-initiated work makes units unavailable to some call "
            "classes and pre-emptible by others; no analytic model here covers it (remove the "
            "section to analyse the fleet without it, or simulate)"
        )
    hit_rate = sum(r for r in _hit_rates(scenario).values())
    if mean is not None and scenario.queue.capacity == "unlimited":
        load = (scenario.total_rate_per_hour + hit_rate) / 60.0 * mean
        n = len(scenario.units)
        if load >= n:
            failures.append(
                f"queue.capacity: unlimited but the offered load {load:.3g} Erlangs "
                f"(rates x service.mean {mean:g} min) is >= {n} units: the queue grows without "
                "bound; add units or lower the rates"
            )
    return failures, _notes(scenario, hit_rate)


def hypercube_inputs(scenario: Scenario) -> HypercubeInputs:
    """Translate a scenario into hypercube inputs (checking the assumptions first).

    Args:
        scenario: A validated scenario.

    Returns:
        The zone rates, preference lists, service rate, home areas and travel matrix.

    Raises:
        AssumptionError: When an assumption fails.

    """
    failures, notes = check_assumptions(scenario)
    if failures:
        raise AssumptionError(scenario.name, failures)
    zone_ids = scenario.zone_ids
    unit_ids = scenario.unit_ids
    zidx = {z: j for j, z in enumerate(zone_ids)}
    hits = _hit_rates(scenario)
    rates = np.array([(z.total_rate + hits.get(z.id, 0.0)) / 60.0 for z in scenario.zones])
    times = np.asarray(build_travel(scenario).times, dtype=float)
    base_speed = scenario.travel.speed_kmh
    factor = np.array([base_speed / u.speed_kmh if u.speed_kmh else 1.0 for u in scenario.units])
    posts = np.array([zidx[u.post] for u in scenario.units])
    travel = times[posts, :] * factor[:, None]  # (N, J)
    prefs = DISPATCH_POLICIES.get(scenario.dispatch.policy).hypercube_preferences(scenario, travel)
    areas: list[list[int]] = []
    for n, u in enumerate(scenario.units):
        if u.area is not None:
            areas.append([zidx[z] for z in u.area])
        else:
            areas.append([j for j in range(len(zone_ids)) if prefs[j][0] == n])
    mean = _service_mean(scenario, [])
    assert mean is not None  # checked above
    return HypercubeInputs(
        zone_ids=zone_ids,
        unit_ids=unit_ids,
        rates=rates,
        preferences=prefs,
        service_rate=1.0 / mean,
        home_areas=areas,
        travel=travel,
        notes=notes,
    )


@dataclass(frozen=True)
class _Fleet:
    """Fleet-level figures, which do not depend on the preference lists."""

    label: str
    p_wait: float
    p_lost: float
    mean_wait: float
    quantile: Callable[[float], float]


def _fleet(lam: float, mu: float, n_units: int, capacity: int | None) -> _Fleet:
    """Erlang C (unlimited), Erlang B (capacity 0) or M/M/c/c+K (capacity K)."""
    if capacity is None:
        q = MMc(lam, mu, n_units)
        return _Fleet("erlang_c", q.p_wait, 0.0, q.wq, q.wait_quantile)
    if capacity == 0:
        return _Fleet("erlang_b", 0.0, float(erlang_b(lam / mu, n_units)), 0.0, lambda _q: 0.0)
    k = MMcK(lam, mu, n_units, n_units + capacity)
    return _Fleet("mmck", k.p_wait, k.p_lost, k.wq, k.wait_quantile)


def _response(
    fleet: _Fleet, mean_travel: float | None, travel_none: bool, turnout: float
) -> dict[str, float | None]:
    """Received -> on scene: wait + turnout (+ mean travel from the posts when travelling)."""
    if travel_none:
        return {
            "mean": fleet.mean_wait + turnout,
            "p50": fleet.quantile(0.5) + turnout,
            "p90": fleet.quantile(0.9) + turnout,
        }
    if mean_travel is None:
        return {"mean": None, "p50": None, "p90": None}
    return {"mean": fleet.mean_wait + turnout + mean_travel, "p50": None, "p90": None}


@dataclass(frozen=True)
class _Solution:
    """Per-unit figures of the chosen model."""

    label: str
    utilization: NDArray[np.float64]
    share: NDArray[np.float64]
    fractions: dict[str, dict[str, float]] | None
    out_of_area: float | None
    mean_travel: float | None


def _pick_method(scenario: Scenario, method: Method, n_units: int) -> Method:
    """Resolve ``auto`` and check the exact model's size limit."""
    if method == "auto":
        if n_units == 1:
            method = "erlang"
        elif n_units <= EXACT_AUTO_MAX_UNITS:
            method = "hypercube_exact"
        else:
            method = "hypercube_approx"
    if method == "hypercube_exact" and n_units > MAX_EXACT_UNITS:
        raise TwinError(
            f"{scenario.name}: the exact hypercube handles at most {MAX_EXACT_UNITS} units "
            f"(this fleet has {n_units}); use --method hypercube_approx"
        )
    return method


def _solve(method: Method, inp: HypercubeInputs, fleet: _Fleet, capacity: int | None) -> _Solution:
    """Per-unit figures: the fleet average (``erlang``) or the hypercube's."""
    n_units = len(inp.unit_ids)
    mu = inp.service_rate
    if method == "erlang":
        served_rate = float(inp.rates.sum()) * (1.0 - fleet.p_lost)
        return _Solution(
            fleet.label,
            np.full(n_units, served_rate / mu / n_units),
            np.full(n_units, 1.0 / n_units),
            None,
            None,
            None,
        )
    solver = hypercube_exact if method == "hypercube_exact" else hypercube_approx
    result: HypercubeResult = solver(
        inp.rates,
        inp.preferences,
        mu,
        queue=capacity != 0,
        capacity=capacity,
        home_areas=inp.home_areas,
        travel=inp.travel,
    )
    fractions = {
        u: {z: float(result.dispatch_fractions[n, j]) for j, z in enumerate(inp.zone_ids)}
        for n, u in enumerate(inp.unit_ids)
    }
    return _Solution(
        result.method,
        result.utilizations,
        result.dispatch_fractions.sum(axis=1),
        fractions,
        result.out_of_area_fraction,
        result.mean_travel,
    )


def _by_priority(
    scenario: Scenario,
    fleet: _Fleet,
    response: dict[str, float | None],
    n_units: int,
    mu: float,
    mean_travel: float | None,
) -> dict[str, dict[str, Any]]:
    """Per-class figures: the fleet's under FCFS; Cobham's mean waits under priority."""
    levels = scenario.priority_levels()
    class_rates = _class_rates(scenario)  # per hour
    capacity = None if scenario.queue.capacity == "unlimited" else int(scenario.queue.capacity)
    horizon = float(scenario.horizon)
    travel_none = scenario.travel.model == "none"
    turnout = float(scenario.travel.turnout_min)
    by_priority: dict[str, dict[str, Any]] = {}
    prio_queue = len(levels) > 1 and scenario.queue.discipline == "priority"
    cobham = prio_queue and capacity is None
    sigma = 0.0
    for level in sorted(levels):
        lam_k = class_rates[level] / 60.0
        entry: dict[str, Any] = {
            "incidents": lam_k * horizon,
            "p_wait": fleet.p_wait,
            "p_lost": fleet.p_lost,
            "mean_wait_min": fleet.mean_wait,
            "response_min": dict(response),
        }
        if prio_queue:
            # Cobham: W_k = C / (c mu) / ((1 - sigma_{k-1}) (1 - sigma_k)), sigma_k the load of
            # classes 1..k per server (non-preemptive, identical exponential service).
            cmu = n_units * mu
            prev = sigma
            sigma += lam_k / cmu
            wk = fleet.p_wait / cmu / ((1.0 - prev) * (1.0 - sigma)) if cobham else None
            entry["mean_wait_min"] = wk
            resp_mean = None
            if wk is not None and (travel_none or mean_travel is not None):
                resp_mean = wk + turnout + (mean_travel or 0.0)
            entry["response_min"] = {"mean": resp_mean, "p50": None, "p90": None}
        by_priority[str(level)] = entry
    return {str(lv): by_priority[str(lv)] for lv in levels}  # scenario order


def analyze(scenario: Scenario, method: Method = "auto") -> dict[str, Any]:
    """Answer a scenario with queueing theory, in the engine summary's keys.

    Args:
        scenario: A validated scenario within the assumptions (see the module docstring).
        method: ``auto`` (Erlang for one unit, the exact hypercube up to
            :data:`EXACT_AUTO_MAX_UNITS` units, Larson's approximation above), ``erlang``
            (fleet-level figures only; per-unit figures are the fleet average and
            ``dispatch_fractions`` is null), ``hypercube_exact`` or ``hypercube_approx``.

    Returns:
        A dict with the summary keys (``seed`` and ``replications`` null, ``incidents`` the
        expected count over the horizon, unit ``dispatches`` expected counts, ``presence``
        null, ``checkpoints`` empty), plus ``method`` (``erlang_c``, ``erlang_b``, ``mmck``
        (finite queue), ``hypercube_exact`` or ``hypercube_approx``) and ``notes``. Waits are
        over dispatched (not lost) calls, as in the engine.

    Raises:
        AssumptionError: When an assumption fails, including a rule (dispatch policy, travel
            model, demand source, patrol policy) whose registry names no theory for it (exit
            code 3 in the CLI).
        TwinError: On an unknown method or a fleet too large for the exact model.

    """
    if method not in METHODS:
        raise TwinError(f"unknown analytic method {method!r}; use one of {', '.join(METHODS)}")
    inp = hypercube_inputs(scenario)
    n_units = len(inp.unit_ids)
    method = _pick_method(scenario, method, n_units)
    capacity = None if scenario.queue.capacity == "unlimited" else int(scenario.queue.capacity)
    lam = float(inp.rates.sum())
    mu = inp.service_rate
    horizon = float(scenario.horizon)
    fleet = _fleet(lam, mu, n_units, capacity)
    served_rate = lam * (1.0 - fleet.p_lost)
    sol = _solve(method, inp, fleet, capacity)
    travel_none = scenario.travel.model == "none"
    response = _response(fleet, sol.mean_travel, travel_none, float(scenario.travel.turnout_min))
    by_priority = _by_priority(scenario, fleet, response, n_units, mu, sol.mean_travel)
    if len(scenario.priority_levels()) > 1 and scenario.queue.discipline == "priority":
        response = {"mean": response["mean"], "p50": None, "p90": None}
    units = {
        u: {
            "utilization": float(sol.utilization[n]),
            "dispatches": float(served_rate * horizon * sol.share[n]),
        }
        for n, u in enumerate(inp.unit_ids)
    }
    return {
        "scenario": scenario.name,
        "seed": None,
        "replications": None,
        "incidents": lam * horizon,
        "p_wait": fleet.p_wait,
        "p_lost": fleet.p_lost,
        "mean_wait_min": fleet.mean_wait,
        "response_min": response,
        "by_priority": by_priority,
        "units": units,
        "dispatch_fractions": sol.fractions,
        "out_of_area_fraction": sol.out_of_area,
        "presence": None,
        "checkpoints": {},
        "method": sol.label,
        "notes": inp.notes,
    }
