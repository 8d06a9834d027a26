"""The nightly loop after a sync: recalibrate, replay the newest day, score it, flag drift.

:func:`after_sync` is what the nightly flow calls once the sync has committed::

    from twin.nightly import after_sync
    report = after_sync(lake_dir, out_dir="out/nightly")
    if report.drift: ...   # raise the flag in the run report

For each city (default: every city with a ``nightly_agency`` in :mod:`twin.cities`: San
Francisco, whose calls carry a full life cycle) it

1. recalibrates from the lake, holding out the newest local day with incidents;
2. replays that day under the fresh scenario and scores it the city's way (its ``scoring``:
   ``replay`` scores the replayed day per call; ``published_means`` scores the newest year of
   the city's published response table, see :mod:`twin.fidelity`); the replay outputs go to
   ``out_dir/<city>/replay``, the scenario and fit report to ``out_dir/<city>/``;
3. stores the scores in the lake table ``fidelity``;
4. compares the score (smaller is better) with its usual band, **seeded from the
   calibration itself** so that the first night can already be flagged
   (:func:`twin.calibrate.drift.drift_band`): mean +- ``k_sd`` standard deviations of the
   out-of-sample scores of the same kind of window — ``replay`` cities: every single held-out
   day of a two-block cross-validation of the days before the night
   (:func:`twin.calibrate.crossval.cross_validate_replay`); ``published_means`` cities: the
   zone MAPE of every other published year from one simulation
   (:func:`twin.calibrate.crossval.score_years`) — pooled with the stored history of earlier
   nights. A score outside the band sets ``drift``; the band and the flag are stored in the
   lake with the score (metrics ``band_low``, ``band_high``, ``drift``).

A night with too little data (fewer than ``min_calls`` scoreable calls on the newest day) is
refused and says so (:func:`twin.calibrate.drift.window_coverage`); nothing is stored for it.
By default every city with a ``scoring`` in :mod:`twin.cities` and incidents in the lake is
scored; a city without data is skipped.

The loop looks each city up (:func:`twin.cities.get_city`); it never branches on a name.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from twin.calibrate import calibrate, write_calibration
from twin.calibrate.crossval import YEAR_WEEKS, score_years
from twin.calibrate.data import CityData, load_city, local_dates
from twin.calibrate.drift import drift_band, flag, window_coverage
from twin.calibrate.levers import zone_means
from twin.calibrate.report import jsonable
from twin.cities import CITIES, get_city
from twin.errors import DataError, TwinError
from twin.evidence import cross_validate_replay
from twin.fidelity import (
    FidelityResult,
    fidelity,
    fidelity_history,
    replay_fidelity,
    response_figures,
    store_fidelity,
)
from twin.replay import replay
from twin.scenario import Scenario, parse_scenario

__all__ = ["NIGHTLY_CITIES", "CityNight", "NightlyReport", "after_sync", "scoreable_cities"]

NIGHTLY_CITIES: tuple[tuple[str, str], ...] = tuple(
    (c.name, c.nightly_agency) for c in CITIES.values() if c.nightly_agency
)
"""``(city, agency)`` pairs the nightly loop scores by default (the cities' ``nightly_agency``)."""


@dataclass
class CityNight:
    """One city's nightly outcome.

    Attributes:
        city: City key.
        agency: Agency.
        day: The newest day (replayed and scored), or None.
        scenario_path: The recalibrated scenario file.
        score: The fidelity score (smaller is better), or None.
        band: ``(low, high)`` usual band.
        band_how: How the band was set.
        band_seed: Calibration scores the band was seeded with.
        band_history: Earlier nightly scores pooled into it.
        drift: Score outside the band.
        coverage: Which days of the window had data (``partial``/``refused`` say so).
        fidelity: The fidelity result as a dict.
        error: Message when the city could not be processed.

    """

    city: str
    agency: str
    day: str | None = None
    scenario_path: str | None = None
    score: float | None = None
    band: tuple[float, float] | None = None
    band_how: str = ""
    band_seed: int = 0
    band_history: int = 0
    drift: bool = False
    coverage: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass
class NightlyReport:
    """The outcome of :func:`after_sync`.

    Attributes:
        run_id: Id written into the fidelity rows.
        cities: Per-city outcomes.

    """

    run_id: str
    cities: list[CityNight]

    @property
    def drift(self) -> bool:
        """Return True when any city's score left its band."""
        return any(c.drift for c in self.cities)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for the flow's run report)."""
        return jsonable(
            {
                "run_id": self.run_id,
                "drift": self.drift,
                "cities": [c.__dict__ for c in self.cities],
            }
        )


def _newest_day(data: CityData, agency: str) -> date:
    inc = data.incidents
    if agency:
        inc = inc.loc[inc["agency"] == agency]
    if inc.empty:
        raise TwinError(f"nightly: no {agency} incidents of {data.city} in the lake")
    return max(local_dates(inc["event_time"], data.tz))


def scoreable_cities(lake_dir: Path | str) -> tuple[tuple[str, str], ...]:
    """``(city, agency)`` of every city that can be scored and has incidents in the lake."""
    out: list[tuple[str, str]] = []
    for c in CITIES.values():
        if c.scoring == "none":
            continue
        agency = c.nightly_agency or c.scored_agency or c.agencies[0]
        try:
            load_city(lake_dir, c.name)
        except DataError:
            continue
        out.append((c.name, agency))
    return tuple(out)


def _replay_night(
    sc: Scenario,
    lake_dir: Path | str,
    data: CityData,
    agency: str,
    day: date,
    dest: Path,
    night: CityNight,
    *,
    seed: int,
    replications: int,
    min_calls: int,
) -> tuple[FidelityResult | None, list[float]]:
    """Score the newest day per call; seed the band from a CV of the days before it."""
    inc = data.incidents.loc[data.incidents["agency"] == agency]
    timed = inc.loc[inc["received"].notna()]
    per_day = local_dates(timed["event_time"], data.tz).value_counts()
    cov = window_coverage(
        dict(zip(per_day.index.tolist(), per_day.astype(int).tolist(), strict=True)),
        day,
        day,
        min_days=1,
        min_calls=min_calls,
    )
    night.coverage = cov.to_dict()
    if cov.refused:
        night.error = cov.notes[0]
        return None, []
    rep = replay(
        sc,
        lake_dir,
        day,
        day,
        out_dir=dest / "replay",
        seed=seed,
        replications=replications,
        data=data,
    )
    fid = replay_fidelity(sc, rep)
    first = min(per_day.index)
    seeds: list[float] = []
    try:
        cv = cross_validate_replay(
            lake_dir,
            data.city,
            variants={"nightly": {"agency": agency, "refine_rounds": 1}},
            span=(first, day - timedelta(days=1)),
            replications=1,
            seed=seed,
            data=data,
            in_sample=False,
            curves=False,
        )
        seeds = cv.seed_scores()
    except (ValueError, TwinError) as exc:
        night.band_how = f"no cross-validation seed: {exc}"
    return fid, seeds


def _published_night(
    sc: Scenario,
    lake_dir: Path | str,
    data: CityData,
    agency: str,
    *,
    seed: int,
    replications: int,
    weeks: int,
) -> tuple[FidelityResult, list[float]]:
    """Score the newest published year; seed the band from the other years' scores."""
    the_city = get_city(data.city)
    table = response_figures(the_city, data)
    year = int(table["year"].max())
    fid = fidelity(
        sc,
        lake_dir,
        date(year, 1, 1),
        date(year, 12, 31),
        seed=seed,
        replications=replications,
        weeks=weeks,
    )
    mapping = sc.model_dump(mode="json", exclude_none=True)
    sim = zone_means(mapping, weeks=weeks, seed=seed, agency=agency)
    cal = mapping.get("calibration") or {}
    yrs = score_years(mapping, table, fit_year=cal.get("response_fit_year"), simulated=sim)
    yrs = yrs.loc[~yrs["in_sample"] & (yrs["year"] != year)]
    seeds = [float(v) for v in yrs.groupby("year")["mape"].max().tolist()]
    return fid, seeds


def after_sync(
    lake_dir: Path | str,
    out_dir: Path | str,
    *,
    cities: tuple[tuple[str, str], ...] | None = None,
    seed: int = 1,
    replications: int = 2,
    k_sd: float = 3.0,
    min_scores: int = 5,
    fixed_max: float = 1.0,
    seattle_weeks: int = YEAR_WEEKS,
    min_calls: int = 100,
    progress: Callable[[str], None] | None = None,
) -> NightlyReport:
    """Recalibrate, score the newest window of every city, store score, band and flag.

    Args:
        lake_dir: The freshly synced lake.
        out_dir: Folder for the nightly scenarios, fit reports and replay outputs.
        cities: ``(city, agency)`` pairs to process (default :func:`scoreable_cities`).
        seed: Seed of the replays and simulations.
        replications: Replications per replay / simulation.
        k_sd: Band width in standard deviations.
        min_scores: Seed plus history scores needed for a data-driven band.
        fixed_max: Upper end of the fallback band.
        seattle_weeks: Simulated weeks of a ``published_means`` score (Seattle's beats).
        min_calls: A ``replay`` night with fewer scoreable calls is refused.
        progress: Called with a short line before each long step.

    Returns:
        The :class:`NightlyReport` (``drift`` True when a score left its band). A city that
        fails (no data, a refused window) is reported with its error and no drift.

    """
    run_id = "nightly-" + uuid.uuid4().hex[:10]
    out = Path(out_dir)
    say = progress or (lambda _line: None)
    results: list[CityNight] = []
    for city, agency in cities if cities is not None else scoreable_cities(lake_dir):
        night = CityNight(city=city, agency=agency)
        results.append(night)
        try:
            data = load_city(lake_dir, city)
            day = _newest_day(data, agency)
            night.day = str(day)
            say(f"{city}/{agency}: recalibrating without {day}")
            cal = calibrate(
                lake_dir,
                city,
                agency=agency,
                holdout_start=day,
                holdout_end=day,
                name=f"{city}_{agency}_nightly",
                progress=say,
            )
            say(f"{city}/{agency}: scoring {day}")
            dest = out / city
            paths = write_calibration(cal, dest / f"{city}_{agency}_nightly.yaml")
            night.scenario_path = str(paths[0])
            sc = parse_scenario(cal.scenario, source=str(paths[0]))
            if get_city(city).scoring == "replay":
                fid, seeds = _replay_night(
                    sc,
                    lake_dir,
                    data,
                    agency,
                    day,
                    dest,
                    night,
                    seed=seed,
                    replications=replications,
                    min_calls=min_calls,
                )
                if fid is None:
                    continue
            else:
                fid, seeds = _published_night(
                    sc,
                    lake_dir,
                    data,
                    agency,
                    seed=seed,
                    replications=replications,
                    weeks=seattle_weeks,
                )
            history = [
                float(v)
                for v in fidelity_history(lake_dir, city, agency, nightly_only=True)[
                    "value"
                ].tolist()
                if v is not None
            ]
            band = drift_band(seeds, history, k_sd=k_sd, min_scores=min_scores, fixed_max=fixed_max)
            night.score = fid.score
            night.band = (band.low, band.high)
            night.band_how = band.how
            night.band_seed = band.n_seed
            night.band_history = band.n_history
            night.drift = flag(fid.score, band)
            fid.metrics.update(
                {"band_low": band.low, "band_high": band.high, "drift": float(night.drift)}
            )
            if night.coverage.get("notes"):
                fid.notes.extend(night.coverage["notes"])
            store_fidelity(lake_dir, fid, run_id)
            night.fidelity = fid.to_dict()
        except TwinError as exc:
            night.error = str(exc)
    return NightlyReport(run_id=run_id, cities=results)
