"""The twin's dashboards: a Dash multi-page app that only reads the lake and result folders.

:func:`dashboards.app.create_app` builds the app; :func:`dashboards.app.serve` serves it on
127.0.0.1 (or, with a token, on another interface). ``twin dashboard`` is the command line.
"""

from __future__ import annotations

__all__: list[str] = []
