"""CLI commands for the 'data' area: ``twin sync`` and ``twin serve`` (see :mod:`twin.cli`).

``twin sync`` runs the Prefect sync flow once with a progress bar per source and prints the run
report (``--json``: only the report, as JSON, on stdout). It exits 0 when every source is ok and
1 when any source is degraded or failed, with one ``error: <source> <status>: <reasons>`` line
each on stderr. ``twin serve`` serves the nightly deployment on a cron schedule until
interrupted. The Prefect server either command starts dies with it (SIGKILL included, see
:mod:`flows.server`), and user errors print one line, never a traceback (Prefect's console
logging of them is filtered, see :func:`flows.sync.quiet_user_errors`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["register"]

_PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_LOGGING_LEVEL": "WARNING",
}

LakeOpt = Annotated[
    Path | None,
    typer.Option(
        "--lake", help="Lake directory (default: TWIN_LAKE or ./lake).", show_default=False
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", help="Sync config YAML (default: the bundled one).", show_default=False
    ),
]


def _prefect_env() -> None:
    for key, value in _PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def sync(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only the run report as JSON.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Sync only this source (repeatable).", show_default=False),
    ] = None,
) -> None:
    """Sync every configured source into the lake (one Prefect flow run)."""
    from twin.sources import load_config

    cfg = load_config(config)  # a bad config stops here: nothing written, non-zero exit
    names = list(source) if source else [s.name for s in cfg.enabled_sources()]
    for name in names:
        cfg.source(name)
    from twin.store import Lake

    target = Lake(lake)
    target.root.mkdir(parents=True, exist_ok=True)  # an unusable path fails here, as a message
    target.check_schema()  # an older lake stops here with a message, before Prefect starts
    _prefect_env()
    from flows.server import prefect_api
    from flows.sync import progress_hook, quiet_user_errors, report_of, sync_sources

    kwargs: dict[str, Any] = {
        "config_path": str(config) if config else None,
        "lake_dir": str(lake) if lake else None,
        "only": list(source) if source else None,
        "return_state": True,
    }
    # a server of our own that dies with this command (Prefect's temporary one would not)
    with quiet_user_errors(), prefect_api(None, ui=False):
        if as_json:
            report = report_of(sync_sources(**kwargs))
        else:
            report = _with_progress(names, lambda: report_of(sync_sources(**kwargs)), progress_hook)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        _print_report(report)
    problems = [
        f"{n} {r['status']}: {'; '.join(r.get('reasons') or [r.get('error') or '?'])}"
        for n, r in report["sources"].items()
        if r["status"] != "ok"
    ]
    for line in problems:  # one line per source, on stderr (stdout keeps the report)
        typer.echo(f"error: {line}", err=True)
    if problems:
        raise typer.Exit(1)


def _with_progress(names: list[str], run: Any, progress_hook: Any) -> dict[str, Any]:
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from twin.sync import SourceResult

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description:<20}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        tasks = {n: bar.add_task(n, total=3, status="waiting", start=False) for n in names}

        def update(name: str, phase: str, result: SourceResult | None) -> None:
            task = tasks.get(name)
            if task is None:
                return
            if phase == "start":
                bar.start_task(task)
                bar.update(task, completed=1, status="reading")
            elif phase == "extracted":
                bar.update(task, completed=2, status="loading")
            elif result is not None:
                status = {
                    "ok": f"ok, {result.rows_new:,} new",
                    "degraded": f"[yellow]degraded[/], {result.rows_new:,} new",
                }.get(result.status, f"[red]{result.status}[/]")
                bar.start_task(task)
                bar.update(task, completed=3, status=status)

        with progress_hook(update):
            report: dict[str, Any] = run()
    return report


def _print_report(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"sync run {report['run_id']}")
    for col in ("source", "rows_in", "ok", "quarantined", "duplicate", "new", "status"):
        left = col in ("source", "status")
        table.add_column(col, justify="left" if left else "right", no_wrap=col == "source")
    errors = []
    for name, r in report["sources"].items():
        table.add_row(
            name,
            f"{r['rows_in']:,}",
            f"{r['rows_ok']:,}",
            f"{r['rows_quarantined']:,}",
            f"{r['rows_duplicate']:,}",
            f"{r['rows_new']:,}",
            r["status"] if r["status"] == "ok" else f"[red]{r['status']}[/]",
        )
        for reason in r.get("reasons") or []:
            errors.append(f"[red]{name}:[/] {escape(reason)}")
    console = Console()
    console.print(table)
    for line in errors:
        console.print(line, highlight=False, soft_wrap=True)
    for found in report.get("interrupted", []):
        console.print(
            f"[yellow]note:[/] run {found['run_id']} was killed mid-run; recorded "
            f"{', '.join(found['sources'])} as interrupted in the runs ledger",
            highlight=False,
            soft_wrap=True,
        )


def serve(
    lake: LakeOpt = None,
    config: ConfigOpt = None,
    cron: Annotated[str, typer.Option("--cron", help="Cron expression.")] = "0 2 * * *",
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="Time zone of the cron (default: the config's default city)."),
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "nightly",
    port: Annotated[
        int, typer.Option("--port", help="Port of the local Prefect server (API, UI).")
    ] = 4200,
) -> None:
    """Serve the nightly sync deployment on a cron schedule (runs until interrupted).

    Uses PREFECT_API_URL when set; otherwise starts a local Prefect server on 127.0.0.1
    (its UI shows the runs) for as long as this command runs.
    """
    from twin.sources import load_config

    cfg = load_config(config)
    _prefect_env()
    from flows.sync import build_schedule, quiet_user_errors, serve_nightly

    build_schedule(cron, tz or cfg.home_city.tz)  # fail fast on a bad --cron/--tz

    def ready(url: str) -> None:
        typer.echo(f"Prefect API at {url}; the UI is at {url.removesuffix('/api')}", err=True)

    with quiet_user_errors():
        serve_nightly(
            str(config) if config else None,
            str(lake) if lake else None,
            cron=cron,
            tz=tz,
            name=name,
            port=port,
            on_ready=ready,
        )


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="sync")(sync)
    app.command(name="serve")(serve)
