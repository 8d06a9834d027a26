"""Small typed helpers over pandas frames."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pandas as pd

__all__ = ["rows_of"]


def rows_of(frame: pd.DataFrame) -> Iterator[Any]:
    """Iterate a frame's rows as named tuples (fields read as ``Any``)."""
    yield from frame.itertuples(index=False)
