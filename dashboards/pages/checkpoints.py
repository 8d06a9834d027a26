"""Checkpoints (``/checkpoints``): each checkpoint by name, smart vs manual lanes.

Per checkpoint: pass time, wait, queue, throughput, interceptions; queue and wait over the day.

Figures come from a result's ``summary.json`` (``checkpoints``: one entry per checkpoint), its
``checkpoints_hourly.parquet`` (the simulation's queue, wait, flow, manual checks and
interceptions per checkpoint and hour of day) and the names, modes and arrival profiles from
its scenario.
"""

from __future__ import annotations

from typing import Any

import dash
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboards import ids
from dashboards.components import frame_table, graph, guarded, notice, page_header, picker
from dashboards.context import results_index
from dashboards.figures import (
    checkpoint_day_figure,
    checkpoint_lanes_figure,
    checkpoint_load_figure,
    checkpoint_pass_figure,
)
from dashboards.frames import rows_of
from dashboards.inputs import InputError, choice, friendly_callback
from dashboards.labels import fmt_value
from dashboards.results import Run
from dashboards.scenario_info import ScenarioInfo

__all__ = [
    "checkpoint_frame",
    "day_frame",
    "layout",
    "load_over_day",
    "show_checkpoints",
    "show_day",
]

DEFAULT_LINES = 6
"""Checkpoints drawn over the day at first (those with the longest mean queue)."""

dash.register_page(__name__, path="/checkpoints", name="Checkpoints", title="Checkpoints", order=4)

_COLUMNS = {
    "name": ("Checkpoint", None),
    "mode": ("Lane mode", None),
    "lanes": ("Lanes (n)", "int"),
    "throughput_per_hour": ("Vehicles per hour", "num"),
    "utilization": ("Lane utilisation", "pct"),
    "wait_mean_min": ("Mean wait", "sec"),
    "pass_mean_min": ("Mean pass time", "sec"),
    "pass_p90_min": ("90th-percentile pass", "sec"),
    "queue_mean": ("Mean queue (vehicles)", "num"),
    "queue_max": ("Longest queue (vehicles)", "num"),
    "flagged_share": ("Flagged for manual check", "pct"),
    "hits": ("Interceptions per run", "num"),
}


def checkpoint_frame(summary: dict[str, Any], info: ScenarioInfo | None) -> pd.DataFrame:
    """One row per checkpoint: its name (from the scenario) and the summary's figures."""
    cps = summary.get("checkpoints") or {}
    rows = []
    for cp, vals in cps.items() if isinstance(cps, dict) else []:
        if not isinstance(vals, dict):
            continue
        row = {k: vals.get(k) for k in _COLUMNS if k not in ("name",)}
        row["id"] = str(cp)
        row["name"] = info.checkpoint_label(str(cp)) if info else str(cp)
        row["mode"] = vals.get("mode") or (info.checkpoints.get(cp, {}).get("mode") if info else "")
        rows.append(row)
    return pd.DataFrame(rows)


def load_over_day(
    frame: pd.DataFrame, summary: dict[str, Any], info: ScenarioInfo | None
) -> pd.DataFrame:
    """Return expected arrivals per hour of day (rate x profile) and each lane capacity."""
    rows = []
    cps = summary.get("checkpoints") or {}
    for rec in rows_of(frame):
        spec = info.checkpoints.get(rec.id, {}) if info else {}
        rate = float(spec.get("rate_per_hour") or cps.get(rec.id, {}).get("arrivals_per_hour") or 0)
        cap = float(cps.get(rec.id, {}).get("capacity_per_hour") or 0)
        profile = spec.get("profile")
        if not cap or not rate:
            continue
        mult = [1.0] * 24
        if isinstance(profile, list) and len(profile) in (24, 168):
            hours = (
                profile
                if len(profile) == 24
                else [sum(profile[h + 24 * d] for d in range(7)) / 7 for h in range(24)]
            )
            mult = [float(x) for x in hours]
        for h in range(24):
            rows.append({"name": rec.name, "hour": h, "arrivals": rate * mult[h], "capacity": cap})
    return pd.DataFrame(rows, columns=["name", "hour", "arrivals", "capacity"])


def _runs_with_checkpoints() -> list[Run]:
    out = []
    for run in results_index().runs:
        try:
            cps = run.summary.get("checkpoints")
        except Exception:
            continue
        if isinstance(cps, dict) and cps:
            out.append(run)
    return sorted(out, key=lambda r: r.is_replay)  # simulations first, replays last


@guarded("Checkpoints")
def layout(run: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?run=NAME`` picks the result."""
    header = page_header(
        "Checkpoints",
        "Each checkpoint by name: how long a vehicle takes to pass, how long queues get, how "
        "many vehicles go through and how many are intercepted; smart vs manual lanes.",
    )
    runs = _runs_with_checkpoints()
    if not runs:
        return html.Div(
            [
                header,
                notice(
                    "No result with checkpoints yet. Simulate Jiaxing (16 smart checkpoints) or "
                    "the smart-vs-manual checkpoint scenario, then reload:",
                    "twin simulate scenarios/jiaxing_checkpoint.yaml -r 3 "
                    "--out out/jiaxing_checkpoint",
                ),
            ]
        )
    return html.Div(
        [
            header,
            html.Div(
                picker(ids.CP_RUN, [(r.label(), r.name) for r in runs], run), className="controls"
            ),
            html.Div(id=ids.CP_MODES),
            html.Div(id=ids.CP_TABLE, className="scroll"),
            graph(ids.CP_PASS),
            html.H3("Over the day"),
            html.P(
                "Queue and wait per hour of day as the twin simulated them (mean over "
                "replications and over the days of the run). Pick the checkpoints to draw:",
                className="basis",
            ),
            html.Div(
                dcc.Dropdown(id=ids.CP_PICK, multi=True, placeholder="checkpoints to draw"),
                className="controls",
            ),
            graph(ids.CP_DAY),
            graph(ids.CP_LANES),
            graph(ids.CP_LOAD),
        ]
    )


def _fmt(kind: str | None) -> Any:
    if kind == "sec":
        return lambda v: (
            fmt_value(None if v is None else float(v) * 60, "num") + " s" if v is not None else "–"
        )
    if kind is None:
        return lambda v: "–" if v is None else str(v)
    return lambda v: fmt_value(v, kind)


def _run(run_name: Any) -> Run:
    runs = {r.name: r for r in _runs_with_checkpoints()}
    return runs[choice(run_name, "result", runs)]


def day_frame(run: Run, info: ScenarioInfo | None) -> pd.DataFrame:
    """Return the run's hourly checkpoint table with each checkpoint's name (empty: none)."""
    hourly = run.checkpoints_hourly()
    if hourly is None or hourly.empty:
        return pd.DataFrame(columns=["checkpoint", "name", "hour"])
    names = [info.checkpoint_label(str(c)) if info else str(c) for c in hourly["checkpoint"]]
    return hourly.assign(name=names)


@friendly_callback(
    Output(ids.CP_MODES, "children"),
    Output(ids.CP_TABLE, "children"),
    Output(ids.CP_PASS, "figure"),
    Output(ids.CP_LOAD, "figure"),
    Output(ids.CP_PICK, "options"),
    Output(ids.CP_PICK, "value"),
    Input(ids.CP_RUN, "value"),
)
def show_checkpoints(run_name: Any) -> tuple[Any, Any, go.Figure, go.Figure, Any, Any]:
    """Show the chosen result's checkpoints; offer them for the over-the-day chart."""
    run = _run(run_name)
    idx = results_index()
    info = run.info(idx.roots)
    frame = checkpoint_frame(run.summary, info)
    shown = frame.rename(columns={k: v[0] for k, v in _COLUMNS.items()})
    table = frame_table(
        shown,
        [v[0] for v in _COLUMNS.values()],
        formats={v[0]: _fmt(v[1]) for v in _COLUMNS.values()},
    )
    modes = html.Div()
    if frame["mode"].nunique() > 1:
        by_mode = (
            frame.groupby("mode")
            .agg(
                checkpoints=("name", "count"),
                pass_mean_min=("pass_mean_min", "mean"),
                wait_mean_min=("wait_mean_min", "mean"),
                throughput=("throughput_per_hour", "sum"),
            )
            .reset_index()
        )
        cards = []
        for rec in rows_of(by_mode):
            cards.append(
                html.Div(
                    [
                        html.Div(f"{rec.pass_mean_min * 60:.0f} s", className="kpi-value"),
                        html.Div(
                            f"{rec.mode} lanes: mean pass time ({rec.checkpoints} checkpoint(s); "
                            f"wait {rec.wait_mean_min * 60:.0f} s, "
                            f"{rec.throughput:,.0f} vehicles/h)",
                            className="kpi-label",
                        ),
                    ],
                    className="kpi",
                )
            )
        modes = html.Div([html.H3("Smart vs manual lanes"), html.Div(cards, className="kpis")])
    note = html.P(
        f"{run.scenario}: {len(frame)} checkpoints, {run.replications} replication(s); times "
        "per vehicle in seconds, counts per run.",
    )
    day = day_frame(run, info)
    flat = info is not None and all(not c.get("profile") for c in info.checkpoints.values())
    if flat and not day.empty:
        note = html.P(
            [
                note.children,
                " The scenario gives the checkpoints no hourly traffic profile: vehicles arrive "
                "at one steady rate all day, so the hours below differ only by chance (add "
                "checkpoints[].arrivals.profile to study peaks).",
            ]
        )
    options: list[dict[str, str]] = []
    picked: list[str] = []
    if not day.empty:
        names = day.drop_duplicates("checkpoint").set_index("checkpoint")["name"]
        options = [
            {"label": str(n), "value": str(c)}
            for c, n in sorted(names.items(), key=lambda kv: str(kv[1]))
        ]
        busiest = day.groupby("checkpoint")["queue_mean"].mean().sort_values(ascending=False)
        picked = [str(c) for c in busiest.index[:DEFAULT_LINES]]
    else:
        note = html.P(
            [
                note.children,
                " This result has no hourly checkpoint table (written by twin simulate since "
                "this version); simulate it again to see queue and wait over the day.",
            ]
        )
    return (
        html.Div([note, modes]),
        table,
        checkpoint_pass_figure(frame),
        checkpoint_load_figure(load_over_day(frame, run.summary, info)),
        options,
        picked,
    )


@friendly_callback(
    Output(ids.CP_DAY, "figure"),
    Output(ids.CP_LANES, "figure"),
    Input(ids.CP_RUN, "value"),
    Input(ids.CP_PICK, "value"),
)
def show_day(run_name: Any, picks: Any) -> tuple[go.Figure, go.Figure]:
    """Draw queue, wait and flow over the day for the picked checkpoints (by name)."""
    run = _run(run_name)
    day = day_frame(run, run.info(results_index().roots))
    if picks is None:
        picks = []
    if not isinstance(picks, list) or not all(isinstance(p, str) for p in picks):
        raise InputError("checkpoints must be a list of checkpoint ids")
    known = set(day["checkpoint"].astype(str))
    unknown = [p for p in picks if p not in known]
    if unknown:
        raise InputError(f"unknown checkpoint {unknown[0][:40]!r}; pick one from the list")
    part = day[day["checkpoint"].astype(str).isin(picks)]
    return checkpoint_day_figure(part), checkpoint_lanes_figure(part)
