"""Small layout helpers shared by the pages: tables, KPI cards, notices, graphs."""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import dcc, html

from dashboards.frames import rows_of
from dashboards.memo import memo_key, memoised
from twin.errors import TwinError

__all__ = [
    "GRAPH_CONFIG",
    "fmt",
    "frame_table",
    "graph",
    "guarded",
    "kpi_cards",
    "notice",
    "page_header",
    "picker",
    "summary_kpis",
]

_log = logging.getLogger("dashboards")

GRAPH_CONFIG: dcc.Graph.Config = {"displaylogo": False, "responsive": True}


def fmt(value: Any, kind: str = "") -> str:
    """Format a cell for display: ``pct`` → percent, ``min`` → minutes, ints with separators."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "–"
    if kind == "pct":
        return f"{float(value):.1%}"
    if kind == "min":
        return f"{float(value):.1f} min"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() and abs(value) >= 1000 else f"{value:.4g}"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M UTC" if value.tzinfo else "%Y-%m-%d %H:%M")
    return str(value)


def frame_table(
    frame: pd.DataFrame,
    columns: Sequence[str] | None = None,
    formats: Mapping[str, str | Callable[[Any], str]] | None = None,
    table_id: str | None = None,
    max_rows: int = 200,
    cell_class: Callable[[str, Any], str | None] | None = None,
    compact: bool = False,
) -> html.Table:
    """Render a DataFrame as a plain HTML table (no external table component).

    Args:
        frame: The rows to show.
        columns: Columns to show, in order (default all).
        formats: Per column, a :func:`fmt` kind or a function returning the cell text.
        table_id: The table's component id.
        max_rows: At most this many rows are rendered.
        cell_class: Optional ``(column, value) -> CSS class`` for highlighting cells.
        compact: One line per row; long cells are cut, the full text shows on hover.

    """
    cols = list(columns) if columns is not None else [str(c) for c in frame.columns]
    formats = formats or {}
    head = html.Thead(html.Tr([html.Th(c.replace("_", " ")) for c in cols]))
    rows = []
    for record in frame.head(max_rows).to_dict("records"):
        cells = []
        for col in cols:
            value = record.get(col)
            spec = formats.get(col, "")
            text = spec(value) if callable(spec) else fmt(value, spec)
            cell: dict[str, Any] = {}
            cls = cell_class(col, value) if cell_class else None
            if cls:
                cell["className"] = cls
            if compact and value is not None:
                cell["title"] = str(value)[:2000]
            cells.append(html.Td(text, **cell))
        rows.append(html.Tr(cells))
    kwargs: dict[str, Any] = {"className": "frame compact" if compact else "frame"}
    if table_id:
        kwargs["id"] = table_id
    return html.Table([head, html.Tbody(rows)], **kwargs)


def kpi_cards(items: Sequence[tuple[str, str]], cards_id: str | None = None) -> html.Div:
    """Build a row of KPI cards, each a (label, value text) pair."""
    cards = [
        html.Div(
            [html.Div(value, className="kpi-value"), html.Div(label, className="kpi-label")],
            className="kpi",
        )
        for label, value in items
    ]
    return (
        html.Div(cards, id=cards_id, className="kpis")
        if cards_id
        else html.Div(cards, className="kpis")
    )


def notice(text: str, command: str | None = None) -> html.Div:
    """Build a friendly "nothing here yet" box, with the command that fills it."""
    children: list[Any] = [html.P(text)]
    if command:
        children.append(html.Pre(command, className="command"))
    return html.Div(children, className="notice")


def guarded(title: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Make a page layout show a notice instead of failing when the data are unreadable.

    Args:
        title: The page title shown above the notice.

    """

    def wrap(layout: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(layout)
        def safe(**kwargs: Any) -> Any:
            try:
                key = memo_key(f"page:{title}", sorted((str(k), str(v)) for k, v in kwargs.items()))
                return memoised(key, lambda: layout(**kwargs))
            except TwinError as exc:
                return html.Div([html.H2(title), notice(str(exc))])
            except Exception as exc:
                _log.error("page %s failed: %s: %s", title, type(exc).__name__, exc)
                return html.Div(
                    [
                        html.H2(title),
                        notice(f"This page could not be drawn ({type(exc).__name__})."),
                    ]
                )

        return safe

    return wrap


def graph(graph_id: str, figure: go.Figure | None = None) -> dcc.Graph:
    """Build a graph with the dashboard's config (no plotly logo, responsive)."""
    return dcc.Graph(id=graph_id, figure=figure if figure is not None else {}, config=GRAPH_CONFIG)


def picker(
    component_id: str, options: Sequence[str] | Sequence[tuple[str, str]], asked: Any = None
) -> dcc.Dropdown:
    """Build a dropdown that always holds a choice: *asked* when offered, else the first option.

    Args:
        component_id: The dropdown's id.
        options: Values shown as they are, or ``(label, value)`` pairs; at least one.
        asked: The value a page was asked for (its query parameter, e.g. ``?run=``).

    """
    pairs = [(o, o) if isinstance(o, str) else o for o in options]
    values = [value for _, value in pairs]
    return dcc.Dropdown(
        id=component_id,
        options=[{"label": label, "value": value} for label, value in pairs],
        value=asked if asked in values else values[0],
        clearable=False,
    )


def page_header(title: str, subtitle: str) -> html.Div:
    """Build the title block at the top of a page."""
    return html.Div([html.H2(title), html.P(subtitle, className="subtitle")])


def _ci(summary: dict[str, Any], *names: str) -> float | None:
    ci = summary.get("ci95") or {}
    for name in names:
        value = ci.get(name) if isinstance(ci, dict) else None
        if isinstance(value, int | float):
            return float(value)
    return None


def _with_ci(value: Any, half: float | None, kind: str) -> str:
    text = fmt(value, kind)
    if half is None or text == "–":
        return text
    return f"{text} ± {fmt(half, kind).removesuffix(' min')}"


def summary_kpis(summary: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the headline (label, value) pairs of a summary; ± is the 95% CI half-width."""
    resp = summary.get("response_min") or {}
    reps = summary.get("replications")
    items = [
        ("scenario", str(summary.get("scenario", "?"))),
        ("seed × replications", f"{summary.get('seed', '?')} × {reps if reps else 1}"),
        ("incidents", fmt(summary.get("incidents"))),
        ("P(wait)", _with_ci(summary.get("p_wait"), _ci(summary, "p_wait"), "pct")),
        ("P(lost)", _with_ci(summary.get("p_lost"), _ci(summary, "p_lost"), "pct")),
        (
            "mean wait",
            _with_ci(summary.get("mean_wait_min"), _ci(summary, "mean_wait_min"), "min"),
        ),
    ]
    for key in ("mean", "p50", "p90"):
        half = _ci(summary, f"response_min.{key}", f"response_min_{key}", f"response_{key}")
        items.append((f"response {key}", _with_ci(resp.get(key), half, "min")))
    if "out_of_area_fraction" in summary:
        items.append(("out of area", fmt(summary.get("out_of_area_fraction"), "pct")))
    return items


def basis_text(basis: pd.DataFrame, city: str, agency: str | None = None) -> str:
    """Say what a city's response measures rest on ("from 186 calls in one beat, 2018-2023").

    Args:
        basis: The rollup ``basis`` frame (``city, agency, source, n, n_resp, zones_resp,
            first, last``).
        city: City key.
        agency: One agency, or all of the city's.

    """
    part = basis[basis["city"] == city]
    if agency:
        part = part[part["agency"] == agency]
    part = part[part["n_resp"] > 0]
    if part.empty:
        return "No source of this city has both a received and an on-scene time."
    bits = []
    total = int(basis[(basis["city"] == city)]["n"].sum())
    for row in rows_of(part):
        zones = int(row.zones_resp)
        where = "one zone" if zones == 1 else f"{zones} zones"
        span = f"{pd.Timestamp(row.first):%Y-%m-%d} to {pd.Timestamp(row.last):%Y-%m-%d}"
        bits.append(f"{int(row.n_resp):,} {row.agency} calls in {where} ({row.source}, {span})")
    share = int(part["n_resp"].sum()) / total if total else 0.0
    partial = " — partial: " if share < 0.5 else " — "
    return (
        "Response measured from "
        + "; ".join(bits)
        + f"{partial}{share:.1%} of the city's {total:,} calls have both times."
    )
