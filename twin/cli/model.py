"""CLI commands for the 'model' area: ``twin simulate`` (see :mod:`twin.cli`).

``twin simulate SCENARIO [--seed S] [--replications R] [--out DIR] [--json]`` runs the engine
(:func:`twin.model.simulate`) with a progress bar over replications, writes
``DIR/incidents.parquet``, ``DIR/units.parquet``, ``DIR/summary.json`` (and presence and
time-series tables), and prints the headline figures; ``--json`` prints only the summary.
``--horizon`` shortens a run (minutes after warm-up) for quick looks and smoke tests. A run
expected to simulate more than ``--max-incidents`` incidents and checkpoint vehicles (default
20 million) is refused before it starts, with the estimate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from twin.scenario import DEFAULT_MAX_INCIDENTS, MAX_MINUTES

__all__ = ["register", "simulate_cmd"]


def simulate_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    seed: Annotated[int, typer.Option("--seed", help="Random seed (>= 0).")] = 0,
    replications: Annotated[
        int, typer.Option("--replications", "-r", help="Independent replications (>= 1).")
    ] = 1,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Output folder for Parquet and summary.json.", show_default=False
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the summary as JSON.")
    ] = False,
    horizon: Annotated[
        float | None,
        typer.Option(
            "--horizon", help="Override the horizon (minutes after warm-up).", show_default=False
        ),
    ] = None,
    max_incidents: Annotated[
        int,
        typer.Option(
            "--max-incidents",
            help="Refuse a run expected to simulate more incidents + checkpoint vehicles.",
        ),
    ] = DEFAULT_MAX_INCIDENTS,
) -> None:
    """Simulate a scenario and write incidents, units and a summary."""
    from twin.errors import ConfigError
    from twin.model import simulate
    from twin.scenario import check_run_size, load_scenario

    sc = load_scenario(scenario)
    if horizon is not None:
        if not 0 < horizon <= MAX_MINUTES:
            raise ConfigError(
                f"--horizon must be > 0 and <= {MAX_MINUTES:.0f} minutes (ten years), got {horizon}"
            )
        sc = sc.model_copy(update={"horizon": float(horizon)})
    if replications < 1:
        raise ConfigError(f"--replications must be >= 1, got {replications}")
    if seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {seed}")
    if max_incidents < 1:
        raise ConfigError(f"--max-incidents must be >= 1, got {max_incidents}")
    check_run_size(sc, replications, max_incidents, source=str(scenario))
    if as_json:
        summary = simulate(
            sc, seed=seed, replications=replications, out=out, max_incidents=max_incidents
        )
        typer.echo(json.dumps(summary, indent=2))
        return
    from twin.cli.progress import replication_bar

    with replication_bar(f"simulating {sc.name}", replications) as advance:
        summary = simulate(
            sc,
            seed=seed,
            replications=replications,
            out=out,
            progress=advance,
            max_incidents=max_incidents,
        )
    _print_summary(summary, out)


def _fmt(x: Any, unit: str = "") -> str:
    return "n/a" if x is None else f"{x:.3g}{unit}"


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _area_table(groups: dict[str, Any], label: str, ci: dict[str, float], key: str) -> Any:
    """Return a rich table of per-agency or per-district KPIs (response ``± ci95`` when known)."""
    from rich.table import Table

    first = next(iter(groups.values()))
    within = [k for k in first if k.startswith("within_")]
    heads = ["mean", "p50", "p90", *(f"≤{k[7:-4]}" for k in within), "wait", "util"]
    table = Table(
        label,
        "calls",
        *heads,
        title=f"by {label}: response (min), share reached within t min, waited, utilisation",
    )
    for name, g in groups.items():
        half = ci.get(f"{key}.{name}.response_mean_min")
        mean = _fmt(g.get("response_mean_min")) + (f"±{half:.1g}" if half is not None else "")
        cells = [mean, _fmt(g.get("response_p50_min")), _fmt(g.get("response_p90_min"))]
        cells += [_pct(g.get(k)) for k in [*within, "p_wait", "utilisation"]]
        table.add_row(str(name), str(g.get("incidents", 0)), *cells)
    return table


def _print_summary(s: dict[str, Any], out: Path | None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console()
    ci = s.get("ci95", {})

    def pm(key: str) -> str:
        return f" ± {ci[key]:.2g}" if key in ci else ""

    con.print(
        f"[bold]{s['scenario']}[/] seed {s['seed']}, {s['replications']} replication(s), "
        f"{s['incidents']} incidents"
    )
    resp = s["response_min"]
    con.print(
        f"  p_wait {_fmt(s['p_wait'])}{pm('p_wait')}  p_lost {_fmt(s['p_lost'])}  "
        f"mean wait {_fmt(s['mean_wait_min'], ' min')}{pm('mean_wait_min')}  "
        f"response mean {_fmt(resp['mean'])}{pm('response_min.mean')} / p50 {_fmt(resp['p50'])}"
        f" / p90 {_fmt(resp['p90'])} min  out of area {_fmt(s['out_of_area_fraction'])}"
    )
    con.print(f"  headline covers agency: {s.get('headline_agency', 'n/a')}")
    for key, label in (("by_agency", "agency"), ("by_district", "district")):
        if s.get(key):
            con.print(_area_table(s[key], label, ci, key))
    table = Table("unit", "utilization", "dispatches")
    for uid, u in list(s["units"].items())[:40]:
        table.add_row(
            uid, _fmt(u["utilization"]) + pm(f"units.{uid}.utilization"), str(u["dispatches"])
        )
    con.print(table)
    if s["checkpoints"]:
        con.print(f"  checkpoints: {', '.join(s['checkpoints'])}")
    if out is not None:
        con.print(f"  wrote {out}/incidents.parquet, units.parquet, summary.json")


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="simulate")(simulate_cmd)
