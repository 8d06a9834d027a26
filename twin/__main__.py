"""``python -m twin`` runs the CLI."""

from __future__ import annotations

from twin.cli import main

raise SystemExit(main())
