"""The ``twin`` command line: parses arguments, calls the library, prints results.

Commands live in one module per area (``data``: sync/serve; ``model``: simulate/analytic;
``city``: calibrate/replay/fidelity); each exposes ``register(app)``. :func:`main` turns every
:class:`~twin.errors.TwinError` into a one-paragraph message and a non-zero exit, never a
traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console
from rich.markup import escape

from twin.errors import TwinError

__all__ = ["app", "main"]

app = typer.Typer(
    name="twin",
    help="zhian-twin: sync city data, simulate patrol layouts, compare with reality.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    add_completion=False,
)

_err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """zhian-twin: sync city data, simulate patrol layouts, compare with reality."""


@app.command()
def version() -> None:
    """Print the zhian-twin version."""
    from twin import __version__

    typer.echo(__version__)


def _register_all() -> None:
    from twin.cli import analytic, city, dash, data, model

    for module in (data, model, analytic, city, dash):
        module.register(app)


_register_all()


def _error(message: str) -> None:
    # user text (ids, paths) may hold brackets: never interpret it as rich markup
    _err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return the process exit code.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when None.

    Returns:
        The exit code: 0 on success, the error's code on a :class:`TwinError`.

    """
    try:
        # non-standalone click returns a command's `typer.Exit(code)` instead of raising it
        code = app(args=argv if argv is not None else sys.argv[1:], standalone_mode=False)
    except TwinError as exc:
        _error(exc.message)
        return exc.exit_code
    except OSError as exc:  # a path the user gave cannot be read or written
        where = f"{exc.filename}: " if exc.filename else ""
        why = exc.strerror or str(exc)
        _error(f"{where}{why} (check the path and its permissions, then run again)")
        return 2
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        _err.print("[red]aborted[/]")
        return 130
    except KeyboardInterrupt:
        _err.print("[red]interrupted[/]")
        return 130
    except Exception as exc:  # click usage errors come through here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        raise
    return code if isinstance(code, int) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
