"""Simulation results page: KPIs, utilisation and dispatch fractions of one result folder."""

from __future__ import annotations

import datetime as dt
from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, dcc, html

from dashboards import ids
from dashboards.components import (
    frame_table,
    graph,
    guarded,
    kpi_cards,
    notice,
    page_header,
    summary_kpis,
)
from dashboards.context import current
from dashboards.data import (
    by_priority_frame,
    dispatch_frame,
    find_results,
    load_summary,
    presence_frames,
    resolve_result,
    result_response_minutes,
    units_frame,
)
from dashboards.figures import (
    dispatch_heatmap,
    message_figure,
    presence_figure,
    response_histogram,
    utilisation_figure,
)
from twin.errors import TwinError

__all__ = ["layout", "show_result"]

dash.register_page(
    __name__, path="/results", name="Simulation results", title="Simulation results", order=2
)


def _label(folder_name: str, path: Any) -> str:
    try:
        scenario = load_summary(path).get("scenario", "?")
    except TwinError:
        scenario = "unreadable summary"
    stamp = dt.datetime.fromtimestamp((path / "summary.json").stat().st_mtime, tz=dt.UTC)
    return f"{folder_name} — {scenario} ({stamp:%Y-%m-%d %H:%M} UTC)"


@guarded("Simulation results")
def layout(run: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?run=NAME`` picks a result folder (default: the newest)."""
    root = current().results
    header = page_header(
        "Simulation results", f"Results of `twin simulate` under {root} (newest first)."
    )
    runs = find_results(root)
    if not runs:
        return html.Div(
            [
                header,
                notice(
                    f"No simulation results under {root} yet. Run a scenario, then reload:",
                    f"twin simulate scenarios/example.yaml --out {root}/example",
                ),
            ]
        )
    names = [r.name for r in runs]
    return html.Div(
        [
            header,
            html.Div(
                dcc.Dropdown(
                    id=ids.SIM_RUN,
                    options=[{"label": _label(r.name, r.path), "value": r.name} for r in runs],
                    value=run if run in names else names[0],
                    clearable=False,
                ),
                className="controls",
            ),
            html.Div(id=ids.SIM_KPIS),
            graph(ids.SIM_UTILISATION),
            graph(ids.SIM_DISPATCH),
            graph(ids.SIM_PRESENCE),
            html.Div(id=ids.SIM_BY_PRIORITY),
            graph(ids.SIM_RESPONSE),
            html.Div(id=ids.SIM_CHECKPOINTS),
        ]
    )


def _checkpoints(summary: dict[str, Any]) -> html.Div:
    cps = summary.get("checkpoints") or {}
    if not isinstance(cps, dict) or not cps:
        return html.Div()
    rows = [
        {"checkpoint": str(k), **{n: v for n, v in kp.items() if not isinstance(v, dict | list)}}
        for k, kp in cps.items()
        if isinstance(kp, dict)
    ]
    return html.Div([html.H3("Checkpoints"), frame_table(pd.DataFrame(rows))])


def _priorities(summary: dict[str, Any]) -> html.Div:
    frame = by_priority_frame(summary)
    if frame.empty:
        return html.Div()
    return html.Div([html.H3("By priority"), frame_table(frame)])


@callback(
    Output(ids.SIM_KPIS, "children"),
    Output(ids.SIM_UTILISATION, "figure"),
    Output(ids.SIM_DISPATCH, "figure"),
    Output(ids.SIM_PRESENCE, "figure"),
    Output(ids.SIM_BY_PRIORITY, "children"),
    Output(ids.SIM_RESPONSE, "figure"),
    Output(ids.SIM_CHECKPOINTS, "children"),
    Input(ids.SIM_RUN, "value"),
)
def show_result(
    run: str | None,
) -> tuple[Any, go.Figure, go.Figure, go.Figure, Any, go.Figure, Any]:
    """Show the chosen result folder."""
    root = current().results
    try:
        folder = resolve_result(root, run or "")
        summary = load_summary(folder)
        minutes = result_response_minutes(folder)
    except TwinError as exc:
        blank = message_figure(str(exc))
        return notice(str(exc)), blank, blank, blank, html.Div(), blank, html.Div()
    return (
        kpi_cards(summary_kpis(summary)),
        utilisation_figure(units_frame(summary)),
        dispatch_heatmap(dispatch_frame(summary)),
        presence_figure(*presence_frames(summary)),
        _priorities(summary),
        response_histogram(minutes, "Response time per incident (received → on scene)"),
        _checkpoints(summary),
    )
