"""Ingest: source adapters that turn raw exports into canonical Arrow tables.

Modules:

* ``base``: the adapter contract (the canonical table schemas are :mod:`twin.schemas`);
* ``registry``: adapter name -> function (``get_adapter``), tables per adapter;
* ``seattle``, ``sanfrancisco``, ``jiaxing_districts``, ``csvdrop``, ``socrata``: the adapters;
* ``incidents``: the shared incident pipeline (ids, duplicates, times, coordinates, zones);
* ``readers``, ``timeconv``, ``spatial``, ``gcj02``, ``validate``, ``zonefiles``: helpers.
"""

from __future__ import annotations

__all__: list[str] = []
