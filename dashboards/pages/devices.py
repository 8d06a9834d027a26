"""Devices page: cameras and counters on a tile-free map, and a counter's readings over time."""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, callback, dcc, html

from dashboards import ids
from dashboards.components import frame_table, graph, guarded, notice, page_header
from dashboards.context import current
from dashboards.figures import devices_map, readings_figure
from dashboards.geo import zones_geojson

__all__ = ["GRAINS", "layout", "show_readings"]

dash.register_page(__name__, path="/devices", name="Devices", title="Devices", order=3)

GRAINS = ("hour", "day", "week", "month")


@guarded("Devices")
def layout(device: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?device=ID`` picks the device whose readings are drawn."""
    lake = current().lake
    header = page_header(
        "Devices", "Front-end sensing devices in the lake and what the counting devices report."
    )
    devices = lake.devices()
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
    cities = devices["city"].value_counts()
    zones = lake.zones(str(cities.index[0]))
    outline = None
    if not zones.empty:
        kind = str(zones["kind"].value_counts().index[0])
        outline = zones_geojson(zones[zones["kind"] == kind])
    kinds = (
        devices.groupby(["city", "kind"], as_index=False)
        .agg(devices=("device_id", "count"), readings=("readings", "sum"))
        .sort_values(["city", "kind"])
    )
    readers = lake.reading_devices()
    children: list[Any] = [
        header,
        graph(ids.DEV_MAP, devices_map(devices, outline)),
        frame_table(kinds, ["city", "kind", "devices", "readings"], table_id=ids.DEV_SUMMARY),
        html.H3("Readings"),
    ]
    if readers.empty:
        children.append(notice("No device has readings in the lake yet."))
        return html.Div(children)
    options = [
        {
            "label": f"{r['name'] or r['device_id']} — {r['metrics']} ({r['n']:,})",
            "value": r["device_id"],
        }
        for r in readers.to_dict("records")
    ]
    busiest = str(readers.sort_values("n", ascending=False)["device_id"].iloc[0])
    names = readers["device_id"].astype(str).tolist()
    chosen = device if device in names else busiest
    row = readers[readers["device_id"] == chosen].iloc[0]
    long = (row["last"] - row["first"]).days > 400 if row["n"] else False
    children.append(
        html.Div(
            [
                dcc.Dropdown(
                    id=ids.DEV_DEVICE,
                    options=options,
                    value=chosen,
                    clearable=False,
                ),
                dcc.RadioItems(
                    id=ids.DEV_GRAIN,
                    options=list(GRAINS),
                    value="week" if long else "day",
                    inline=True,
                ),
            ],
            className="controls",
        )
    )
    children.append(graph(ids.DEV_READINGS))
    return html.Div(children)


@callback(
    Output(ids.DEV_READINGS, "figure"),
    Input(ids.DEV_DEVICE, "value"),
    Input(ids.DEV_GRAIN, "value"),
)
def show_readings(device_id: str | None, grain: str | None) -> go.Figure:
    """Draw the chosen device's readings, summed per hour, day, week or month."""
    grain = grain if grain in GRAINS else "day"
    frame = current().lake.readings(device_id or "", grain)
    return readings_figure(frame, f"{device_id}: readings per {grain} (UTC)")
