"""Pure parts of the dashboards on small hand-made inputs: figures, geometry, labels, input
checks, statistics of sweeps, outages, the replay arithmetic."""

from __future__ import annotations

import datetime as dt
import json
import math

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box

from dashboards import figures as F
from dashboards.citymap import CityMap, circle
from dashboards.data import outages
from dashboards.geo import bounds_of, map_view, zones_geojson
from dashboards.inputs import InputError, choice, day, integer, number, text, texts
from dashboards.labels import KPIS, fmt_value, kpi, label, with_unit
from dashboards.replay_view import ReplayDay
from dashboards.results import comparison_frame
from twin.experiments.compare import compare
from twin.statistics import t_quantile

pytestmark = pytest.mark.exact


def _zones() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "zone_id": ["c:beat:A", "c:beat:B", "c:precinct:P", "c:beat:bad"],
            "kind": ["beat", "beat", "precinct", "beat"],
            "code": ["A", "B", "P", "bad"],
            "name": ["beat A", "beat B", "precinct", None],
            "geometry": [
                shapely.to_wkb(box(0, 0, 1, 1)),
                shapely.to_wkb(box(1, 0, 2, 1)),
                shapely.to_wkb(box(0, 0, 2, 1)),
                b"not wkb",
            ],
        }
    )


# -- geometry -------------------------------------------------------------------------------


def test_zones_geojson_ids_properties_and_bad_geometry_skipped() -> None:
    gj = zones_geojson(_zones())
    assert gj["type"] == "FeatureCollection"
    assert [f["id"] for f in gj["features"]] == ["c:beat:A", "c:beat:B", "c:precinct:P"]
    first = gj["features"][0]
    assert first["properties"] == {"code": "A", "name": "beat A", "kind": "beat"}
    assert first["geometry"]["type"] == "Polygon"
    ring = first["geometry"]["coordinates"][0]
    assert {tuple(p) for p in ring} == {(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)}
    json.dumps(gj)  # serialisable as is
    assert bounds_of(gj) == (0.0, 0.0, 2.0, 1.0)
    assert bounds_of({"features": []}) is None


def test_map_view_fits_bounds() -> None:
    # the whole world's width in a 512-px map is zoom 0 (plotly: world = 512 * 2**zoom px)
    center, zoom = map_view((-180.0, 0.0, 180.0, 0.0), width_px=512, padding=0.0)
    assert center == {"lon": 0.0, "lat": 0.0}
    assert zoom == 0.0
    # a quarter of it: zoom 2
    _, zoom = map_view((0.0, 0.0, 90.0, 0.0), width_px=512, padding=0.0)
    assert zoom == 2.0
    # a point: the maximum zoom; nothing: the world
    assert map_view((5.0, 6.0, 5.0, 6.0)) == ({"lon": 5.0, "lat": 6.0}, 16.0)
    assert map_view(None) == ({"lon": 0.0, "lat": 0.0}, 0.5)
    # a tall box is limited by the height
    _, tall = map_view((0.0, -10.0, 1.0, 10.0), width_px=800, height_px=200, padding=0.0)
    merc = math.log(math.tan(math.pi / 4 + math.radians(10) / 2)) / math.pi  # y span, world=1
    assert tall == round(math.log2(200 / (512 * merc)), 2)


# -- labels and input checks ------------------------------------------------------------------


def test_every_kpi_has_a_label_and_unit_and_unknown_keys_stay_readable() -> None:
    for key, k in KPIS.items():
        assert k.label, key
        assert not k.label[0].islower(), key
        assert k.unit, key
        assert k.kind in ("min", "pct", "int", "num", "per_h"), key
    assert label("response_p90_min") == "90th-percentile response"
    assert with_unit("response_p90_min") == "90th-percentile response (min)"
    assert label("district=N/within_5_min") == "Reached within 5 min"
    assert kpi("brand_new_min").unit == "min"
    assert label("brand_new_thing") == "Brand new thing"
    assert fmt_value(0.1234, "pct") == "12.3%"
    assert fmt_value(7.25, "min") == "7.2 min" or fmt_value(7.25, "min") == "7.3 min"
    assert fmt_value(12345.6, "int") == "12,346"
    assert fmt_value(None, "min") == "–"
    assert fmt_value(float("nan"), "pct") == "–"


@pytest.mark.parametrize(
    ("check", "value", "message"),
    [
        (lambda v: text(v, "result"), "run\x00name", "control characters"),
        (lambda v: text(v, "result"), {"a": 1}, "must be text, not dict"),
        (lambda v: text(v, "result"), "x" * 5000, "5,000 characters long"),
        (lambda v: text(v, "result"), ["a"], "must be text, not list"),
        (lambda v: day(v, "start date"), "2015-13-45", "is not a date"),
        (lambda v: day(v, "start date"), "2016-02-30", "is not a date"),
        (lambda v: number(v, "time", 0, 1440), True, "must be a number"),
        (lambda v: number(v, "time", 0, 1440), float("nan"), "between 0 and 1440"),
        (lambda v: number(v, "time", 0, 1440), 1e12, "between 0 and 1440"),
        (lambda v: number(v, "time", 0, 1440), "12", "must be a number"),
        (lambda v: integer(v, "page", 1, 10), -3, "between 1 and 10"),
        (lambda v: choice(v, "city", ["seattle"]), "atlantis", "unknown city 'atlantis'"),
        (lambda v: texts(v, "layer", ["posts"]), ["posts", "moon"], "unknown layer 'moon'"),
        (lambda v: texts(v, "layer", ["posts"]), {"posts": 1}, "must be a list"),
    ],
)
def test_malformed_values_are_refused_with_a_message(
    check: object, value: object, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        check(value)  # type: ignore[operator]
    assert message in str(caught.value)


def test_good_values_pass_the_checks() -> None:
    assert text("seattle_baseline", "result") == "seattle_baseline"
    assert text(None, "result") is None
    assert day("2015-11-02", "d") == dt.date(2015, 11, 2)
    assert day("2015-11-02T08:00:00", "d") == dt.date(2015, 11, 2)
    assert number(12, "t", 0, 1440) == 12.0
    assert number(None, "t", 0, 1440, default=3.0) == 3.0
    assert choice(None, "city", ["seattle"], default="seattle") == "seattle"
    assert texts(["posts"], "layer", ["posts"]) == ["posts"]
    assert texts(None, "layer") == []


# -- sweeps: paired differences --------------------------------------------------------------


def test_sweep_differences_are_the_sweeps_own_comparison() -> None:
    """The page flattens ``twin compare``'s answer; the figures are checked by hand."""
    reps = pd.DataFrame(
        {
            "variant": ["base"] * 3 + ["more"] * 3 + ["same"] * 3,
            "replication": [0, 1, 2] * 3,
            "seed": [1] * 9,
            "response_mean_min": [10.0, 12.0, 11.0, 8.0, 10.5, 9.5, 10.1, 11.8, 11.2],
            "within_5_min": [0.5, 0.4, 0.45, 0.6, 0.5, 0.55, 0.5, 0.4, 0.45],
        }
    )
    d = comparison_frame(compare(reps, baseline="base")).set_index(["variant", "kpi"])
    # more - base: -2, -1.5, -1.5 -> mean -5/3, sd 0.288675, n 3
    row = d.loc[("more", "response_mean_min")]
    assert row["diff"] == pytest.approx(-5 / 3)
    sd = float(np.std([-2.0, -1.5, -1.5], ddof=1))
    assert row["ci"] == pytest.approx(t_quantile(0.95, 2) * sd / math.sqrt(3))
    assert row["verdict"] == "better"  # lower response is better
    assert row["n"] == 3
    assert row["baseline_mean"] == pytest.approx(11.0)
    assert row["variant_mean"] == pytest.approx(28 / 3)
    assert d.loc[("more", "within_5_min")]["verdict"] == "better"  # higher share is better
    # a difference whose CI straddles 0 is not a verdict
    assert d.loc[("same", "response_mean_min")]["verdict"] == "not distinguishable"
    assert ("base", "response_mean_min") not in d.index
    worse = reps.assign(response_mean_min=reps["response_mean_min"] * -1)
    assert (
        comparison_frame(compare(worse, baseline="base"))
        .set_index(["variant", "kpi"])
        .loc[("more", "response_mean_min")]["verdict"]
        == "worse"
    )


# -- devices: outages -------------------------------------------------------------------------


def test_outages_merge_consecutive_incomplete_days() -> None:
    days = pd.to_datetime(
        ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-05", "2024-01-06"]
    ).date
    daily = pd.DataFrame({"day": days, "hours": [24, 20, 0, 24, 23]})
    gaps = outages(daily)
    # 2 Jan (4 h) and 3 Jan (24 h) together, 4 Jan missing entirely (24 h), 6 Jan (1 h)
    assert gaps.to_dict("records") == [
        {"start": dt.date(2024, 1, 2), "end": dt.date(2024, 1, 4), "days": 3, "missing_hours": 52},
        {"start": dt.date(2024, 1, 6), "end": dt.date(2024, 1, 6), "days": 1, "missing_hours": 1},
    ]
    assert outages(daily.iloc[0:0]).empty


# -- replay arithmetic ----------------------------------------------------------------------


def _day() -> ReplayDay:
    nan = float("nan")
    return ReplayDay(
        title="t",
        minutes=1440.0,
        lon=np.array([1.0, 2.0]),
        lat=np.array([0.0, 0.0]),
        label=np.array(["a", "b"], dtype=object),
        real_t0=np.array([100.0, 200.0]),
        real_on=np.array([110.0, nan]),
        real_clr=np.array([150.0, nan]),
        sim_t0=np.array([100.0, 200.0]),
        sim_on=np.array([106.0, 230.0]),
        sim_clr=np.array([136.0, 260.0]),
        unit_ids=["u1", "u2"],
        post_lon=np.array([0.0, 5.0]),
        post_lat=np.array([0.0, 0.0]),
        a_unit=np.array([0, 1]),
        a_enr=np.array([102.0, 210.0]),
        a_on=np.array([106.0, 230.0]),
        a_clr=np.array([136.0, 260.0]),
        a_back=np.array([140.0, 280.0]),
        a_lon=np.array([1.0, 2.0]),
        a_lat=np.array([0.0, 0.0]),
        notes=[],
    )


def test_units_move_between_post_and_call_by_interpolation() -> None:
    d = _day()
    at = lambda t: d.units_at(t).set_index("text")  # noqa: E731
    assert at(50).loc["unit u1", "state"] == "at post"
    u = at(104).loc["unit u1"]  # halfway from post (0) to call (1) between 102 and 106
    assert (u["state"], u["lon"]) == ("en route", pytest.approx(0.5))
    assert at(120).loc["unit u1", "state"] == "on scene"
    back = at(138).loc["unit u1"]  # halfway back between 136 and 140
    assert (back["state"], back["lon"]) == ("returning", pytest.approx(0.5))
    assert at(141).loc["unit u1", "lon"] == 0.0
    assert at(220).loc["unit u2", "lon"] == pytest.approx(5.0 + 0.5 * (2.0 - 5.0))


def test_calls_appear_and_running_kpis() -> None:
    d = _day()
    assert d.incidents_at(50, "real").empty
    real = d.incidents_at(205, "real").set_index("text")
    assert real.loc["a", "state"] == "closed"
    # b has no real on-scene time: shown as reported, not as waiting, for an hour
    assert real.loc["b", "state"] == "reported (no on-scene time)"
    assert "b" not in set(d.incidents_at(261, "real")["text"])
    assert d.incidents_at(205, "twin").set_index("text").loc["b", "state"] == "waiting"
    assert "a" in set(d.incidents_at(209, "real")["text"])  # closed 59 min ago: still shown
    k = d.kpis_at(240)
    assert k["real"] == {
        "calls": 2,
        "answered": 1,
        "waiting": 0,
        "response_mean": 10.0,
        "response_n": 1,
    }
    assert k["twin"]["answered"] == 2
    assert k["twin"]["response_mean"] == pytest.approx((6 + 30) / 2)
    assert k["twin"]["units_busy"] == 1
    # calls closed more than an hour ago leave the map
    assert "a" not in set(d.incidents_at(151 + 60, "real")["text"])


# -- figures --------------------------------------------------------------------------------


def _assert_offline_map(fig: object) -> None:
    layout = fig.layout  # type: ignore[attr-defined]
    assert layout.map.style == "white-bg"
    as_json = fig.to_json()  # type: ignore[attr-defined]
    assert "mapbox" not in as_json
    assert "http" not in as_json  # no tile, style, glyph or sprite URL anywhere
    for trace in fig.data:  # type: ignore[attr-defined]
        assert trace.type in ("choroplethmap", "scattermap")


def _cmap() -> CityMap:
    zones = zones_geojson(_zones().iloc[:2])
    districts = zones_geojson(_zones().iloc[2:3].assign(zone_id="P"))
    return CityMap(
        city="c",
        zones=zones,
        districts=districts,
        zone_district={"c:beat:A": "P", "c:beat:B": "P"},
        zone_label={"c:beat:A": "beat A", "c:beat:B": "beat B"},
        district_label={"P": "precinct P"},
        bounds=(0.0, 0.0, 2.0, 1.0),
    )


def test_city_map_colours_known_zones_and_greys_the_rest_offline() -> None:
    fig = F.city_map_figure(
        _cmap(),
        {"c:beat:A": 3.0},
        "calls",
        hover_unit="calls",
        layers=[
            {"name": "posts", "lon": [0.5], "lat": [0.5], "text": ["post"]},
            {"name": "rings", "rings": [circle(0.5, 0.5, 1.0)]},
        ],
    )
    _assert_offline_map(fig)
    grey, coloured, posts, rings = fig.data
    assert list(grey.locations) == ["c:beat:B"]
    assert list(coloured.locations) == ["c:beat:A"]
    assert list(coloured.z) == [3.0]
    assert list(coloured.text) == ["beat A"]
    assert posts.name == "posts"
    assert rings.mode == "lines"
    diverging = F.city_map_figure(
        _cmap(), {"c:beat:A": -2.0, "c:beat:B": 1.0}, "min", diverging=True
    )
    assert (diverging.data[0].zmin, diverging.data[0].zmax) == (-2.0, 2.0)
    by_district = F.city_map_figure(_cmap(), {"P": 5.0}, "calls", level="district")
    assert list(by_district.data[0].locations) == ["P"]


def test_circle_radius_in_km() -> None:
    ring = circle(120.0, 30.0, 5.0)
    assert ring[0] == ring[-1]
    # 5 km north of the centre is 5 / 110.574 degrees of latitude
    top = max(p[1] for p in ring)
    assert top - 30.0 == pytest.approx(5.0 / 110.574, rel=1e-3)


def test_figures_carry_units_on_every_axis() -> None:
    days = pd.to_datetime(["2024-01-01", "2024-01-08"]).date
    demand = pd.DataFrame(
        {
            "agency": ["police", "police"],
            "day": days,
            "n": [10, 12],
            "n_resp": [3, 0],
            "resp_p50": [7.0, None],
        }
    )
    figs = [
        F.demand_figure(demand, "week", "America/Los_Angeles"),
        F.response_figure(demand, "week", "from 3 calls"),
        F.presence_demand_figure(pd.Series([1.0, 2.0]), pd.Series([3.0, 4.0]), "note"),
        F.district_kpi_figure(
            pd.DataFrame({"agency": ["police"], "district": ["P"], "response_p50_min": [7.5]}),
            "response_p50_min",
            {"P": "precinct P"},
        ),
        F.utilisation_figure(
            pd.DataFrame(
                {"unit": ["u1"], "agency": ["police"], "district": ["P"], "utilisation": [0.4]}
            ),
            {},
        ),
        F.checkpoint_pass_figure(
            pd.DataFrame(
                {
                    "name": ["Gate"],
                    "wait_mean_min": [0.1],
                    "pass_mean_min": [0.5],
                    "pass_p90_min": [0.8],
                }
            )
        ),
        F.checkpoint_load_figure(
            pd.DataFrame(
                {
                    "name": ["Gate"] * 2,
                    "hour": [0, 1],
                    "arrivals": [10.0, 20.0],
                    "capacity": [40.0, 40.0],
                }
            )
        ),
        F.readings_figure(
            pd.DataFrame(
                {"time": pd.to_datetime(["2024-01-01"]), "metric": ["count"], "value": [3.0]}
            ),
            "t",
            "count per day",
            "day (UTC)",
        ),
    ]
    for fig in figs:
        assert fig.layout.xaxis.title.text, fig.layout.title.text
        assert fig.layout.yaxis.title.text, fig.layout.title.text
    assert "(min)" in figs[3].layout.xaxis.title.text
    assert figs[3].data[0].y == ("precinct P",)  # names, not ids


def test_diff_and_optimizer_figures() -> None:
    diffs = pd.DataFrame(
        {
            "variant": ["v", "v"],
            "kpi": ["response_mean_min", "within_5_min"],
            "diff": [-1.0, 0.02],
            "ci": [0.5, 0.05],
            "verdict": ["better", "not distinguishable"],
        }
    )
    fig = F.diff_figure(diffs, "v", "base")
    assert {t.name for t in fig.data} == {"better", "not distinguishable"}
    assert "Mean response (min)" in fig.data[0].y
    curve = pd.DataFrame(
        {
            "units": [4, 5, 6],
            "kpi_mean": [14.0, 11.0, 9.0],
            "ci95": [1.0, 1.0, 0.5],
            "meets": [False, True, True],
        }
    )
    opt = F.optimizer_figure(
        curve,
        {
            "target": {"kpi": "response_p90_min", "value": 12},
            "chosen": {"units": 5},
            "naive": {"units": 7},
        },
    )
    assert opt.layout.xaxis.title.text == "units in the fleet"
    assert opt.layout.yaxis.title.text == "90th-percentile response (min)"
    assert len(opt.layout.shapes) == 3  # target line, chosen, naive


def test_empty_inputs_give_messages_not_errors() -> None:
    empty = pd.DataFrame()
    for fig in (
        F.fidelity_figure(empty),
        F.optimizer_figure(pd.DataFrame(columns=["units", "kpi_mean", "ci95", "meets"]), {}),
        F.checkpoint_pass_figure(empty),
        F.utilisation_figure(empty, {}),
        F.run_outcomes_figure(empty),
        F.quarantine_heatmap(empty),
    ):
        assert fig.layout.annotations
        assert fig.layout.annotations[0].text


def test_fidelity_drift_uses_the_band_of_earlier_held_out_scores() -> None:
    from dashboards.data import fidelity_scores

    scores = [0.10, 0.11, 0.09, 0.10, 0.12, 0.50, 0.10]
    in_sample = [False, False, False, False, False, False, True]
    f = pd.DataFrame(
        {
            "city": "sanfrancisco",
            "computed_at": pd.date_range("2026-01-01", periods=7, freq="D", tz="UTC"),
            "metric": "score",
            "value": scores,
            "in_sample": in_sample,
        }
    )
    f = pd.concat([f, f.assign(metric="ks", value=0.9)])  # other metrics are not scores
    got = fidelity_scores(f)
    assert got["score"].tolist() == scores
    # the first five use the fixed band [0, 1]; the sixth leaves mean +- 3 sd of five
    assert got["drift"].tolist() == [False] * 5 + [True, False]
    assert "fixed band" in got["band"].iloc[0]
    assert "5 earlier nightly scores" in got["band"].iloc[5]
    # a night whose band and flag the nightly loop stored is shown as stored
    at = f["computed_at"].iloc[0]
    night = pd.DataFrame(
        {
            "city": "sanfrancisco",
            "computed_at": [at] * 3,
            "metric": ["band_low", "band_high", "drift"],
            "value": [0.2, 0.3, 1.0],
            "in_sample": False,
        }
    )
    flagged = fidelity_scores(pd.concat([f, night]))
    assert flagged["drift"].iloc[0]
    assert "nightly band" in flagged["band"].iloc[0]
    fig = F.fidelity_figure(got)
    assert fig.data[0].marker.symbol[5] == "x"
    assert fig.data[0].marker.symbol[6] == "circle-open"  # in-sample


def test_every_figure_has_the_white_template_and_notes_sit_below_the_plot() -> None:
    import plotly.io as pio

    white = pio.templates["plotly_white"].to_plotly_json()
    frame = pd.DataFrame(
        {
            "agency": ["fire", "fire"],
            "day": [dt.date(2020, 4, 1), dt.date(2020, 4, 2)],
            "n": [3, 4],
            "n_resp": [3, 4],
            "resp_p50": [6.0, 7.0],
        }
    )
    hours = pd.Series([1.0, 2.0], index=[0, 1])
    figures = {
        "message": F.message_figure("nothing yet"),
        "demand": F.demand_figure(frame, "day", "UTC"),
        "response": F.response_figure(frame, "day", "from 7 calls"),
        "presence": F.presence_demand_figure(hours, hours, "units: the twin"),
    }
    for name, fig in figures.items():
        assert fig.layout.template.to_plotly_json() == white, name
        assert fig.to_dict()["layout"]["template"] == white, name
    for name, note in (("response", "from 7 calls"), ("presence", "units: the twin")):
        layout = figures[name].layout
        assert layout.margin.b == 70, name
        assert [a.text for a in layout.annotations] == [note]
        assert layout.annotations[0].y < 0  # under the plot
    assert figures["demand"].layout.margin.b == 10


def test_time_axes_are_given_as_the_iso_text_plotly_would_write() -> None:
    from plotly.io.json import to_json_plotly

    days = pd.DatetimeIndex([pd.Timestamp("2020-04-01"), pd.Timestamp("2020-04-02 06:30:00.25")])
    frame = pd.DataFrame({"time": days, "metric": "count", "value": [1.0, 2.0]})
    fig = F.readings_figure(frame)
    assert list(fig.data[0].x) == ["2020-04-01T00:00:00", "2020-04-02T06:30:00.250000"]
    as_objects = F.readings_figure(frame)
    as_objects.data[0].x = days.tolist()  # what plotly was given before
    assert json.loads(to_json_plotly(fig)) == json.loads(to_json_plotly(as_objects))
    assert F._as_text(pd.Series([days[0], pd.NaT])) == ["2020-04-01T00:00:00", None]
    aware = pd.Series(pd.to_datetime(["2020-04-01 12:00"]).tz_localize("UTC"))
    assert F._as_text(aware) == ["2020-04-01T12:00:00+00:00"]
    assert F._as_text(pd.Series([dt.date(2020, 4, 1)])) == ["2020-04-01"]
