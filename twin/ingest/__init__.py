"""Ingest: source adapters that turn raw exports into canonical Arrow tables."""

from __future__ import annotations
