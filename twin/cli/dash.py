"""CLI commands for the 'dash' area: ``twin dashboard`` serves the dashboards.

Only argument parsing lives here; the app is :mod:`dashboards.app`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from twin.paths import default_lake_dir

__all__ = ["dashboard", "register"]


def dashboard(
    lake: Annotated[
        Path | None,
        typer.Option("--lake", help="Lake directory to read (default: TWIN_LAKE or ./lake)."),
    ] = None,
    results: Annotated[
        Path,
        typer.Option(
            "--results", help="Folder of simulation results (subfolders with summary.json)."
        ),
    ] = Path("out"),
    host: Annotated[
        str,
        typer.Option(
            "--host",
            help="Interface to bind; anything but loopback needs TWIN_DASH_TOKEN "
            "(clients log in with it as the basic-auth password).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")
    ] = 8050,
) -> None:
    """Serve the dashboards: overview, map, replay, scenarios, checkpoints, devices, data quality.

    The lake folder must exist (a mistyped --lake is an error, not an empty dashboard).
    """
    from dashboards.app import serve

    serve(
        lake=lake if lake is not None else default_lake_dir(),
        results=results,
        host=host,
        port=port,
        announce=typer.echo,
    )


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="dashboard")(dashboard)
