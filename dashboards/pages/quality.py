"""Data quality page: the sync ledger, quarantine counts and a sample of quarantined rows."""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, callback, dcc, html

from dashboards import ids
from dashboards.components import frame_table, graph, guarded, notice, page_header
from dashboards.context import current
from dashboards.figures import quarantine_heatmap, run_outcomes_figure

__all__ = ["layout", "quarantine_sample"]

dash.register_page(__name__, path="/", name="Data quality", title="Data quality", order=0)

_LEDGER_COLUMNS = [
    "source",
    "status",
    "rows_in",
    "rows_ok",
    "rows_quarantined",
    "rows_duplicate",
    "rows_new",
    "balanced",
    "started",
    "run_id",
    "error",
]
_SAMPLE_COLUMNS = ["source", "reason", "detail", "file", "row_number", "raw"]


def _short(limit: int) -> Any:
    def cut(value: Any) -> str:
        text = "–" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        return text if len(text) <= limit else text[: limit - 1] + "…"

    return cut


def _status_class(column: str, value: Any) -> str | None:
    if column == "status":
        return "ok" if value == "ok" else "bad"
    if column == "balanced":
        return "ok" if value == "yes" else "bad"
    return None


@guarded("Data quality")
def layout(**_: Any) -> html.Div:
    """Render the page from the lake as it is now."""
    lake = current().lake
    header = page_header(
        "Data quality",
        f"Last sync of every source, and what was rejected. Lake: {lake.root}",
    )
    ledger = lake.last_runs()
    if ledger.empty:
        return html.Div(
            [
                header,
                notice(
                    "The lake has no sync runs yet, so there is nothing to check. "
                    "Run a sync, then reload this page:",
                    f"twin sync --lake {lake.root}",
                ),
            ]
        )
    ok = ledger["rows_in"] == (
        ledger["rows_ok"] + ledger["rows_quarantined"] + ledger["rows_duplicate"]
    )
    ledger = ledger.assign(balanced=["yes" if flag else "NO" for flag in ok.tolist()])
    failed = int((ledger["status"] != "ok").sum())
    history = lake.run_history()
    counts = lake.quarantine_counts()
    sources = sorted(counts["source"].unique().tolist()) if not counts.empty else []
    reasons = sorted(counts["reason"].unique().tolist()) if not counts.empty else []
    summary = (
        f"{len(ledger)} sources; {failed} failed in their last run. "
        f"Every input row lands, is quarantined with a reason, or is an exact duplicate: "
        f"'balanced' checks rows_in = ok + quarantined + duplicate."
    )
    return html.Div(
        [
            header,
            html.H3("Last run per source"),
            html.P(summary),
            frame_table(
                ledger,
                _LEDGER_COLUMNS,
                formats={"error": _short(120), "run_id": _short(24)},
                table_id=ids.DQ_LEDGER,
                cell_class=_status_class,
            ),
            graph(ids.DQ_OUTCOMES, run_outcomes_figure(ledger)),
            html.H3("Recent sync runs"),
            frame_table(
                history,
                [
                    "run_id",
                    "started",
                    "sources",
                    "failed",
                    "rows_in",
                    "rows_new",
                    "rows_quarantined",
                    "rows_duplicate",
                ],
                table_id=ids.DQ_HISTORY,
            ),
            html.H3("Quarantine"),
            graph(ids.DQ_QUARANTINE, quarantine_heatmap(counts)),
            html.Div(
                [
                    dcc.Dropdown(
                        id=ids.DQ_SOURCE,
                        options=sources,
                        placeholder="all sources",
                        clearable=True,
                    ),
                    dcc.Dropdown(
                        id=ids.DQ_REASON,
                        options=reasons,
                        placeholder="all reasons",
                        clearable=True,
                    ),
                ],
                className="controls",
            ),
            html.Div(id=ids.DQ_SAMPLE),
        ]
    )


@callback(
    Output(ids.DQ_SAMPLE, "children"),
    Input(ids.DQ_SOURCE, "value"),
    Input(ids.DQ_REASON, "value"),
)
def quarantine_sample(source: str | None, reason: str | None) -> html.Div:
    """Show up to 25 quarantined rows of the chosen source and reason."""
    sample = current().lake.quarantine_sample(source or None, reason or None, limit=25)
    if sample.empty:
        return notice("No quarantined rows for this selection.")
    return html.Div(
        [
            html.P(f"Sample of quarantined rows ({len(sample)} shown; filter above)."),
            frame_table(
                sample,
                _SAMPLE_COLUMNS,
                formats={"file": lambda v: PurePath(str(v)).name if v else "–"},
                compact=True,
            ),
        ]
    )
