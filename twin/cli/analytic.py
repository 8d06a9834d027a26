"""CLI commands for the 'analytic' area (see :mod:`twin.cli`)."""

from __future__ import annotations

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
