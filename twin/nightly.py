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
4. compares the score (smaller is better) with its usual band: mean +- ``k_sd`` standard
   deviations of the stored history of the same city and agency when there are at least
   ``min_history`` earlier scores, else the fixed band ``[0, fixed_max]`` (default 1.0: only
   a gross failure is flagged until a history exists, because the San Francisco p90 error is
   structurally large, see :mod:`twin.fidelity`). A score outside the band sets ``drift``.

The loop looks each city up (:func:`twin.cities.get_city`); it never branches on a name.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from twin.calibrate import calibrate, write_calibration
from twin.calibrate.data import load_city, local_dates
from twin.calibrate.report import jsonable
from twin.cities import CITIES, get_city
from twin.errors import TwinError
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

__all__ = ["NIGHTLY_CITIES", "CityNight", "NightlyReport", "after_sync", "drift_band"]

NIGHTLY_CITIES: tuple[tuple[str, str], ...] = tuple(
    (c.name, c.nightly_agency) for c in CITIES.values() if c.nightly_agency
)
"""``(city, agency)`` pairs the nightly loop scores by default (the cities' ``nightly_agency``)."""


def drift_band(
    history: list[float], *, k_sd: float = 3.0, min_history: int = 5, fixed_max: float = 1.0
) -> tuple[float, float, str]:
    """Return the usual band ``(low, high, how)`` of a score from its history.

    Args:
        history: Earlier scores (oldest first).
        k_sd: Width in standard deviations.
        min_history: Fewer earlier scores than this use the fixed band.
        fixed_max: Upper end of the fixed band ``[0, fixed_max]``.

    Returns:
        The band and a short description of how it was set.

    """
    vals = [v for v in history if v is not None and math.isfinite(v)]
    if len(vals) < min_history:
        return 0.0, fixed_max, f"fixed band [0, {fixed_max}] ({len(vals)} earlier scores)"
    mean = sum(vals) / len(vals)
    sd = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    sd = max(sd, 0.01)
    return (
        mean - k_sd * sd,
        mean + k_sd * sd,
        (f"mean {mean:.4f} +- {k_sd:g} sd ({sd:.4f}) of {len(vals)} earlier scores"),
    )


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
        drift: Score outside the band.
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
    drift: bool = False
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


def _newest_day(lake_dir: Path | str, city: str, agency: str) -> date:
    data = load_city(lake_dir, city)
    inc = data.incidents
    if agency:
        inc = inc.loc[inc["agency"] == agency]
    if inc.empty:
        raise TwinError(f"nightly: no {agency} incidents of {city} in the lake")
    return max(local_dates(inc["event_time"], data.tz))


def _score_night(
    sc: Scenario,
    lake_dir: Path | str,
    city: str,
    day: date,
    dest: Path,
    night: CityNight,
    seed: int,
    replications: int,
    weeks: int,
) -> FidelityResult:
    """Replay the newest *day* under *sc* and score it the city's way (its ``scoring``)."""
    the_city = get_city(city)
    if the_city.scoring == "replay":
        rep = replay(
            sc, lake_dir, day, day, out_dir=dest / "replay", seed=seed, replications=replications
        )
        return replay_fidelity(sc, rep)
    if the_city.scoring == "none":
        raise TwinError(f"nightly: {city} has no observed response to score against")
    data = load_city(lake_dir, city)
    if data.response_stats is None:
        raise TwinError(f"nightly: {city} has no response_stats to score against")
    year = int(response_figures(the_city, data)["year"].max())
    try:
        replay(sc, lake_dir, day, day, out_dir=dest / "replay", seed=seed, replications=1)
    except TwinError as exc:  # a day outside the scenario's zones, say
        night.error = f"replay skipped: {exc}"
    return fidelity(
        sc,
        lake_dir,
        date(year, 1, 1),
        date(year, 12, 31),
        seed=seed,
        replications=replications,
        weeks=weeks,
    )


def after_sync(
    lake_dir: Path | str,
    out_dir: Path | str,
    *,
    cities: tuple[tuple[str, str], ...] = NIGHTLY_CITIES,
    seed: int = 1,
    replications: int = 2,
    k_sd: float = 3.0,
    min_history: int = 5,
    fixed_max: float = 1.0,
    seattle_weeks: int = 8,
) -> NightlyReport:
    """Recalibrate, replay the newest day, store its fidelity and flag drift.

    Args:
        lake_dir: The freshly synced lake.
        out_dir: Folder for the nightly scenarios, fit reports and replay outputs.
        cities: ``(city, agency)`` pairs to process.
        seed: Seed of the replays.
        replications: Replications per replay / simulation.
        k_sd: Band width in standard deviations of the history.
        min_history: Earlier scores needed before the band comes from history.
        fixed_max: Upper end of the fixed band used with a short history.
        seattle_weeks: Simulated weeks of a ``published_means`` score (Seattle's beats).

    Returns:
        The :class:`NightlyReport` (``drift`` True when a score left its band). A city that
        fails (no data) is reported with its error and no drift; the others still run.

    """
    run_id = "nightly-" + uuid.uuid4().hex[:10]
    out = Path(out_dir)
    results: list[CityNight] = []
    for city, agency in cities:
        night = CityNight(city=city, agency=agency)
        results.append(night)
        try:
            day = _newest_day(lake_dir, city, agency)
            night.day = str(day)
            cal = calibrate(
                lake_dir,
                city,
                agency=agency,
                holdout_start=day,
                holdout_end=day,
                name=f"{city}_{agency}_nightly",
                refine_rounds=1,
            )
            dest = out / city
            paths = write_calibration(cal, dest / f"{city}_{agency}_nightly.yaml")
            night.scenario_path = str(paths[0])
            sc = parse_scenario(cal.scenario, source=str(paths[0]))
            fid = _score_night(
                sc, lake_dir, city, day, dest, night, seed, replications, seattle_weeks
            )
            history = [
                float(v)
                for v in fidelity_history(lake_dir, city, agency, nightly_only=True)[
                    "value"
                ].tolist()
                if v is not None
            ]
            store_fidelity(lake_dir, fid, run_id)
            night.fidelity = fid.to_dict()
            night.score = fid.score
            lo, hi, how = drift_band(
                history, k_sd=k_sd, min_history=min_history, fixed_max=fixed_max
            )
            night.band = (lo, hi)
            night.band_how = how
            night.drift = fid.score is not None and not (lo <= fid.score <= hi)
        except TwinError as exc:
            night.error = str(exc)
    return NightlyReport(run_id=run_id, cities=results)
