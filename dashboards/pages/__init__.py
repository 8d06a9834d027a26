"""Dashboard pages: one module per page, each calling ``dash.register_page``."""

from __future__ import annotations

__all__: list[str] = []
