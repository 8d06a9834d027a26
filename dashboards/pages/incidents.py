"""Incidents page: calls per zone on a tile-free map, per hour of week and per day."""

from __future__ import annotations

from datetime import date
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, dcc, html

from dashboards import ids
from dashboards.components import fmt, graph, guarded, kpi_cards, notice, page_header
from dashboards.context import current
from dashboards.data import LakeReader, city_tz, match_zone_counts, period_grain
from dashboards.figures import (
    daily_counts_figure,
    hour_of_week_figure,
    points_map,
    zone_choropleth,
)
from dashboards.geo import zones_geojson

__all__ = ["city_changed", "layout", "update"]

dash.register_page(__name__, path="/incidents", name="Incidents", title="Incidents", order=1)


def _local_day(value: Any, tz: str) -> str | None:
    if value is None or pd.isna(value):
        return None
    return str(pd.Timestamp(value).tz_convert(tz).date())


def _city_options(overview: pd.DataFrame) -> list[dict[str, str]]:
    totals = overview.groupby("city")["n"].sum()
    return [{"label": f"{c} ({int(n):,} calls)", "value": str(c)} for c, n in totals.items()]


def _city_controls(overview: pd.DataFrame, city: str) -> tuple[list[str], str | None, str | None]:
    part = overview[overview["city"] == city]
    tz = city_tz(city)
    first = _local_day(part["first"].min(), tz) if not part.empty else None
    last = _local_day(part["last"].max(), tz) if not part.empty else None
    return sorted(part["source"].astype(str).tolist()), first, last


@guarded("Incidents")
def layout(city: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?city=`` picks the city (default: the one with most calls)."""
    lake = current().lake
    header = page_header(
        "Incidents", "Calls for service in the lake: where, when, and how many (local time)."
    )
    overview = lake.incident_overview()
    if overview.empty:
        return html.Div(
            [
                header,
                notice(
                    "The lake has no incidents yet. Sync the sources, then reload:",
                    f"twin sync --lake {lake.root}",
                ),
            ]
        )
    totals = overview.groupby("city")["n"].sum().sort_values(ascending=False)
    chosen = city if city is not None and city in totals.index else str(totals.index[0])
    sources, first, last = _city_controls(overview, chosen)
    return html.Div(
        [
            header,
            html.Div(
                [
                    dcc.Dropdown(
                        id=ids.INC_CITY,
                        options=_city_options(overview),
                        value=chosen,
                        clearable=False,
                    ),
                    dcc.Dropdown(
                        id=ids.INC_SOURCES,
                        options=sources,
                        value=sources,
                        multi=True,
                        placeholder="all sources",
                    ),
                    dcc.DatePickerRange(
                        id=ids.INC_DATES,
                        min_date_allowed=first,
                        max_date_allowed=last,
                        start_date=first,
                        end_date=last,
                        display_format="YYYY-MM-DD",
                    ),
                ],
                className="controls",
            ),
            html.Div(id=ids.INC_KPIS),
            graph(ids.INC_MAP),
            graph(ids.INC_HOUR_OF_WEEK),
            graph(ids.INC_DAILY),
        ]
    )


@callback(
    Output(ids.INC_SOURCES, "options"),
    Output(ids.INC_SOURCES, "value"),
    Output(ids.INC_DATES, "min_date_allowed"),
    Output(ids.INC_DATES, "max_date_allowed"),
    Output(ids.INC_DATES, "start_date"),
    Output(ids.INC_DATES, "end_date"),
    Input(ids.INC_CITY, "value"),
    prevent_initial_call=True,
)
def city_changed(city: str) -> tuple[list[str], list[str], Any, Any, Any, Any]:
    """Reset the source list and date range to the chosen city's data."""
    sources, first, last = _city_controls(current().lake.incident_overview(), city)
    return sources, sources, first, last, first, last


def _day(text: str | None) -> date | None:
    return date.fromisoformat(text[:10]) if text else None


def _span(lake: LakeReader, city: str, args: tuple[Any, ...]) -> tuple[date | None, date | None]:
    sources, start, end = args
    if start is not None and end is not None:
        return start, end
    overview = lake.incident_overview()
    part = overview[overview["city"] == city]
    if sources:
        part = part[part["source"].isin(sources)]
    tz = city_tz(city)
    first, last = _local_day(part["first"].min(), tz), _local_day(part["last"].max(), tz)
    return (
        start or (date.fromisoformat(first) if first else None),
        end or (date.fromisoformat(last) if last else None),
    )


def _map(lake: LakeReader, city: str, counts: pd.DataFrame, args: tuple[Any, ...]) -> go.Figure:
    zones = lake.zones(city)
    kind, matched, _ = match_zone_counts(counts, zones)
    if kind is not None:
        geojson = zones_geojson(zones[zones["kind"] == kind])
        return zone_choropleth(matched, geojson, title=f"Calls per {kind}")
    outline_kind = zones["kind"].value_counts().index[0] if not zones.empty else None
    outline = zones_geojson(zones[zones["kind"] == outline_kind]) if outline_kind else None
    points = lake.incident_points(city, *args)
    return points_map(points, outline, title="Calls (sample of located calls; no zone match)")


@callback(
    Output(ids.INC_KPIS, "children"),
    Output(ids.INC_MAP, "figure"),
    Output(ids.INC_HOUR_OF_WEEK, "figure"),
    Output(ids.INC_DAILY, "figure"),
    Input(ids.INC_CITY, "value"),
    Input(ids.INC_SOURCES, "value"),
    Input(ids.INC_DATES, "start_date"),
    Input(ids.INC_DATES, "end_date"),
)
def update(
    city: str, sources: list[str] | None, start: str | None, end: str | None
) -> tuple[Any, go.Figure, go.Figure, go.Figure]:
    """Redraw the KPIs and the three figures for the chosen city, sources and dates."""
    lake = current().lake
    args = (list(sources or []), _day(start), _day(end))
    counts = lake.incident_zone_counts(city, *args)
    stats = lake.incident_stats(city, *args).iloc[0]
    n = int(stats["n"])
    zones = lake.zones(city)
    _, _, unmatched = match_zone_counts(counts, zones)
    kpis = kpi_cards(
        [
            ("calls", fmt(n)),
            ("with coordinates", fmt(int(stats["with_coords"]) / n if n else None, "pct")),
            (
                "with received → on scene",
                fmt(int(stats["with_response"]) / n if n else None, "pct"),
            ),
            ("median received → on scene", fmt(stats["median_response_min"], "min")),
            ("calls in no mapped zone", fmt(unmatched)),
        ]
    )
    tz = city_tz(city)
    grain = period_grain(*_span(lake, city, args))
    return (
        kpis,
        _map(lake, city, counts, args),
        hour_of_week_figure(lake.incident_hour_of_week(city, *args), tz),
        daily_counts_figure(lake.incident_daily(city, *args, grain=grain), grain),
    )
