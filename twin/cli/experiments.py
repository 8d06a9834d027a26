"""CLI commands for planner experiments: ``twin sweep``, ``twin compare``, ``twin optimize``.

``twin variant BASE --changes CHANGES.yaml --out OUT.yaml`` is registered by
:mod:`twin.cli.city` and calls :func:`variant_from_changes` here.
"""

from __future__ import annotations

from pathlib import Path

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


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
