"""Data quality (``/data-quality``): source health, the runs ledger, quarantine, fidelity.

Counts come from the lake rollups; the sample of quarantined rows is one small indexed query
(at most 25 rows, on demand), and one row's full detail is shown when picked.
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from dashboards import ids
from dashboards.components import frame_table, graph, guarded, notice, page_header
from dashboards.context import current
from dashboards.data import fidelity_scores
from dashboards.figures import fidelity_figure, quarantine_heatmap, run_outcomes_figure
from dashboards.inputs import friendly_callback, integer, text

__all__ = ["layout", "quarantine_row", "quarantine_sample"]

dash.register_page(
    __name__, path="/data-quality", name="Data quality", title="Data quality", order=6
)

_SAMPLE_COLUMNS = ["#", "source", "reason", "detail", "file", "row_number", "raw"]


def _short(limit: int) -> Any:
    def cut(value: Any) -> str:
        t = "–" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        return t if len(t) <= limit else t[: limit - 1] + "…"

    return cut


def _status_class(column: str, value: Any) -> str | None:
    if column in ("health", "status"):
        return {"ok": "ok", "degraded": "warn"}.get(str(value), "bad")
    if column == "balanced":
        return "ok" if value == "yes" else "bad"
    return None


@guarded("Data quality")
def layout(**_: Any) -> html.Div:
    """Render the page from the lake as it is now."""
    lake = current().lake
    r = lake.rollups()
    header = page_header(
        "Data quality",
        f"Health of every source, what each sync landed and rejected. Lake: {lake.root}",
    )
    ledger = r.ledger
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
    status_col = "health" if "health" in ledger else "status"
    reason_col = next((c for c in ("reason", "health_reason", "error") if c in ledger), None)
    shown = ledger.assign(
        balanced=["yes" if flag else "NO" for flag in ok.tolist()],
        health=ledger[status_col],
        why=ledger[reason_col] if reason_col else None,
    )
    counts = r.quarantine
    sources = sorted(counts["source"].unique().tolist()) if not counts.empty else []
    reasons = sorted(counts["reason"].unique().tolist()) if not counts.empty else []
    n_bad = int((shown["health"] != "ok").sum())
    return html.Div(
        [
            header,
            html.H3("Source health (last run of each source)"),
            html.P(
                f"{len(shown)} sources; {n_bad} degraded or failed. 'balanced' checks that every "
                "input row landed, was quarantined with a reason, or was an exact duplicate."
            ),
            frame_table(
                shown,
                [
                    "source",
                    "health",
                    "why",
                    "rows_in",
                    "rows_ok",
                    "rows_quarantined",
                    "rows_duplicate",
                    "rows_new",
                    "balanced",
                    "started",
                ],
                formats={"why": _short(160)},
                table_id=ids.DQ_HEALTH,
                cell_class=_status_class,
            ),
            graph(ids.DQ_OUTCOMES, run_outcomes_figure(shown)),
            html.H3("Runs ledger (newest first)"),
            frame_table(
                r.history,
                [
                    "run_id",
                    "started",
                    "sources",
                    "not_ok",
                    "rows_in",
                    "rows_new",
                    "rows_quarantined",
                    "rows_duplicate",
                ],
                table_id=ids.DQ_HISTORY,
                max_rows=30,
            ),
            html.H3("Quarantine: reasons, and sample rows"),
            graph(ids.DQ_QUARANTINE, quarantine_heatmap(counts)),
            html.Div(
                [
                    dcc.Dropdown(id=ids.DQ_SOURCE, options=sources, placeholder="all sources"),
                    dcc.Dropdown(id=ids.DQ_REASON, options=reasons, placeholder="all reasons"),
                ],
                className="controls",
            ),
            html.Div(id=ids.DQ_SAMPLE),
            html.Div(
                [
                    html.Label("Full detail of sample row #"),
                    dcc.Input(
                        id=ids.DQ_ROW,
                        type="number",
                        min=1,
                        max=25,
                        step=1,
                        placeholder="1–25",
                        debounce=True,
                    ),
                ],
                className="controls",
            ),
            html.Pre(id=ids.DQ_DETAIL, className="detail"),
            html.H3("Fidelity over time"),
            graph(
                ids.DQ_FIDELITY,
                fidelity_figure(fidelity_scores(r.fidelity))
                if not r.fidelity.empty
                else fidelity_figure(pd.DataFrame()),
            ),
        ]
    )


def _sample(source: str | None, reason: str | None) -> pd.DataFrame:
    return current().lake.quarantine_sample(source, reason, limit=25)


@friendly_callback(
    Output(ids.DQ_SAMPLE, "children"),
    Input(ids.DQ_SOURCE, "value"),
    Input(ids.DQ_REASON, "value"),
)
def quarantine_sample(source: Any, reason: Any) -> html.Div:
    """Show up to 25 quarantined rows of the chosen source and reason."""
    src = text(source, "source")
    why = text(reason, "reason")
    sample = _sample(src, why)
    if sample.empty:
        return notice("No quarantined rows for this selection.")
    sample = sample.reset_index(drop=True)
    sample.insert(0, "#", range(1, len(sample) + 1))
    return html.Div(
        [
            html.P(
                f"Sample of quarantined rows ({len(sample)} shown; "
                "pick # below for all of one row)."
            ),
            frame_table(
                sample,
                _SAMPLE_COLUMNS,
                formats={"file": lambda v: PurePath(str(v)).name if v else "–", "raw": _short(90)},
                compact=True,
            ),
        ]
    )


@friendly_callback(
    Output(ids.DQ_DETAIL, "children"),
    Input(ids.DQ_ROW, "value"),
    Input(ids.DQ_SOURCE, "value"),
    Input(ids.DQ_REASON, "value"),
)
def quarantine_row(row: Any, source: Any, reason: Any) -> str:
    """Show one sample row in full: its reason, detail, file, and every raw field."""
    if row is None:
        return "Pick a row number to see it in full."
    n = integer(row, "row number", 1, 25)
    sample = _sample(text(source, "source"), text(reason, "reason"))
    if n > len(sample):
        return f"The sample has {len(sample)} rows."
    rec = sample.iloc[n - 1]
    try:
        raw = json.dumps(json.loads(str(rec["raw"])), indent=2, ensure_ascii=False)
    except (json.JSONDecodeError, TypeError):
        raw = str(rec["raw"])
    return (
        f"source: {rec['source']}\nreason: {rec['reason']}\ndetail: {rec['detail']}\n"
        f"file: {rec['file']} row {rec['row_number']}\nrun: {rec['run_id']}\n\nraw row:\n{raw}"
    )
