"""Reading scenario files: strict YAML, validation, and errors that name the file and field.

:func:`load_scenario` reads a file with a safe YAML loader that also refuses duplicate keys
(naming the key and both lines: plain ``yaml.safe_load`` silently keeps the last value),
validates it into a :class:`~twin.scenario.spec.Scenario` and turns every problem into one
:class:`~twin.errors.ConfigError` naming the file, the field path and the fix. An unknown key
gets a "did you mean" from the keys allowed at that place (``warmpu`` -> ``warmup``).
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from twin.errors import ConfigError
from twin.scenario.distributions import DIST_TAGS
from twin.scenario.spec import Scenario

__all__ = [
    "format_validation_error",
    "load_scenario",
    "parse_scenario",
    "read_yaml",
]


_TYPE_LABEL = re.compile(r"^[a-z][\w-]*\[.*\]$")


class DuplicateKeyError(yaml.YAMLError):
    """A mapping in a YAML file names the same key twice."""


class _StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated within one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue  # '<<: *base' merges may be overridden on purpose
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable key: the base loader reports it
            line = key_node.start_mark.line + 1
            if first is not None:
                raise DuplicateKeyError(
                    f"duplicate key {key!r} at line {line} (first at line {first}); "
                    "a key may appear once per mapping, remove one of them"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 (PyYAML) reads 1e12 and 1e-9 as text; YAML 1.2 and people read them as numbers.
FLOAT_1_2 = re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$")
"""Exponent numbers without a dot (``1e12``), which the loader reads as floats."""
_StrictLoader.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789"))


def read_yaml(text: str, source: str = "<scenario>") -> Any:
    """Parse YAML text safely, refusing duplicate keys.

    Args:
        text: The YAML text.
        source: The file name to put in error messages.

    Returns:
        The parsed data (mappings, lists, scalars).

    Raises:
        ConfigError: The text is not valid YAML or repeats a key within a mapping.

    """
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except DuplicateKeyError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}".replace("\n", " ")) from None
    except (RecursionError, ValueError, TypeError, OverflowError) as exc:
        raise ConfigError(f"{source}: cannot parse YAML: {exc}") from None


# --------------------------------------------------------------------------- errors
def format_validation_error(exc: ValidationError, source: str, limit: int = 5) -> str:
    """Turn a pydantic error into one message naming the file, field paths and problems.

    Args:
        exc: The validation error.
        source: The file name (or ``"<scenario>"``) to name in the message.
        limit: At most this many problems are listed.

    Returns:
        A message like ``"example.yaml: invalid scenario: zones[0].rate_per_hour: ..."``.

    """
    parts: list[str] = []
    for err in exc.errors()[:limit]:
        loc = tuple(err.get("loc", ()))
        where = _loc_str(loc)
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        kind = err.get("type")
        if kind == "extra_forbidden":
            msg = _unknown_key(loc)
        elif isinstance(err.get("input"), bool) and kind in ("float_type", "int_type"):
            msg = f"{str(err['input']).lower()} is a boolean, not a number; write a number"
        elif isinstance(err.get("input"), str) and kind in ("float_type", "int_type"):
            msg = f"{err['input']!r} is text, not a number; write a number without quotes"
        parts.append(f"{where}: {msg}" if where else msg)
    more = exc.error_count() - limit
    tail = f" (and {more} more)" if more > 0 else ""
    return f"{source}: invalid scenario: " + "; ".join(parts) + tail


def _loc_str(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            out += " (key)"
        elif (part in DIST_TAGS or _TYPE_LABEL.match(part)) and out:
            # drop the labels pydantic inserts: discriminator tags ("service.exponential.mean")
            # and the member of a union it tried ("shares.dict[int,constrained-float].1")
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """Say that the last key of *loc* is unknown, with a "did you mean" when one is close."""
    key = str(loc[-1]) if loc else ""
    allowed = sorted({name for m in _models_at(loc[:-1]) for name in m.model_fields})
    close = difflib.get_close_matches(key, allowed, n=2, cutoff=0.6)
    if close:
        return f"unknown key; did you mean {' or '.join(repr(c) for c in close)}?"
    hint = "; tools annotate scenarios under 'meta'" if len(loc) == 1 else ""
    return f"unknown key; allowed here: {', '.join(allowed)}{hint}"


def _models_at(path: tuple[Any, ...]) -> list[type[BaseModel]]:
    """Return the models whose fields are allowed at *path* (a pydantic error location)."""
    models: list[type[BaseModel]] = [Scenario]
    for part in path:
        if isinstance(part, int):
            continue
        inner = [
            sub
            for m in models
            if part in m.model_fields
            for sub in _models_in(m.model_fields[part].annotation)
        ]
        if not inner:  # a discriminator tag ("exponential") or a mapping key
            inner = [m for m in models if _tag(m) == part] or models
        models = inner
    return models


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    origin = get_origin(tp)
    args = get_args(tp)
    if origin is Annotated:
        return _models_in(args[0])
    if origin in (typing.Union, types.UnionType, list, tuple, dict):
        return [m for a in args for m in _models_in(a)]
    return []


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("dist")
    if field is None or get_origin(field.annotation) is not Literal:
        return None
    return str(get_args(field.annotation)[0])


# --------------------------------------------------------------------------- loading
def parse_scenario(data: Any, source: str = "<scenario>") -> Scenario:
    """Validate an already-parsed mapping into a :class:`~twin.scenario.spec.Scenario`.

    Args:
        data: The mapping (as :func:`read_yaml` or ``yaml.safe_load`` returns it).
        source: Name of the origin, used in error messages.

    Returns:
        The validated scenario.

    Raises:
        ConfigError: When the data is not a valid scenario.

    """
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(
            f"{source}: a scenario must be a mapping of keys (name, horizon, zones, units, ...), "
            f"got {kind}"
        )
    bad_keys = [k for k in data if not isinstance(k, str)]
    if bad_keys:
        raise ConfigError(f"{source}: top-level keys must be names, got {bad_keys[0]!r}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None
    except (ValueError, TypeError, RecursionError) as exc:  # defensive: odd inputs
        raise ConfigError(f"{source}: invalid scenario: {exc}") from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file.

    Args:
        path: A YAML scenario file.

    Returns:
        The validated scenario. ``demand.path`` (a trace file), when relative, is resolved
        against the scenario file's folder.

    Raises:
        ConfigError: The file is missing, is not YAML (or repeats a key), or is not a valid
            scenario; the message names the file, the field path and the problem.

    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: scenario file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read scenario file ({exc})") from None
    scenario = parse_scenario(read_yaml(text, source=str(p)), source=str(p))
    if scenario.demand.path and not Path(scenario.demand.path).is_absolute():
        scenario.demand.path = str((p.parent / scenario.demand.path).resolve())
    return scenario
