"""CLI commands for the 'city' area: ``twin calibrate``, ``replay``, ``fidelity``, ``variant``.

Only argument parsing lives here; the work is in :mod:`twin.calibrate`, :mod:`twin.replay` and
:mod:`twin.fidelity`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]

LakeOpt = Annotated[
    Path | None,
    typer.Option(
        "--lake", help="Lake directory (default: TWIN_LAKE or ./lake).", show_default=False
    ),
]


def _lake(lake: Path | None) -> Path:
    from twin.paths import default_lake_dir

    return lake if lake is not None else default_lake_dir()


def calibrate_cmd(
    city: Annotated[
        str, typer.Option("--city", help="A city of twin.cities (seattle, sanfrancisco, jiaxing).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Scenario YAML file to write.")],
    lake: LakeOpt = None,
    agency: Annotated[
        str | None,
        typer.Option(
            "--agency",
            help="all, police or fire (default: Seattle all = police and fire in one file; "
            "SF fire).",
        ),
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="Fit report JSON to write (a readable .txt beside it); default <out>.fit.json.",
        ),
    ] = None,
    holdout_start: Annotated[
        str | None, typer.Option("--holdout-start", help="First held-out local date.")
    ] = None,
    holdout_end: Annotated[
        str | None, typer.Option("--holdout-end", help="Last held-out local date.")
    ] = None,
    no_holdout: Annotated[
        bool, typer.Option("--no-holdout", help="Fit on every day (no default hold-out).")
    ] = False,
    name: Annotated[str | None, typer.Option("--name", help="Scenario name.")] = None,
    refine_rounds: Annotated[
        int,
        typer.Option(
            "--refine-rounds",
            min=0,
            help="Simulation-based refinement effort (0: analytic / first fit only).",
        ),
    ] = 3,
) -> None:
    """Calibrate a scenario of a city from the lake and write it with its fit report."""
    from twin.calibrate import calibrate, write_calibration

    result = calibrate(
        _lake(lake),
        city,
        agency=agency,
        holdout_start=holdout_start,
        holdout_end=holdout_end,
        name=name,
        use_default_holdout=not no_holdout,
        refine_rounds=refine_rounds,
    )
    paths = write_calibration(result, out, report)
    typer.echo(result.report.to_text())
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def replay_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    start: Annotated[str, typer.Option("--start", help="First local date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last local date (inclusive).")],
    out: Annotated[Path, typer.Option("--out", help="Output directory.")],
    lake: LakeOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    replications: Annotated[
        int, typer.Option("--replications", "-r", help="Replications.", min=1)
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Replay the historical incidents of [start, end] through the scenario's fleet."""
    from twin.replay import replay

    result = replay(
        scenario, _lake(lake), start, end, out_dir=out, seed=seed, replications=replications
    )
    if as_json:
        typer.echo(json.dumps(result.summary, indent=2))
    else:
        typer.echo(result.text())


def fidelity_cmd(
    scenario: Annotated[Path, typer.Option("--scenario", help="Calibrated scenario YAML.")],
    start: Annotated[str, typer.Option("--start", help="First local date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last local date (inclusive).")],
    lake: LakeOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
    replications: Annotated[
        int, typer.Option("--replications", "-r", help="Replications.", min=1)
    ] = 3,
    weeks: Annotated[
        int, typer.Option("--weeks", help="Seattle: simulated weeks per replication.", min=1)
    ] = 26,
    store: Annotated[
        bool, typer.Option("--store/--no-store", help="Write the score to the lake.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Score the twin against reality on [start, end] (held-out data)."""
    from twin.fidelity import fidelity, store_fidelity

    result = fidelity(
        scenario, _lake(lake), start, end, seed=seed, replications=replications, weeks=weeks
    )
    if store:
        store_fidelity(_lake(lake), result)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), indent=2))
    else:
        typer.echo(result.text())


def variant_cmd(
    scenario: Annotated[Path, typer.Argument(help="Baseline scenario YAML.")],
    out: Annotated[Path, typer.Option("--out", help="Variant YAML file to write.")],
    add_units: Annotated[int, typer.Option("--add-units", help="Units to add.", min=1)] = 2,
    district: Annotated[
        str | None, typer.Option("--district", help="District (default: the busiest).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Variant name.")] = None,
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="Agency of the added units (default: police if present)."),
    ] = None,
) -> None:
    """Write a planner variant: the baseline with more units in one district."""
    from twin.calibrate.variant import add_units as add

    data = add(scenario, out, n=add_units, district=district, name=name, agency=agency)
    typer.echo(f"wrote {out}: {data['description']}")


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="calibrate")(calibrate_cmd)
    app.command(name="replay")(replay_cmd)
    app.command(name="fidelity")(fidelity_cmd)
    app.command(name="variant")(variant_cmd)
