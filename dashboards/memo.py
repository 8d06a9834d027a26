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

from twin.errors import TwinError

__all__ = ["Frozen", "freeze", "memo_key", "memoised"]


class _Memo:
    """A small LRU of callback answers keyed by the data's version and the arguments."""

    def __init__(self, size: int = 512) -> None:
        self.size = size
        self.items: OrderedDict[str, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return _MISSING

    def put(self, key: str, value: Any) -> None:
        with self.lock:
            self.items[key] = value
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)


_MISSING = object()
_MEMO = _Memo(size=128)


class Frozen:
    """An answer already in JSON form, which Dash's serializer passes through untouched.

    Plotly's ``to_json_plotly`` (what Dash uses) deep-copies and walks every figure on every
    response (~0.4 s for a city map); an object with ``tolist()`` is taken as already clean.
    Memoised answers are stored frozen, so a repeated question costs one ``orjson.dumps``.
    """

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data

    def tolist(self) -> Any:
        """Return the JSON-ready value (the hook plotly's serializer looks for)."""
        return self.data


def freeze(value: Any) -> Any:
    """Return *value* in JSON form wrapped in :class:`Frozen` (plain scalars as they are)."""
    if value is None or isinstance(value, bool | int | float | str) or value is no_update:
        return value
    from plotly.io.json import to_json_plotly

    return Frozen(json.loads(to_json_plotly(value)))


def memoised(key: str | None, build: Callable[[], Any]) -> Any:
    """Return the frozen answer stored under *key*, building and storing it when missing."""
    if key is not None:
        hit = _MEMO.get(key)
        if hit is not _MISSING:
            return hit
    value = build()
    if isinstance(value, tuple):
        frozen: Any = tuple(freeze(v) for v in value)
    else:
        frozen = freeze(value)
    if key is not None:
        _MEMO.put(key, frozen)
    return frozen


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
