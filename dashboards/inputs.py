"""Checks for values that reach a callback from the browser.

Anything in a callback's inputs can be forged by a client (a POST to
``/_dash-update-component`` carries arbitrary JSON): a NUL byte, a dict where a string is
expected, a 5,000-character name, the date ``2015-13-45``. Callbacks pass every input through
one of these functions; a bad value raises :class:`InputError`, which :func:`friendly_callback`
turns into a message in the page (HTTP 200), never a server error.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
from collections.abc import Callable, Collection
from typing import Any

from dash import Output, callback, no_update

from dashboards.memo import memo_key, memoised
from twin.errors import TwinError

__all__ = [
    "MAX_TEXT",
    "InputError",
    "choice",
    "day",
    "friendly_callback",
    "integer",
    "number",
    "text",
    "texts",
]

MAX_TEXT = 300
"""Longest text a control can legitimately send (names, paths relative to the results root)."""

_log = logging.getLogger("dashboards")


class InputError(TwinError):
    """A value from the browser that no control of ours could have sent."""


def _show(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def text(value: Any, what: str, *, optional: bool = True, max_len: int = MAX_TEXT) -> str | None:
    """Return *value* as a clean string (None when empty and *optional*).

    Raises:
        InputError: Not a string, too long, or holding control characters.

    """
    if value is None or value == "":
        if optional:
            return None
        raise InputError(f"choose a {what}")
    if not isinstance(value, str):
        raise InputError(f"the {what} must be text, not {type(value).__name__}")
    if len(value) > max_len:
        raise InputError(f"the {what} is {len(value):,} characters long (at most {max_len})")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise InputError(f"the {what} holds control characters: {_show(value)}")
    return value


def choice(value: Any, what: str, allowed: Collection[str], default: str | None = None) -> str:
    """Return *value* when it is one of *allowed* (or *default* when empty).

    Raises:
        InputError: A malformed value, or one not in *allowed*.

    """
    clean = text(value, what)
    if clean is None:
        if default is not None:
            return default
        raise InputError(f"choose a {what}")
    if clean not in allowed:
        raise InputError(f"unknown {what} {_show(clean)}; pick one from the list")
    return clean


def texts(value: Any, what: str, allowed: Collection[str] | None = None) -> list[str]:
    """Return a list of strings (from a multi-select), each checked like :func:`text`."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or len(value) > 1000:
        raise InputError(f"the {what} must be a list of names")
    out = []
    for item in value:
        clean = text(item, what, optional=False)
        assert clean is not None
        if allowed is not None and clean not in allowed:
            raise InputError(f"unknown {what} {_show(clean)}; pick from the list")
        out.append(clean)
    return out


def day(value: Any, what: str) -> dt.date | None:
    """Return a ``YYYY-MM-DD`` value (or an ISO timestamp's date) as a date; None when empty.

    Raises:
        InputError: Not a string or not a real calendar date (``2015-13-45``).

    """
    clean = text(value, what, max_len=40)
    if clean is None:
        return None
    try:
        return dt.date.fromisoformat(clean[:10])
    except ValueError:
        raise InputError(f"the {what} {_show(clean)} is not a date (use YYYY-MM-DD)") from None


def number(value: Any, what: str, lo: float, hi: float, default: float | None = None) -> float:
    """Return a finite number within [lo, hi].

    Raises:
        InputError: Not a number (booleans included), not finite, or out of range.

    """
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"the {what} must be a number, not {_show(value)}")
    x = float(value)
    if not math.isfinite(x) or not lo <= x <= hi:
        raise InputError(f"the {what} must be between {lo:g} and {hi:g}, not {_show(value)}")
    return x


def integer(value: Any, what: str, lo: int, hi: int, default: int | None = None) -> int:
    """Return an integer within [lo, hi] (see :func:`number`)."""
    return int(number(value, what, lo, hi, None if default is None else float(default)))


def _fallback(prop: str, message: str) -> Any:
    from dashboards.components import notice
    from dashboards.figures import message_figure

    if prop == "figure":
        return message_figure(message)
    if prop == "children":
        return notice(message)
    return no_update


def friendly_callback(
    *deps: Any, memo: bool = True, **kwargs: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a global Dash callback whose errors become messages in the page.

    Works like :func:`dash.callback`. When the function raises :class:`TwinError` (an
    :class:`InputError` from the checks above, or a data error), every ``figure`` output shows
    the message, every ``children`` output a notice, and other outputs are left unchanged. Any
    other exception is logged on one line (no traceback) and shown as an internal error.

    With *memo* (the default) answers are kept in a small LRU keyed by the lake commit, the
    results index and the arguments: callbacks are pure functions of those, so a repeated
    question is answered from memory, and a new sync or result invalidates it.
    """
    outputs = [d for d in deps if isinstance(d, Output)]
    props = [o.component_property for o in outputs]

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(func)
        def safe(*args: Any) -> Any:
            key = memo_key(func.__module__ + "." + func.__name__, args) if memo else None
            try:
                return memoised(key, lambda: func(*args))
            except TwinError as exc:
                message = str(exc)
            except Exception as exc:
                _log.error("callback %s failed: %s: %s", func.__name__, type(exc).__name__, exc)
                message = (
                    f"Something went wrong while drawing this ({type(exc).__name__}); "
                    "the server log has the detail."
                )
            values = [_fallback(p, message) for p in props]
            return values[0] if len(values) == 1 else tuple(values)

        callback(*deps, **kwargs)(safe)
        return func

    return wrap
