"""The JSON Schema of scenario files (``scenarios/scenario.schema.json``).

Editors use it for completion and checking; a test keeps the checked-in file equal to the
models. Regenerate it after changing the vocabulary with
``python -c 'from twin.scenario import export_schema; export_schema()'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from twin.paths import scenarios_dir
from twin.scenario.spec import Scenario

__all__ = ["export_schema", "scenario_json_schema", "schema_path"]


def scenario_json_schema() -> dict[str, Any]:
    """Return the JSON Schema of scenario files (what ``scenarios/scenario.schema.json`` holds)."""
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "zhian-twin scenario"
    return schema


def schema_path() -> Path:
    """Return the path of the checked-in schema file."""
    return scenarios_dir() / "scenario.schema.json"


def export_schema(path: str | Path | None = None) -> Path:
    """Write the JSON Schema to *path* (default ``scenarios/scenario.schema.json``).

    Args:
        path: Destination file; the checked-in location when None.

    Returns:
        The path written.

    """
    dest = Path(path) if path is not None else schema_path()
    dest.write_text(json.dumps(scenario_json_schema(), indent=2, sort_keys=True) + "\n")
    return dest
