"""Calibration: fitting pieces on synthetic data with known answers, and whole-city fits on the
real samples synced into a real lake."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from twin.analytics.erlang import erlang_c
from twin.calibrate import calibrate, write_calibration
from twin.calibrate.demand import dirichlet_strength, fit_demand, hour_of_week
from twin.calibrate.fleet import fleet_for_utilisation, priority_waits, shift_fleet
from twin.calibrate.service import fit_duration
from twin.calibrate.travel import expected_min_distance, fit_drive_time
from twin.cli import main
from twin.errors import ConfigError, DataError
from twin.geo import haversine_km
from twin.scenario import load_scenario
from twin.sources import load_config
from twin.sync import run_sync

SOURCES = [
    "spd_beats",
    "spd_precincts",
    "spd_911_2015",
    "spd_911_allbeats",
    "spd_call_data",
    "seattle_fire_911",
    "sffd_calls",
    "spd_avg_response",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("lake")
    report = run_sync(load_config(), root, only=SOURCES, durable=False)
    assert all(r.status == "ok" for r in report.sources.values())
    return root


# ----------------------------------------------------------------------------- pieces
@pytest.mark.exact
def test_fit_duration_recovers_lognormal_and_prefers_it() -> None:
    rng = np.random.default_rng(3)
    mu, sigma = math.log(20.0), 0.6
    fit = fit_duration(rng.lognormal(mu, sigma, 4000), "synthetic")
    assert fit.chosen == "lognormal"
    assert fit.candidates["lognormal"]["params"]["sigma"] == pytest.approx(sigma, rel=0.05)
    assert fit.candidates["lognormal"]["params"]["mu"] == pytest.approx(mu, abs=0.03)
    assert fit.candidates["lognormal"]["ks"] < fit.candidates["exponential"]["ks"]
    assert fit.spec["dist"] == "lognormal"
    assert fit.spec["mean"] == pytest.approx(20 * math.exp(sigma**2 / 2), rel=0.05)
    qq = fit.candidates["lognormal"]["qq"]
    assert len(qq["observed"]) == len(qq["fitted"]) == len(qq["probs"])


@pytest.mark.exact
def test_fit_duration_drops_bad_values_and_refuses_tiny_samples() -> None:
    fit = fit_duration(pd.Series([1.0, 2.0, -1.0, None, 0.0] + [3.0] * 30), "x")
    assert fit.n == 32
    assert fit.n_dropped == 3
    with pytest.raises(ValueError, match="only 2 usable"):
        fit_duration([1.0, 2.0], "tiny")


@pytest.mark.exact
def test_priority_waits_single_class_is_erlang_c() -> None:
    lam_h, busy, c = 6.0, 30.0, 4  # 3 Erlangs on 4 servers
    (w,) = priority_waits([lam_h], busy, c)
    pw = float(erlang_c(3.0, 4))
    assert w == pytest.approx(pw * busy / (c - 3.0))
    w1, w2 = priority_waits([2.0, 4.0], busy, c)
    assert w1 < w < w2  # urgent calls wait less, the rest more
    assert priority_waits([10.0], 30.0, 4) == [math.inf]  # 5 Erlangs on 4: unstable


@pytest.mark.exact
def test_fleet_for_utilisation() -> None:
    f = fleet_for_utilisation("A", 12.0, 30.0, 0.5)  # 6 Erlangs at 50 %
    assert f.units == 12
    assert f.utilisation == pytest.approx(0.5)


@pytest.mark.exact
def test_expected_min_distance_exact_two_points() -> None:
    a, b = (0.0, 0.0), (0.01, 0.0)
    d = float(haversine_km(0.0, 0.0, 0.01, 0.0))
    # one unit: at a (distance 0) or b (distance d), equally likely
    assert expected_min_distance(a, [a, b], 1) == pytest.approx(d / 2)
    # two units: both at b with probability 1/4
    assert expected_min_distance(a, [a, b], 2) == pytest.approx(d / 4)


@pytest.mark.exact
def test_fit_drive_time_recovers_line() -> None:
    rng = np.random.default_rng(1)
    dist = rng.uniform(0.2, 6.0, 3000)
    minutes = 1.5 + dist * 1.3 / 40.0 * 60 + rng.normal(0, 0.3, dist.size)
    fit = fit_drive_time(dist, minutes, circuity=1.3)
    assert fit.speed_kmh == pytest.approx(40.0, rel=0.05)
    assert fit.t0_min == pytest.approx(1.5, abs=0.2)
    assert fit.r2 > 0.95


def _synthetic_incidents(rates: dict[str, float], days: int, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01", tz="UTC")  # a Monday
    for zone, rate in rates.items():
        n = rng.poisson(rate * 24 * days)
        t = start + pd.to_timedelta(rng.uniform(0, days * 1440, n), unit="min")
        rows.append(
            pd.DataFrame(
                {"zone": zone, "event_time": t, "received": t, "priority": rng.choice([1, 2], n)}
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.exact
def test_demand_rates_shrinkage_and_pooled_fallback() -> None:
    rates = {"a": 2.0, "b": 1.0, "c": 0.5, "sparse": 0.01}
    inc = _synthetic_incidents(rates, days=28)
    zones = pd.DataFrame({"zone_id": [*rates, "empty"], "district": ["D"] * 5})
    fit = fit_demand(inc, zones, "UTC", min_zone_count=30)
    z = fit.zones.set_index("zone_id")
    for name in ("a", "b", "c"):
        assert z.loc[name, "rate_per_hour"] == pytest.approx(rates[name], rel=0.1)
        assert not z.loc[name, "pooled"]
    assert z.loc["sparse", "pooled"]
    assert z.loc["empty", "rate_per_hour"] > 0  # a zone without calls is not zero
    assert z.loc["empty", "n"] == 0
    # counts behind every rate add up to the calls
    assert fit.counts["n"].sum() == len(inc)
    assert sum(fit.city_shares.values()) == pytest.approx(1.0)
    for prof in fit.profiles.values():
        assert np.mean(prof) == pytest.approx(1.0)
        assert len(prof) == 168


@pytest.mark.exact
def test_demand_uses_event_time_and_states_the_proxy_when_received_is_null() -> None:
    rates = {"a": 2.0, "b": 1.0}
    inc = _synthetic_incidents(rates, days=14)
    inc["source"] = "spd_911_2015"
    zones = pd.DataFrame({"zone_id": list(rates), "district": ["D"] * 2})
    with_received = fit_demand(inc, zones, "UTC")
    assert not any("arrival-time proxy" in a for a in with_received.assumptions)
    # the same calls from a source without a received time: same event_time, same rates
    proxy = inc.assign(received=pd.NaT)
    fit = fit_demand(proxy, zones, "UTC")
    pd.testing.assert_frame_equal(fit.zones, with_received.zones)
    stated = [a for a in fit.assumptions if "arrival-time proxy" in a]
    assert len(stated) == 1
    assert stated[0].startswith(f"{len(inc)} of {len(inc)} calls have no received time")
    assert "spd_911_2015" in stated[0]
    assert "event_time = the at-scene time" in stated[0]
    # arrivals follow event_time, not received: shifting event_time by 3 hours moves the profile
    shifted = fit_demand(
        proxy.assign(event_time=proxy["event_time"] + pd.Timedelta(hours=3)), zones, "UTC"
    )
    assert not np.allclose(shifted.profiles["a"], fit.profiles["a"])


@pytest.mark.exact
def test_dirichlet_strength_recovers_concentration() -> None:
    rng = np.random.default_rng(11)
    parent = np.full(168, 1 / 168)
    kappa = 500.0
    rows = np.array(
        [rng.multinomial(5000, rng.dirichlet(kappa * parent)) for _ in range(60)], dtype=float
    )
    est = dirichlet_strength(rows, np.tile(parent, (60, 1)))
    assert est == pytest.approx(kappa, rel=0.25)
    # rows that follow the parent exactly (pure multinomial noise) give the upper bound
    plain = np.array([rng.multinomial(5000, parent) for _ in range(60)], dtype=float)
    assert dirichlet_strength(plain, np.tile(parent, (60, 1))) > 5000


@pytest.mark.exact
def test_hour_of_week_is_local() -> None:
    t = pd.Series(pd.to_datetime(["2024-01-01T08:30:00Z", "2024-01-08T07:59:00Z"], utc=True))
    # 08:30 UTC = 00:30 PST Monday (hour 0); 07:59 UTC Monday = 23:59 Sunday PST (hour 167)
    assert hour_of_week(t, "America/Los_Angeles").tolist() == [0, 167]


# ----------------------------------------------------------------------------- real cities
@pytest.mark.e2e
def test_calibrate_sanfrancisco_writes_loadable_scenario(lake: Path, tmp_path: Path) -> None:
    cal = calibrate(lake, "sanfrancisco")
    out, rep, txt = write_calibration(cal, tmp_path / "sf.yaml")
    sc = load_scenario(out)
    assert sc.crs == "wgs84"
    assert sc.travel.model == "matrix"
    assert len(sc.zones) == 44  # station areas
    assert all(z.id.startswith("sanfrancisco:station:") for z in sc.zones)
    assert {z.district for z in sc.zones} <= {f"B{i:02d}" for i in range(1, 11)} | {"B99"}
    assert len(sc.units) > 100
    assert [p.level for p in sc.priorities] == [1, 2]
    text = out.read_text()
    assert text.startswith("# sanfrancisco_fire_baseline")
    assert "#  - the twin sends one unit per call" in text
    data = yaml.safe_load(text)
    assert data["assumptions"]
    assert data["calibration"]["holdout"] == {
        "start": "2020-04-18",
        "end": "2020-04-20",
    }
    report = cal.report
    svc = report.param("service")
    assert svc.fit["chosen"] in ("exponential", "lognormal", "gamma")
    assert svc.n > 3000
    assert report.inputs["incidents_held_out"] > 0
    # sparse station areas fall back to the pooled profile, and the report says so
    assert any("pooled" in f for f in report.fallbacks)
    assert rep.exists()
    assert "Pooled fallbacks:" in txt.read_text()
    # non-emergency calls drive slower; trips are noisy; dispatch takes time, per class
    p1, p2 = sc.priorities
    assert p1.travel_factor == pytest.approx(1.0, abs=0.15)
    assert p2.travel_factor > 1.8
    assert sc.travel.noise is not None
    assert sc.dispatch.delay is not None
    assert p1.dispatch_delay is not None
    assert p2.dispatch_delay is not None
    noise = report.param("travel.noise")
    assert noise.n > 3000
    assert 0 < noise.fit["ks"] < 0.2
    raw = report.param("priorities[].travel_factor")
    assert raw.value[2] > 1.5  # before the replay refinement
    assert report.param("priorities[level=2].dispatch_delay").fit["ks"] < 0.2
    assert report.details["travel_noise"]["within_station_pair_cv"] > 0
    refined = report.param(
        "priorities[].travel_factor, priorities[].travel_noise (shape mapped by replaying the "
        "fit days)"
    )
    assert abs(refined.fit["in_sample_worst_rel_err"]) < 0.1
    # the default model (the one the cross-validation keeps): each class's own noise shape,
    # a drive multiplier per hour of the day (slower at night), P2's zero delays kept
    assert data["calibration"]["model"] == "class_shape_by_hour"
    for p in (p1, p2):
        assert p.travel_noise is not None
        assert p.travel_noise.dist == "empirical"
        assert len(p.travel_noise.values) == 20
        assert p.travel_by_hour is not None
    assert min(p1.travel_by_hour[1:6]) > 1.05 > 0.97 > max(p1.travel_by_hour[12:18])
    assert p2.dispatch_delay is not None
    assert p2.dispatch_delay.dist == "empirical"
    # P2's zero delays: dispatched at once with a share that rises with the previous hour's
    # calls; the other calls draw an empirical delay without zeros
    imm = report.param("priorities[level=2].immediate_dispatch, dispatch_delay (the other calls)")
    assert imm.fit["immediate_share"] > 0.1
    assert p2.immediate_dispatch is not None
    assert p2.immediate_dispatch.share[-1] > p2.immediate_dispatch.share[0] + 0.2
    assert min(p2.dispatch_delay.values) > 0
    assert p1.immediate_dispatch is None
    assert any("travel_factor" in a for a in data["assumptions"])
    # each zone's smoothed class mix is written where it differs from the city's
    mixed = [z for z in sc.zones if z.shares]
    assert len(mixed) > 10
    table = report.details["demand_zone_class_shares"]
    for z in mixed:
        mix = sc.zone_mix(z, sc.agency_ids[0])
        assert mix is not None
        assert sum(mix.values()) == pytest.approx(1.0, abs=1e-9)
        rows = table[table["zone_id"] == z.id].set_index("klass")
        for lvl, share in mix.items():
            assert share == pytest.approx(rows.loc[lvl, "share"], abs=2e-6)
        assert rows["n"].sum() > 0  # the calls behind the mix
    assert all(isinstance(k, int) for k in data["zones"][0].get("shares", {1: 0}))


@pytest.mark.e2e
def test_calibrate_seattle_police_and_fire(lake: Path, tmp_path: Path) -> None:
    pol = calibrate(lake, "seattle", agency="police", refine_rounds=0)
    sc = load_scenario(write_calibration(pol, tmp_path / "pol.yaml")[0])
    assert sc.travel.model == "matrix"
    assert sc.travel.matrix is not None
    assert all(sc.travel.matrix[z][z] > 0 for z in sc.zone_ids)  # travel within a beat
    assert len(sc.zones) == 54  # the 55 features less the placeholder beat "99"
    assert "seattle:beat:99" not in sc.zone_ids
    assert {z.district for z in sc.zones} == {"E", "N", "S", "SW", "W"}
    assert [p.level for p in sc.priorities] == [1, 2, 3, 4]
    assert sum(1 for p in pol.report.parameters if p.name.startswith("fleet[")) == 5
    assert pol.report.details["response_fit_year"] == 2015
    assert any("priority" in a for a in pol.report.assumptions)
    fire = calibrate(lake, "seattle", agency="fire")
    sf = load_scenario(write_calibration(fire, tmp_path / "fire.yaml")[0])
    assert sf.patrol.policy == "post"
    assert sf.dispatch.delay is not None  # borrowed from San Francisco
    assert any("San Francisco" in a for a in fire.report.assumptions)


@pytest.mark.exact
def test_shift_fleet_keeps_unit_hours_and_follows_load() -> None:
    calls = [1.0 if 7 <= h % 24 < 15 else 3.0 if 15 <= h % 24 < 23 else 0.5 for h in range(168)]
    sf = shift_fleet("X", calls, busy_min=30.0, units_24h=5)
    assert sf.unit_hours_per_day == 5 * 24
    assert sf.calls_per_hour == pytest.approx({"07:00": 1.0, "15:00": 3.0, "23:00": 0.5})
    assert sf.counts == {"07:00": 3, "15:00": 10, "23:00": 2}  # 15 slots split 1 : 3 : 0.5
    tiny = shift_fleet("Y", [0.0] * 8 + [5.0] * 160, busy_min=30.0, units_24h=1)
    assert sum(tiny.counts.values()) == 3
    assert min(tiny.counts.values()) == 1
    with pytest.raises(ValueError, match="tile"):
        shift_fleet("Z", calls, 30.0, 2, starts_h=(7, 15), hours=8)


@pytest.mark.e2e
def test_seattle_police_units_work_shifts_sized_by_demand(lake: Path, tmp_path: Path) -> None:
    pol = calibrate(lake, "seattle", agency="police", refine_rounds=0, model="sectors")
    sc = load_scenario(write_calibration(pol, tmp_path / "pol.yaml")[0])
    district = {z.id: str(z.district) for z in sc.zones}
    sector = {z.id: str(z.sector) for z in sc.zones}
    hourly = {
        z.id: [float(z.rate_per_hour or 0.0) * v for v in z.profile or [1.0] * 168]
        for z in sc.zones
    }
    starts = {"07:00": 7, "15:00": 15, "23:00": 23}
    counts: dict[str, dict[str, int]] = {}
    for u in sc.units:
        assert u.shift is not None
        assert u.shift.hours == 8
        assert u.shift.start in starts
        d = str(u.id).split("-")[2]
        assert district[u.post] == d
        counts.setdefault(d, dict.fromkeys(starts, 0))[str(u.shift.start)] += 1
    assert set(counts) == {"E", "N", "S", "SW", "W"}
    # dispatch areas: the beat file's sectors (a beat code's letter); every watch of a
    # precinct staffs each of its sectors, and a unit patrols its own sector's beats
    assert all(z.sector == str(z.id).rsplit(":", 1)[1][0] for z in sc.zones)
    area = {(district[z.id], z.sector) for z in sc.zones}
    assert 19 <= len(area) <= 20  # 18 sectors, harbour sector H split by nearest precinct
    staffed = {(district[u.post], sector[u.post], u.shift.start) for u in sc.units if u.shift}
    assert staffed == {(d, s, k) for d, s in area for k in starts}
    for u in sc.units:
        assert u.area is not None
        assert {sector[z] for z in u.area} == {sector[u.post]}
    for d, by_shift in counts.items():
        fleet = int(pol.report.param(f"fleet[{d}]").value)
        assert sum(by_shift.values()) * 8 == fleet * 24  # the precinct's unit-hours are kept
        # demand of each watch, recomputed from the written zones
        load = {
            k: sum(
                hourly[z][h]
                for z in hourly
                if district[z] == d
                for h in range(168)
                if (h % 24 - h0) % 24 < 8
            )
            for k, h0 in starts.items()
        }
        total = sum(load.values())
        for k in starts:
            assert abs(by_shift[k] - 3 * fleet * load[k] / total) < 1.0
        assert max(by_shift, key=lambda k: by_shift[k]) == max(load, key=lambda k: load[k])
    # the Call Data sample of beat C3 is a check in the report, by class
    check = pol.report.details["call_data_c3"]
    assert check["beat"] == "seattle:beat:C3"
    assert check["n_calls"] == 222
    rows = check["by_class"]
    assert sum(r["n_obs"] for r in rows.values()) == check["n_with_times"] > 150
    assert rows["1"]["twin_n"] > 0
    assert rows["1"]["twin_mean_min"] > 0
    assert rows["1"]["obs_mean_min"] < rows["2"]["obs_mean_min"]
    assert any(p.name.startswith("check: beat C3") for p in pol.report.parameters)


@pytest.mark.e2e
def test_calibrate_seattle_combines_police_and_fire(lake: Path, tmp_path: Path) -> None:
    from twin.calibrate.variant import add_units
    from twin.model.runner import run_replications

    cal = calibrate(lake, "seattle", refine_rounds=0)
    path = write_calibration(cal, tmp_path / "sea.yaml")[0]
    sc = load_scenario(path)
    assert sc.name == "seattle_baseline"
    assert sc.agency_ids == ["police", "fire"]
    assert {u.agency for u in sc.units} == {"police", "fire"}
    assert all(set(z.agency_rates()) == {"police", "fire"} for z in sc.zones)
    fire_units = [u for u in sc.units if u.agency == "fire"]
    assert all(u.area == [u.post] for u in fire_units)  # fire units wait at their posts
    assert all(u.shift is None for u in fire_units)  # fire is on duty round the clock
    assert all(u.shift is not None for u in sc.units if u.agency == "police")
    assert [p.level for p in sc.agency_priorities("police")] == [1, 2, 3, 4]
    assert [p.level for p in sc.agency_priorities("fire")] == [1]
    # the shared turnout is the smaller one; police's excess is its dispatch delay
    pol_delay = sc.agency_dispatch("police").delay
    assert pol_delay is not None
    fire_delay = sc.agency_dispatch("fire").delay
    assert fire_delay is not None
    # known only as a mean, police's delay borrows the shape of San Francisco's (via fire)
    assert pol_delay.dist == fire_delay.dist
    assert pol_delay.sd / pol_delay.mean == pytest.approx(fire_delay.sd / fire_delay.mean, rel=0.01)
    pol_t0 = float(
        cal.report.param(
            "police: analytic first guess: travel.speed_kmh, travel.turnout_min (t0)"
        ).value["turnout_min"]
    )
    assert sc.travel.turnout_min + pol_delay.mean == pytest.approx(pol_t0, abs=0.01)
    assert (sc.calibration or {})["agency"] == "all"
    assert any(a.startswith("fire: ") for a in cal.report.assumptions)
    short = sc.model_copy(update={"horizon": 720.0, "warmup": 60.0})
    (run,) = run_replications(short, seed=1, replications=1, collect=False)
    agencies = set(np.asarray(run.incidents["agency"]).tolist())
    assert agencies == {0, 1}
    # a planner variant adds police units in the busiest police precinct
    var = add_units(path, tmp_path / "v.yaml", n=2)
    assert [u["agency"] for u in var["units"][-2:]] == ["police", "police"]


@pytest.mark.e2e
@pytest.mark.slow
def test_seattle_refinement_runs_the_twin(lake: Path) -> None:
    pol = calibrate(
        lake,
        "seattle",
        agency="police",
        refine_rounds=1,
        refine_horizon=3 * 10080.0,
    )
    # the default model (beats): lower classes queue per sector and overflow to the precinct
    assert all("sector" in z for z in pol.scenario["zones"])
    assert pol.scenario["self_initiated"]["overflow_after_min"] == 20.0
    hist = pol.report.details["refinement"]
    search = [h for h in hist if h["stage"] == "fleet (priority 1)"]
    assert len(search) == 2  # two fleet scales tried
    rounds = [h for h in hist if h["stage"].startswith("self-initiated rate")]
    assert len(rounds) == 4
    assert all(h["mape_p1"] is not None for h in hist)
    # no class drives slower: priority 2's gap is waiting behind calls and self-initiated work
    assert all(p.get("travel_factor", 1.0) == 1.0 for p in pol.scenario["priorities"])
    si = pol.scenario["self_initiated"]
    assert si["agency"] == "police"
    assert si["dispatch_scope"] == "district"
    assert set(si["districts"]) == {"E", "N", "S", "SW", "W"}
    # the rates moved from the common start towards each precinct's own gap
    assert len({v["rate_per_hour"] for v in si["districts"].values()}) > 1
    # and the fit improved priority 2 over the first round (same fleet, same seed)
    kept = min(rounds, key=lambda h: h["mape_p1"] + h["mape_p2"])
    assert kept["mape_p2"] < rounds[0]["mape_p2"]
    # priority 1 does not queue, priority 2 does, in every precinct
    dec = pol.report.details["police_decomposition"]
    for d, parts in dec.items():
        assert parts["p1"]["queueing_min"] < 0.5, d
        assert parts["p2"]["queueing_min"] > 0.5, d
        assert 0.0 < parts["share_of_on_duty_time"]["self_initiated"] < 1.0


@pytest.mark.e2e
@pytest.mark.slow
def test_seattle_beats_model_posts_on_beats_with_sector_queues_and_precinct_rates(
    lake: Path,
) -> None:
    pol = calibrate(
        lake,
        "seattle",
        agency="police",
        refine_rounds=1,
        refine_horizon=3 * 10080.0,
        model="beats",
    )
    zones = pol.scenario["zones"]
    assert all(z.get("sector") for z in zones)  # lower classes queue per sector
    units = pol.scenario["units"]
    assert all(u["area"] == [u["post"]] for u in units)  # each patrols its beat
    harbour = {z["id"] for z in zones if z["sector"] == "H"}
    assert not any(u["post"] in harbour for u in units)  # beats without calls get no post
    # one rate per precinct (not per sector), fitted by the same refinement
    si = pol.scenario["self_initiated"]["districts"]
    assert set(si) == {"E", "N", "S", "SW", "W"}
    assert pol.report.details["model"] == "beats"
    # a call held 20 min in its sector's queue opens to its precinct (fitted on 2015)
    assert pol.scenario["self_initiated"]["overflow_after_min"] == 20.0
    assert any("opens to its precinct" in a for a in pol.report.assumptions)


@pytest.mark.e2e
@pytest.mark.slow
def test_seattle_sectors_refinement_fits_a_rate_per_sector(lake: Path) -> None:
    pol = calibrate(
        lake,
        "seattle",
        agency="police",
        refine_rounds=1,
        refine_horizon=3 * 10080.0,
        model="sectors",
    )
    zones = pol.scenario["zones"]
    areas = {f"{z['district']}/{z['sector']}" for z in zones}
    si = pol.scenario["self_initiated"]["districts"]
    # one entry per (precinct, sector) of the zones, none per precinct
    assert set(si) == areas
    assert "overflow_after_min" not in pol.scenario["self_initiated"]  # beats only
    rounds = [
        h for h in pol.report.details["refinement"] if h["stage"].startswith("self-initiated")
    ]
    assert set(rounds[0]["rate_per_hour"]) == areas
    # every sector starts at its precinct's rate; the fit moves sectors of one precinct apart
    assert len(set(rounds[0]["rate_per_hour"].values())) == 1
    by_prec: dict[str, set[float]] = {}
    for k, v in si.items():
        by_prec.setdefault(k.split("/")[0], set()).add(v["rate_per_hour"])
    assert any(len(v) > 1 for v in by_prec.values())


@pytest.mark.validation
def test_bad_input_messages(lake: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="twin sync"):
        calibrate(tmp_path / "nolake", "seattle")
    with pytest.raises(DataError, match="unknown"):
        calibrate(lake, "atlantis")
    with pytest.raises(DataError, match="not modelled"):
        calibrate(lake, "sanfrancisco", agency="police")
    with pytest.raises(DataError, match="go together"):
        calibrate(lake, "sanfrancisco", holdout_start="2020-04-18")
    with pytest.raises(DataError, match=r"'nope'.*class_shape_by_hour.*shared_noise"):
        calibrate(lake, "sanfrancisco", model="nope")
    with pytest.raises(DataError, match=r"not a model of seattle.*precincts.*sectors"):
        calibrate(lake, "seattle", model="class_shape")
    only_sea = tmp_path / "sea_only"
    run_sync(load_config(), only_sea, only=["spd_beats"], durable=False)
    with pytest.raises(DataError, match="no incidents of city 'sanfrancisco'"):
        calibrate(only_sea, "sanfrancisco")


@pytest.mark.e2e
def test_cli_calibrate(lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "s.yaml"
    code = main(
        [
            "calibrate",
            "--lake",
            str(lake),
            "--city",
            "sanfrancisco",
            "--out",
            str(out),
            "--holdout-start",
            "2020-04-19",
            "--holdout-end",
            "2020-04-20",
            "--refine-rounds",
            "0",
        ]
    )
    assert code == 0
    assert out.exists()
    assert (tmp_path / "s.fit.json").exists()
    assert (tmp_path / "s.fit.txt").exists()
    assert "Fit report" in capsys.readouterr().out
    assert (
        main(
            [
                *("calibrate", "--lake", str(lake), "--city", "sanfrancisco"),
                *("--out", str(out), "--model", "nope", "--no-evidence"),
            ]
        )
        == 2
    )
    assert (
        main(
            ["calibrate", "--lake", str(tmp_path / "none"), "--city", "seattle", "--out", str(out)]
        )
        == 2
    )


@pytest.mark.e2e
def test_variant_adds_units_to_busiest_district(lake: Path, tmp_path: Path) -> None:
    from twin.calibrate.variant import add_units

    cal = calibrate(lake, "sanfrancisco", refine_rounds=0)
    base = write_calibration(cal, tmp_path / "b.yaml")[0]
    sc = load_scenario(base)
    rates: dict[str, float] = {}
    for z in sc.zones:
        rates[z.district] = rates.get(z.district, 0.0) + z.rate_per_hour
    busiest = max(rates, key=lambda d: rates[d])
    code = main(["variant", str(base), "--add-units", "2", "--out", str(tmp_path / "v.yaml")])
    assert code == 0
    var = load_scenario(tmp_path / "v.yaml")
    assert len(var.units) == len(sc.units) + 2
    district_of = {z.id: z.district for z in var.zones}
    assert [district_of[u.post] for u in var.units[-2:]] == [busiest, busiest]
    assert var.zones == sc.zones
    with pytest.raises(ConfigError, match="not a district"):
        add_units(base, tmp_path / "x.yaml", district="nowhere")
