"""Writing scenario files: the one YAML writer every builder uses.

:func:`render_yaml` turns a scenario (a :class:`~twin.scenario.spec.Scenario` or a plain
mapping in file order) into the file text: an optional ``#`` comment header, then the YAML body
with keys in the given order. Two layouts:

* ``block=False`` (default): innermost lists and mappings are written in flow style
  (``location: [0.5, 1.0]``, ``service: {dist: exponential, mean: 30}``) and everything above
  them as blocks: what ``twin calibrate`` and planner variants write.
* ``block=True``: everything is a block except values wrapped in :class:`FlowMap` /
  :class:`FlowList` (one zone per line), and an :class:`Anchored` list is written once with an
  anchor (``&Nanhu``) and then as an alias (``*Nanhu``) wherever the same object reappears,
  which ``yaml.safe_load`` expands: what the Jiaxing builder writes.

:func:`write_scenario` validates and writes the text atomically (a reader never sees half a
file).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from twin.scenario.load import FLOAT_1_2, parse_scenario
from twin.scenario.spec import Scenario

__all__ = ["Anchored", "FlowList", "FlowMap", "flow", "render_yaml", "write_scenario"]


class FlowMap(dict[str, Any]):
    """A mapping written in YAML flow style (``{a: 1, b: 2}``)."""


class FlowList(list[Any]):
    """A list written in YAML flow style (``[a, b]``)."""


class Anchored(FlowList):
    """A flow-style list written once as ``&anchor [...]`` and as ``*anchor`` where reused.

    Reuse means the *same object* appears again in the mapping (as with any YAML alias).

    Args:
        items: The list items.
        anchor: The anchor name (a district, ``city``).

    """

    def __init__(self, items: Iterable[Any], anchor: str) -> None:
        super().__init__(items)
        self.anchor = anchor


def flow(value: Any) -> Any:
    """Return *value* with every mapping and list turned into its flow-style twin (deeply)."""
    if isinstance(value, Anchored):
        return value
    if isinstance(value, dict):
        return FlowMap((k, flow(v)) for k, v in value.items())
    if isinstance(value, list):
        return FlowList(flow(v) for v in value)
    return value


class _Dumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` that knows the flow markers and names anchors of :class:`Anchored`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._anchor_of: dict[int, str] = {}

    def generate_anchor(self, node: Any) -> Any:
        name = self._anchor_of.get(id(node))
        return name if name is not None else super().generate_anchor(node)


def _flow_map(dumper: _Dumper, data: FlowMap) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True)


def _flow_list(dumper: _Dumper, data: FlowList) -> yaml.Node:
    node = dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True)
    if isinstance(data, Anchored):
        dumper._anchor_of[id(node)] = data.anchor
    return node


# quote strings the loader would read as numbers ("1e5"), so a written file reads back the same
_Dumper.add_implicit_resolver("tag:yaml.org,2002:float", FLOAT_1_2, list("-+0123456789"))
_Dumper.add_representer(FlowMap, _flow_map)
_Dumper.add_representer(FlowList, _flow_list)
_Dumper.add_representer(Anchored, _flow_list)


def _header_lines(header: str | Sequence[str] | None) -> list[str]:
    if header is None:
        return []
    lines = header.splitlines() if isinstance(header, str) else list(header)
    return [ln if ln.startswith("#") else ("# " + ln).rstrip() for ln in lines]


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _as_mapping(scenario: Scenario | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(scenario, Scenario):
        mapping: dict[str, Any] = _plain(scenario.model_dump(mode="python", exclude_unset=True))
        return mapping
    return scenario


def render_yaml(
    scenario: Scenario | Mapping[str, Any],
    header: str | Sequence[str] | None = None,
    *,
    block: bool = False,
    width: int = 100,
) -> str:
    """Return the text of a scenario file.

    Args:
        scenario: A validated scenario (written with the keys it was given) or a mapping in
            file order (annotation keys included); mappings may hold :class:`FlowMap`,
            :class:`FlowList` and :class:`Anchored` values.
        header: Comment lines put above the YAML: a string or a list of lines; a line not
            starting with ``#`` gets ``# `` in front.
        block: Write collections as blocks unless marked flow (see the module docstring);
            default: innermost collections in flow style.
        width: Preferred line width of the YAML body.

    Returns:
        The file text (deterministic for a given input; non-ASCII text is kept as is).

    """
    body = yaml.dump(
        _as_mapping(scenario),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False if block else None,
        width=width,
        allow_unicode=True,
    )
    lines = _header_lines(header)
    return ("\n".join(lines) + "\n" if lines else "") + body


def write_scenario(
    path: str | Path,
    scenario: Scenario | Mapping[str, Any],
    header: str | Sequence[str] | None = None,
    *,
    block: bool = False,
    width: int = 100,
    validate: bool = True,
) -> Path:
    """Validate a scenario and write it to *path* atomically (see :func:`render_yaml`).

    Args:
        path: The destination file (its folder is created).
        scenario: A validated scenario or a mapping in file order.
        header: Comment lines put above the YAML.
        block: Block layout (see :func:`render_yaml`).
        width: Preferred line width of the YAML body.
        validate: Refuse a mapping that is not a valid scenario (a ``ConfigError`` naming
            *path*), so no builder writes a file the twin cannot load.

    Returns:
        The path written.

    Raises:
        ConfigError: *validate* is true and the mapping is not a valid scenario.

    """
    dest = Path(path)
    if validate and not isinstance(scenario, Scenario):
        parse_scenario(_plain(dict(scenario)), source=str(dest))
    text = render_yaml(scenario, header, block=block, width=width)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest
