"""The store: the Parquet lake and its DuckDB views (see :mod:`twin.store.lake`)."""

from __future__ import annotations

from twin.store.duck import connect, query
from twin.store.lake import Lake, Transaction

__all__ = ["Lake", "Transaction", "connect", "query"]
