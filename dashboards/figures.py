"""Figures of the dashboards: pure ``DataFrame -> Figure`` functions.

No function here reads files or the lake; each takes a small, already aggregated frame and
returns a plotly figure, so each is testable on a hand-made frame. Maps use ``go.Choroplethmap``
and ``go.Scattermap`` on the ``white-bg`` style with GeoJSON zone layers: no tiles, no network.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.geo import bounds_of, map_view

__all__ = [
    "DAYS",
    "MAP_STYLE",
    "daily_counts_figure",
    "devices_map",
    "dispatch_heatmap",
    "hour_of_week_figure",
    "message_figure",
    "natural_key",
    "points_map",
    "presence_figure",
    "quarantine_heatmap",
    "readings_figure",
    "response_histogram",
    "run_outcomes_figure",
    "utilisation_figure",
    "zone_choropleth",
]

MAP_STYLE = "white-bg"
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_OUTLINE = "#5b6770"
_MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}


def natural_key(text: str) -> tuple[Any, ...]:
    """Return a sort key that orders ``u2`` before ``u10``."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(text)))


def _base(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(template="plotly_white", title=title, height=height, margin=_MARGIN)
    return fig


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


def zone_choropleth(
    counts: pd.DataFrame, geojson: dict[str, Any], title: str = "Incidents per zone"
) -> go.Figure:
    """Choropleth of counts per zone over the zone polygons (no tiles).

    Args:
        counts: ``zone_id`` and ``n``; zones of *geojson* missing from it count 0.
        geojson: FeatureCollection whose feature ids are zone ids (:func:`zones_geojson`).
        title: Figure title.

    """
    features = geojson.get("features", [])
    if not features:
        return message_figure("No zone polygons in the lake for this city.", title)
    ids = [str(f["id"]) for f in features]
    by_zone = dict(zip(counts["zone_id"].astype(str), counts["n"].astype("int64"), strict=True))
    labels = [str((f.get("properties") or {}).get("code") or f["id"]) for f in features]
    fig = go.Figure(
        go.Choroplethmap(
            geojson=geojson,
            featureidkey="id",
            locations=ids,
            z=[int(by_zone.get(i, 0)) for i in ids],
            text=labels,
            colorscale="YlOrRd",
            marker={"opacity": 0.75, "line": {"width": 0.6, "color": _OUTLINE}},
            colorbar={"title": {"text": "calls"}},
            hovertemplate="zone %{text}<br>%{z} calls<extra></extra>",
        )
    )
    _map_layout(fig, None, bounds_of(geojson))
    return _base(fig, title, height=_MAP_HEIGHT)


def points_map(
    points: pd.DataFrame, geojson: dict[str, Any] | None, title: str = "Incidents"
) -> go.Figure:
    """Scatter map of incident points (``lon``, ``lat``, optional ``label``) over zone outlines."""
    if points.empty:
        return message_figure("No incidents with coordinates for this selection.", title)
    label = points["label"].astype(str).tolist() if "label" in points else None
    fig = go.Figure(
        go.Scattermap(
            lon=points["lon"].tolist(),
            lat=points["lat"].tolist(),
            mode="markers",
            marker={"size": 5, "color": "#d62828", "opacity": 0.5},
            text=label,
            hovertemplate="%{text}<extra></extra>" if label else None,
        )
    )
    bounds = bounds_of(geojson) if geojson and geojson.get("features") else None
    if bounds is None:
        bounds = (
            float(points["lon"].min()),
            float(points["lat"].min()),
            float(points["lon"].max()),
            float(points["lat"].max()),
        )
    _map_layout(fig, geojson, bounds)
    return _base(fig, title, height=_MAP_HEIGHT)


def hour_of_week_figure(counts: pd.DataFrame, tz: str = "") -> go.Figure:
    """Heatmap of calls per hour of the week (local time), Monday first.

    Args:
        counts: ``dow`` (0 = Monday .. 6 = Sunday), ``hour`` (0..23), ``n``.
        tz: Time zone name shown in the title.

    """
    title = f"Calls per hour of week ({tz})" if tz else "Calls per hour of week"
    if counts.empty:
        return message_figure("No incidents for this selection.", title)
    grid = [[0] * 24 for _ in range(7)]
    for dow, hour, n in counts[["dow", "hour", "n"]].itertuples(index=False):
        grid[int(dow)][int(hour)] += int(n)
    fig = go.Figure(
        go.Heatmap(
            z=grid,
            x=list(range(24)),
            y=list(DAYS),
            colorscale="Blues",
            hovertemplate="%{y} %{x}:00<br>%{z} calls<extra></extra>",
        )
    )
    fig.update_xaxes(title="hour of day", dtick=3)
    fig.update_yaxes(autorange="reversed")
    return _base(fig, title, height=320)


def daily_counts_figure(counts: pd.DataFrame, grain: str = "day") -> go.Figure:
    """Stacked bars of calls per *grain* (day, week, month), one colour per source.

    Args:
        counts: ``day`` (the period's first day), ``source``, ``n``.
        grain: The period each bar covers, for the title.

    """
    title = f"Calls per {grain}"
    if counts.empty:
        return message_figure("No incidents for this selection.", title)
    fig = go.Figure()
    for source, part in counts.sort_values("day").groupby("source", sort=True):
        fig.add_trace(
            go.Bar(x=part["day"].tolist(), y=part["n"].astype("int64").tolist(), name=str(source))
        )
    fig.update_layout(barmode="stack", bargap=0.1, legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(title="calls")
    return _base(fig, title, height=340)


def utilisation_figure(units: pd.DataFrame) -> go.Figure:
    """Bar chart of utilisation per unit (``unit_id``, ``utilization`` in 0..1)."""
    title = "Utilisation per unit (busy = dispatched + travelling + on scene)"
    if units.empty:
        return message_figure("This result has no unit statistics.", title)
    frame = units.assign(_k=units["unit_id"].map(natural_key)).sort_values("_k")
    fig = go.Figure(
        go.Bar(
            x=frame["unit_id"].astype(str).tolist(),
            y=frame["utilization"].astype(float).tolist(),
            marker_color="#457b9d",
            hovertemplate="%{x}: %{y:.1%}<extra></extra>",
        )
    )
    fig.update_yaxes(title="utilisation", tickformat=".0%", range=[0, 1])
    fig.update_xaxes(title="unit", type="category")
    return _base(fig, title, height=360)


def dispatch_heatmap(fractions: pd.DataFrame) -> go.Figure:
    """Heatmap of dispatch fractions, units (rows) x zones (columns).

    Args:
        fractions: ``unit_id``, ``zone_id``, ``fraction`` (of all dispatches); missing pairs 0.

    """
    title = "Dispatch fractions (share of all dispatches)"
    if fractions.empty:
        return message_figure("This result has no dispatch fractions.", title)
    grid = fractions.pivot_table(
        index="unit_id", columns="zone_id", values="fraction", aggfunc="sum"
    ).fillna(0.0)
    grid = grid.loc[sorted(grid.index, key=natural_key), sorted(grid.columns, key=natural_key)]
    values = grid.to_numpy().tolist()
    small = grid.shape[0] * grid.shape[1] <= 400
    fig = go.Figure(
        go.Heatmap(
            z=values,
            x=[str(c) for c in grid.columns],
            y=[str(i) for i in grid.index],
            colorscale="Viridis",
            text=values if small else None,
            texttemplate="%{z:.3f}" if small else None,
            hovertemplate="unit %{y} → zone %{x}: %{z:.4f}<extra></extra>",
        )
    )
    fig.update_xaxes(title="zone", type="category")
    fig.update_yaxes(title="unit", type="category", autorange="reversed")
    return _base(fig, title, height=max(320, 90 + 22 * grid.shape[0]))


def presence_figure(by_zone: pd.DataFrame, by_hour: pd.DataFrame) -> go.Figure:
    """Patrol presence (time-weighted mean idle units patrolling): per zone, and per hour.

    Args:
        by_zone: ``zone_id``, ``units``.
        by_hour: ``hour`` (0..23, or 0..167 for hours of the week), ``units``.

    """
    title = "Patrol presence: mean units patrolling (time-weighted)"
    if by_zone.empty and by_hour.empty:
        return message_figure("This result has no patrol presence.", title)
    fig = make_subplots(rows=1, cols=2, column_widths=[0.55, 0.45], horizontal_spacing=0.08)
    zones = by_zone.assign(_k=by_zone["zone_id"].map(natural_key)).sort_values("_k")
    fig.add_trace(
        go.Bar(
            x=zones["zone_id"].astype(str).tolist(),
            y=zones["units"].astype(float).tolist(),
            name="by zone",
            marker_color="#2a9d8f",
        ),
        row=1,
        col=1,
    )
    hours = by_hour.sort_values("hour")
    fig.add_trace(
        go.Scatter(
            x=hours["hour"].astype(int).tolist(),
            y=hours["units"].astype(float).tolist(),
            name="by hour",
            mode="lines+markers",
            line_color="#1d3557",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(title="zone", type="category", row=1, col=1)
    hour_title = "hour of day" if len(hours) <= 24 else "hour of week"
    fig.update_xaxes(title=hour_title, row=1, col=2)
    fig.update_yaxes(title="units", rangemode="tozero")
    fig.update_layout(showlegend=False)
    return _base(fig, title, height=340)


def response_histogram(minutes: pd.Series, title: str = "Response time") -> go.Figure:
    """Histogram of response times in minutes (nulls dropped)."""
    values = minutes.dropna().astype(float)
    if values.empty:
        return message_figure("No response times in this result.", title)
    fig = go.Figure(go.Histogram(x=values.tolist(), nbinsx=60, marker_color="#1d3557"))
    fig.update_xaxes(title="minutes, received → on scene")
    fig.update_yaxes(title="incidents")
    return _base(fig, title, height=340)


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


def readings_figure(readings: pd.DataFrame, title: str = "Readings") -> go.Figure:
    """Lines of a device's readings over time, one per metric (``time``, ``metric``, ``value``)."""
    if readings.empty:
        return message_figure("No readings for this device.", title)
    fig = go.Figure()
    for metric, part in readings.sort_values("time").groupby("metric", sort=True):
        fig.add_trace(
            go.Scatter(
                x=part["time"].tolist(), y=part["value"].tolist(), name=str(metric), mode="lines"
            )
        )
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(rangemode="tozero")
    return _base(fig, title, height=380)
