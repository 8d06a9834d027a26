"""CLI commands for the 'city' area: calibrate, replay, fidelity, variant, nightly.

Only argument parsing lives here; the work is in :mod:`twin.calibrate`, :mod:`twin.replay`,
:mod:`twin.fidelity`, :mod:`twin.evidence` and :mod:`twin.nightly`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

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
    evidence: Annotated[
        bool,
        typer.Option(
            "--evidence/--no-evidence",
            help="Add the load-response curve (real vs twin), decomposition, lever check and "
            "out-of-period scores to the fit report.",
        ),
    ] = True,
    cv: Annotated[
        bool,
        typer.Option(
            "--cv/--no-cv", help="Cross-validate on day blocks (replay cities; part of evidence)."
        ),
    ] = True,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="A model variant of the city's recipe (San Francisco: class_shape_by_hour, "
            "class_shape, shared_shape, shared_noise). Default: the one the cross-validation "
            "finds generalises best (else the city's first).",
        ),
    ] = None,
) -> None:
    """Calibrate a scenario of a city from the lake and write it with its fit report."""
    from twin.calibrate import calibrate, write_calibration
    from twin.cli.progress import stage_spinner

    options: dict[str, Any] = {
        "agency": agency,
        "holdout_start": holdout_start,
        "holdout_end": holdout_end,
        "name": name,
        "use_default_holdout": not no_holdout,
        "refine_rounds": refine_rounds,
        "model": model,
    }
    with stage_spinner(f"calibrating {city}") as say:
        if evidence:
            from twin.evidence import calibrate_with_evidence

            result = calibrate_with_evidence(
                _lake(lake), city, cross_validate=cv, progress=say, **options
            )
        else:
            result = calibrate(_lake(lake), city, progress=say, **options)
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
    from twin.cli.progress import replication_bar
    from twin.replay import replay

    with replication_bar(f"replaying {start} .. {end}", replications) as advance:
        result = replay(
            scenario,
            _lake(lake),
            start,
            end,
            out_dir=out,
            seed=seed,
            replications=replications,
            progress=advance,
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
    from twin.cli.progress import replication_bar
    from twin.fidelity import fidelity, store_fidelity

    with replication_bar(f"scoring {start} .. {end}", replications) as advance:
        result = fidelity(
            scenario,
            _lake(lake),
            start,
            end,
            seed=seed,
            replications=replications,
            weeks=weeks,
            progress=advance,
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
    add_units: Annotated[
        int | None, typer.Option("--add-units", help="Units to add (default 2).", min=1)
    ] = None,
    district: Annotated[
        str | None, typer.Option("--district", help="District (default: the busiest).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Variant name.")] = None,
    agency: Annotated[
        str | None,
        typer.Option("--agency", help="Agency of the added units (default: police if present)."),
    ] = None,
    changes: Annotated[
        Path | None,
        typer.Option(
            "--changes",
            help="A changes file (move/add/remove units, shifts, checkpoints, cameras, set).",
        ),
    ] = None,
) -> None:
    """Write a planner variant: a changes file applied to the baseline, or more units."""
    if changes is not None:
        from twin.cli.experiments import variant_from_changes

        variant_from_changes(scenario, changes, out, name, add_units, district, agency)
        return
    from twin.calibrate.variant import add_units as add

    n = 2 if add_units is None else add_units
    data = add(scenario, out, n=n, district=district, name=name, agency=agency)
    typer.echo(f"wrote {out}: {data['description']}")


def nightly_cmd(
    lake: LakeOpt = None,
    out: Annotated[
        Path, typer.Option("--out", help="Folder for nightly scenarios, reports and replays.")
    ] = Path("out/nightly"),
    config: Annotated[
        Path | None, typer.Option("--config", help="Sync config (default: the bundled one).")
    ] = None,
    sync: Annotated[bool, typer.Option("--sync/--no-sync", help="Sync every source first.")] = True,
    city: Annotated[
        list[str] | None,
        typer.Option("--city", help="Only this city (repeatable; default: every scoreable city)."),
    ] = None,
    replications: Annotated[
        int, typer.Option("--replications", "-r", help="Replications.", min=1)
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Run the whole nightly job now: sync, recalibrate, score every city, flag drift.

    Scores, bands and drift flags are stored in the lake's ``fidelity`` table (the dashboards
    read them). Exit code 3 when a score left its band.
    """
    from twin.cities import get_city
    from twin.nightly import after_sync, scoreable_cities
    from twin.sources import load_config
    from twin.sync import run_sync

    root = _lake(lake)
    if sync:
        typer.echo(f"syncing into {root} ...", err=True)
        rep = run_sync(load_config(config), root)
        bad = [n for n, r in rep.sources.items() if r.status != "ok"]
        typer.echo(
            f"synced {len(rep.sources)} sources" + (f"; not ok: {bad}" if bad else ""), err=True
        )
    pairs = scoreable_cities(root)
    if city:
        pairs = tuple(p for p in pairs if p[0] in set(city))
        missing = set(city) - {p[0] for p in pairs}
        for c in sorted(missing):
            get_city(c)  # unknown names fail here with the list of cities
            typer.echo(f"{c}: nothing to score in the lake (no incidents), skipped", err=True)
    typer.echo(f"scoring {', '.join(f'{c}/{a}' for c, a in pairs) or 'nothing'} ...", err=True)
    from twin.cli.progress import stage_spinner

    with stage_spinner("nightly scoring") as say:
        report = after_sync(root, out, cities=pairs, replications=replications, progress=say)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for n in report.cities:
            if n.error:
                typer.echo(f"{n.city}/{n.agency} {n.day or '-'}: {n.error}")
                continue
            lo, hi = n.band or (float("nan"), float("nan"))
            start, end = n.fidelity.get("start"), n.fidelity.get("end")
            scored = f"{start} .. {end}" if start and end and start != end else n.day
            typer.echo(
                f"{n.city}/{n.agency} {scored}: score {n.score:.4f} band [{lo:.4f}, {hi:.4f}] "
                f"({n.band_how}) {'DRIFT' if n.drift else 'ok'}"
            )
    if report.drift:
        from twin.errors import TwinError

        flagged = ", ".join(f"{n.city}/{n.agency}" for n in report.cities if n.drift)
        raise TwinError(f"drift: {flagged} scored outside the usual band", exit_code=3)


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="calibrate")(calibrate_cmd)
    app.command(name="replay")(replay_cmd)
    app.command(name="fidelity")(fidelity_cmd)
    app.command(name="variant")(variant_cmd)
    app.command(name="nightly")(nightly_cmd)
