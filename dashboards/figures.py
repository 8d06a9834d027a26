"""Figures of the dashboards: pure ``DataFrame -> Figure`` functions.

No function here reads files or the lake; each takes a small, already aggregated frame and
returns a plotly figure, so each is testable on a hand-made frame. Maps use ``go.Choroplethmap``
and ``go.Scattermap`` on the ``white-bg`` style with GeoJSON zone layers: no tiles, no network.
"""

from __future__ import annotations

import re
from typing import Any, Final

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from plotly.subplots import make_subplots

from dashboards.geo import map_view
from twin.experiments.optimize import parse_target

__all__ = [
    "DAYS",
    "MAP_STYLE",
    "checkpoint_day_figure",
    "checkpoint_lanes_figure",
    "checkpoint_load_figure",
    "checkpoint_pass_figure",
    "city_map_figure",
    "demand_figure",
    "devices_map",
    "diff_figure",
    "district_kpi_figure",
    "fidelity_figure",
    "load_plotly",
    "message_figure",
    "natural_key",
    "optimizer_figure",
    "presence_demand_figure",
    "quarantine_heatmap",
    "readings_figure",
    "replay_map",
    "response_figure",
    "run_outcomes_figure",
    "utilisation_figure",
]

MAP_STYLE = "white-bg"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_OUTLINE = "#5b6770"
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
_TEMPLATE: Final = pio.templates["plotly_white"]
"""Every figure's template, loaded (and validated) once."""


def natural_key(text: str) -> tuple[Any, ...]:
    """Return a sort key that orders ``u2`` before ``u10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text)))


def load_plotly() -> None:
    """Import what plotly would import on first use: colour scales, subplot layouts, traces.

    plotly loads each figure class and the named colour scales lazily, so a server's first
    answers would pay for the imports (~0.3 s in all, up to 0.15 s on one answer).
    """
    import plotly.colors  # noqa: F401  (the named colour scales)

    make_subplots(rows=2, cols=1)  # a subplot grid reads every layout class
    for trace in (go.Bar, go.Box, go.Choroplethmap, go.Heatmap, go.Scatter, go.Scattermap):
        trace()


def _base(
    fig: go.Figure, title: str, height: int = 420, margin: dict[str, int] = _MARGIN
) -> go.Figure:
    """Give *fig* the dashboards' look: the template, a title, a height and margins.

    The template is assigned the way plotly assigns its default one, without validating it
    again: ``template="plotly_white"`` makes plotly validate and deep-copy the whole template
    for every figure (about 25 ms each, most of the time of a callback's first answer).
    """
    layout = fig.layout
    layout._validate = False
    try:
        layout.template = _TEMPLATE
    finally:
        layout._validate = True
    fig.update_layout(title=title, height=height, margin=margin)
    return fig


def _as_text(times: pd.Series) -> list[str | None]:
    """Return *times* as the answer's JSON writes them (ISO 8601), to give plotly text.

    plotly validates, deep-copies and encodes a date or timestamp object per point (~50 µs
    each: 0.2 s for a counter's thirteen years of days); the same text costs it almost nothing.
    """
    values = times.dt.to_pydatetime() if pd.api.types.is_datetime64_any_dtype(times) else times
    return [None if pd.isna(v) else v.isoformat() for v in values]


def _with_note(fig: go.Figure, title: str, height: int, note: str, y: float) -> go.Figure:
    """Write *note* (what the figure rests on) under the plot, then :func:`_base` it."""
    fig.add_annotation(
        text=note,
        x=0,
        y=y,
        xref="paper",
        yref="paper",
        showarrow=False,
        xanchor="left",
        font={"size": 11, "color": _OUTLINE},
    )
    return _base(fig, title, height, margin=_MARGIN | {"b": 70})


def message_figure(text: str, title: str = "") -> go.Figure:
    """Return an empty figure showing *text* in its middle (for 'no data yet' states)."""
    fig = go.Figure()
    fig.add_annotation(
        text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font={"size": 14}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _base(fig, title, height=300)


def run_outcomes_figure(ledger: pd.DataFrame) -> go.Figure:
    """Stacked horizontal bars of each source's last run: ok, quarantined, duplicate rows.

    Args:
        ledger: One row per source with ``source``, ``rows_ok``, ``rows_quarantined``,
            ``rows_duplicate``.

    """
    if ledger.empty:
        return message_figure("No sync runs yet.", "Rows per source, last run")
    frame = ledger.sort_values("source", ascending=False)
    fig = go.Figure()
    parts = (
        ("rows_ok", "landed", "#2a9d8f"),
        ("rows_quarantined", "quarantined", "#e76f51"),
        ("rows_duplicate", "duplicate", "#adb5bd"),
    )
    for column, label, colour in parts:
        fig.add_trace(
            go.Bar(
                y=frame["source"].tolist(),
                x=frame[column].astype("int64").tolist(),
                name=label,
                orientation="h",
                marker_color=colour,
            )
        )
    fig.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.15})
    fig.update_xaxes(title="input rows")
    return _base(fig, "Rows per source, last run", height=max(260, 60 + 32 * len(frame)))


def quarantine_heatmap(counts: pd.DataFrame) -> go.Figure:
    """Heatmap of quarantined rows, sources (rows) x reasons (columns).

    Args:
        counts: ``source``, ``reason``, ``n`` (one row per pair; missing pairs count 0).

    """
    title = "Quarantined rows by source and reason"
    if counts.empty:
        return message_figure("Nothing quarantined: every row landed.", title)
    grid = (
        counts.pivot_table(index="source", columns="reason", values="n", aggfunc="sum")
        .fillna(0)
        .astype("int64")
        .sort_index()
    )
    grid = grid[sorted(grid.columns)]
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy().tolist(),
            x=[str(c) for c in grid.columns],
            y=[str(i) for i in grid.index],
            text=grid.to_numpy().tolist(),
            texttemplate="%{text}",
            colorscale="Oranges",
            hovertemplate="%{y}<br>%{x}: %{z} rows<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    return _base(fig, title, height=max(260, 90 + 36 * len(grid)))


_MAP_HEIGHT = 560
_MAP_AREA = (900, _MAP_HEIGHT - 100)  # the map's own pixels: no title, margins or legend


def _map_layout(fig: go.Figure, geojson: dict[str, Any] | None, bounds: Any) -> None:
    center, zoom = map_view(bounds, *_MAP_AREA)
    layers = []
    if geojson and geojson.get("features"):
        layers.append(
            {"source": geojson, "type": "line", "color": _OUTLINE, "line": {"width": 0.8}}
        )
    fig.update_layout(map={"style": MAP_STYLE, "center": center, "zoom": zoom, "layers": layers})


def devices_map(devices: pd.DataFrame, geojson: dict[str, Any] | None) -> go.Figure:
    """Devices as points coloured by kind over zone outlines.

    Args:
        devices: ``device_id``, ``kind``, ``name``, ``lon``, ``lat`` (rows without coordinates
            are left out).
        geojson: Zone outlines to draw under the points, or None.

    """
    title = "Devices"
    located = devices.dropna(subset=["lon", "lat"])
    if located.empty:
        return message_figure("No devices with coordinates in the lake.", title)
    fig = go.Figure()
    for kind, part in located.groupby("kind", sort=True):
        names = part["name"].fillna(part["device_id"]).astype(str).tolist()
        fig.add_trace(
            go.Scattermap(
                lon=part["lon"].tolist(),
                lat=part["lat"].tolist(),
                mode="markers",
                name=f"{kind} ({len(part)})",
                marker={"size": 9},
                text=names,
                hovertemplate="%{text}<extra>" + str(kind) + "</extra>",
            )
        )
    bounds = (
        float(located["lon"].min()),
        float(located["lat"].min()),
        float(located["lon"].max()),
        float(located["lat"].max()),
    )
    _map_layout(fig, geojson, bounds)
    fig.update_layout(legend={"orientation": "h", "y": -0.05})
    return _base(fig, title, height=_MAP_HEIGHT)


def readings_figure(
    readings: pd.DataFrame,
    title: str = "Readings",
    y_title: str = "count per period",
    x_title: str = "date",
    names: dict[str, str] | None = None,
) -> go.Figure:
    """Lines of a device's readings over time, one per metric (``time``, ``metric``, ``value``)."""
    if readings.empty:
        return message_figure("No readings for this device.", title)
    fig = go.Figure()
    for metric, part in readings.sort_values("time").groupby("metric", sort=True):
        fig.add_trace(
            go.Scatter(
                x=_as_text(part["time"]),
                y=part["value"].tolist(),
                name=(names or {}).get(str(metric), str(metric)),
                mode="lines+markers" if len(part) < 60 else "lines",
            )
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(rangemode="tozero", title=y_title)
    fig.update_xaxes(title=x_title)
    return _base(fig, title, height=380)


# -- overview ---------------------------------------------------------------------------------

_AGENCY_COLOURS = {"police": "#1d3557", "fire": "#c1121f", "ems": "#f4a261"}


def _colour(agency: str, i: int) -> str:
    palette = ("#1d3557", "#c1121f", "#2a9d8f", "#f4a261", "#6d597a")
    return _AGENCY_COLOURS.get(agency, palette[i % len(palette)])


def demand_figure(frame: pd.DataFrame, grain: str, tz: str) -> go.Figure:
    """Draw calls per day or week, one line per agency (``agency``, ``day``, ``n``)."""
    title = f"Calls per {grain} (local time, {tz})"
    if frame.empty:
        return message_figure(
            "The lake holds no calls of this city (none are public for Jiaxing); its twin's "
            "demand is on the map ('Expected calls') and below.",
            title,
        )
    fig = go.Figure()
    for i, (agency, part) in enumerate(frame.groupby("agency", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=_as_text(part["day"]),
                y=part["n"].astype(int).tolist(),
                name=str(agency),
                mode="lines",
                line={"color": _colour(str(agency), i), "width": 1.5},
                hovertemplate="%{x|%d %b %Y}: %{y:,} calls<extra>" + str(agency) + "</extra>",
            )
        )
    fig.update_yaxes(title=f"calls per {grain}", rangemode="tozero")
    fig.update_xaxes(title=f"{grain} (local)")
    fig.update_layout(legend={"orientation": "h", "y": 1.12})
    return _base(fig, title, height=320)


def response_figure(frame: pd.DataFrame, grain: str, basis: str) -> go.Figure:
    """Median response (received → on scene) per period where the data have it."""
    title = f"Median response per {grain} (received → on scene)"
    part = frame[frame["n_resp"] > 0] if not frame.empty else frame
    if part.empty:
        return message_figure(
            "No calls of this city in the lake have both a received and an on-scene time, so "
            "real response cannot be measured; the twin's is on /scenarios.",
            title,
        )
    fig = go.Figure()
    for i, (agency, rows) in enumerate(part.groupby("agency", sort=True)):
        fig.add_trace(
            go.Scatter(
                x=_as_text(rows["day"]),
                y=rows["resp_p50"].astype(float).tolist(),
                customdata=rows["n_resp"].astype(int).tolist(),
                name=str(agency),
                mode="lines+markers" if len(rows) < 60 else "lines",
                line={"color": _colour(str(agency), i), "width": 1.5},
                hovertemplate="%{x|%d %b %Y}: %{y:.1f} min (from %{customdata:,} calls)"
                "<extra>" + str(agency) + "</extra>",
            )
        )
    fig.update_yaxes(title="median response (min)", rangemode="tozero")
    fig.update_xaxes(title=f"{grain} (local)")
    fig.update_layout(legend={"orientation": "h", "y": 1.12})
    return _with_note(fig, title, 340, basis, y=-0.32)


def fidelity_figure(frame: pd.DataFrame) -> go.Figure:
    """Fidelity score (headline error) over time per city; drift flags as crosses.

    Args:
        frame: ``city``, ``computed_at``, ``score``, ``in_sample``, ``drift``.

    """
    title = "Fidelity over time: the twin's headline error (lower is better)"
    if frame.empty:
        return message_figure(
            "No fidelity scores yet: run `twin fidelity --scenario FILE --start D --end D`.", title
        )
    fig = go.Figure()
    for i, (city, part) in enumerate(frame.groupby("city", sort=True)):
        part = part.sort_values("computed_at")
        drift = part["drift"].astype(bool).tolist()
        inside = part["in_sample"].astype(bool).tolist()
        fig.add_trace(
            go.Scatter(
                x=_as_text(part["computed_at"]),
                y=part["score"].astype(float).tolist(),
                name=str(city),
                mode="lines+markers",
                customdata=["in-sample" if s else "held-out" for s in inside],
                marker={
                    "size": [13 if d else 8 for d in drift],
                    "symbol": [
                        "x" if d else ("circle-open" if s else "circle")
                        for d, s in zip(drift, inside, strict=True)
                    ],
                    "color": _colour("", i),
                },
                hovertemplate="%{x|%d %b %Y %H:%M}: error %{y:.3f} (%{customdata})<extra>"
                + str(city)
                + "</extra>",
            )
        )
    fig.update_yaxes(title="headline relative error (0 = exact)", rangemode="tozero")
    fig.update_xaxes(title="scored at (UTC)")
    fig.update_layout(legend={"orientation": "h", "y": 1.12})
    return _base(fig, title, height=300)


def presence_demand_figure(presence: pd.Series, demand: pd.Series, note: str) -> go.Figure:
    """Units on patrol vs calls per hour, by hour of the week (two y axes).

    Args:
        presence: Mean units patrolling, indexed by hour of week (0 = Monday 00h).
        demand: Mean calls per hour, indexed by hour of week.
        note: What each line rests on.

    """
    title = "Patrol presence vs demand, by hour of the week"
    if presence.empty and demand.empty:
        return message_figure("No presence or demand to compare.", title)
    fig = go.Figure()
    if not demand.empty:
        fig.add_trace(
            go.Bar(
                x=demand.index.tolist(),
                y=demand.astype(float).tolist(),
                name="calls per hour",
                marker_color="#f4a261",
                opacity=0.6,
                hovertemplate="hour %{x}: %{y:.1f} calls/h<extra></extra>",
            )
        )
    if not presence.empty:
        fig.add_trace(
            go.Scatter(
                x=presence.index.tolist(),
                y=presence.astype(float).tolist(),
                name="units on patrol",
                yaxis="y2",
                mode="lines",
                line={"color": "#1d3557"},
                hovertemplate="hour %{x}: %{y:.1f} units<extra></extra>",
            )
        )
    ticks = list(range(0, 168, 24))
    fig.update_layout(
        xaxis={"title": "hour of the week (local)", "tickvals": ticks, "ticktext": list(DAYS)},
        yaxis={"title": "calls per hour", "rangemode": "tozero"},
        yaxis2={
            "title": "units on patrol",
            "overlaying": "y",
            "side": "right",
            "rangemode": "tozero",
        },
        legend={"orientation": "h", "y": 1.12},
    )
    return _with_note(fig, title, 340, note, y=-0.3)


# -- maps -------------------------------------------------------------------------------------

_SEQ = "YlOrRd"
_DIV = "RdBu_r"


def city_map_figure(
    cmap: Any,
    values: dict[str, float],
    colour_title: str,
    *,
    level: str = "zone",
    diverging: bool = False,
    hover_unit: str = "",
    layers: list[dict[str, Any]] | None = None,
    title: str = "",
    height: int = 600,
) -> go.Figure:
    """Zones (or districts) of a city coloured by *values*, with optional point layers.

    Args:
        cmap: The city's :class:`~dashboards.citymap.CityMap`.
        values: Zone (or district) id → value; missing shapes are drawn grey.
        colour_title: Colour bar title with its unit.
        level: ``zone`` or ``district``.
        diverging: Centre the colour scale on 0 (for differences).
        hover_unit: Unit shown after the value on hover.
        layers: Point layers: ``{"name", "lon", "lat", "text", "color", "size", "symbol"}``;
            ``lines`` layers (rings) with ``{"name", "rings": [[(lon, lat), ...]], "color"}``.
        title: Figure title.
        height: Pixels.

    """
    shapes = cmap.districts if level == "district" else cmap.zones
    feats = shapes.get("features", [])
    if not feats:
        return message_figure("No shapes for this city in the lake or its scenario.", title)
    ids = [str(f["id"]) for f in feats]
    names = [str((f.get("properties") or {}).get("name") or f["id"]) for f in feats]
    z = [values.get(i) for i in ids]
    known = [v for v in z if v is not None and v == v]
    fig = go.Figure()
    grey = [i for i, v in zip(ids, z, strict=True) if v is None or v != v]
    if grey:
        fig.add_trace(
            go.Choroplethmap(
                geojson=shapes,
                featureidkey="id",
                locations=grey,
                z=[0] * len(grey),
                colorscale=[[0, "#e9ecef"], [1, "#e9ecef"]],
                showscale=False,
                marker={"opacity": 0.6, "line": {"width": 0.5, "color": _OUTLINE}},
                text=[n for n, v in zip(names, z, strict=True) if v is None or v != v],
                hovertemplate="%{text}<br>no data<extra></extra>",
                name="no data",
            )
        )
    if known:
        sel = [(i, n, v) for i, n, v in zip(ids, names, z, strict=True) if v is not None and v == v]
        kw: dict[str, Any] = {"colorscale": _DIV if diverging else _SEQ}
        if diverging:
            lim = max(abs(v) for _, _, v in sel) or 1.0
            kw.update(zmin=-lim, zmax=lim)
        fig.add_trace(
            go.Choroplethmap(
                geojson=shapes,
                featureidkey="id",
                locations=[i for i, _, _ in sel],
                z=[float(v) for _, _, v in sel],
                text=[n for _, n, _ in sel],
                marker={"opacity": 0.7, "line": {"width": 0.6, "color": _OUTLINE}},
                colorbar={"title": {"text": colour_title}, "thickness": 14},
                hovertemplate="%{text}<br>%{z:,.2f} " + hover_unit + "<extra></extra>",
                name=colour_title,
                **kw,
            )
        )
    for layer in layers or []:
        if "rings" in layer:
            lon: list[float | None] = []
            lat: list[float | None] = []
            for ring in layer["rings"]:
                lon += [p[0] for p in ring] + [None]
                lat += [p[1] for p in ring] + [None]
            fig.add_trace(
                go.Scattermap(
                    lon=lon,
                    lat=lat,
                    mode="lines",
                    name=layer["name"],
                    line={"color": layer.get("color", "#264653"), "width": 1.2},
                    hoverinfo="skip",
                )
            )
            continue
        fig.add_trace(
            go.Scattermap(
                lon=list(layer["lon"]),
                lat=list(layer["lat"]),
                mode="markers",
                name=layer["name"],
                text=list(layer.get("text") or []),
                marker={
                    "size": layer.get("size", 8),
                    "color": layer.get("color", "#264653"),
                    "opacity": layer.get("opacity", 0.9),
                },
                hovertemplate="%{text}<extra>" + layer["name"] + "</extra>",
            )
        )
    center, zoom = map_view(cmap.bounds, 1000, height - 80)
    outline = cmap.districts if level == "zone" and cmap.districts.get("features") else None
    map_layers = []
    if outline:
        map_layers.append(
            {"source": outline, "type": "line", "color": "#1d2a33", "line": {"width": 1.6}}
        )
    fig.update_layout(
        map={"style": MAP_STYLE, "center": center, "zoom": zoom, "layers": map_layers},
        legend={"orientation": "h", "y": -0.02, "x": 0},
        clickmode="event",
    )
    return _base(fig, title, height=height)


def replay_map(
    cmap: Any,
    incidents: pd.DataFrame,
    units: pd.DataFrame,
    title: str,
    uirevision: str = "replay",
) -> go.Figure:
    """One instant of a replayed day: zone outlines, incidents and units as points.

    Args:
        cmap: The city's shapes.
        incidents: ``lon``, ``lat``, ``state`` (waiting / answered / closed), ``text``.
        units: ``lon``, ``lat``, ``state`` (at post / en route / on scene / returning), ``text``.
        title: Figure title (the side: real or twin, and the clock).
        uirevision: Keeps the user's zoom and pan between frames.

    """
    fig = go.Figure()
    colours = {
        "waiting": "#d62828",
        "answered": "#f77f00",
        "closed": "#adb5bd",
        "at post": "#457b9d",
        "en route": "#2a9d8f",
        "on scene": "#e9c46a",
        "returning": "#8d99ae",
        "reported (no on-scene time)": "#6d597a",
    }
    for state, part in incidents.groupby("state", sort=False) if not incidents.empty else []:
        fig.add_trace(
            go.Scattermap(
                lon=part["lon"].tolist(),
                lat=part["lat"].tolist(),
                mode="markers",
                name=f"call {state} ({len(part)})",
                text=part["text"].tolist(),
                marker={"size": 9, "color": colours.get(str(state), "#d62828")},
                hovertemplate="%{text}<extra></extra>",
            )
        )
    for state, part in units.groupby("state", sort=False) if not units.empty else []:
        fig.add_trace(
            go.Scattermap(
                lon=part["lon"].tolist(),
                lat=part["lat"].tolist(),
                mode="markers",
                name=f"unit {state} ({len(part)})",
                text=part["text"].tolist(),
                marker={"size": 7, "color": colours.get(str(state), "#457b9d"), "symbol": "circle"},
                hovertemplate="%{text}<extra></extra>",
            )
        )
    if not fig.data:
        fig.add_trace(go.Scattermap(lon=[], lat=[], mode="markers", name="nothing yet"))
    center, zoom = map_view(cmap.bounds, 600, 440)
    layers = []
    if cmap.zones.get("features"):
        layers.append(
            {"source": cmap.zones, "type": "line", "color": "#adb5bd", "line": {"width": 0.5}}
        )
    if cmap.districts.get("features"):
        layers.append(
            {"source": cmap.districts, "type": "line", "color": "#1d2a33", "line": {"width": 1.2}}
        )
    fig.update_layout(
        map={"style": MAP_STYLE, "center": center, "zoom": zoom, "layers": layers},
        legend={"orientation": "h", "y": -0.02, "x": 0, "font": {"size": 10}},
        showlegend=True,
        uirevision=uirevision,
    )
    return _base(fig, title, height=520)


# -- scenarios ---------------------------------------------------------------------------------


def district_kpi_figure(frame: pd.DataFrame, key: str, labels: dict[str, str]) -> go.Figure:
    """Horizontal bars of one KPI per district, one colour per agency.

    Args:
        frame: ``agency``, ``district``, the KPI column *key*, optional ``<key>_ci``.
        key: KPI column.
        labels: District key → display name.

    """
    from dashboards.labels import kpi as kpi_of

    k = kpi_of(key)
    title = f"{k.label} per district"
    if frame.empty or key not in frame.columns:
        return message_figure("No per-district figures in this result.", title)
    fig = go.Figure()
    pct = k.kind == "pct"
    for i, (agency, part) in enumerate(frame.groupby("agency", sort=True)):
        part = part.sort_values("district", key=lambda s: s.map(natural_key), ascending=False)
        err = part.get(f"{key}_ci")
        fig.add_trace(
            go.Bar(
                y=[labels.get(str(d), str(d)) for d in part["district"]],
                x=part[key].astype(float).tolist(),
                error_x={"type": "data", "array": err.astype(float).tolist()}
                if err is not None
                else None,
                name=str(agency),
                orientation="h",
                marker_color=_colour(str(agency), i),
                hovertemplate="%{y}: %{x:"
                + (".1%" if pct else ".2f")
                + "}<extra>"
                + str(agency)
                + "</extra>",
            )
        )
    fig.update_xaxes(title=f"{k.label} ({k.unit})", tickformat=".0%" if pct else None)
    fig.update_yaxes(title="district")
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.08})
    rows = frame["district"].nunique() * max(1, frame["agency"].nunique())
    return _base(fig, title, height=max(280, 80 + 22 * rows))


def utilisation_figure(units: pd.DataFrame, labels: dict[str, str]) -> go.Figure:
    """Utilisation of units summarised per district (box per district and agency).

    Args:
        units: ``unit``, ``agency``, ``district``, ``utilisation`` (0..1).
        labels: District key → display name.

    """
    title = "Unit utilisation per district (each box: the district's units)"
    if units.empty:
        return message_figure("This result has no unit statistics.", title)
    fig = go.Figure()
    for i, (agency, part) in enumerate(units.groupby("agency", sort=True)):
        fig.add_trace(
            go.Box(
                y=[labels.get(str(d), str(d) or "no district") for d in part["district"]],
                x=part["utilisation"].astype(float).tolist(),
                text=part["unit"].astype(str).tolist(),
                name=str(agency),
                orientation="h",
                marker_color=_colour(str(agency), i),
                boxpoints="outliers",
                hovertemplate="%{text}: %{x:.0%}<extra>" + str(agency) + "</extra>",
            )
        )
    fig.update_xaxes(
        title="utilisation (% of on-duty time busy)", tickformat=".0%", rangemode="tozero"
    )
    fig.update_yaxes(title="district")
    fig.update_layout(boxmode="group", legend={"orientation": "h", "y": 1.08})
    n = units["district"].nunique() * max(1, units["agency"].nunique())
    return _base(fig, title, height=max(280, 80 + 26 * n))


def diff_figure(diffs: pd.DataFrame, variant: str, baseline: str) -> go.Figure:
    """Paired differences (variant − baseline) with 95% CIs, one row per KPI."""
    from dashboards.labels import kpi as kpi_of

    title = f"{variant} − {baseline}: paired difference with 95% CI"
    part = diffs[diffs["variant"] == variant] if not diffs.empty else diffs
    if part.empty:
        return message_figure("No paired differences for this variant.", title)
    colours = {"better": "#2a9d8f", "worse": "#c1121f", "not distinguishable": "#8d99ae"}
    fig = go.Figure()
    for verdict, rows in part.groupby("verdict", sort=False):
        labels = [f"{kpi_of(k).label} ({kpi_of(k).unit})" for k in rows["kpi"]]
        fig.add_trace(
            go.Scatter(
                x=rows["diff"].astype(float).tolist(),
                y=labels,
                mode="markers",
                error_x={"type": "data", "array": rows["ci"].fillna(0).astype(float).tolist()},
                marker={"size": 10, "color": colours.get(str(verdict), "#8d99ae")},
                name=str(verdict),
                hovertemplate="%{y}: %{x:+.3g} ± %{error_x.array:.2g}<extra>"
                + str(verdict)
                + "</extra>",
            )
        )
    fig.add_vline(x=0, line={"color": "#1d2a33", "width": 1})
    fig.update_xaxes(title="difference, variant − baseline (in each KPI's unit)")
    fig.update_layout(
        legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02, "yanchor": "bottom"}
    )
    return _base(fig, title, height=max(260, 90 + 30 * len(part)))


def optimizer_figure(curve: pd.DataFrame, data: dict[str, Any]) -> go.Figure:
    """Draw the optimizer's units-vs-KPI curve (95% CIs), the target, chosen and naive."""
    from dashboards.labels import kpi as kpi_of

    target = _optimizer_target(data.get("target"))
    key = str(target.get("kpi") or "kpi")
    k = kpi_of(key)
    title = f"Units needed: {k.label} against fleet size"
    if curve.empty:
        return message_figure("The optimizer result has no curve.", title)
    fig = go.Figure(
        go.Scatter(
            x=curve["units"].tolist(),
            y=curve["kpi_mean"].astype(float).tolist(),
            error_y={"type": "data", "array": curve["ci95"].fillna(0).astype(float).tolist()},
            mode="lines+markers",
            name="twin (mean ± 95% CI)",
            marker={"color": ["#2a9d8f" if m else "#c1121f" for m in curve["meets"]], "size": 9},
            line={"color": "#1d3557"},
            hovertemplate="%{x} units: %{y:.3g}<extra></extra>",
        )
    )
    value = target.get("value", target.get("threshold"))
    if isinstance(value, int | float):
        fig.add_hline(
            y=float(value),
            line={"dash": "dash", "color": "#6d597a"},
            annotation_text=f"target {value}",
        )
    for what, colour, where in (
        ("chosen", "#2a9d8f", "top left"),
        ("naive", "#f4a261", "top right"),
    ):
        entry = data.get(what)
        if isinstance(entry, dict) and isinstance(entry.get("units"), int | float):
            fig.add_vline(
                x=float(entry["units"]),
                line={"dash": "dot", "color": colour},
                annotation_text=f"{what}: {entry['units']}",
                annotation_position=where,
            )
    fig.update_xaxes(title="units in the fleet")
    fig.update_yaxes(title=f"{k.label} ({k.unit})", tickformat=".0%" if k.kind == "pct" else None)
    y = curve["kpi_mean"].astype(float)
    y = y[y > 0]
    if k.kind != "pct" and len(y) and float(y.max()) > 20 * float(y.min()):
        # fleets too small to carry the load wait for days: a log axis keeps the target visible
        low = min(float(y.min()), float(value) if isinstance(value, int | float) else np.inf)
        fig.update_yaxes(
            type="log",
            title=f"{k.label} ({k.unit}, log scale)",
            range=[np.log10(0.7 * low), np.log10(1.5 * float(y.max()))],
        )
    return _base(fig, title, height=360)


def _optimizer_target(raw: Any) -> dict[str, Any]:
    """Return the optimizer's target as ``{kpi, op, value}`` (stored as text or a mapping)."""
    if isinstance(raw, dict):
        return {"kpi": raw.get("kpi") or raw.get("name"), **raw}
    if isinstance(raw, str):
        t = parse_target(raw)
        return {"kpi": t.kpi, "op": t.op, "value": t.value}
    return {}


# -- checkpoints -------------------------------------------------------------------------------


def checkpoint_pass_figure(frame: pd.DataFrame) -> go.Figure:
    """Pass time (mean and 90th percentile) and queue wait per checkpoint, by name."""
    title = "Time through each checkpoint"
    if frame.empty:
        return message_figure("No checkpoints in this result.", title)
    frame = frame.sort_values("name", ascending=False)
    fig = go.Figure()
    for col, label, colour in (
        ("wait_mean_min", "mean wait in queue", "#e76f51"),
        ("pass_mean_min", "mean pass time", "#457b9d"),
        ("pass_p90_min", "90th-percentile pass time", "#1d3557"),
    ):
        if col in frame:
            fig.add_trace(
                go.Bar(
                    y=frame["name"].tolist(),
                    x=(frame[col].astype(float) * 60).tolist(),
                    name=label,
                    orientation="h",
                    marker_color=colour,
                    hovertemplate="%{y}: %{x:.0f} s<extra>" + label + "</extra>",
                )
            )
    fig.update_xaxes(title="seconds per vehicle")
    fig.update_yaxes(title="checkpoint")
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": 1.06})
    return _base(fig, title, height=max(320, 80 + 40 * len(frame)))


def checkpoint_load_figure(hourly: pd.DataFrame) -> go.Figure:
    """Draw expected arrivals per hour over the day against each checkpoint's lane capacity.

    Args:
        hourly: ``name``, ``hour`` (0..23), ``arrivals`` (vehicles/h), ``capacity`` (vehicles/h).

    """
    title = "Load over the day: expected arrivals vs lane capacity"
    if hourly.empty:
        return message_figure("No checkpoint arrivals to show.", title)
    fig = go.Figure()
    for i, (name, part) in enumerate(hourly.groupby("name", sort=True)):
        colour = ("#1d3557", "#c1121f", "#2a9d8f", "#f4a261", "#6d597a", "#264653")[i % 6]
        fig.add_trace(
            go.Scatter(
                x=part["hour"].tolist(),
                y=(part["arrivals"] / part["capacity"]).astype(float).tolist(),
                name=str(name),
                mode="lines",
                line={"color": colour},
                hovertemplate="%{x}:00 — %{y:.0%} of capacity<extra>" + str(name) + "</extra>",
            )
        )
    fig.add_hline(y=1.0, line={"dash": "dash", "color": "#c1121f"}, annotation_text="capacity")
    fig.update_xaxes(title="hour of day (local)", dtick=3)
    fig.update_yaxes(title="arrivals ÷ capacity (load)", tickformat=".0%", rangemode="tozero")
    fig.update_layout(showlegend=len(hourly["name"].unique()) <= 8)
    return _base(fig, title, height=340)


_LINE_COLOURS = (
    "#1d3557",
    "#c1121f",
    "#2a9d8f",
    "#f4a261",
    "#6d597a",
    "#264653",
    "#e76f51",
    "#457b9d",
    "#8d99ae",
    "#bc6c25",
    "#606c38",
    "#9d0208",
    "#023047",
    "#fb8500",
    "#7209b7",
    "#3a5a40",
)


def checkpoint_day_figure(hourly: pd.DataFrame) -> go.Figure:
    """Queue, wait and flow per hour of day, one line per checkpoint (by name).

    Args:
        hourly: ``name``, ``hour`` (0..23), ``queue_mean`` (vehicles, time-weighted),
            ``wait_mean_min``, ``wait_p90_min`` (minutes, tallies over arrivals in the hour),
            ``arrivals_per_hour``, ``throughput_per_hour`` (vehicles/h); the simulation's
            ``checkpoints_hourly.parquet`` averaged over replications.

    """
    title = "Over the day (simulated): queue, wait and vehicles per checkpoint"
    if hourly.empty:
        return message_figure("No checkpoint chosen, or no hourly table in this result.", title)
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.07,
        subplot_titles=(
            "Mean queue (vehicles waiting, time-weighted)",
            "Mean wait before a lane (seconds; vehicles arriving in the hour)",
            "Arrivals (solid) and vehicles through (dotted) per hour",
        ),
    )
    for i, (name, part) in enumerate(hourly.groupby("name", sort=True)):
        part = part.sort_values("hour")
        colour = _LINE_COLOURS[i % len(_LINE_COLOURS)]
        hours = part["hour"].astype(int).tolist()
        common = {"legendgroup": str(name), "line": {"color": colour}, "mode": "lines+markers"}
        fig.add_trace(
            go.Scatter(
                x=hours,
                y=part["queue_mean"].astype(float).tolist(),
                name=str(name),
                hovertemplate="%{x}:00 — %{y:.2f} vehicles waiting<extra>" + str(name) + "</extra>",
                marker={"size": 4},
                **common,
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=hours,
                y=(part["wait_mean_min"].astype(float) * 60).tolist(),
                name=str(name),
                showlegend=False,
                hovertemplate="%{x}:00 — mean wait %{y:.1f} s<extra>" + str(name) + "</extra>",
                marker={"size": 4},
                **common,
            ),
            row=2,
            col=1,
        )
        for col, dash_style, what in (
            ("arrivals_per_hour", "solid", "arrive"),
            ("throughput_per_hour", "dot", "pass"),
        ):
            fig.add_trace(
                go.Scatter(
                    x=hours,
                    y=part[col].astype(float).tolist(),
                    name=str(name),
                    showlegend=False,
                    legendgroup=str(name),
                    mode="lines",
                    line={"color": colour, "dash": dash_style},
                    hovertemplate="%{x}:00 — %{y:.0f} vehicles/h "
                    + what
                    + "<extra>"
                    + str(name)
                    + "</extra>",
                ),
                row=3,
                col=1,
            )
    fig.update_xaxes(title="hour of day (local)", dtick=2, range=[-0.5, 23.5], row=3, col=1)
    fig.update_xaxes(dtick=2, range=[-0.5, 23.5])
    fig.update_yaxes(title="vehicles", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="seconds", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title="vehicles / h", rangemode="tozero", row=3, col=1)
    fig.update_layout(
        showlegend=True, legend={"title": {"text": "checkpoint"}}, hovermode="closest"
    )
    return _base(fig, title, height=760)


def checkpoint_lanes_figure(hourly: pd.DataFrame) -> go.Figure:
    """Manual checks vs automatic passes and interceptions per hour, over the chosen checkpoints.

    Args:
        hourly: ``hour``, ``manual_checks_per_hour``, ``auto_passed_per_hour``,
            ``interceptions_per_hour`` (vehicles/h, one row per checkpoint and hour).

    """
    title = "Smart vs manual: vehicles checked by hand, passed automatically, intercepted"
    if hourly.empty:
        return message_figure("No checkpoint chosen, or no hourly table in this result.", title)
    day = hourly.groupby("hour", sort=True)[
        ["manual_checks_per_hour", "auto_passed_per_hour", "interceptions_per_hour"]
    ].sum()
    hours = day.index.astype(int).tolist()
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    for col, label, colour in (
        ("auto_passed_per_hour", "passed automatically (smart lanes)", "#2a9d8f"),
        ("manual_checks_per_hour", "checked by hand (manual inspection)", "#e76f51"),
    ):
        fig.add_trace(
            go.Bar(
                x=hours,
                y=day[col].astype(float).tolist(),
                name=label,
                marker_color=colour,
                hovertemplate="%{x}:00 — %{y:.0f} vehicles/h<extra>" + label + "</extra>",
            ),
            secondary_y=False,
        )
    hits = day["interceptions_per_hour"].astype(float)
    if hits.sum() > 0:  # no right axis for a checkpoint without a watch list
        fig.add_trace(
            go.Scatter(
                x=hours,
                y=hits.tolist(),
                name="interceptions (watch-list hits, right axis)",
                mode="markers",
                marker={"color": "#1d3557", "size": 7, "symbol": "diamond"},
                hovertemplate="%{x}:00 — %{y:.2f} per hour<extra>interceptions</extra>",
            ),
            secondary_y=True,
        )
        fig.update_yaxes(title="interceptions / h", rangemode="tozero", secondary_y=True)
    fig.update_layout(
        barmode="stack", legend={"orientation": "h", "x": 0, "y": -0.3, "yanchor": "top"}
    )
    fig.update_xaxes(title="hour of day (local)", dtick=2, range=[-0.5, 23.5])
    fig.update_yaxes(title="vehicles / h", rangemode="tozero", secondary_y=False)
    return _base(fig, title, height=440)
