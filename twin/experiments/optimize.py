"""The fewest units of one agency (posts and watches) that meet a response target.

``twin optimize SCENARIO --target "response_p90_min[agency=police,priority=1] <= 15"``:

1. **Target** (:func:`parse_target`): ``KPI[filters] OP VALUE`` with a KPI of
   :mod:`twin.model.kpis` (``response_mean_min``, ``response_p90_min``, ``within_5_min``,
   ``p_wait``, ...), filters ``agency=``, ``priority=``, ``district=``, and ``<=``/``>=``.
   With ``per="district"`` the target must hold in every district.
2. **Screening** (:func:`screen`): a maximal expected covering model (Daskin's MEXCLP) over
   zones. A call is *covered* when a unit's drive from its post, times the class's travel
   factor, plus turnout and the mean dispatch delay, is within the target's minutes (the
   target value for response KPIs, ``t`` for ``within_<t>_min``). Units are busy
   independently with probability ``q = offered load / units on duty`` (Erlang's mean
   utilisation), so a zone covered by k units is reached in time with probability
   ``1 - q^k``. When the target's calls wait for their own dispatch area's units
   (``self_initiated.dispatch_scope: district`` and a class that may not pre-empt the work:
   Seattle's sector queues), a post covers only its area's zones, so every area gets posts,
   and each unit patrols its area. Posts are added greedily, each where it adds most
   expected covered demand, which yields nested layouts for every fleet size and an analytic
   units-vs-coverage curve.
   When the agency works watches, every watch gets the same nested post sequence and the
   fleet is split over the watches in proportion to the base file's watch sizes.
3. **Confirmation** by simulation under common random numbers (same seed, same replication
   numbers, so every candidate sees the same incidents): starting at the fleet the screen
   says is enough, walk down while the simulated mean still meets the target and up until it
   does, within ``max_units``. The confirmation horizon is at most a week and the
   replications few, so this is a planning sketch; confirm the answer with ``twin sweep``.
4. **Naive comparison**: the same number of units posted in proportion to demand (dispatch
   areas, as in the screen, by largest remainder, then the busiest zones of each area),
   simulated with the same seeds.

The output scenario replaces the agency's units by the chosen layout and says so in its header;
``FILE.optimize.json`` holds the target, the curve, the chosen and naive layouts and an
explanation.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from twin.errors import ConfigError
from twin.model.kpis import AreaMaps, IncidentFilter, area_kpis, kpi_direction, kpi_names
from twin.scenario import DEFAULT_AGENCY, Scenario, parse_scenario, read_yaml, write_scenario
from twin.scenario.distributions import spec_mean
from twin.statistics import largest_remainder

__all__ = ["Target", "optimize", "parse_target", "screen"]

_TARGET = re.compile(
    r"^\s*(?P<kpi>[A-Za-z_0-9.]+)\s*(?:\[(?P<filters>[^\]]*)\])?\s*(?P<op><=|>=)\s*"
    r"(?P<value>[-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*$"
)


@dataclass(frozen=True)
class Target:
    """A parsed target: ``kpi[agency=..,priority=..,district=..] op value``."""

    kpi: str
    op: str
    value: float
    agency: str | None = None
    priority: int | None = None
    district: str | None = None
    text: str = ""

    def met(self, x: float | None) -> bool:
        """Return whether a KPI value meets the target (None never does)."""
        if x is None or not math.isfinite(x):
            return False
        return x <= self.value if self.op == "<=" else x >= self.value

    @property
    def minutes(self) -> float:
        """Return the covering time of the screen (minutes)."""
        if self.kpi.startswith("within_"):
            return float(self.kpi[len("within_") : -len("_min")])
        if self.kpi.startswith("response_"):
            return self.value
        return math.nan


def parse_target(text: str) -> Target:
    """Parse ``KPI[filters] <= VALUE``.

    Raises:
        ConfigError: Bad syntax, unknown KPI or filter, or a direction that cannot be a goal.

    """
    m = _TARGET.match(text)
    if m is None:
        raise ConfigError(
            f"--target {text!r}: write KPI[filters] <= VALUE, e.g. "
            "'response_p90_min[agency=police,priority=1] <= 7' or "
            "'within_5_min[agency=police] >= 0.9'"
        )
    kpi = m["kpi"]
    try:
        direction = kpi_direction(kpi)
    except KeyError:
        raise ConfigError(
            f"--target {text!r}: unknown KPI {kpi!r}; KPIs: {', '.join(kpi_names()[1:])} "
            "(within_<t>_min for any t)"
        ) from None
    if kpi in ("incidents", "utilisation"):
        raise ConfigError(f"--target {text!r}: {kpi} is a load, not a goal; target a response KPI")
    op = m["op"]
    if (direction < 0 and op == ">=") or (direction > 0 and op == "<="):
        raise ConfigError(
            f"--target {text!r}: lower {kpi} is better; write {kpi} <= VALUE"
            if direction < 0
            else f"--target {text!r}: higher {kpi} is better; write {kpi} >= VALUE"
        )
    got: dict[str, str] = {}
    for part in (m["filters"] or "").split(","):
        if not part.strip():
            continue
        key, sep, val = part.partition("=")
        key, val = key.strip(), val.strip()
        if not sep or key not in ("agency", "priority", "district") or not val:
            raise ConfigError(
                f"--target {text!r}: filter {part.strip()!r}; use agency=ID, priority=N, "
                "district=ID"
            )
        got[key] = val
    prio = got.get("priority")
    if prio is not None and not prio.isdigit():
        raise ConfigError(f"--target {text!r}: priority must be a level number, got {prio!r}")
    return Target(
        kpi,
        op,
        float(m["value"]),
        got.get("agency"),
        int(prio) if prio is not None else None,
        got.get("district"),
        text.strip(),
    )


# ---------------------------------------------------------------------------- screening
@dataclass
class _Problem:
    sc: Scenario
    agency: str
    zones: list[str]
    district: list[str]
    area: list[str]  # dispatch area of each zone: its district, or district/sector (see _problem)
    demand: np.ndarray  # target-class calls per hour per zone
    cover: np.ndarray  # cover[p, z]: a unit posted at p reaches z in time
    q_load: float  # offered load of the agency in unit-hours per hour (all its classes)
    watches: list[tuple[dict[str, Any] | None, float]]  # (shift or None, share of the fleet)
    base_units: int


def _problem(sc: Scenario, target: Target, per: str | None = None) -> _Problem:
    from twin.model.travel import build_travel

    agency = target.agency or (
        DEFAULT_AGENCY if DEFAULT_AGENCY in sc.agency_ids else sc.agency_ids[0]
    )
    if agency not in sc.agency_ids:
        raise ConfigError(f"--target: unknown agency {agency!r}; agencies: {sc.agency_ids}")
    districts = [str(z.district) for z in sc.zones]
    if target.district is not None and target.district not in districts:
        raise ConfigError(f"--target: unknown district {target.district!r}")
    prios = sc.agency_priorities(agency)
    levels = [p.level for p in prios] or [1]
    if target.priority is not None and target.priority not in levels:
        raise ConfigError(
            f"--target: agency {agency!r} has no priority {target.priority}; levels {levels}"
        )
    travel = build_travel(sc)
    disp = sc.agency_dispatch(agency)
    rates = np.zeros(len(sc.zones))
    total = 0.0
    factor, delay = 1.0, spec_mean(disp.delay) if disp.delay is not None else 0.0
    for i, z in enumerate(sc.zones):
        r = z.agency_rates().get(agency, 0.0)
        prof = z.agency_profile(agency)
        r *= (sum(prof) / len(prof)) if prof else 1.0
        total += r
        shares = sc.zone_class_shares(z, agency)
        if target.priority is not None:
            k = levels.index(target.priority)
            r *= shares[k] if k < len(shares) else 0.0
        if target.district is not None and z.district != target.district:
            r = 0.0
        rates[i] = r
    delay_spec = disp.delay
    if target.priority is not None and prios:
        p = prios[levels.index(target.priority)]
        factor = p.travel_factor
        if p.dispatch_delay is not None:
            delay = spec_mean(p.dispatch_delay)
            delay_spec = p.dispatch_delay
    elif prios:  # demand-weighted factor of the agency's classes
        shares = [p.share for p in prios]
        factor = float(np.dot(shares, [p.travel_factor for p in prios]) / sum(shares))
    # a p90 target needs the delay's 90th percentile, not its mean (normal approximation)
    sd = float(getattr(delay_spec, "sd", None) or 0.0) if delay_spec is not None else 0.0
    delay_extra = 1.2816 * sd if target.kpi == "response_p90_min" else 0.0
    drive = travel.array * factor + travel.turnout + delay + delay_extra
    cover = drive <= target.minutes if math.isfinite(target.minutes) else drive <= np.inf
    area = _dispatch_areas(sc, agency, target.priority)
    if area is not None:  # the target's calls wait for their own area's units
        labels = np.array(area, dtype=object)
        cover &= labels[:, None] == labels[None, :]
    service = spec_mean(sc.agency_service(agency))
    mean_drive = float(np.average(np.min(drive, axis=0), weights=rates + 1e-12))
    load = total * (service + mean_drive) / 60.0
    units = [u for u in sc.units if u.agency == agency]
    counts = Counter((u.shift.start, u.shift.hours) if u.shift is not None else None for u in units)
    watches = [
        ({"start": k[0], "hours": k[1]} if k is not None else None, c / len(units))
        for k, c in counts.most_common()
    ]
    if per == "district":  # every district weighs the same: the worst one counts
        for d in set(districts):
            idx = [i for i, x in enumerate(districts) if x == d]
            tot = rates[idx].sum()
            if tot > 0:
                rates[idx] = rates[idx] / tot
    return _Problem(
        sc,
        agency,
        sc.zone_ids,
        districts,
        area or districts,
        rates,
        cover,
        load,
        watches,
        len(units),
    )


def _dispatch_areas(sc: Scenario, agency: str, priority: int | None) -> list[str] | None:
    """Return each zone's dispatch area when the target's calls queue per area, else None.

    With ``self_initiated.dispatch_scope: district`` the agency's classes that may not pre-empt
    officer-initiated work are answered by the units of the zone's district, or of its sector
    when zones give one (:mod:`twin.model.engine`): a post then reaches only its own area's
    calls in time, and a layout must staff every area.
    """
    si = sc.self_initiated
    if si is None or si.dispatch_scope != "district" or si.agency != agency:
        return None
    if priority is not None and priority in set(sc.preempting_levels()):
        return None
    return [z.area for z in sc.zones]


def _on_duty(prob: _Problem, n: int) -> float:
    """Mean units on duty at a time for a fleet of *n* split over the watches."""
    hours = sum(share * ((w["hours"] if w else 24.0) / 24.0) for w, share in prob.watches)
    return max(1e-9, n * hours)


def screen(prob: _Problem, n_max: int) -> tuple[list[int], list[float]]:
    """Return the greedy post sequence (zone indices) and expected coverage for 1..n_max units.

    Coverage of n units is the share of the target's calls reached in time (MEXCLP with the
    busy probability of n units).
    """
    n_z = len(prob.zones)
    seq: list[int] = []
    k = np.zeros(n_z)  # units covering each zone
    w = prob.demand / max(prob.demand.sum(), 1e-12)
    coverage = []
    # Daskin's MEXCLP: one system-wide busy probability (the base fleet's utilisation), so the
    # post sequence is nested; a busy probability of the first few units would pile them up
    q = min(0.95, prob.q_load / _on_duty(prob, prob.base_units))
    for _n in range(1, n_max + 1):
        gain = prob.cover.astype(float) @ (w * (1 - q) * q**k)
        # ties (saturated coverage): the zone with most demand per unit posted there
        tie = 1e-9 * w / (1.0 + np.bincount(seq, minlength=n_z)) if seq else 1e-9 * w
        p = int(np.argmax(gain + tie))
        seq.append(p)
        k += prob.cover[p]
        coverage.append(float(np.dot(w, 1 - q**k)))
    return seq, coverage


# ---------------------------------------------------------------------------- layouts
def _layout(prob: _Problem, posts: Sequence[int], n: int) -> list[dict[str, Any]]:
    """Return *n* unit entries: the fleet split over watches, each with the first posts."""
    per_watch = largest_remainder(n, [s for _, s in prob.watches])
    zone_area: dict[str, list[str]] = {}  # a unit patrols its post's dispatch area
    for z, d in zip(prob.zones, prob.area, strict=True):
        zone_area.setdefault(d, []).append(z)
    out = []
    for (shift, _), count in zip(prob.watches, per_watch, strict=True):
        tag = f"{shift['start'].replace(':', '')}" if shift else "24h"
        for i in range(int(count)):
            zi = posts[i % len(posts)]
            unit: dict[str, Any] = {
                "id": f"opt-{prob.agency}-{tag}-{i + 1:03d}",
                "post": prob.zones[zi],
                "agency": prob.agency,
            }
            if prob.area[zi]:
                unit["area"] = zone_area[prob.area[zi]]
            if shift is not None:
                unit["shift"] = dict(shift)
            out.append(unit)
    return out


def _naive_posts(prob: _Problem, n: int, demand: np.ndarray) -> list[int]:
    """Return posts in proportion to demand: areas by largest remainder, busiest zones first.

    The areas are the dispatch areas (districts, or sectors when calls queue per sector).
    """
    areas = list(dict.fromkeys(prob.area))
    total = np.array(
        [sum(r for r, d in zip(demand, prob.area, strict=True) if d == ds) for ds in areas]
    )
    if total.sum() <= 0:
        total = np.ones(len(areas))
    alloc = largest_remainder(n, list(total / total.sum()))
    posts: list[int] = []
    for ds, k in zip(areas, alloc, strict=True):
        zs = sorted((i for i, d in enumerate(prob.area) if d == ds), key=lambda i: -demand[i])
        posts.extend(zs[j % len(zs)] for j in range(int(k)))
    posts.sort(key=lambda i: -demand[i])
    return posts


def _with_units(base: dict[str, Any], agency: str, units: list[dict[str, Any]]) -> dict[str, Any]:
    data = copy.deepcopy(base)
    data["units"] = [u for u in data["units"] if u.get("agency", DEFAULT_AGENCY) != agency] + units
    return data


# ---------------------------------------------------------------------------- confirmation
def _evaluate(
    data: dict[str, Any],
    target: Target,
    per: str | None,
    seed: int,
    replications: int,
) -> tuple[float, float, dict[str, float]]:
    """Simulate; return (worst-area mean, its ci95, per-district means) of the target KPI."""
    from twin.model.engine import Simulation
    from twin.statistics import mean_ci

    sc = parse_scenario(data, source="candidate")
    flt = IncidentFilter(target.agency, target.priority, target.district)
    overall: list[Any] = []
    by_d: dict[str, list[Any]] = {}
    for r in range(replications):
        run = Simulation(sc, seed=seed, replication=r, collect=False).run()
        k = area_kpis(
            run.incidents,
            run.units,
            AreaMaps.of_run(run),
            (target.minutes,) if target.kpi.startswith("within_") else (5.0,),
            flt,
        )
        overall.append(k["overall"].get(target.kpi))
        for d, v in k["by_district"].items():
            if v["incidents"]:
                by_d.setdefault(d, []).append(v.get(target.kpi))
    clean = lambda xs: [math.nan if x is None else float(x) for x in xs]  # noqa: E731
    if per == "district":
        means = {d: mean_ci(clean(v)) for d, v in by_d.items() if any(x is not None for x in v)}
        worst = (
            max(means, key=lambda d: means[d][0])
            if target.op == "<="
            else min(means, key=lambda d: means[d][0])
        )
        m, h = means[worst]
        return m, h, {d: round(v[0], 4) for d, v in means.items()}
    m, h = mean_ci(clean(overall))
    return m, h, {d: round(mean_ci(clean(v))[0], 4) for d, v in by_d.items()}


def optimize(
    scenario: str | Path,
    target_text: str,
    out: str | Path,
    *,
    per: str | None = None,
    max_units: int | None = None,
    min_units: int = 1,
    changes_out: str | Path | None = None,
    seed: int = 0,
    replications: int = 3,
    horizon: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Find the fewest units meeting a target; write the scenario and ``OUT.optimize.json``.

    Args:
        scenario: The base scenario file.
        target_text: The target (see :func:`parse_target`).
        out: The scenario file to write (``.optimize.json`` written beside it).
        per: ``district``: the target must hold in every district.
        max_units: Upper bound of the search (default 1.5 x the base fleet of the agency).
        min_units: Lower bound.
        changes_out: Also write a changes file that turns the base into the answer.
        seed: Seed of the confirmation runs (the same for every candidate).
        replications: Confirmation replications per candidate.
        horizon: Confirmation horizon in minutes (default and maximum: one week).
        progress: Called with a line of text after each confirmation run.

    Raises:
        ConfigError: Bad target, per, bounds or scenario.

    """
    target = parse_target(target_text)
    if per not in (None, "district"):
        raise ConfigError(f"--per {per!r}: only 'district' is supported")
    src = Path(scenario)
    base = read_yaml(src.read_text(encoding="utf-8"), source=str(src))
    if not isinstance(base, dict):
        raise ConfigError(f"{src}: not a scenario mapping")
    week = 7 * 24 * 60.0
    base["horizon"] = min(float(horizon or week), week)
    sc = parse_scenario(base, source=str(src))
    if not math.isfinite(Target(target.kpi, target.op, target.value).minutes):
        raise ConfigError(
            f"--target: {target.kpi} has no response time to screen with; target a response "
            "or within_<t>_min KPI"
        )
    prob = _problem(sc, target, per)
    target = Target(
        target.kpi,
        target.op,
        target.value,
        prob.agency,
        target.priority,
        target.district,
        target.text,
    )
    hi = max_units if max_units is not None else math.ceil(1.5 * prob.base_units)
    if hi < min_units or hi < len(prob.watches):
        raise ConfigError(
            f"--max-units {hi}: too small (at least one unit per watch: {len(prob.watches)})"
        )
    seq, coverage = screen(prob, hi)
    # screen's first guess: the coverage the target asks for (within_t) or 90% for p90, ...
    want = (
        target.value
        if target.kpi.startswith("within_")
        else {"response_p90_min": 0.9, "response_p50_min": 0.5, "response_mean_min": 0.6}.get(
            target.kpi, 0.9
        )
    )
    guess = next((n for n, c in enumerate(coverage, 1) if c >= want), hi)
    guess = max(guess, min_units, len(prob.watches))
    curve: dict[int, dict[str, Any]] = {}

    def run(n: int) -> dict[str, Any]:
        if n not in curve:
            data = _with_units(base, prob.agency, _layout(prob, seq, n))
            m, h, by_d = _evaluate(data, target, per, seed, replications)
            curve[n] = {
                "units": n,
                "kpi_mean": m,
                "ci95": None if not math.isfinite(h) else h,
                "meets": target.met(m),
                "screen_coverage": coverage[n - 1],
                "by_district": by_d,
            }
            if progress is not None:
                progress(
                    f"{n} units: {target.kpi} {m:.3f} ({'meets' if target.met(m) else 'misses'})"
                )
        return curve[n]

    lo_n, n = max(min_units, len(prob.watches)), guess
    step = max(1, n // 8)
    if run(n)["meets"]:
        while n - step >= lo_n and run(n - step)["meets"]:
            n -= step
        below = n - step
        # refine between the last miss and the first hit
        a, b = max(lo_n - 1, below), n
        while b - a > 1:
            mid = (a + b) // 2
            if mid < lo_n or not run(mid)["meets"]:
                a = mid
            else:
                b = mid
        best = b
    else:
        while n < hi and not run(n)["meets"]:
            n = min(hi, n + step)
            step *= 2
        if not run(n)["meets"]:
            best = -1
        else:
            a, b = max(lo_n - 1, n - step // 2), n
            while b - a > 1:
                mid = (a + b) // 2
                if not run(mid)["meets"]:
                    a = mid
                else:
                    b = mid
            best = b
    base_eval = _evaluate(base, target, per, seed, replications)
    chosen_n = best if best > 0 else hi
    units = _layout(prob, seq, chosen_n)
    naive_units = _layout(prob, _naive_posts(prob, chosen_n, _problem(sc, target).demand), chosen_n)
    nm, nh, nd = _evaluate(
        _with_units(base, prob.agency, naive_units), target, per, seed, replications
    )
    chosen = {
        "units": chosen_n,
        "meets": best > 0,
        "kpi_mean": curve[chosen_n]["kpi_mean"] if chosen_n in curve else None,
        "ci95": curve[chosen_n]["ci95"] if chosen_n in curve else None,
        "by_district": curve[chosen_n]["by_district"] if chosen_n in curve else {},
        "posts_by_district": dict(
            Counter(prob.district[prob.zones.index(u["post"])] for u in units)
        ),
        "watches": {
            (w["start"] if w else "24h"): c
            for (w, _), c in zip(
                prob.watches,
                Counter(u.get("shift", {}).get("start", "24h") for u in units).values(),
                strict=False,
            )
        },
    }
    naive = {
        "units": chosen_n,
        "kpi_mean": nm,
        "ci95": None if not math.isfinite(nh) else nh,
        "meets": target.met(nm),
        "by_district": nd,
        "posts_by_district": dict(
            Counter(prob.district[prob.zones.index(u["post"])] for u in naive_units)
        ),
    }
    watch_text = ", ".join(
        (w["start"] if w else "24h") + f" {share:.0%}" for w, share in prob.watches
    )
    scope = "in every district (the worst district counts)" if per == "district" else "overall"
    n_areas = len(set(prob.area))
    area_text = (
        f" by a unit posted in the call's own dispatch area ({n_areas} areas: these calls "
        "wait for their area's units, so every area gets posts; a unit patrols its area)"
        if prob.area != prob.district
        else ""
    )
    explanation = (
        f"Target {target.text} {scope}, {prob.agency} units only (other agencies unchanged). "
        f"Screen: maximal expected covering over {len(prob.zones)} zones: a call counts as reached "
        f"when turnout + dispatch delay (mean; + 1.28 sd for p90) + drive x class travel factor "
        f"<= {target.minutes:g} min"
        f"{area_text}; units busy independently with q = offered load "
        f"({prob.q_load:.1f} unit-hours/h) / units on duty in the base file; posts added "
        f"greedily where they add most expected covered demand (nested layouts). "
        f"Watches as in the base file ({watch_text}). "
        f"Confirmation: {replications} replications of {base['horizon'] / 1440:g} days, "
        f"seed {seed}, "
        f"common random numbers for every candidate. "
        + (
            f"Fewest units meeting the target: {chosen_n} (base file: {prob.base_units}, "
            f"{target.kpi} {base_eval[0]:.3f}); one fewer misses it in the confirmation runs. "
            if best > 0
            else f"No layout up to {hi} units met the target; the file holds {hi} units. "
        )
        + f"Why this layout: each post covers the most not-yet-covered demand; posts by district "
        f"{chosen['posts_by_district']}. Naive layout with the same {chosen_n} units in proportion "
        f"to demand ({naive['posts_by_district']}): {target.kpi} {nm:.3f} "
        f"({'meets' if naive['meets'] else 'misses'} the target)."
    )
    result = {
        "target": target.text,
        "per": per,
        "agency": prob.agency,
        "base": {
            "units": prob.base_units,
            "kpi_mean": base_eval[0],
            "ci95": None if not math.isfinite(base_eval[1]) else base_eval[1],
            "by_district": base_eval[2],
        },
        "curve": [curve[k] for k in sorted(curve)],
        "screen": [{"units": i + 1, "coverage": c} for i, c in enumerate(coverage)],
        "chosen": chosen,
        "naive": naive,
        "explanation": explanation,
    }
    dest = Path(out)
    data = _with_units(
        read_yaml(src.read_text(encoding="utf-8"), source=str(src)), prob.agency, units
    )
    data["name"] = f"{base['name']}_opt"
    data["description"] = f"optimized layout for {target.text}: {chosen_n} {prob.agency} units"
    head = [
        f"{data['name']}: {chosen_n} {prob.agency} units by `twin optimize` from {src}.",
        *_wrap(explanation),
    ]
    write_scenario(dest, data, header=head)
    json_path = dest.with_name(
        dest.name.removesuffix(".yaml").removesuffix(".yml") + ".optimize.json"
    )
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    if changes_out is not None:
        old = [u.id for u in sc.units if u.agency == prob.agency]
        ops: list[dict[str, Any]] = []
        for u in units:
            op: dict[str, Any] = {
                "op": "add_units",
                "to": {"zone": u["post"]},
                "count": 1,
                "agency": prob.agency,
                "post": u["post"],
                "id_prefix": u["id"] + "-",
            }
            op["shift"] = u.get("shift", "none")
            ops.append(op)
        ops.append({"op": "remove_units", "from": {"units": old}})
        import yaml

        Path(changes_out).write_text(
            "\n".join(f"# {line}" for line in _wrap(explanation))
            + "\n"
            + yaml.safe_dump(
                {"name": data["name"], "description": data["description"], "changes": ops},
                sort_keys=False,
                default_flow_style=None,
                width=100,
            )
        )
    result["files"] = {"scenario": str(dest), "json": str(json_path)}
    return result


def _wrap(text: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width=96)
