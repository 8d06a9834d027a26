"""Devices (``/devices``): the registry on a map, readings over time, and outages.

Everything comes from the lake rollups: devices with their reading counts, and readings summed
per day (with the number of hours that reported), so a callback never scans raw readings.
"""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboards import ids
from dashboards.components import frame_table, graph, guarded, notice, page_header
from dashboards.context import current
from dashboards.data import outages
from dashboards.figures import devices_map, readings_figure
from dashboards.frames import rows_of
from dashboards.geo import zones_geojson
from dashboards.inputs import choice, friendly_callback

__all__ = ["GRAINS", "layout", "show_readings"]

dash.register_page(__name__, path="/devices", name="Devices", title="Devices", order=5)

GRAINS = ("day", "week", "month")
_METRIC_NAMES = {
    "count_east": "east sidewalk",
    "count_west": "west sidewalk",
    "count": "all directions",
}


@guarded("Devices")
def layout(device: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?device=ID`` picks the device whose readings are drawn."""
    lake = current().lake
    r = lake.rollups()
    header = page_header(
        "Devices",
        "Front-end sensing devices in the lake: where they are, what they report, "
        "and when they were silent.",
    )
    devices = r.devices
    if devices.empty:
        return html.Div(
            [
                header,
                notice(
                    "The lake has no devices yet. Sync the sources, then reload:",
                    f"twin sync --lake {lake.root}",
                ),
            ]
        )
    city = str(devices["city"].value_counts().index[0])
    zones = r.zones[(r.zones["city"] == city)]
    outline = None
    if not zones.empty:
        kind = str(zones["kind"].value_counts().index[0])
        outline = zones_geojson(zones[zones["kind"] == kind], simplify_deg=0.0004)
    kinds = (
        devices.groupby(["city", "kind"], as_index=False)
        .agg(devices=("device_id", "count"), readings=("readings", "sum"))
        .sort_values(["city", "kind"])
    )
    readers = devices[devices["readings"] > 0]
    children: list[Any] = [
        header,
        graph(ids.DEV_MAP, devices_map(devices, outline)),
        frame_table(kinds, ["city", "kind", "devices", "readings"], table_id=ids.DEV_SUMMARY),
        html.H3("Readings over time"),
    ]
    if readers.empty:
        children.append(notice("No device has readings in the lake yet (cameras report none)."))
        return html.Div(children)
    options = [
        {
            "label": f"{row.name or row.device_id} ({int(row.readings):,} readings)",
            "value": row.device_id,
        }
        for row in rows_of(readers)
    ]
    names = readers["device_id"].astype(str).tolist()
    busiest = str(readers.sort_values("readings", ascending=False)["device_id"].iloc[0])
    chosen = device if device in names else busiest
    days = r.readings_daily.loc[r.readings_daily["device_id"] == chosen, "day"]
    span = (days.max() - days.min()).days if not days.empty else 0
    grain = "day" if span <= 120 else "week" if span <= 3 * 366 else "month"
    children += [
        html.Div(
            [
                dcc.Dropdown(id=ids.DEV_DEVICE, options=options, value=chosen, clearable=False),
                dcc.RadioItems(id=ids.DEV_GRAIN, options=list(GRAINS), value=grain, inline=True),
            ],
            className="controls",
        ),
        graph(ids.DEV_READINGS),
        html.H3("Outages: days with missing hourly readings"),
        html.Div(id=ids.DEV_OUTAGES),
    ]
    return html.Div(children)


@friendly_callback(
    Output(ids.DEV_READINGS, "figure"),
    Output(ids.DEV_OUTAGES, "children"),
    Input(ids.DEV_DEVICE, "value"),
    Input(ids.DEV_GRAIN, "value"),
)
def show_readings(device_id: Any, grain: Any) -> tuple[go.Figure, Any]:
    """Draw a device's readings per day, week or month, and list its outages."""
    r = current().lake.rollups()
    known = set(r.readings_daily["device_id"].astype(str))
    dev = choice(device_id, "device", known)
    g = choice(grain, "time grain", GRAINS, default="week")
    daily = r.readings_daily[r.readings_daily["device_id"] == dev]
    frame = daily.assign(time=pd.to_datetime(daily["day"]))
    if g != "day":
        frame = frame.assign(
            time=frame["time"].dt.to_period("W" if g == "week" else "M").dt.start_time
        )
    summed = frame.groupby(["time", "metric"], as_index=False).agg(value=("value", "sum"))
    name_row = r.devices[r.devices["device_id"] == dev]
    name = str(name_row["name"].iloc[0]) if not name_row.empty and name_row["name"].iloc[0] else dev
    fig = readings_figure(
        summed,
        f"{name}: counts per {g}",
        y_title=f"count per {g}",
        x_title=f"{g} (UTC)",
        names=_METRIC_NAMES,
    )
    gaps = outages(daily)
    span_days = (pd.Timestamp(daily["day"].max()) - pd.Timestamp(daily["day"].min())).days + 1
    lost = int(gaps["missing_hours"].sum()) if not gaps.empty else 0
    summary = html.P(
        f"{len(gaps)} periods with missing hours over {span_days:,} days; they remove "
        f"{lost:,} of {span_days * 24:,} hours ({lost / max(1, span_days * 24):.2%}) of this "
        "device's coverage."
    )
    biggest = gaps.sort_values("missing_hours", ascending=False).head(15)
    return fig, html.Div(
        [summary, frame_table(biggest, ["start", "end", "days", "missing_hours"])]
        if not gaps.empty
        else [html.P("No gaps: every day has all 24 hourly readings.")]
    )
