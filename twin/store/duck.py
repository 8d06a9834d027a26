"""DuckDB access to the lake: one view per table, and a one-call query helper.

Example::

    from twin.store import query
    query("SELECT source, count(*) AS n FROM incidents GROUP BY source")

Each call reads the lake's current commit; a connection from :func:`connect` keeps seeing the
commit it was opened on, and a reader lease keeps that commit's files on disk for the
connection's life (see :mod:`twin.store.lake`); open a new one to see later syncs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from twin.store.lake import Lake

__all__ = ["connect", "query"]


def connect(lake_dir: Path | str | None = None) -> duckdb.DuckDBPyConnection:
    """Open an in-memory DuckDB connection with one view per lake table.

    Args:
        lake_dir: The lake directory; ``twin.paths.default_lake_dir()`` when None.

    Returns:
        The connection; canonical tables always have a view, empty ones with zero rows.

    """
    return Lake(lake_dir).connect()


def query(
    sql: str, params: Sequence[Any] | None = None, *, lake_dir: Path | str | None = None
) -> pa.Table:
    """Run *sql* against the lake's views and return an Arrow table.

    Args:
        sql: The query (``SELECT * FROM incidents WHERE source = ?``).
        params: Positional parameters for ``?`` placeholders.
        lake_dir: The lake directory; ``twin.paths.default_lake_dir()`` when None.

    Returns:
        The result (timestamps in UTC).

    """
    return Lake(lake_dir).query(sql, params)
