"""Replay (``/replay``): one real day on the map, the real calls beside the twin's answer.

Play/pause drives a ``dcc.Interval`` that advances the time slider; the slider's minute is the
only input of the drawing callback, which reads a :class:`~dashboards.replay_view.ReplayDay`
held in memory (so a frame costs milliseconds, not a file read).
"""

from __future__ import annotations

from typing import Any

import dash
import plotly.graph_objects as go
from dash import Input, Output, State, dcc, html

from dashboards import ids
from dashboards.components import guarded, kpi_cards, notice, page_header, picker
from dashboards.context import current, results_index
from dashboards.figures import replay_map
from dashboards.inputs import choice, friendly_callback, number
from dashboards.pages.map import city_context
from dashboards.replay_view import ReplayDay, load_replay

__all__ = ["advance", "layout", "show_frame", "toggle_play"]

dash.register_page(__name__, path="/replay", name="Replay", title="Replay", order=2)

STEP_MIN = 10
"""Minutes the clock advances per tick while playing."""


def _replays() -> list[Any]:
    return [r for r in results_index().runs if r.is_replay]


def _day(name: str) -> tuple[Any, ReplayDay]:
    runs = {r.name: r for r in _replays()}
    run = runs[choice(name, "replay", runs)]
    idx = results_index()
    info = run.info(idx.roots)
    return run, load_replay(run, info, current().lake)


@guarded("Replay")
def layout(run: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?run=NAME`` picks the replay."""
    header = page_header(
        "Replay",
        "One real day, minute by minute: the calls as they happened (left) and the twin's "
        "units answering the same calls (right).",
    )
    runs = _replays()
    if not runs:
        return html.Div(
            [
                header,
                notice(
                    "No replay yet. Replay a real day of the lake through a calibrated "
                    "scenario, then reload:",
                    "twin replay scenarios/sanfrancisco_baseline.yaml --start 2020-04-10 "
                    "--end 2020-04-10 --out out/replay_sf_2020-04-10",
                ),
            ]
        )
    return html.Div(
        [
            header,
            html.Div(
                [
                    picker(ids.RP_RUN, [(r.label(), r.name) for r in runs], run),
                    html.Button("▶ Play", id=ids.RP_PLAY, n_clicks=0, className="button"),
                    html.Span("00:00", id=ids.RP_CLOCK, className="clock"),
                ],
                className="controls",
            ),
            dcc.Slider(
                id=ids.RP_SLIDER,
                min=0,
                max=1440 - STEP_MIN,
                step=STEP_MIN,
                value=8 * 60,
                marks={h * 60: f"{h:02d}:00" for h in range(0, 25, 3)},
                updatemode="mouseup",
            ),
            dcc.Interval(id=ids.RP_INTERVAL, interval=1000, disabled=True),
            html.Div(id=ids.RP_KPIS),
            html.Div(
                [
                    html.Div(
                        dcc.Graph(id=ids.RP_REAL, config={"displaylogo": False}), className="half"
                    ),
                    html.Div(
                        dcc.Graph(id=ids.RP_TWIN, config={"displaylogo": False}), className="half"
                    ),
                ],
                className="side-by-side",
            ),
            html.P(id="rp-notes", className="basis"),
        ]
    )


@friendly_callback(
    Output(ids.RP_INTERVAL, "disabled"),
    Output(ids.RP_PLAY, "children"),
    Input(ids.RP_PLAY, "n_clicks"),
    memo=False,
)
def toggle_play(clicks: Any) -> tuple[bool, str]:
    """Play on odd clicks, pause on even ones."""
    n = int(number(clicks, "clicks", 0, 1e9, default=0))
    playing = n % 2 == 1
    return (not playing), ("⏸ Pause" if playing else "▶ Play")


@friendly_callback(
    Output(ids.RP_SLIDER, "value"),
    Input(ids.RP_INTERVAL, "n_intervals"),
    State(ids.RP_SLIDER, "value"),
    State(ids.RP_SLIDER, "max"),
    memo=False,
    prevent_initial_call=True,
)
def advance(_ticks: Any, minute: Any, end: Any) -> float:
    """Move the clock on by one step; wrap to midnight at the end of the day."""
    top = number(end, "end", 0, 60 * 24 * 31, default=1440)
    t = number(minute, "time", 0, top, default=0) + STEP_MIN
    return 0.0 if t > top else t


def _clock(minute: float) -> str:
    day, rest = divmod(int(minute), 1440)
    return f"{'day ' + str(day + 1) + ' ' if day else ''}{rest // 60:02d}:{rest % 60:02d}"


@friendly_callback(
    Output(ids.RP_REAL, "figure"),
    Output(ids.RP_TWIN, "figure"),
    Output(ids.RP_KPIS, "children"),
    Output(ids.RP_CLOCK, "children"),
    Output("rp-notes", "children"),
    Input(ids.RP_RUN, "value"),
    Input(ids.RP_SLIDER, "value"),
)
def show_frame(name: Any, minute: Any) -> tuple[go.Figure, go.Figure, Any, str, str]:
    """Draw the real day and the twin at one minute, with running figures."""
    run, day = _day(name)
    t = number(minute, "time", 0, day.minutes, default=0)
    idx = results_index()
    info = run.info(idx.roots)
    cmap, _ = city_context(current().lake.rollups(), info.city if info else "")
    clock = _clock(t)
    real = replay_map(
        cmap,
        day.incidents_at(t, "real"),
        day.units_at(-1).iloc[0:0],
        f"Real — {clock}",
        uirevision=run.name,
    )
    twin = replay_map(
        cmap, day.incidents_at(t, "twin"), day.units_at(t), f"Twin — {clock}", uirevision=run.name
    )
    k = day.kpis_at(t)

    def resp(side: dict[str, Any]) -> str:
        m = side["response_mean"]
        return "–" if m is None else f"{m:.1f} min (n={side['response_n']:,})"

    cards = kpi_cards(
        [
            ("calls so far (real = twin)", f"{k['real']['calls']:,}"),
            ("real: mean response so far", resp(k["real"])),
            ("twin: mean response so far", resp(k["twin"])),
            ("real: calls waiting now", f"{k['real']['waiting']:,}"),
            ("twin: calls waiting now", f"{k['twin']['waiting']:,}"),
            ("twin: units busy now", f"{k['twin']['units_busy']:,} of {k['twin']['units']:,}"),
        ]
    )
    return real, twin, cards, clock, f"{day.title}. " + " ".join(day.notes)
