"""Progress display of the long commands: one bar for replications, one spinner for stages.

The library reports progress through plain callables (``progress(r)`` after replication *r*,
``say(line)`` before a long step) so that it never depends on a terminal; these two context
managers turn those calls into rich displays on stderr. A bar counts replications
(``twin simulate``, ``twin replay``, ``twin fidelity``); a stage spinner shows the current step
of a command whose steps cannot be counted ahead (``twin calibrate``), keeps the finished steps
on screen with their elapsed time, and the total time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["replication_bar", "stage_spinner"]


@contextmanager
def replication_bar(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """Show a bar of *total* replications; yield the callback that advances it by one.

    Args:
        label: What is being run (``simulating seattle_baseline``).
        total: Replications planned.

    Yields:
        ``advance(replication)``, to pass as the library's ``progress`` argument.

    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda _r: bar.advance(task)


@contextmanager
def stage_spinner(label: str) -> Iterator[Callable[[str], None]]:
    """Show a spinner with the current step; yield ``say(line)`` that starts the next step.

    Each finished step stays on screen with the minutes and seconds it took.

    Args:
        label: The command's own line (``calibrating seattle``), shown until the first step.

    Yields:
        ``say(line)``, to pass as the library's ``progress`` argument.

    """
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    started = time.monotonic()
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as spin:
        task = spin.add_task(label, total=None)
        current: list[tuple[str, float]] = []

        def say(line: str) -> None:
            now = time.monotonic()
            if current:
                text, since = current.pop()
                spin.console.print(f"  {text} [dim]({_clock(now - since)})[/]")
            current.append((line, now))
            spin.update(task, description=line)

        yield say
        if current:
            text, since = current.pop()
            spin.console.print(f"  {text} [dim]({_clock(time.monotonic() - since)})[/]")
    console.print(f"{label}: done in {_clock(time.monotonic() - started)}")


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"
