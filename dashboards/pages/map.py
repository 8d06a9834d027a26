"""Map (``/map``): zones and districts of every city, coloured, with layers.

Coloured by demand, response, presence or a variant's difference; unit posts, checkpoints,
devices and the 1-3-5 minute circles as layers; click a zone for its detail.
Drawn on plotly's ``white-bg`` style: no tiles.
"""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboards import ids
from dashboards.citymap import CityMap, build_city_map, circle
from dashboards.components import basis_text, graph, guarded, notice, page_header, picker
from dashboards.context import current, results_index
from dashboards.data import Rollups
from dashboards.figures import city_map_figure
from dashboards.frames import rows_of
from dashboards.inputs import choice, friendly_callback, text, texts
from dashboards.results import Run, run_breakdown
from dashboards.scenario_info import ScenarioInfo, load_info

__all__ = ["COLOURS", "city_context", "layout", "show_detail", "show_map", "zone_values"]

dash.register_page(__name__, path="/map", name="Map", title="Map", order=1)

COLOURS = {
    "calls": "Calls in the lake",
    "expected": "Expected calls (scenario)",
    "response_real": "Median response, real (lake)",
    "response_twin": "Median response, twin",
    "presence": "Units on patrol, twin",
    "difference": "Median response: run − baseline",
}
LAYERS = {
    "posts": "Unit posts",
    "checkpoints": "Checkpoints",
    "devices": "Devices",
    "circles": "1-3-5 minute circles",
}
LEVELS = ("zone", "district")


def city_runs(city: str) -> list[tuple[Run, ScenarioInfo]]:
    """Return the simulation results (not replays) of *city*, newest first, with their scenarios."""
    idx = results_index()
    out = []
    for run in idx.runs:
        try:
            info = run.info(idx.roots)
        except Exception:
            continue
        if info is not None and info.city == city and not run.is_replay:
            out.append((run, info))
    return out


def _scenario_of(city: str) -> ScenarioInfo | None:
    runs = city_runs(city)
    if runs:
        return runs[0][1]
    from pathlib import Path

    for path in sorted(Path("scenarios").glob(f"{city}*.yaml")):
        try:
            info = load_info(path)
        except Exception:
            continue
        if info.city == city:
            return info
    return None


def city_context(r: Rollups, city: str) -> tuple[CityMap, ScenarioInfo | None]:
    """Return the city's shapes (cached per lake commit) and the scenario they were drawn from."""
    info = _scenario_of(city)
    return build_city_map(r.zones, city, info, r.version), info


def _by_level(
    values: dict[str, float],
    cmap: CityMap,
    level: str,
    weights: dict[str, float] | None = None,
    how: str = "sum",
) -> dict[str, float]:
    if level == "zone":
        return values
    acc: dict[str, list[tuple[float, float]]] = {}
    for z, v in values.items():
        d = cmap.zone_district.get(z)
        if d is None or v is None or v != v:
            continue
        acc.setdefault(d, []).append((float(v), (weights or {}).get(z, 1.0)))
    if how == "sum":
        return {d: sum(v for v, _ in items) for d, items in acc.items()}
    return {
        d: float(np.average([v for v, _ in items], weights=[max(w, 1e-9) for _, w in items]))
        for d, items in acc.items()
    }


def zone_values(
    r: Rollups,
    cmap: CityMap,
    info: ScenarioInfo | None,
    colour: str,
    level: str,
    run: Run | None,
    base: Run | None,
    agency: str | None,
) -> tuple[dict[str, float], str, str, bool, str]:
    """Values to colour by: (values, colour-bar title, hover unit, diverging, note)."""
    lake_zone = r.zone[r.zone["city"] == cmap.city]
    if agency:
        lake_zone = lake_zone[lake_zone["agency"] == agency]
    if colour == "calls":
        counts = lake_zone.groupby("zone")["n"].sum()
        vals = _by_level({str(k): float(v) for k, v in counts.items()}, cmap, level)
        days = r.daily[r.daily["city"] == cmap.city]["day"].nunique()
        return (
            vals,
            "calls",
            "calls",
            False,
            f"All calls in the lake with a zone, over {days:,} days.",
        )
    if colour == "expected":
        if info is None:
            return {}, "", "", False, "No scenario of this city found."
        expected = {z: v * 24 for z, v in info.zone_rate.items()}
        return (
            _by_level(expected, cmap, level),
            "calls per day",
            "calls/day",
            False,
            (f"Expected calls per day in scenario {info.name}."),
        )
    if colour == "response_real":
        part = lake_zone[lake_zone["n_resp"] > 0]
        med = {str(k): float(v) for k, v in part.groupby("zone")["resp_p50"].median().items()}
        w = {str(k): float(v) for k, v in part.groupby("zone")["n_resp"].sum().items()}
        return (
            _by_level(med, cmap, level, w, "mean"),
            "minutes",
            "min",
            False,
            basis_text(r.basis, cmap.city, agency),
        )
    if run is None:
        return {}, "", "", False, "Pick a simulation result of this city."
    bd = run_breakdown(run, info)
    frame = bd["district" if level == "district" else "zone"]
    key = "district" if level == "district" else "zone"
    if agency:
        frame = frame[frame["agency"] == agency]
    if colour == "response_twin":
        vals = dict(zip(frame[key], frame["response_p50_min"].astype(float), strict=True))
        return (
            vals,
            "minutes",
            "min",
            False,
            (
                f"Twin: {run.scenario}, {run.replications} replication(s); "
                "median received → on scene."
            ),
        )
    if colour == "presence":
        pres = (run.summary.get("presence") or {}).get("by_zone") or {}
        by_zone = {str(z): float(v) for z, v in pres.items() if v is not None}
        return (
            _by_level(by_zone, cmap, level),
            "units",
            "units on patrol",
            False,
            (f"Twin: {run.scenario}; mean units patrolling each zone (time-weighted)."),
        )
    if colour == "difference":
        if base is None:
            return {}, "", "", True, "Pick a baseline result to compare with."
        other = run_breakdown(base, info)["district" if level == "district" else "zone"]
        if agency:
            other = other[other["agency"] == agency]
        a = dict(zip(frame[key], frame["response_p50_min"].astype(float), strict=True))
        b = dict(zip(other[key], other["response_p50_min"].astype(float), strict=True))
        vals = {k: a[k] - b[k] for k in a if k in b}
        return (
            vals,
            "minutes (run − baseline)",
            "min",
            True,
            (f"{run.scenario} minus {base.scenario}: median response per {level}; blue = faster."),
        )
    return {}, "", "", False, ""


def layers_for(
    chosen: list[str], r: Rollups, cmap: CityMap, info: ScenarioInfo | None
) -> list[dict[str, Any]]:
    """Point and ring layers the user ticked."""
    out: list[dict[str, Any]] = []
    if info is not None and info.crs == "wgs84":
        if "posts" in chosen and info.unit_post:
            posts = pd.Series(list(info.unit_post.values())).value_counts()
            posts = posts[posts.index.isin(list(info.zone_xy))]
            out.append(
                {
                    "name": f"unit posts ({int(posts.sum())} units)",
                    "lon": [info.zone_xy[z][0] for z in posts.index],
                    "lat": [info.zone_xy[z][1] for z in posts.index],
                    "text": [
                        f"{info.zone_label(str(z))}: {n} unit(s) posted" for z, n in posts.items()
                    ],
                    "size": [5 + min(int(n), 6) for n in posts],
                    "color": "#1d3557",
                }
            )
        if "checkpoints" in chosen and info.checkpoints:
            cps = [(c, v) for c, v in info.checkpoints.items() if v.get("location")]
            out.append(
                {
                    "name": f"checkpoints ({len(cps)})",
                    "lon": [v["location"][0] for _, v in cps],
                    "lat": [v["location"][1] for _, v in cps],
                    "text": [f"{v['name']} ({v['mode']}, {v['lanes']} lanes)" for _, v in cps],
                    "size": 12,
                    "color": "#6d597a",
                }
            )
        if "circles" in chosen and info.targets:
            speed = info.speed_kmh / max(info.circuity, 1.0)  # straight-line km/h
            core = [z for z in info.targets.get("core_zones") or [] if z in info.zone_xy]
            rings = []
            for minutes in (
                info.targets.get("core_min", 1),
                info.targets.get("key_min", 3),
                info.targets.get("anywhere_min", 5),
            ):
                km = speed * float(minutes) / 60.0
                rings += [circle(*info.zone_xy[z], km) for z in core]
            out.append(
                {
                    "name": "1-3-5 min reach from each district seat",
                    "rings": rings,
                    "color": "#2a9d8f",
                }
            )
    if "devices" in chosen:
        dev = r.devices[(r.devices["city"] == cmap.city)].dropna(subset=["lon", "lat"])
        if not dev.empty:
            out.append(
                {
                    "name": f"devices ({len(dev)})",
                    "lon": dev["lon"].tolist(),
                    "lat": dev["lat"].tolist(),
                    "text": (
                        dev["name"].fillna(dev["device_id"]).astype(str)
                        + " ("
                        + dev["kind"].astype(str)
                        + ")"
                    ).tolist(),
                    "size": 6,
                    "color": "#e76f51",
                }
            )
    return out


@guarded("Map")
def layout(city: str | None = None, colour: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?city=`` and ``?colour=`` preselect the controls."""
    r = current().lake.rollups()
    cities = r.cities
    header = page_header(
        "Map",
        "Every city's zones and districts, coloured by demand, response or presence; posts, "
        "checkpoints, devices and the 1-3-5 minute circles as layers. Click a zone for detail.",
    )
    if not cities:
        return html.Div([header, notice("The lake has no zones yet.", "twin sync --lake LAKE")])
    return html.Div(
        [
            header,
            html.Div(
                [
                    picker(ids.MAP_CITY, cities, city),
                    picker(ids.MAP_COLOUR, [(v, k) for k, v in COLOURS.items()], colour),
                    dcc.RadioItems(id="map-level", options=list(LEVELS), value="zone", inline=True),
                ],
                className="controls",
            ),
            html.Div(
                [
                    dcc.Dropdown(id=ids.MAP_RUN, placeholder="result (twin colourings)"),
                    dcc.Dropdown(id="map-base", placeholder="baseline (for differences)"),
                    dcc.Dropdown(id="map-agency", placeholder="all agencies"),
                ],
                className="controls",
            ),
            dcc.Checklist(
                id=ids.MAP_LAYERS,
                options=[{"label": v, "value": k} for k, v in LAYERS.items()],
                value=["posts", "checkpoints"],
                inline=True,
                className="controls",
            ),
            graph(ids.MAP_GRAPH),
            html.P(id=ids.MAP_NOTE, className="basis"),
            html.Div(id=ids.MAP_DETAIL),
        ]
    )


@friendly_callback(
    Output(ids.MAP_RUN, "options"),
    Output(ids.MAP_RUN, "value"),
    Output("map-base", "options"),
    Output("map-base", "value"),
    Output("map-agency", "options"),
    Input(ids.MAP_CITY, "value"),
)
def city_changed(city: Any) -> tuple[Any, Any, Any, Any, Any]:
    """Offer the chosen city's results and agencies."""
    r = current().lake.rollups()
    c = choice(city, "city", r.cities)
    runs = city_runs(c)
    opts = [{"label": run.label(), "value": run.name} for run, _ in runs]
    agencies = sorted(set(r.zone[r.zone["city"] == c]["agency"].astype(str)))
    for _, info in runs[:1]:
        agencies = sorted(set(agencies) | set(info.unit_agency.values()))
    names = [run.name for run, _ in runs]
    base = next((n for n in names if "baseline" in n), names[-1] if len(names) > 1 else None)
    first = next((n for n in names if n != base), names[0] if names else None)
    if base == first:
        base = None
    return opts, first, opts, base, [{"label": a, "value": a} for a in agencies]


@friendly_callback(
    Output(ids.MAP_GRAPH, "figure"),
    Output(ids.MAP_NOTE, "children"),
    Input(ids.MAP_CITY, "value"),
    Input(ids.MAP_COLOUR, "value"),
    Input("map-level", "value"),
    Input(ids.MAP_RUN, "value"),
    Input("map-base", "value"),
    Input("map-agency", "value"),
    Input(ids.MAP_LAYERS, "value"),
)
def show_map(
    city: Any, colour: Any, level: Any, run: Any, base: Any, agency: Any, layers: Any
) -> tuple[go.Figure, str]:
    """Draw the chosen city coloured by the chosen measure, with the ticked layers."""
    r = current().lake.rollups()
    c = choice(city, "city", r.cities)
    col = choice(colour, "colouring", COLOURS, default="calls")
    lvl = choice(level, "level", LEVELS, default="zone")
    chosen_layers = texts(layers, "layer", LAYERS)
    ag = text(agency, "agency")
    cmap, info = city_context(r, c)
    idx = results_index()
    run_name = text(run, "result")
    base_name = text(base, "baseline")
    run_obj = idx.run(run_name) if run_name else None
    base_obj = idx.run(base_name) if base_name else None
    if run_obj is not None:
        info = run_obj.info(idx.roots) or info
    values, ctitle, unit, diverging, note = zone_values(
        r, cmap, info, col, lvl, run_obj, base_obj, ag
    )
    fig = city_map_figure(
        cmap,
        values,
        ctitle,
        level=lvl,
        diverging=diverging,
        hover_unit=unit,
        layers=layers_for(chosen_layers, r, cmap, info),
        title=f"{c}: {COLOURS[col].lower()} per {lvl}" + (f" ({ag})" if ag else ""),
    )
    return fig, f"{note} {cmap.zone_note}".strip()


@friendly_callback(
    Output(ids.MAP_DETAIL, "children"),
    Input(ids.MAP_GRAPH, "clickData"),
    Input(ids.MAP_CITY, "value"),
)
def show_detail(click: Any, city: Any) -> Any:
    """Detail of the clicked zone: name, district, calls and response in the lake."""
    if click is None:
        return html.P("Click a zone on the map for its detail.", className="basis")
    if (
        not isinstance(click, dict)
        or not isinstance(click.get("points"), list)
        or not click["points"]
    ):
        return html.P("Click a zone on the map for its detail.", className="basis")
    point = click["points"][0]
    if not isinstance(point, dict):
        return html.P("Click a zone on the map for its detail.", className="basis")
    zone = text(point.get("location"), "zone")
    r = current().lake.rollups()
    c = choice(city, "city", r.cities)
    cmap, info = city_context(r, c)
    if zone is None:
        return html.P("That point is not a zone; click inside a zone.", className="basis")
    name = cmap.zone_label.get(zone) or cmap.district_label.get(zone) or zone
    district = cmap.zone_district.get(zone, "")
    lake_rows = r.zone[(r.zone["city"] == c) & (r.zone["zone"] == zone)]
    bits: list[Any] = [
        html.H4(
            f"{name}"
            + (f" — district {cmap.district_label.get(district, district)}" if district else "")
        )
    ]
    for row in rows_of(lake_rows):
        resp = (
            f"; median response {row.resp_p50:.1f} min from {int(row.n_resp):,} calls"
            if row.n_resp
            else ""
        )
        bits.append(html.P(f"{row.agency}: {int(row.n):,} calls in the lake{resp}."))
    if info is not None and zone in info.zone_rate:
        units = [u for u, p in info.unit_post.items() if p == zone]
        bits.append(
            html.P(
                f"Scenario {info.name}: {info.zone_rate[zone] * 24:.1f} expected calls per day; "
                f"{len(units)} unit(s) posted here"
                + (f": {', '.join(units[:12])}" if units else "")
                + "."
            )
        )
    return html.Div(bits, className="detail-box")
