"""Scenarios (``/scenarios``): results and sweeps of the twin, aggregates first.

Pick a result (``twin simulate``) or a sweep (``twin sweep``): KPIs with 95% confidence
intervals per agency (never police and fire mixed), per district, paired differences against
the sweep's baseline with verdicts, a map of per-district (or per-zone) differences, and the
optimizer's units-vs-KPI curve. Individual units only on demand: searchable and paged.
"""

from __future__ import annotations

import math
from typing import Any

import dash
import numpy as np
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboards import ids
from dashboards.components import (
    frame_table,
    graph,
    guarded,
    kpi_cards,
    notice,
    page_header,
    picker,
)
from dashboards.context import current, results_index
from dashboards.figures import (
    city_map_figure,
    diff_figure,
    district_kpi_figure,
    message_figure,
    optimizer_figure,
    utilisation_figure,
)
from dashboards.inputs import choice, friendly_callback, integer, text
from dashboards.labels import fmt_value, kpi, label
from dashboards.pages.map import city_context
from dashboards.results import (
    Run,
    Sweep,
    kpi_columns,
    run_breakdown,
)
from dashboards.scenario_info import ScenarioInfo

__all__ = ["layout", "pick_changed", "show_optimizer", "show_pick", "show_units", "units_table"]

dash.register_page(__name__, path="/scenarios", name="Scenarios", title="Scenarios", order=3)

PAGE_SIZE = 25
HEADLINE = (
    "incidents",
    "response_mean_min",
    "response_p50_min",
    "response_p90_min",
    "within_5_min",
    "within_8_min",
    "p_wait",
)


def _options() -> list[tuple[str, str]]:
    idx = results_index()
    opts = [(f"sweep {s.name}", f"sweep:{s.name}") for s in idx.sweeps]
    runs = sorted(idx.runs, key=lambda r: (r.is_replay, r.scenario == "example", -r.mtime))
    opts += [(r.label(), f"run:{r.name}") for r in runs]
    return opts


def _resolve(pick: Any) -> tuple[str, Run | Sweep]:
    idx = results_index()
    value = text(pick, "result or sweep", optional=False)
    assert value is not None
    kind, _, name = value.partition(":")
    if kind == "run":
        return "run", idx.run(name)
    if kind == "sweep":
        return "sweep", idx.sweep(name)
    raise_value = f"{value[:40]!r}"
    from dashboards.inputs import InputError

    raise InputError(f"unknown choice {raise_value}; pick a result or a sweep from the list")


@guarded("Scenarios")
def layout(pick: str | None = None, **_: Any) -> html.Div:
    """Render the page; ``?pick=run:NAME`` or ``?pick=sweep:NAME`` preselects."""
    root = current().results
    header = page_header(
        "Scenarios",
        "What the twin predicts for a layout, and whether a change is better: per agency and "
        "per district, with 95% confidence intervals.",
    )
    opts = _options()
    idx = results_index()
    opt_files = idx.optimizers
    if not opts:
        return html.Div(
            [
                header,
                notice(
                    f"No simulation results under {root} yet. Simulate a city, then reload:",
                    "twin simulate scenarios/seattle_baseline.yaml -r 3 "
                    f"--out {root}/seattle_baseline",
                ),
            ]
        )
    return html.Div(
        [
            header,
            html.Div(
                [
                    picker(ids.SC_PICK, opts, pick),
                    dcc.Dropdown(id=ids.SC_VARIANT, placeholder="variant to compare"),
                    dcc.Dropdown(id=ids.SC_KPI, clearable=False),
                ],
                className="controls",
            ),
            html.Div(id=ids.SC_HEADLINE),
            html.Div(id=ids.SC_AGENCIES),
            html.Div(id=ids.SC_DIFF),
            graph(ids.SC_MAP),
            html.Div(id=ids.SC_DISTRICTS),
            html.H3("Units (search by id, kind or district; 25 per page)"),
            html.Div(
                [
                    dcc.Input(
                        id=ids.SC_UNITS_SEARCH,
                        type="text",
                        placeholder="search units",
                        debounce=True,
                        maxLength=100,
                    ),
                    dcc.Input(
                        id=ids.SC_UNITS_PAGE, type="number", min=1, step=1, value=1, debounce=True
                    ),
                ],
                className="controls",
            ),
            html.Div(id=ids.SC_UNITS),
            html.H3("Optimizer: how many units does a target need?"),
            (
                html.Div(
                    [
                        picker(ids.SC_OPT, [o.name for o in opt_files]),
                        graph(ids.SC_OPT_GRAPH),
                        html.P(id="sc-opt-text", className="basis"),
                    ]
                )
                if opt_files
                else notice(
                    "No optimizer results yet. Ask the twin for the smallest fleet that meets a "
                    "target, then reload:",
                    "twin optimize SCENARIO --target 'response_p90_min<=8' --out out/opt.yaml",
                )
            ),
        ]
    )


def _formats() -> dict[str, Any]:
    def one(key: str) -> Any:
        return lambda v: fmt_value(v, kpi(key).kind)

    return {k: one(k) for k in HEADLINE}


def _kpi_options(cols: list[str]) -> list[dict[str, str]]:
    return [{"label": f"{label(c)} ({kpi(c).unit})", "value": c} for c in cols]


@friendly_callback(
    Output(ids.SC_VARIANT, "options"),
    Output(ids.SC_VARIANT, "value"),
    Output(ids.SC_KPI, "options"),
    Output(ids.SC_KPI, "value"),
    Input(ids.SC_PICK, "value"),
)
def pick_changed(pick: Any) -> tuple[Any, Any, Any, Any]:
    """Offer the variants of a sweep (or none for a run) and the KPIs to map."""
    kind, obj = _resolve(pick)
    base_kpis = [
        "response_mean_min",
        "response_p50_min",
        "response_p90_min",
        "within_5_min",
        "within_8_min",
        "incidents",
    ]
    if kind == "sweep":
        assert isinstance(obj, Sweep)
        variants = [v for v in obj.variants if v != obj.baseline]
        cols = [c for c in kpi_columns(obj.replications) if "/" not in c and c != "replication"]
        opts = [{"label": f"{v} vs {obj.baseline}", "value": v} for v in variants]
        return (
            opts,
            (variants[0] if variants else None),
            _kpi_options(cols),
            ("response_mean_min" if "response_mean_min" in cols else (cols[0] if cols else None)),
        )
    return [], None, _kpi_options(base_kpis), "response_p50_min"


def _half(value: Any) -> float | None:
    """Return a half-width when it is a finite number (one replication has none)."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def _value_text(key: str, value: Any, half: float | None) -> str:
    k = kpi(key)
    shown = fmt_value(value, k.kind)
    if half is not None and shown != "–":
        shown += " ± " + fmt_value(half, k.kind).removesuffix(" min")
    return shown


def _run_headline(run: Run, info: ScenarioInfo | None) -> tuple[Any, Any]:
    bd = run_breakdown(run, info)
    agencies = bd["agency"]
    days = None
    cards = []
    for row in agencies.to_dict("records"):
        ag = str(row["agency"])
        name = info.agency_label(ag) if info else ag
        items = [
            (
                f"{name}: {label(k)}" + (" per run" if k == "incidents" else ""),
                _value_text(k, row.get(k), _half(row.get(f"{k}_ci"))),
            )
            for k in HEADLINE
        ]
        cards.append(html.Div([html.H4(name), kpi_cards(items)]))
    basis = html.P(
        f"The twin: scenario {run.scenario}, {run.replications} replication(s), seed "
        f"{run.summary.get('seed', '?')}; ± is the 95% confidence half-width across "
        "replications. Response = received → on scene, over calls reached; “within” shares "
        "count every call, a lost one as not reached (the engine's KPIs, kpis.parquet)."
        + (f" {days}" if days else ""),
        className="basis",
    )
    table = frame_table(
        agencies.assign(agency=[info.agency_label(a) if info else a for a in agencies["agency"]]),
        ["agency", *HEADLINE],
        formats=_formats(),
        table_id=None,
    )
    return html.Div([html.H3("Headline per agency"), basis, *cards]), html.Div(
        [html.H3("Per agency"), table]
    )


def _district_block(frame: pd.DataFrame, key: str, labels: dict[str, str]) -> html.Div:
    cols = ["agency", "district", *[k for k in HEADLINE if k in frame]]
    shown = frame.assign(district=[labels.get(str(d), str(d)) for d in frame["district"]])
    return html.Div(
        [
            html.H3("Per district"),
            graph("sc-district-graph", district_kpi_figure(frame, key, labels)),
            frame_table(
                shown.sort_values(["agency", "district"]),
                cols,
                formats=_formats(),
            ),
        ]
    )


def _sweep_blocks(
    sweep: Sweep, variant: str | None, key: str
) -> tuple[Any, Any, Any, Any, go.Figure]:
    reps = sweep.replications
    base = sweep.baseline
    overall = [c for c in kpi_columns(reps) if "/" not in c]
    comparison = sweep.comparison()
    rows = []
    for v in sweep.variants:
        entry = (comparison.get("variants") or {}).get(v) or {}
        kpis = entry.get("kpis") or {}
        row: dict[str, Any] = {
            "variant": v,
            "replications": int((reps["variant"] == v).sum()),
        }
        for c in overall:
            figure = kpis.get(c) or {}
            row[c] = _value_text(c, figure.get("mean"), _half(figure.get("ci95")))
        rows.append(row)
    table = pd.DataFrame(rows)
    headline = html.Div(
        [
            html.H3(f"Sweep {sweep.name}: {len(rows)} variants (baseline {base})"),
            html.P(
                "All agencies together (per agency below). Mean ± 95% CI across replications, "
                "from the sweep's compare.json; replications are paired by index (common random "
                "numbers), so differences below are paired.",
                className="basis",
            ),
            frame_table(
                table.rename(columns={c: f"{label(c)}" for c in overall}),
                ["variant", "replications", *[label(c) for c in overall]],
            ),
        ]
    )
    diffs = sweep.differences()
    agencies_block = html.Div()
    if variant:
        part = diffs[(diffs["variant"] == variant) & ~diffs["kpi"].str.contains("/")]
        by_agency = diffs[(diffs["variant"] == variant) & diffs["kpi"].str.startswith("agency=")]
        shown = by_agency.assign(
            agency=by_agency["kpi"].str.extract(r"agency=([^/]+)/")[0],
            measure=[label(k.split("/", 1)[1]) for k in by_agency["kpi"]],
            change=[
                _value_text(k.split("/", 1)[1], d, c)
                for k, d, c in zip(
                    by_agency["kpi"], by_agency["diff"], by_agency["ci"], strict=True
                )
            ],
        )
        agencies_block = html.Div(
            [
                html.H3(f"Per agency: {variant} − {base}"),
                frame_table(
                    shown,
                    ["agency", "measure", "change", "verdict"],
                    cell_class=lambda c, v: (
                        {"better": "ok", "worse": "bad"}.get(str(v)) if c == "verdict" else None
                    ),
                ),
            ]
        )
        diff_block = html.Div(
            [
                html.H3("Paired differences and verdicts"),
                graph("sc-diff-graph", diff_figure(part, variant, base)),
                frame_table(
                    part.assign(
                        measure=[label(k) for k in part["kpi"]],
                        change=[
                            _value_text(k, d, c)
                            for k, d, c in zip(part["kpi"], part["diff"], part["ci"], strict=True)
                        ],
                    ),
                    ["measure", "change", "n", "verdict"],
                    cell_class=lambda c, v: (
                        {"better": "ok", "worse": "bad"}.get(str(v)) if c == "verdict" else None
                    ),
                ),
            ]
        )
    else:
        diff_block = notice("This sweep has only its baseline: nothing to compare.")
    # per-district paired difference of the chosen KPI (chart); per-zone on the map
    dist = (
        diffs[
            (diffs["variant"] == variant)
            & diffs["kpi"].str.startswith("district=")
            & diffs["kpi"].str.endswith("/" + key)
        ]
        if variant
        else diffs.iloc[0:0]
    )
    info = None
    path = sweep.scenario_path(base)
    if path is not None:
        from dashboards.scenario_info import load_info

        info = load_info(path)
    fig: go.Figure = message_figure(
        "Pick a variant to map its difference." if variant else "Nothing to compare."
    )
    district_block = html.Div()
    if variant and info is not None and info.city:
        cmap, _ = city_context(current().lake.rollups(), info.city)
        k = kpi(key)
        fig = _sweep_map(sweep, cmap, base, variant, key, dist)
        if not dist.empty:
            frame = dist.assign(
                district=[k.split("=", 1)[1].split("/", 1)[0] for k in dist["kpi"]],
                agency="all agencies",
            )
            frame = frame.assign(**{key: frame["diff"], f"{key}_ci": frame["ci"]})
            district_block = html.Div(
                [
                    html.H3(f"Per district: {label(key)}, {variant} − {base} ({k.unit})"),
                    graph(
                        "sc-district-graph",
                        district_kpi_figure(frame, key, cmap.district_label).update_layout(
                            title=f"{label(key)}: {variant} − {base} per district (95% CI)"
                        ),
                    ),
                ]
            )
    return headline, agencies_block, html.Div([diff_block, district_block]), html.Div(), fig


def _sweep_map(
    sweep: Sweep, cmap: Any, base: str, variant: str, key: str, dist: pd.DataFrame
) -> go.Figure:
    """Map the paired difference per zone (``zones.parquet``), else per district."""
    k = kpi(key)
    zones = sweep.zones
    if zones is not None and not zones.empty:
        agencies = sorted({str(a) for a in zones["agency"]} - {""})
        agency = "police" if "police" in agencies else ("" if len(agencies) != 1 else agencies[0])
        who = f" ({agency})" if agency else " (all agencies)"
        per_zone = sweep.zone_diff(variant, key, agency)
        if per_zone is not None and not per_zone.empty:
            return city_map_figure(
                cmap,
                dict(zip(per_zone["zone"], per_zone["diff"].astype(float), strict=True)),
                f"{k.unit} ({variant} − {base})",
                diverging=True,
                hover_unit=k.unit,
                title=f"{label(key)}{who}: {variant} − {base} per zone, paired by replication",
                height=520,
            )
    if dist.empty:
        return message_figure("This sweep wrote no per-zone or per-district figures.")
    values = {
        kk.split("=", 1)[1].split("/", 1)[0]: float(d)
        for kk, d in zip(dist["kpi"], dist["diff"], strict=True)
    }
    return city_map_figure(
        cmap,
        values,
        f"{k.unit} ({variant} − {base})",
        level="district",
        diverging=True,
        hover_unit=k.unit,
        title=f"{label(key)}: {variant} − {base} per district",
        height=520,
    )


@friendly_callback(
    Output(ids.SC_HEADLINE, "children"),
    Output(ids.SC_AGENCIES, "children"),
    Output(ids.SC_DIFF, "children"),
    Output(ids.SC_DISTRICTS, "children"),
    Output(ids.SC_MAP, "figure"),
    Input(ids.SC_PICK, "value"),
    Input(ids.SC_VARIANT, "value"),
    Input(ids.SC_KPI, "value"),
)
def show_pick(pick: Any, variant: Any, kpi_key: Any) -> tuple[Any, Any, Any, Any, go.Figure]:
    """Show a result (headline, agencies, districts, zone map) or a sweep (comparison)."""
    kind, obj = _resolve(pick)
    key = text(kpi_key, "measure") or "response_p50_min"
    if kind == "sweep":
        assert isinstance(obj, Sweep)
        v = text(variant, "variant")
        if v is not None:
            v = choice(v, "variant", obj.variants)
        head, agencies, diff, districts, fig = _sweep_blocks(obj, v, key)
        return head, agencies, diff, districts, fig
    assert isinstance(obj, Run)
    run = obj
    idx = results_index()
    info = run.info(idx.roots)
    head, agencies = _run_headline(run, info)
    bd = run_breakdown(run, info)
    k = kpi(key)
    fig = message_figure("This result's scenario has no map coordinates.")
    labels: dict[str, str] = {}
    if info is not None and info.city and info.crs == "wgs84":
        r = current().lake.rollups()
        cmap, _ = city_context(r, info.city)
        labels = cmap.district_label
        zones = bd["zone"]
        agencies_in = zones["agency"].unique().tolist()
        ag = "police" if "police" in agencies_in else (agencies_in[0] if agencies_in else None)
        part = zones[zones["agency"] == ag] if ag else zones
        if key in part:
            fig = city_map_figure(
                cmap,
                dict(zip(part["zone"], part[key].astype(float), strict=True)),
                k.unit,
                hover_unit=k.unit,
                title=f"{label(key)} per zone ({ag}) — {run.scenario}",
                height=520,
            )
    if key not in bd["district"]:
        key = "response_p50_min"
    return head, agencies, html.Div(), _district_block(bd["district"], key, labels), fig


def units_table(run: Run, info: ScenarioInfo | None) -> pd.DataFrame:
    """One row per unit: id, kind, agency, district, utilisation, dispatches (mean over reps)."""
    units = run.summary.get("units") or {}
    rows = []
    for uid, stats in units.items() if isinstance(units, dict) else []:
        if not isinstance(stats, dict):
            continue
        rows.append(
            {
                "unit": str(uid),
                "kind": info.unit_kind.get(uid, "") if info else "",
                "agency": info.unit_agency.get(uid, "") if info else "",
                "district": info.unit_district(uid) if info else "",
                "post": info.zone_label(info.unit_post.get(uid, "")) if info else "",
                "utilisation": stats.get("utilization"),
                "dispatches": stats.get("dispatches"),
            }
        )
    return pd.DataFrame(
        rows, columns=["unit", "kind", "agency", "district", "post", "utilisation", "dispatches"]
    )


@friendly_callback(
    Output(ids.SC_UNITS, "children"),
    Input(ids.SC_PICK, "value"),
    Input(ids.SC_UNITS_SEARCH, "value"),
    Input(ids.SC_UNITS_PAGE, "value"),
)
def show_units(pick: Any, search: Any, page: Any) -> Any:
    """Units of a result: utilisation per district first, then a searchable, paged table."""
    kind, obj = _resolve(pick)
    if kind != "run":
        assert isinstance(obj, Sweep)
        first = obj.variant_dir(obj.baseline)
        if first is None:
            return notice("Pick a result to see its units (a sweep keeps only its KPIs).")
        return notice(f"Units of the sweep's runs: pick the result {first} in the list.")
    assert isinstance(obj, Run)
    idx = results_index()
    info = obj.info(idx.roots)
    units = units_table(obj, info)
    if units.empty:
        return notice("This result has no unit statistics.")
    q = (text(search, "search") or "").strip().lower()
    n_page = integer(page, "page", 1, 10_000, default=1)
    shown = units
    if q:
        hay = (
            units[["unit", "kind", "agency", "district", "post"]]
            .astype(str)
            .agg(" ".join, axis=1)
            .str.lower()
        )
        shown = units[hay.str.contains(q, regex=False)]
    pages = max(1, math.ceil(len(shown) / PAGE_SIZE))
    n_page = min(n_page, pages)
    part = shown.iloc[(n_page - 1) * PAGE_SIZE : n_page * PAGE_SIZE]
    labels = {}
    if info is not None and info.city and info.crs == "wgs84":
        labels = city_context(current().lake.rollups(), info.city)[0].district_label
    return html.Div(
        [
            graph("sc-util-graph", utilisation_figure(units, labels)),
            html.P(
                f"{len(shown):,} of {len(units):,} units match; page {n_page} of {pages}. "
                f"Mean utilisation {np.nanmean(units['utilisation'].astype(float)):.0%}.",
            ),
            frame_table(
                part,
                ["unit", "kind", "agency", "district", "post", "utilisation", "dispatches"],
                formats={"utilisation": "pct", "dispatches": lambda v: fmt_value(v, "int")},
            ),
        ]
    )


@friendly_callback(
    Output(ids.SC_OPT_GRAPH, "figure"),
    Output("sc-opt-text", "children"),
    Input(ids.SC_OPT, "value"),
)
def show_optimizer(name: Any) -> tuple[go.Figure, str]:
    """Show the optimizer's curve and its explanation."""
    idx = results_index()
    opt = idx.optimizer(choice(name, "optimizer result", [o.name for o in idx.optimizers]))
    data = opt.data
    chosen = data.get("chosen") if isinstance(data.get("chosen"), dict) else {}
    naive = data.get("naive") if isinstance(data.get("naive"), dict) else {}
    parts = [str(data.get("explanation") or "")]
    if chosen:
        parts.append(f"Chosen: {chosen.get('units', '?')} units.")
    if naive:
        parts.append(f"Naive: {naive.get('units', '?')} units.")
    return optimizer_figure(opt.curve(), data), " ".join(p for p in parts if p)
