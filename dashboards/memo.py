"""Memoised callback answers, kept in JSON form.

Callbacks and page layouts are pure functions of their arguments, the lake commit and the
results index; their answers are kept in a small LRU keyed by all of these, so a repeated
question is answered from memory and a new sync or result invalidates it. Answers are stored
already serialised (:class:`Frozen`): plotly's serializer, which Dash uses, deep-copies and
walks every figure on every response (~0.4 s for a city map).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from dash import no_update
from orjson import Fragment

from twin.errors import TwinError

__all__ = ["Frozen", "freeze", "memo_key", "memoised"]


class _Memo:
    """An LRU of frozen answers bounded by entries and by the bytes of their JSON."""

    def __init__(self, size: int = 4096, max_bytes: int = 96 * 1024 * 1024) -> None:
        self.size = size
        self.max_bytes = max_bytes
        self.bytes = 0
        self.items: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key][0]
        return _MISSING

    def put(self, key: str, value: Any, nbytes: int) -> None:
        with self.lock:
            old = self.items.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self.items[key] = (value, nbytes)
            self.bytes += nbytes
            while self.items and (len(self.items) > self.size or self.bytes > self.max_bytes):
                _, (_, n) = self.items.popitem(last=False)
                self.bytes -= n


_MISSING = object()
_MEMO = _Memo()


class Frozen:
    """An answer already serialised, which Dash's serializer passes through untouched.

    Plotly's ``to_json_plotly`` (what Dash uses) deep-copies and walks every figure on every
    response (~0.4 s for a city map); an object with ``tolist()`` is taken as already clean,
    and an ``orjson.Fragment`` is written out as it is.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    @property
    def data(self) -> Any:
        """The answer as plain Python data (for tests and the plain-json engine)."""
        return json.loads(self.text)

    def tolist(self) -> Any:
        """Return the value plotly's serializer should write (the hook it looks for)."""
        return Fragment(self.text)


def freeze(value: Any) -> Any:
    """Return *value* serialised and wrapped in :class:`Frozen` (scalars as they are)."""
    if value is None or isinstance(value, bool | int | float | str) or value is no_update:
        return value
    from plotly.io.json import to_json_plotly

    return Frozen(to_json_plotly(value))


def memoised(key: str | None, build: Callable[[], Any]) -> Any:
    """Return the frozen answer stored under *key*, building and storing it when missing."""
    if key is not None:
        hit = _MEMO.get(key)
        if hit is not _MISSING:
            return hit
    value = build()
    parts = value if isinstance(value, tuple) else (value,)
    frozen = tuple(freeze(v) for v in parts)
    nbytes = sum(len(f.text) for f in frozen if isinstance(f, Frozen)) + 256
    answer: Any = frozen if isinstance(value, tuple) else frozen[0]
    if key is not None:
        _MEMO.put(key, answer, nbytes)
    return answer


def memo_key(name: str, args: Any) -> str | None:
    """Key of one call: the callback, the lake commit, the results index, the arguments."""
    from dashboards.context import current, results_index

    try:
        settings = current()
        version = settings.lake.rollups().version
        index = results_index().generation
        return json.dumps(
            [name, str(settings.lake.root), version, str(settings.results), index, args],
            sort_keys=True,
            default=str,
        )
    except (TwinError, TypeError, ValueError):
        return None
