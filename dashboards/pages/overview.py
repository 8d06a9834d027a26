"""Overview (``/``): last night's sync, fidelity and drift, demand and response, presence.

Reads only the lake rollups (built once per lake commit) and result summaries.
"""

from __future__ import annotations

from typing import Any

import dash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboards import ids
from dashboards.components import (
    basis_text,
    fmt,
    frame_table,
    graph,
    guarded,
    kpi_cards,
    notice,
    page_header,
    picker,
)
from dashboards.context import current, results_index
from dashboards.data import Rollups, city_tz, fidelity_scores
from dashboards.figures import (
    demand_figure,
    fidelity_figure,
    message_figure,
    presence_demand_figure,
    response_figure,
)
from dashboards.frames import rows_of
from dashboards.inputs import InputError, choice, day, friendly_callback, text
from dashboards.labels import fmt_value
from dashboards.pages.map import city_runs
from dashboards.results import Run, run_breakdown
from twin.cities import CITIES

__all__ = ["layout", "show_city", "show_run"]

dash.register_page(__name__, path="/", name="Overview", title="Overview", order=0)


def _status_class(column: str, value: Any) -> str | None:
    if column in ("status", "health"):
        return {"ok": "ok", "degraded": "warn"}.get(str(value), "bad")
    return None


def sources_table(r: Rollups) -> html.Div:
    """Each source's last run: status (ok / degraded / failed) with its reason, and counts."""
    ledger = r.ledger.copy()
    if ledger.empty:
        return notice("No sync has run yet. Fill the lake, then reload:", "twin sync --lake LAKE")
    reason_col = next((c for c in ("reason", "health_reason", "error") if c in ledger), None)
    status_col = "health" if "health" in ledger else "status"
    ledger["why"] = ledger[reason_col] if reason_col else None
    shown = ledger.rename(columns={status_col: "health"})
    started = pd.to_datetime(shown["started"], utc=True)
    last = started.max()
    bad = shown[shown["health"] != "ok"]
    line = (
        f"Last sync {last:%Y-%m-%d %H:%M} UTC: {len(shown)} sources, "
        f"{len(bad)} not ok"
        + (f" ({', '.join(bad['source'].astype(str))})" if len(bad) else "")
        + f"; {int(shown['rows_quarantined'].sum()):,} rows quarantined."
    )
    return html.Div(
        [
            html.P(line),
            frame_table(
                shown,
                ["source", "health", "rows_in", "rows_new", "rows_quarantined", "why"],
                formats={"why": lambda v: "–" if v is None or v != v else str(v)[:140]},
                cell_class=_status_class,
                table_id=None,
            ),
        ]
    )


def fidelity_cards(r: Rollups) -> html.Div:
    """Show the latest fidelity score and drift flag per city, with the history chart."""
    f = r.fidelity
    if f.empty or ("score" not in set(f.get("metric", pd.Series(dtype=str))) and "score" not in f):
        return html.Div(
            [
                notice(
                    "No fidelity scores in the lake yet. Score a calibrated scenario on held-out "
                    "days (stores into the lake):",
                    "twin fidelity --scenario out/scenarios/seattle_baseline.yaml "
                    "--start 2015-11-01 --end 2015-11-07 --lake LAKE",
                ),
            ]
        )
    scores = fidelity_scores(f)
    cards = []
    for row in rows_of(scores.groupby("city").tail(1)):
        flag = "DRIFT" if bool(row.drift) else "no drift"
        kind = "in-sample" if bool(row.in_sample) else "held-out"
        cards.append(
            (
                f"{row.city}: fidelity error, {kind}, {row.computed_at:%Y-%m-%d} — {flag} "
                f"({row.band})",
                "–" if row.score is None else f"{float(row.score):.3f}",
            )
        )
    return html.Div([kpi_cards(cards), graph(ids.OV_FIDELITY, fidelity_figure(scores))])


@guarded("Overview")
def layout(city: str | None = None, **_: Any) -> html.Div:
    """Render the overview; ``?city=`` picks the city of the lower half."""
    settings = current()
    r = settings.lake.rollups()
    header = page_header(
        "Overview",
        "What happened last night, whether the twin still matches reality, and how demand, "
        "response and patrol presence compare.",
    )
    cities = r.cities
    idx = results_index()
    run_cities: dict[str, Run] = {}
    for run in idx.runs:
        try:
            info = run.info(idx.roots)
        except Exception:
            info = None
        if info is not None and info.city:
            run_cities.setdefault(info.city, run)
    for c in run_cities:
        if c not in cities:
            cities.append(c)
    chosen = city if isinstance(city, str) and city in cities else (cities[0] if cities else None)
    children: list[Any] = [
        header,
        html.H3("Last night's sync"),
        html.Div(sources_table(r), id=ids.OV_SOURCES),
        html.H3("Is the twin drifting?"),
        fidelity_cards(r),
    ]
    if chosen is None:
        children.append(
            notice("The lake has no incidents and there are no results yet.", "make run")
        )
        return html.Div(children)
    children += [
        html.H3("Demand and response"),
        html.Div(
            [
                picker(ids.OV_CITY, cities, chosen),
                dcc.DatePickerRange(
                    id=ids.OV_DATES,
                    display_format="YYYY-MM-DD",
                    start_date_placeholder_text="from (default: the data's span)",
                    end_date_placeholder_text="to",
                    clearable=True,
                ),
            ],
            className="controls",
        ),
        html.P(id=ids.OV_BASIS, className="basis"),
        graph(ids.OV_DEMAND),
        graph(ids.OV_RESPONSE),
        html.H3("Patrol presence vs demand, and the city's own measures"),
        html.Div(
            dcc.Dropdown(id=ids.OV_RUN, placeholder="a simulation result of this city"),
            className="controls",
        ),
        graph(ids.OV_PRESENCE),
        html.Div(id=ids.OV_JIAXING),
    ]
    return html.Div(children)


@friendly_callback(
    Output(ids.OV_DEMAND, "figure"),
    Output(ids.OV_RESPONSE, "figure"),
    Output(ids.OV_BASIS, "children"),
    Output(ids.OV_RUN, "options"),
    Output(ids.OV_RUN, "value"),
    Input(ids.OV_CITY, "value"),
    Input(ids.OV_DATES, "start_date"),
    Input(ids.OV_DATES, "end_date"),
)
def show_city(
    city: Any, start: Any = None, end: Any = None
) -> tuple[go.Figure, go.Figure, str, list[dict[str, str]], str | None]:
    """Demand and response over time of one city, and its results for the lower half.

    Without dates the demand chart covers the span holding 99.5% of the city's calls.
    """
    r = current().lake.rollups()
    cities = r.cities + [c for c in CITIES if c not in r.cities]
    chosen = choice(city, "city", cities)
    d0 = day(start, "start date")
    d1 = day(end, "end date")
    if d0 is not None and d1 is not None and d1 < d0:
        raise InputError(f"the end date {d1} is before the start date {d0}")
    tz = city_tz(chosen)
    first, last, outside = r.dense_span(chosen)
    if d0 is not None or d1 is not None:
        all_days = r.daily[r.daily["city"] == chosen]
        first = d0 or (first if first is not None else None)
        last = d1 or (last if last is not None else None)
        if first is not None and last is not None:
            inside = (all_days["day"] >= first) & (all_days["day"] <= last)
            outside = int(all_days.loc[~inside, "n"].sum())
    daily = r.daily[r.daily["city"] == chosen]
    days = (last - first).days + 1 if first is not None else 0
    grain, frame = ("day", daily) if days <= 120 else ("week", r.weekly[r.weekly["city"] == chosen])
    if first is not None:
        frame = frame[(frame["day"] >= first) & (frame["day"] <= last)]
    # response: its own span and a grain that leaves enough calls per point
    resp = r.weekly[(r.weekly["city"] == chosen) & (r.weekly["n_resp"] > 0)]
    resp_grain = "week"
    if resp.empty or resp["n_resp"].median() < 20:
        resp = r.monthly[(r.monthly["city"] == chosen) & (r.monthly["n_resp"] > 0)]
        resp_grain = "month"
    basis = basis_text(r.basis, chosen)
    shown = (
        f" Calls plotted {first} to {last}; {outside:,} calls outside that span are left "
        "off the demand chart (pick dates above to see them)."
        if outside
        else ""
    )
    runs = [run for run, _ in city_runs(chosen)]
    options = [{"label": run.label(), "value": run.name} for run in runs]
    return (
        demand_figure(frame, grain, tz),
        response_figure(resp, resp_grain, basis),
        basis + shown,
        options,
        runs[0].name if runs else None,
    )


def _presence_vs_demand(run: Run, r: Rollups, city: str) -> go.Figure:
    pres = run.path / "presence.parquet"
    presence = pd.Series(dtype=float)
    if pres.is_file():
        frame = pd.read_parquet(pres, columns=["zone", "hour_of_week", "mean_patrolling"])
        presence = (
            frame.groupby(["hour_of_week", "zone"])["mean_patrolling"]
            .mean()
            .groupby("hour_of_week")
            .sum()
        )
    how = r.hour_of_week[r.hour_of_week["city"] == city]
    if not how.empty:
        weeks = max(1.0, float(r.daily[r.daily["city"] == city]["day"].nunique()) / 7.0)
        demand = how.groupby("how")["n"].sum() / weeks
        note = (
            f"Units: the twin ({run.scenario}, {run.replications} replications). Calls: the "
            f"lake, mean per hour of week over {weeks:.0f} weeks."
        )
    else:
        demand = twin_demand(run)
        note = (
            f"Units and calls: the twin ({run.scenario}, {run.replications} replications); the "
            "lake has no calls of this city, so demand is the scenario's own."
        )
    return presence_demand_figure(presence, demand, note)


def twin_demand(run: Run) -> pd.Series:
    """Mean simulated calls per hour of the week (minute 0 = Monday 00:00), over replications."""
    path = run.path / "incidents.parquet"
    if not path.is_file():
        return pd.Series(dtype=float)
    frame = pd.read_parquet(path, columns=["received"])
    minutes = frame["received"].dropna().astype(float)
    if minutes.empty:
        return pd.Series(dtype=float)
    weeks = max((minutes.max() - minutes.min()) / 10080.0, 1 / 7) * run.replications
    how = ((minutes % 10080) // 60).astype(int)
    return how.value_counts().sort_index() / weeks


def programme_measures(run: Run) -> html.Div:
    """Show the 1-3-5 minute norm, checkpoint pass time and throughput, teams on patrol."""
    idx = results_index()
    info = run.info(idx.roots)
    if info is None or not info.targets:
        return html.Div()
    t = info.targets
    core = set(t.get("core_zones") or [])
    key = set(t.get("key_zones") or [])
    zones = run_breakdown(run, info)["zone"]
    items: list[tuple[str, str]] = []
    for label, members, minutes in (
        ("core areas", core, t.get("core_min", 1)),
        ("key areas", key, t.get("key_min", 3)),
        ("anywhere", None, t.get("anywhere_min", 5)),
    ):
        part = zones[zones["zone"].isin(members)] if members is not None else zones
        col = f"within_{int(minutes)}_min"
        if part.empty or col not in part:
            continue
        share = float(np.average(part[col].fillna(0), weights=part["incidents"]))
        items.append(
            (
                f"reached within {minutes} min, {label} "
                f"({int(part['incidents'].sum()):,} calls/run)",
                f"{share:.0%}",
            )
        )
    cps = run.summary.get("checkpoints") or {}
    if isinstance(cps, dict) and cps:
        vals = [v for v in cps.values() if isinstance(v, dict)]
        pass_mean = np.mean([v.get("pass_mean_min") or 0 for v in vals]) * 60
        through = sum(float(v.get("throughput_per_hour") or 0) for v in vals)
        hits = sum(float(v.get("hits") or 0) for v in vals)
        items += [
            (f"mean checkpoint pass time ({len(vals)} checkpoints)", f"{pass_mean:.0f} s"),
            ("vehicles checked per hour, all checkpoints", f"{through:,.0f}"),
            ("interceptions (watch-list hits) per run", fmt_value(hits, "num")),
        ]
    pres = run.summary.get("presence") or {}
    if isinstance(pres, dict) and pres.get("mean_patrolling") is not None:
        items.append(
            (
                "teams on patrol (mean, idle and patrolling)",
                f"{float(pres['mean_patrolling']):.0f} of {len(info.unit_post)}",
            )
        )
    norm = str(t.get("norm") or "response targets")
    return html.Div(
        [
            html.H4(f"{norm} — {run.scenario} (the twin; targets from the scenario)"),
            kpi_cards(items),
        ]
    )


@friendly_callback(
    Output(ids.OV_PRESENCE, "figure"),
    Output(ids.OV_JIAXING, "children"),
    Input(ids.OV_RUN, "value"),
    Input(ids.OV_CITY, "value"),
)
def show_run(run_name: Any, city: Any) -> tuple[go.Figure, Any]:
    """Presence vs demand and the programme's measures of the chosen result."""
    name = text(run_name, "result")
    r = current().lake.rollups()
    city_name = text(city, "city") or ""
    if name is None:
        return (
            message_figure(
                "No simulation result of this city yet; run one, e.g. "
                f"`twin simulate scenarios/{city_name}_baseline.yaml "
                f"--out out/{city_name}_baseline`"
            ),
            html.Div(),
        )
    run = results_index().run(name)
    return _presence_vs_demand(run, r, city_name), programme_measures(run)


_ = fmt
