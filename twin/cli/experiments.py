"""CLI commands for planner experiments: ``twin sweep``, ``twin compare``, ``twin optimize``.

``twin variant BASE --changes CHANGES.yaml --out OUT.yaml`` is registered by
:mod:`twin.cli.city` and calls :func:`variant_from_changes` here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from twin.errors import ConfigError

__all__ = ["register", "variant_from_changes"]


def variant_from_changes(
    scenario: Path,
    changes: Path,
    out: Path,
    name: str | None,
    add_units: int | None,
    district: str | None,
    agency: str | None,
) -> None:
    """Apply a changes file to *scenario*, write *out* and say what changed."""
    from twin.experiments.changes import write_variant

    if add_units is not None or district is not None or agency is not None:
        raise ConfigError(
            "--changes cannot be combined with --add-units/--district/--agency; write an "
            "add_units operation in the changes file instead"
        )
    result = write_variant(scenario, changes, out, name=name)
    typer.echo(f"wrote {out} ({result.data['name']}):")
    for line in result.lines:
        typer.echo(f"  - {line}")


def _parse_within(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(f"--within {text!r}: write minutes like 1,3,5,8") from None
    if not vals or any(not v > 0 for v in vals):
        raise ConfigError(f"--within {text!r}: give positive minutes like 1,3,5,8")
    return vals


def sweep_cmd(
    scenarios: Annotated[list[Path], typer.Argument(help="Scenario files (one variant each).")],
    out: Annotated[Path, typer.Option("--out", help="Sweep folder (resumed if it exists).")],
    replications: Annotated[
        int, typer.Option("--replications", "-r", help="Replications per variant.")
    ] = 5,
    vary: Annotated[
        list[str] | None,
        typer.Option("--vary", help="PATH=V1,V2,... (repeat for a grid), e.g. dispatch.policy=..."),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", help="Local Dask worker processes.")] = 2,
    dask_address: Annotated[
        str | None,
        typer.Option("--dask-address", help="An existing Dask scheduler tcp://HOST:PORT."),
    ] = None,
    precision: Annotated[
        float | None,
        typer.Option(
            "--precision",
            help="Add replications until every headline KPI's 95%% half-width <= REL x |mean|.",
        ),
    ] = None,
    max_replications: Annotated[
        int, typer.Option("--max-replications", help="Cap of the --precision loop.")
    ] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Seed (same in every variant).")] = 0,
    horizon: Annotated[
        float | None, typer.Option("--horizon", help="Override the horizon (minutes).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option("--batch", help="Replications per task (default: auto).")
    ] = None,
    within: Annotated[
        str, typer.Option("--within", help="Minutes of the within_<t>_min KPIs.")
    ] = "1,3,5,8",
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Baseline variant (default: the first).")
    ] = None,
    local: Annotated[
        bool, typer.Option("--local", help="Run in this process, without Prefect or Dask.")
    ] = False,
) -> None:
    """Run replications of several scenarios (and varied values) with paired statistics."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from twin.experiments.sweep import build_variants, run_sweep

    thresholds = _parse_within(within)
    if batch is not None and batch < 1:
        raise ConfigError(f"--batch must be >= 1, got {batch}")
    if dask_address is not None and local:
        raise ConfigError("--local and --dask-address exclude each other")
    variants = build_variants(scenarios, vary or [], horizon=horizon)
    if baseline is not None and baseline not in [v.name for v in variants]:
        raise ConfigError(
            f"--baseline {baseline!r}: not a variant; variants: {[v.name for v in variants]}"
        )
    if dask_address is not None:
        from flows.sweep import check_dask_address

        check_dask_address(dask_address)
    common: dict[str, Any] = {
        "replications": replications,
        "seed": seed,
        "batch": batch,
        "thresholds": thresholds,
        "precision": precision,
        "max_replications": max_replications,
        "baseline": baseline,
    }
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(f"sweep of {len(variants)} variant(s)", total=None)

        def progress(done: int, planned: int) -> None:
            bar.update(task, completed=done, total=planned)

        if local:
            comparison = run_sweep(variants, out, progress=progress, **common)
        else:
            from flows.sweep import run_sweep_flow

            comparison = run_sweep_flow(
                variants,
                out,
                workers=workers,
                address=dask_address,
                progress=progress,
                **common,
            )
    _print_comparison(comparison, None)
    typer.echo(f"wrote {out}/replications.parquet, compare.json, sweep.json")


def _cell(x: dict[str, Any] | None) -> str:
    if not x or x.get("mean") is None:
        return "n/a"
    h = x.get("ci95")
    return f"{x['mean']:.4g}" + (f" ± {h:.2g}" if h is not None else "")


_COLOURS = {"better": "green", "worse": "red"}


def _print_comparison(c: dict[str, Any], by: str | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    con = Console()
    names = list(c["variants"])
    base = c["baseline"]
    con.print(f"baseline [bold]{escape(base)}[/], {c['replications']} paired replication(s)")
    heads = [escape(n) + (" (baseline)" if n == base else " − baseline") for n in names]
    key = None if by is None else f"by_{by}"
    groups = [""] if key is None else list(c["variants"][base].get(key, {}))
    table = Table(*(["kpi"] if key is None else [by or "", "kpi"]), *heads)
    for g in groups:
        entry0 = c["variants"][base] if key is None else c["variants"][base][key][g]
        kpis = list(entry0["kpis"])
        if key is not None:
            kpis = [k for k in kpis if k != "incidents"]
        for kpi in kpis:
            cells = []
            for n in names:
                e = c["variants"][n] if key is None else c["variants"][n][key].get(g, {})
                if n == base:
                    cells.append(_cell(e.get("kpis", {}).get(kpi)))
                else:
                    d = e.get("diff", {}).get(kpi)
                    v = (d or {}).get("verdict", "")
                    col = _COLOURS.get(v)
                    txt = f"{_cell(d)} {escape(v)}"
                    cells.append(f"[{col}]{txt}[/]" if col else txt)
            table.add_row(*([kpi] if key is None else [escape(g), kpi]), *cells)
    con.print(table)


def compare_cmd(
    folder: Annotated[Path, typer.Argument(help="A sweep folder (twin sweep --out).")],
    baseline: Annotated[
        str | None, typer.Option("--baseline", help="Baseline variant (default: the sweep's).")
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Break down by agency or district.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False,
) -> None:
    """Compare a sweep's variants: means, paired differences and verdicts per KPI."""
    import json

    from twin.experiments.compare import GROUPS, compare, read_sweep

    if by is not None and by not in GROUPS:
        raise ConfigError(f"--by {by!r}: use one of {', '.join(GROUPS)}")
    plan, frame = read_sweep(folder)
    c = compare(
        frame,
        baseline=baseline if baseline is not None else plan.get("baseline"),
        by=GROUPS if by is None else (by,),
        variants=[v for v in plan.get("variants", {}) if v in set(frame["variant"])],
    )
    if as_json:
        typer.echo(json.dumps(c, indent=2))
        return
    _print_comparison(c, by)


def optimize_cmd(
    scenario: Annotated[Path, typer.Argument(help="Base scenario YAML.")],
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="KPI[filters] <= VALUE, e.g. 'response_p90_min[agency=police,priority=1] <= 15'.",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Scenario file to write (+ .optimize.json).")],
    per: Annotated[
        str | None, typer.Option("--per", help="'district': the target holds in every district.")
    ] = None,
    max_units: Annotated[
        int | None, typer.Option("--max-units", help="Most units to consider.")
    ] = None,
    changes_out: Annotated[
        Path | None, typer.Option("--changes-out", help="Also write a changes file.")
    ] = None,
    replications: Annotated[
        int, typer.Option("--replications", "-r", help="Confirmation replications.")
    ] = 3,
    horizon: Annotated[
        float | None, typer.Option("--horizon", help="Confirmation horizon (min, <= 1 week).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the confirmation runs.")] = 0,
) -> None:
    """Find the fewest units (posts, watches) meeting a target; compare with a naive layout."""
    from twin.experiments.optimize import optimize

    result = optimize(
        scenario,
        target,
        out,
        per=per,
        max_units=max_units,
        changes_out=changes_out,
        replications=replications,
        horizon=horizon,
        seed=seed,
        progress=typer.echo,
    )
    typer.echo(result["explanation"])
    typer.echo(f"wrote {result['files']['scenario']} and {result['files']['json']}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="sweep")(sweep_cmd)
    app.command(name="compare")(compare_cmd)
    app.command(name="optimize")(optimize_cmd)
