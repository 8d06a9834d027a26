"""Load-response curves and response decomposition: exact pieces, then the real lake.

The real-lake tests pin what the data say (San Francisco's response does not rise with load;
Seattle's priority-2 gap grows with a beat's volume) and check that the same measurement on
the twin tells a well-fleeted twin from a starved one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from twin.calibrate.data import CityData, load_city
from twin.calibrate.load import (
    beat_load_response,
    call_lifecycle,
    compare_curves,
    decompose,
    elasticity,
    immediate_dispatch,
    load_response_curve,
    median_ci,
    twin_decompose,
    twin_lifecycle,
    units_busy_at,
)
from twin.replay import replay
from twin.scenario import load_scenario
from twin.sources import load_config
from twin.store import Lake
from twin.sync import run_sync

ROOT = Path(__file__).resolve().parents[1]
SF_SCENARIO = ROOT / "scenarios" / "sanfrancisco_baseline.yaml"


# ----------------------------------------------------------------------------- exact pieces
@pytest.mark.exact
def test_units_busy_counts_half_open_intervals() -> None:
    starts = np.array([0.0, 1.0, 2.0, 5.0, 9.0])
    ends = np.array([3.0, 2.0, 4.0, 6.0, 8.0])  # the last one is reversed: dropped
    got = units_busy_at(np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.5, 8.5]), starts, ends)
    assert got.tolist() == [1, 2, 2, 1, 0, 1, 0]


@pytest.mark.exact
def test_twin_lifecycle_pools_replications_with_their_own_loads() -> None:
    def rep(r: int, busy_until: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "replication": r,
                "incident": [0, 1],
                "priority": [1, 2],
                "zone": ["a", "a"],
                "received": [0.0, 30.0],
                "dispatched": [1.0, 31.0],
                "enroute": [2.0, 32.0],
                "onscene": [5.0, 40.0],
                "cleared": [busy_until, 50.0],
            }
        )

    records = pd.concat([rep(0, 20.0), rep(1, 45.0)], ignore_index=True)
    first = twin_lifecycle(records)
    assert first["units_busy"].tolist() == [0, 0]  # replication 0: free again at 20
    pooled = twin_lifecycle(records, replication="all")
    assert len(pooled) == 4
    assert pooled["received"].tolist() == [0.0, 0.0, 30.0, 30.0]  # interleaved by time
    # each replication's loads from its own records: one call in the previous hour in both,
    # the unit of replication 1 still busy at 30
    assert pooled["calls_prev_hour"].tolist() == [0, 0, 1, 1]
    assert sorted(pooled["units_busy"].tolist()) == [0, 0, 0, 1]
    plain = rep(0, 20.0).drop(columns="replication")
    assert twin_lifecycle(plain, replication="all").equals(twin_lifecycle(plain))


@pytest.mark.exact
def test_median_ci_uses_order_statistics() -> None:
    v = np.arange(1.0, 101.0)  # 100 values: median 50.5, ranks 50 -+ 9.8
    med, lo, hi = median_ci(v)
    assert med == 50.5
    assert (lo, hi) == (41.0, 61.0)
    assert all(np.isnan(median_ci(np.array([1.0, 2.0]))))


def _life(n: int, slope: float, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    load = rng.integers(0, 40, n)
    rd = 1.0 + slope * load / 40 + rng.exponential(0.5, n)
    turn = np.full(n, 0.5)
    drive = 4.0 + rng.exponential(2.0, n)
    recv = np.sort(rng.uniform(0, 20000, n))
    return pd.DataFrame(
        {
            "call": np.arange(n).astype(str),
            "priority": rng.choice([1, 2], n),
            "received": recv,
            "units_busy": load,
            "calls_prev_hour": load,
            "received_dispatched": rd,
            "dispatched_enroute": turn,
            "enroute_onscene": drive,
            "received_onscene": rd + turn + drive,
        }
    )


@pytest.mark.exact
def test_curve_comparison_passes_itself_and_fails_a_steeper_twin() -> None:
    real = load_response_curve(_life(4000, 0.0), "units_busy", bins=10)
    same = compare_curves(real, real, measure="received_onscene")
    assert same.passed
    assert same.worst_rel_err == 0.0
    steep = load_response_curve(_life(4000, 6.0, seed=1), "units_busy", bins=10)
    cmp = compare_curves(real, steep, measure="received_onscene")
    assert not cmp.passed
    assert cmp.twin_elasticity > 0.4 > abs(cmp.real_elasticity)
    assert not cmp.elasticity_ok
    d = cmp.to_dict()
    assert d["tolerance"]["bin_median_rel"] == 0.10
    assert len(d["bins"]) == 10


@pytest.mark.exact
def test_decompose_parts_add_up_and_find_load_driven_queueing() -> None:
    flat = decompose(_life(4000, 0.0))
    steep = decompose(_life(4000, 6.0))
    for dec in (flat, steep):
        parts = dec[["processing", "queueing", "turnout", "travel"]].sum(axis=1)
        np.testing.assert_allclose(parts, dec["total"], rtol=1e-9)
    assert abs(float(flat.loc[flat["priority"] == "all", "queueing"].iloc[0])) < 0.1
    # slope 6 over load 0..40: low-load fifth averages ~0.6 of extra delay, all calls ~3
    q = float(steep.loc[steep["priority"] == "all", "queueing"].iloc[0])
    assert 2.0 < q < 3.0


@pytest.mark.exact
def test_beat_curve_bins_zones_by_volume_and_takes_class_gaps() -> None:
    vol = pd.DataFrame({"zone": list("abcdef"), "calls_per_day": [1, 2, 3, 4, 5, 6]})
    means = pd.DataFrame(
        {
            "zone": list("abcdef") * 2,
            "klass": [1] * 6 + [2] * 6,
            "mean_min": [8.0] * 6 + [10, 10, 12, 12, 14, 14],
        }
    )
    out = beat_load_response(vol, means, bins=3)
    assert out["zones"].tolist() == [2, 2, 2]
    assert out["gap_2_1"].tolist() == [2.0, 4.0, 6.0]


# ----------------------------------------------------------------------------- real lake
@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("lake_load")
    only = ["spd_beats", "spd_precincts", "spd_911_2015", "sffd_calls", "spd_avg_response"]
    report = run_sync(load_config(), root, only=only, durable=False)
    assert all(r.status == "ok" for r in report.sources.values())
    return root


@pytest.fixture(scope="module")
def sf(lake: Path) -> CityData:
    return load_city(lake, "sanfrancisco")


@pytest.fixture(scope="module")
def sf_life(sf: CityData) -> pd.DataFrame:
    return call_lifecycle(sf.incidents, sf.unit_responses, sf.tz)


@pytest.mark.slow
def test_city_reads_are_copies_and_a_commit_is_seen(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    run_sync(load_config(), root, only=["sffd_calls"], durable=False)
    first = load_city(root, "sanfrancisco")
    n = len(first.incidents)
    first.incidents["zone"] = None  # a caller changes its copy
    again = load_city(root, "sanfrancisco")
    assert len(again.incidents) == n > 5000
    assert again.incidents["zone"].notna().any()
    assert again.lake_version == first.lake_version
    run_sync(load_config(), root, only=["spd_beats"], durable=False)  # a new commit
    after = load_city(root, "sanfrancisco")
    assert after.lake_version > first.lake_version
    assert len(after.incidents) == n


@pytest.mark.slow
def test_sf_units_busy_matches_a_direct_count(lake: Path, sf_life: pd.DataFrame) -> None:
    assert len(sf_life) == 5292  # every call of the fortnight has a dispatched unit
    con = Lake(lake).connect()
    try:
        sample = sf_life.sample(25, random_state=1)
        t0 = con.execute(
            "SELECT min(received) FROM incidents WHERE city = 'sanfrancisco'"
        ).fetchall()[0][0]
        for _, row in sample.iterrows():
            at = (pd.Timestamp(t0) + pd.Timedelta(minutes=float(row["received"]))).round("s")
            n = con.execute(
                "SELECT count(*) FROM unit_responses u SEMI JOIN (SELECT incident_id FROM "
                "incidents WHERE city = 'sanfrancisco') USING (incident_id) WHERE u.dispatched "
                "<= ? AND u.available >= u.dispatched "
                "AND least(u.available, u.dispatched + INTERVAL 1 DAY) > ?",
                [at, at],
            ).fetchall()[0][0]
            assert n == row["units_busy"]
    finally:
        con.close()


@pytest.mark.slow
def test_sf_response_does_not_rise_with_load(sf_life: pd.DataFrame) -> None:
    """The data's load-response curve: flat (SF is far from saturation in the fortnight)."""
    assert 15 < sf_life["units_busy"].mean() < 30
    for load in ("units_busy", "calls_prev_hour"):
        curve = load_response_curve(sf_life, load)
        for prio in ("all", "1", "2"):
            block = curve.loc[
                (curve["priority"] == prio) & (curve["measure"] == "received_onscene")
            ]
            assert len(block) == 10
            assert -0.2 < elasticity(block) < 0.1, (load, prio)
    dec = decompose(sf_life).set_index("priority")
    # call processing is fixed: no load-driven queueing beyond 5 % of the response
    assert (dec["queueing_share"].abs() < 0.05).all()
    assert dec.loc["2", "total"] > 1.8 * dec.loc["1", "total"]
    assert dec.loc["2", "travel_share"] > dec.loc["1", "travel_share"]


@pytest.mark.slow
def test_twin_curve_matches_sf_and_a_starved_twin_does_not(
    sf: CityData, sf_life: pd.DataFrame
) -> None:
    sc = load_scenario(SF_SCENARIO)
    day0, day1 = "2020-04-18", "2020-04-20"
    res = replay(sc, "", day0, day1, seed=2, data=sf)
    calls = set(res.records["incident_id"].astype(str))
    real = sf_life.loc[sf_life["call"].isin(calls)]
    real_c = load_response_curve(real, "calls_prev_hour", bins=5)
    twin = twin_lifecycle(res.records)
    dec = twin_decompose(twin).set_index("priority")
    np.testing.assert_allclose(
        dec[["processing", "queueing", "turnout", "travel"]].sum(axis=1), dec["total"], rtol=1e-6
    )
    good = compare_curves(
        real_c, load_response_curve(twin, "calls_prev_hour", bins=5), rel_tol=0.15
    )
    assert good.elasticity_ok, good.to_dict()
    # negative control: the same calls with one unit in twelve queue and the curve bends up
    starved = sc.model_copy(update={"units": sc.units[::12]})
    res_s = replay(starved, "", day0, day1, seed=2, data=sf)
    twin_s = twin_lifecycle(res_s.records)
    bad = compare_curves(
        real_c, load_response_curve(twin_s, "calls_prev_hour", bins=5), rel_tol=0.15
    )
    assert not bad.passed
    assert not bad.elasticity_ok
    assert bad.twin_elasticity > good.twin_elasticity + 0.08
    assert float(twin_decompose(twin_s).set_index("priority").loc["all", "queueing"]) > 1.0


@pytest.mark.slow
def test_sf_fit_report_curve_within_tolerance_and_flat_twin_is_not(
    lake: Path, sf: CityData
) -> None:
    """The fit report's headline curve: received -> on scene by calls in the previous hour."""
    from twin.calibrate import calibrate
    from twin.evidence import decomposition_lines, fit_evidence

    ev = fit_evidence(lake, calibrate(lake, "sanfrancisco"), data=sf, cross_validate=False)
    life = ev["life_cycle"]
    head = life["headline"]
    assert life["twin_replications"] == 5
    assert head["passed"], head
    assert head["share_of_bins_within"] == 1.0
    assert abs(head["twin_elasticity"] - head["real_elasticity"]) <= 0.10
    # the report's decomposition lines: one per priority and "all", parts adding up
    lines = decomposition_lines(life)
    assert len(lines) == len(life["decomposition_real"])
    assert "priority all " in lines[-1].name
    for line in lines:
        for side in ("real", "twin"):
            parts = sum(line.fit[f"{side}_{k}"] for k in ("processing", "queueing", "turnout"))
            parts += line.fit[f"{side}_travel"]
            assert parts == pytest.approx(line.fit[f"{side}_total"], rel=1e-6), line
    # negative control: the same model without the drive multipliers by hour of day. Busy
    # hours are daytime, when the slower class's share is higher, so its curve rises with
    # load; the city's does not (its crews turn out slower at night, when it is quiet)
    flat = fit_evidence(
        lake, calibrate(lake, "sanfrancisco", model="class_shape"), data=sf, cross_validate=False
    )["life_cycle"]["headline"]
    assert not flat["passed"]
    assert flat["twin_elasticity"] > head["twin_elasticity"] + 0.03


@pytest.mark.slow
def test_seattle_priority2_gap_grows_with_beat_volume(lake: Path) -> None:
    con = Lake(lake).connect()
    try:
        vol = con.execute(
            "SELECT zone, count(*) / 365.0 AS calls_per_day FROM incidents "
            "WHERE source = 'spd_911_2015' AND zone IS NOT NULL GROUP BY zone"
        ).df()
        means = con.execute(
            "SELECT zone, priority_class AS klass, avg_response_min AS mean_min "
            "FROM response_stats WHERE year = 2015 AND priority_class IN ('1', '2')"
        ).df()
    finally:
        con.close()
    curve = beat_load_response(vol, means, bins=5)
    assert curve["zones"].sum() >= 45
    gap = curve["gap_2_1"].to_numpy()
    assert gap[-1] > gap[0] + 0.5  # busiest fifth of beats: P2 waits longer beyond P1
    assert curve["mean_1"].iloc[-1] < curve["mean_1"].iloc[0]  # busy beats are small: P1 faster


@pytest.mark.exact
def test_immediate_dispatch_share_per_priority_and_load_bin() -> None:
    """Bins by load over all calls; immediate = received -> dispatched <= 0.05 min."""
    life = pd.DataFrame(
        {
            "priority": [2, 2, 2, 2, 1, 1, 2, 2],
            "calls_prev_hour": [1, 2, 3, 4, 5, 6, 7, 8],
            "received_dispatched": [2.0, 3.0, 0.0, 4.0, 1.0, 0.04, 0.0, 0.0],
        }
    )
    out = immediate_dispatch(life, bins=2)
    p2 = out.loc[out["priority"] == "2"].set_index("bin")
    # low bin (loads 1-4): one of four priority-2 calls at once; the others' median 3
    assert p2.loc[0, "n"] == 4
    assert p2.loc[0, "immediate_share"] == pytest.approx(0.25)
    assert p2.loc[0, "median_other_min"] == pytest.approx(3.0)
    # high bin (loads 5-8): both priority-2 calls at once, none left for the median
    assert p2.loc[1, "immediate_share"] == pytest.approx(1.0)
    assert np.isnan(p2.loc[1, "median_other_min"])
    p1 = out.loc[out["priority"] == "1"].set_index("bin")
    assert p1.loc[1, "immediate_share"] == pytest.approx(0.5)  # 0.04 counts, 1.0 does not
