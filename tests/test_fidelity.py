"""Fidelity scores (exact comparisons, real held-out data, the lake table) and the nightly loop."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.calibrate import calibrate, write_calibration
from twin.calibrate.drift import drift_band
from twin.cli import main
from twin.errors import TwinError
from twin.fidelity import compare_distributions, fidelity, fidelity_history, store_fidelity
from twin.nightly import after_sync
from twin.sources import load_config
from twin.sync import run_sync

SOURCES = [
    "spd_beats",
    "spd_911_2015",
    "spd_911_allbeats",
    "spd_call_data",
    "seattle_fire_911",
    "sffd_calls",
    "spd_avg_response",
]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Path:
    root = tmp_path_factory.mktemp("fid") / "lake"
    run_sync(load_config(), root, only=SOURCES, durable=False)
    return root


@pytest.mark.exact
def test_compare_distributions_exact() -> None:
    a = np.arange(1.0, 101.0)
    same = compare_distributions(a, a)
    assert same["median_rel_err"] == 0
    assert same["p90_rel_err"] == 0
    assert same["ks"] == 0
    assert same["band90_share"] == pytest.approx(0.90)  # 5.95..95.05 holds 6..95
    double = compare_distributions(2 * a, a)
    assert double["median_rel_err"] == pytest.approx(1.0)
    assert double["p90_rel_err"] == pytest.approx(1.0)
    with pytest.raises(TwinError, match="nothing to compare"):
        compare_distributions(np.array([]), a)


@pytest.mark.exact
def test_drift_band() -> None:
    fixed = drift_band([], [0.1, 0.2], min_scores=5, fixed_max=0.3)
    assert (fixed.low, fixed.high) == (0.0, 0.3)
    band = drift_band([0.1, 0.3], [0.2, 0.2, 0.2], k_sd=3, min_scores=5)
    sd = float(np.std([0.1, 0.2, 0.3, 0.2, 0.2], ddof=1))
    assert (band.low, band.high) == pytest.approx((max(0.0, 0.2 - 3 * sd), 0.2 + 3 * sd))
    assert "2 calibration cross-validation scores and 3 earlier nightly scores" in band.how


@pytest.mark.e2e
def test_sf_heldout_fidelity_stored_in_lake(lake: Path, tmp_path: Path) -> None:
    cal = calibrate(
        lake, "sanfrancisco", holdout_start="2020-04-20", holdout_end="2020-04-20", refine_rounds=0
    )
    sc = write_calibration(cal, tmp_path / "sf.yaml")[0]
    res = fidelity(sc, lake, "2020-04-20", "2020-04-20", replications=1)
    assert not res.in_sample
    assert set(res.metrics) == {"median_rel_err", "p90_rel_err", "ks", "band90_share"}
    assert 0 <= res.metrics["ks"] <= 1
    assert 0 <= res.metrics["band90_share"] <= 1
    assert res.score == max(abs(res.metrics["median_rel_err"]), abs(res.metrics["p90_rel_err"]))
    assert set(res.details["by_priority"]) == {"1", "2"}
    assert store_fidelity(lake, res, "t1") == len(res.metrics) + 1
    hist = fidelity_history(lake, "sanfrancisco", "fire")
    assert hist["run_id"].tolist()[-1] == "t1"
    assert hist["value"].tolist()[-1] == pytest.approx(res.score)
    # fitting days are flagged as in-sample
    assert fidelity(sc, lake, "2020-04-08", "2020-04-08", replications=1).in_sample


@pytest.mark.e2e
def test_seattle_fidelity_and_fire_refusal(
    lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pol = calibrate(lake, "seattle", refine_rounds=0)
    sc = write_calibration(pol, tmp_path / "pol.yaml")[0]
    code = main(
        [
            "fidelity",
            "--lake",
            str(lake),
            "--scenario",
            str(sc),
            "--start",
            "2016-01-01",
            "--end",
            "2016-12-31",
            "-r",
            "1",
            "--weeks",
            "4",
            "--json",
            "--no-store",
        ]
    )
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["in_sample"] is False
    assert out["metrics"]["beats_p1"] > 0
    assert out["metrics"]["mape_p1"] is not None
    # a fire-only Seattle file has nothing to be scored against
    data = yaml.safe_load(sc.read_text())
    data["calibration"]["agency"] = "fire"
    fire = tmp_path / "f.yaml"
    fire.write_text(yaml.safe_dump(data))
    with pytest.raises(TwinError, match="no observed response"):
        fidelity(fire, lake, "2016-01-01", "2016-12-31")
    with pytest.raises(TwinError, match="no Seattle response figures"):
        fidelity(sc, lake, "2030-01-01", "2030-01-02", weeks=1)


@pytest.mark.e2e
def test_after_sync_scores_newest_day_and_flags_drift(lake: Path, tmp_path: Path) -> None:
    sf_only = (("sanfrancisco", "fire"),)
    steps: list[str] = []
    first = after_sync(lake, tmp_path / "n1", cities=sf_only, replications=1, progress=steps.append)
    (sf,) = first.cities
    # each long step is announced: the recalibration's own steps, then the scoring
    assert steps[0] == "sanfrancisco/fire: recalibrating without 2020-04-20"
    assert "reading San Francisco from the lake" in steps
    assert steps[-1] == "sanfrancisco/fire: scoring 2020-04-20"
    assert sf.error is None
    assert sf.day == "2020-04-20"
    assert Path(sf.scenario_path or "").exists()
    assert (tmp_path / "n1" / "sanfrancisco" / "replay" / "replay.parquet").exists()
    assert sf.score is not None
    assert sf.drift is False
    assert sf.band_seed >= 10  # seeded from the calibration's cross-validation (night one)
    # a band that the score cannot meet (zero width) raises the flag
    second = after_sync(lake, tmp_path / "n2", cities=sf_only, replications=1, k_sd=0.0)
    assert second.drift is True
    assert len(fidelity_history(lake, "sanfrancisco", "fire")) >= 2
    assert json.dumps(second.to_dict())
