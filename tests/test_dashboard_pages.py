"""Every page's callbacks called directly on small real data: a lake written through the real
store, and real ``twin simulate`` / ``twin replay`` results of a four-beat Seattle scenario
(with a real ``twin sweep`` of the two and a real ``twin optimize`` of the first)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from dashboard_fixtures import build_lake, build_results

from dashboards.inputs import InputError
from dashboards.memo import Frozen

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def ctx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    from dashboards.app import create_app

    root = tmp_path_factory.mktemp("pages")
    build_lake(root / "lake")
    build_results(root / "out", root / "lake")
    app = create_app(root / "lake", root / "out")
    with app.server.test_request_context():
        yield root / "lake", root / "out"


def _texts(node: Any) -> str:
    """All text inside a Dash component tree."""
    if node is None:
        return ""
    if isinstance(node, Frozen):
        return _texts(node.data)
    if isinstance(node, dict):  # a component in JSON form
        props = node.get("props") if isinstance(node.get("props"), dict) else {}
        return _texts(props.get("children"))
    if isinstance(node, str | int | float):
        return str(node)
    if isinstance(node, list | tuple):
        return " ".join(_texts(n) for n in node)
    children = getattr(node, "children", None)
    return _texts(children)


def test_overview_demand_response_basis_and_presence(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import overview

    demand, _response, basis, options, value = overview.show_city("seattle")
    total = sum(sum(t.y) for t in demand.data)
    assert total == 9  # src_a 6 + src_b 3 Seattle calls
    assert demand.layout.yaxis.title.text == "calls per day"
    # response rests on the two src_a calls with an on-scene time, both in beat B1
    assert "2 police calls in one zone" in basis
    assert "partial" in basis
    assert [o["value"] for o in options] == ["tiny_seattle_plus", "tiny_seattle"]
    presence, _measures = overview.show_run(value, "seattle")
    names = {t.name for t in presence.data}
    assert names == {"calls per hour", "units on patrol"}
    layout = overview.layout()
    assert "src_b" in _texts(layout)
    assert "failed" in _texts(layout)
    assert "twin fidelity" in _texts(layout)  # empty state names the command


def test_map_counts_names_layers_and_differences(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import map as page

    _opts, run, _base_opts, base, _agencies = page.city_changed("seattle")
    assert (run, base) == ("tiny_seattle_plus", "tiny_seattle")
    fig, note = page.show_map("seattle", "calls", "zone", run, base, None, ["posts", "checkpoints"])
    coloured = next(t for t in fig.data if t.type == "choroplethmap" and t.name == "calls")
    by_zone = dict(zip(coloured.locations, coloured.z, strict=True))
    assert by_zone == {
        "seattle:beat:B1": 3,
        "seattle:beat:B2": 2,
        "seattle:beat:B3": 1,
        "seattle:beat:B4": 1,
    }
    assert "Beat One" in coloured.text  # names from the scenario, not ids
    assert fig.layout.map.style == "white-bg"
    posts = next(t for t in fig.data if t.name.startswith("unit posts"))
    assert "5 units" in posts.name
    cps = next(t for t in fig.data if t.name.startswith("checkpoints"))
    assert "Aurora Bridge north end (smart, 2 lanes)" in cps.text
    diff, note = page.show_map("seattle", "difference", "district", run, base, "police", [])
    assert "minus tiny_seattle" in note
    assert diff.data[-1].zmin == -diff.data[-1].zmax  # centred on 0
    detail = page.show_detail({"points": [{"location": "seattle:beat:B1"}]}, "seattle")
    assert "Beat One" in _texts(detail)
    assert "3 calls in the lake" in _texts(detail)


def test_breakdown_is_the_engine_kpis_pooled_over_replications(ctx: tuple[Path, Path]) -> None:
    """The page's per-agency and per-district figures are group_kpis of the incident records
    (the engine's one definition: lost calls count as not reached), averaged over replications.
    """
    from dashboards.results import replication_kpis, run_breakdown, scan
    from twin.model.kpis import group_kpis

    idx = scan(ctx[1])
    run = idx.run("tiny_seattle")
    bd = run_breakdown(run, run.info(idx.roots))
    inc = pd.read_parquet(run.path / "incidents.parquet")
    units = pd.read_parquet(run.path / "units.parquet")

    def per_rep(part: pd.DataFrame, unit_ids: list[str]) -> list[dict[str, Any]]:
        out = []
        for r in range(3):
            x = part[part["replication"] == r]
            u = units[(units["replication"] == r) & units["unit"].isin(unit_ids)]
            out.append(
                group_kpis(
                    x["response_min"].to_numpy(dtype=float),
                    x["waited"].to_numpy(dtype=bool),
                    u["busy_min"].to_numpy(dtype=float),
                    u["on_duty_min"].to_numpy(dtype=float),
                )
            )
        return out

    every = per_rep(inc, [f"car-{i}" for i in range(1, 5)])
    row = bd["agency"].set_index("agency").loc["police"]
    assert row["incidents"] == pytest.approx(len(inc) / 3)
    for k in ("response_mean_min", "within_5_min", "p_wait", "utilisation"):
        assert row[k] == pytest.approx(np.mean([e[k] for e in every]))
    assert row["response_p90_min_ci"] > 0  # a 95% half-width across the 3 replications
    p_zone = inc[inc["zone"].isin(["seattle:beat:B1", "seattle:beat:B2"])]
    want = per_rep(p_zone, ["car-1", "car-2"])
    got = bd["district"].set_index("district").loc["P"]
    for k in ("response_p50_min", "within_5_min", "utilisation"):
        assert got[k] == pytest.approx(np.mean([w[k] for w in want]))
    # the run read as a sweep row is exactly what summary.json pooled
    reps = replication_kpis(run)
    assert reps["district=P/within_5_min"].mean() == pytest.approx(
        run.summary["by_district"]["P"]["within_5_min"]
    )


def test_scenarios_sweep_comparison_units_and_optimizer(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import scenarios as page
    from dashboards.results import scan

    _options, variant, _kpis, kpi_value = page.pick_changed("sweep:sweeps/tiny_units")
    assert variant == "tiny_seattle_plus"
    head, _agencies, diff, districts, fig = page.show_pick(
        "sweep:sweeps/tiny_units", variant, kpi_value
    )
    text = _texts(diff)
    assert "Paired differences and verdicts" in text
    assert any(v in text for v in ("better", "worse", "not distinguishable"))
    assert "tiny_seattle_plus − tiny_seattle per zone" in fig.layout.title.text
    zones = {f"seattle:beat:B{i}" for i in range(1, 5)}
    mapped = dict(zip(fig.data[-1].locations, fig.data[-1].z, strict=True))
    assert set(mapped) == zones  # the sweep's zones.parquet, paired by replication
    sweep = scan(ctx[1]).sweep("sweeps/tiny_units")
    z = sweep.zones
    assert z is not None
    b1 = z[(z["zone"] == "seattle:beat:B1") & (z["agency"] == "police")].pivot_table(
        index="replication", columns="variant", values=kpi_value
    )
    want = (b1["tiny_seattle_plus"] - b1["tiny_seattle"]).mean()
    assert mapped["seattle:beat:B1"] == pytest.approx(want)
    head, _agencies, diff, districts, fig = page.show_pick(
        "run:tiny_seattle", None, "response_p50_min"
    )
    assert "± " in _texts(head)  # confidence intervals
    assert "Per district" in _texts(districts)
    units = page.show_units("run:tiny_seattle_plus", "car-5", 1)
    assert "1 of 5 units match" in _texts(units)
    units = page.show_units("run:tiny_seattle_plus", None, 99)
    assert "page 1 of 1" in _texts(units)
    curve, explanation = page.show_optimizer("tiny")
    out = ctx[1]
    written = json.loads((out / "tiny.optimize.json").read_text())  # what twin optimize wrote
    assert list(curve.data[0].x) == [c["units"] for c in written["curve"]]
    assert curve.layout.yaxis.title.text.startswith("90th-percentile response (min")
    assert curve.layout.shapes[0].y0 == 12.0  # the target line, from the target's text
    assert "Naive layout" in explanation


def test_checkpoints_by_name_with_smart_vs_manual(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import checkpoints as page

    modes, table, passing, load, options, picked = page.show_checkpoints("tiny_seattle")
    assert "smart lanes" in _texts(modes)
    assert "manual lanes" in _texts(modes)
    assert "Aurora Bridge north end" in _texts(table)
    assert "cp1" not in _texts(table)
    assert set(passing.data[0].y) == {"Aurora Bridge north end", "Ballard Bridge south end"}
    assert load.layout.yaxis.title.text.startswith("arrivals")
    # queue and wait over the day, by name, from the simulation's hourly table
    assert {o["label"] for o in options} == {"Aurora Bridge north end", "Ballard Bridge south end"}
    assert set(picked) == {"cp1", "cp2"}
    day, lanes = page.show_day("tiny_seattle", ["cp2"])
    assert {t.name for t in day.data} == {"Ballard Bridge south end"}
    queue = day.data[0]
    assert list(queue.x) == list(range(24))
    raw = pd.read_parquet(ctx[1] / "tiny_seattle" / "checkpoints_hourly.parquet")
    cp2 = raw[raw["checkpoint"] == "cp2"].groupby("hour")["queue_mean"].mean()
    assert list(queue.y) == pytest.approx(cp2.tolist())
    manual = next(t for t in lanes.data if t.name.startswith("checked by hand"))
    assert sum(manual.y) > 0  # a manual checkpoint checks every vehicle by hand
    auto = next(t for t in lanes.data if t.name.startswith("passed automatically"))
    assert sum(auto.y) == 0
    with pytest.raises(InputError, match="unknown checkpoint"):
        page.show_day("tiny_seattle", ["cp9"])


def test_devices_readings_and_outages(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import devices as page

    fig, gaps = page.show_readings("fremont", "day")
    east = next(t for t in fig.data if t.name == "east sidewalk")
    assert sum(east.y) == sum(range(48))
    assert fig.layout.yaxis.title.text == "count per day"
    assert "No gaps" in _texts(gaps)


def test_data_quality_sample_and_full_row(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import data_quality as page

    sample = page.quarantine_sample("src_a", "missing_time")
    assert "2 shown" in _texts(sample)
    full = page.quarantine_row(1, "src_a", "missing_time")
    assert '"row": 3' in full
    assert "reason: missing_time" in full


def test_replay_frames_move_in_time(ctx: tuple[Path, Path]) -> None:
    from dashboards.pages import replay as page

    early = page.show_frame("replay_tiny", 0)
    late = page.show_frame("replay_tiny", 1439)
    assert early[3] == "00:00"
    assert late[3] == "23:59"
    calls = lambda frame: sum(len(t.lon) for t in frame[1].data if t.name.startswith("call"))  # noqa: E731
    assert calls(early) == 0 < calls(late)
    assert "calls so far" in _texts(late[2])
    assert "real positions from the lake." in late[4]
    assert "zone's centre" not in late[4]  # every call found in the lake by source and time
    assert page.toggle_play(1) == (False, "⏸ Pause")
    assert page.toggle_play(2) == (True, "▶ Play")
    assert page.advance(1, 100, 1440) == 110
    assert page.advance(1, 1435, 1440) == 0.0


def test_empty_results_and_missing_lake(tmp_path: Path) -> None:
    from dashboards.app import check_lake
    from twin.errors import ConfigError

    with pytest.raises(ConfigError, match="no such folder"):
        check_lake(tmp_path / "typo")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file"):
        check_lake(tmp_path / "file")
    check_lake(tmp_path)  # an empty folder is a lake not synced yet: allowed


@pytest.mark.exact
def test_a_picker_keeps_the_asked_choice_or_falls_back_to_the_first() -> None:
    from dashboards.components import picker

    runs = [("Seattle baseline", "seattle"), ("San Francisco", "sf")]
    asked = picker("p", runs, "sf")
    assert asked.value == "sf"
    assert asked.options == [
        {"label": "Seattle baseline", "value": "seattle"},
        {"label": "San Francisco", "value": "sf"},
    ]
    assert not asked.clearable
    assert picker("p", runs, "atlantis").value == "seattle"
    assert picker("p", runs).value == "seattle"
    plain = picker("p", ["a", "b"], "b")
    assert plain.value == "b"
    assert plain.options == [{"label": "a", "value": "a"}, {"label": "b", "value": "b"}]
