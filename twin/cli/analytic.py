"""CLI commands for the 'analytic' area: ``twin analytic`` (see :mod:`twin.cli`).

``twin analytic SCENARIO [--json] [--method M]`` answers a scenario with queueing theory
(:func:`twin.analytics.analyze`: Erlang B/C or Larson's hypercube) in the keys of the engine's
summary. When the scenario is outside the models' assumptions it names each failed assumption
and exits with code 3.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["analytic_cmd", "register"]


def analytic_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML file.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    method: Annotated[
        str,
        typer.Option(
            "--method",
            help="auto | erlang | hypercube_exact | hypercube_approx (auto: exact hypercube "
            "up to 12 units, Larson's approximation above).",
        ),
    ] = "auto",
) -> None:
    """Answer a scenario with queueing theory (Erlang B/C, hypercube); exit 3 if out of scope."""
    from twin.analytics import analyze
    from twin.analytics.scenario_model import METHODS
    from twin.errors import ConfigError
    from twin.scenario import load_scenario

    if method not in METHODS:
        raise ConfigError(f"--method {method!r} is unknown; use one of {', '.join(METHODS)}")
    sc = load_scenario(scenario)
    result = analyze(sc, method=method)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    _print_result(result)


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}g}"
    return str(x)


def _print_result(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    head = Table(title=f"{result['scenario']}: analytic ({result['method']})", show_header=False)
    head.add_column("metric")
    head.add_column("value", justify="right")
    resp = result["response_min"]
    rows = [
        ("incidents (expected over horizon)", _fmt(result["incidents"], 6)),
        ("P(wait)", _fmt(result["p_wait"])),
        ("P(lost)", _fmt(result["p_lost"])),
        ("mean wait (min)", _fmt(result["mean_wait_min"])),
        (
            "response mean / p50 / p90 (min)",
            f"{_fmt(resp['mean'])} / {_fmt(resp['p50'])} / {_fmt(resp['p90'])}",
        ),
        ("out-of-area fraction", _fmt(result["out_of_area_fraction"])),
    ]
    for k, v in rows:
        head.add_row(k, v)
    console.print(head)
    units = Table(title="units")
    units.add_column("unit")
    units.add_column("utilisation", justify="right")
    units.add_column("dispatches (expected)", justify="right")
    for uid, u in result["units"].items():
        units.add_row(uid, _fmt(u["utilization"]), _fmt(u["dispatches"], 6))
    console.print(units)
    if len(result["by_priority"]) > 1:
        prio = Table(title="by priority")
        for col in ("level", "P(wait)", "P(lost)", "mean wait (min)"):
            prio.add_column(col)
        for level, p in result["by_priority"].items():
            prio.add_row(level, _fmt(p["p_wait"]), _fmt(p["p_lost"]), _fmt(p["mean_wait_min"]))
        console.print(prio)
    for note in result["notes"]:
        console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this area's commands to *app*."""
    app.command(name="analytic")(analytic_cmd)
