"""Prefect flows: thin shells that orchestrate the :mod:`twin` library."""

from __future__ import annotations

__all__: list[str] = []
