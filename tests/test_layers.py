"""Layering: the module import graph (every import, inside functions too) has no cycle."""

from __future__ import annotations

import subprocess
import sys

import grimp
import networkx as nx
import pytest


@pytest.mark.exact
def test_module_import_graph_is_acyclic() -> None:
    graph = grimp.build_graph("twin", "flows", "dashboards", cache_dir=None)
    dg = nx.DiGraph()
    for m in graph.modules:
        for t in graph.find_modules_directly_imported_by(m):
            # a submodule importing its own package's __init__ is not a cycle of rooms
            if not m.startswith(t + "."):
                dg.add_edge(m, t)
    cycles = [sorted(c) for c in nx.strongly_connected_components(dg) if len(c) > 1]
    assert cycles == []


@pytest.mark.exact
def test_scenario_vocabulary_loads_no_engine() -> None:
    code = (
        "import sys, twin.scenario; "
        "print(sorted(k for k in ('simpy', 'mesa', 'pyarrow') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
