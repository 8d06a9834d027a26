"""Scenario fuzz drill: how many mutated scenarios end as a clean error, a run, or a hang.

Mutates ``scenarios/example.yaml`` at random (seeded): a value set to a nasty one (0, -1,
1e-12, 1e12, 1e308, inf, nan, true, text, empty list...), a key misspelt or dropped, a line
duplicated or deleted, a digit changed. Each mutant is loaded and, if accepted, run for real
(one replication, ``--max-incidents`` as given). Outcomes:

* ``clean error``: a :class:`~twin.errors.ConfigError` with a one-line message naming the file;
* ``ran``: the run finished;
* ``hang``: the run used more than ``--budget`` CPU seconds (SIGPROF) and was stopped;
* ``crash``: any other exception (type and message are printed).

Usage::

    python -m bench.fuzz_scenarios [-n 400] [--seed 1] [--budget 60] [--max-incidents 200000]

Not part of the test suite (tests/test_scenario_fuzz.py runs a bounded version).
"""

from __future__ import annotations

import argparse
import copy
import math
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from twin.errors import ConfigError  # noqa: E402
from twin.model import run_replications  # noqa: E402
from twin.scenario import load_scenario, read_yaml, render_yaml  # noqa: E402

EXAMPLE = REPO / "scenarios" / "example.yaml"
NASTY: list[Any] = [
    *(0, -1, 1, 2.5, 1e-12, 1e-9, 1e6, 1e12, 1e15, 1e308, -1e308, math.inf, -math.inf, math.nan),
    *(True, False, None, "", "x", "1e12", "08:00", [], {}, [1e308, -1e308], [0, 0, 0]),
    {"dist": "exponential"},
    {"dist": "lognormal", "mean": 1e12, "sd": 1e-12},
]


class _Hang(Exception):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def _leaves(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _leaves(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _leaves(v, (*prefix, i))
    return out


def _typo(key: str, rng: random.Random) -> str:
    if len(key) < 2:
        return key + "x"
    i = rng.randrange(len(key) - 1)
    kind = rng.choice(["swap", "drop", "double"])
    if kind == "swap":
        return key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    if kind == "drop":
        return key[:i] + key[i + 1 :]
    return key[:i] + key[i] + key[i:]


def mutate_data(data: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Return a copy of *data* with 1-3 random edits (set, misspell, drop)."""
    out = copy.deepcopy(data)
    for _ in range(rng.randint(1, 3)):
        paths = _leaves(out)
        if not paths:
            break
        path = rng.choice(paths)
        node: Any = out
        for k in path[:-1]:
            node = node[k]
        last = path[-1]
        kind = rng.choice(["set", "set", "set", "typo", "drop"])
        if kind == "set":
            node[last] = copy.deepcopy(rng.choice(NASTY))
        elif kind == "drop":
            del node[last]
        elif isinstance(node, dict):
            node[_typo(str(last), rng)] = node.pop(last)
    return out


def mutate_text(text: str, rng: random.Random) -> str:
    """Return *text* with a line duplicated or deleted, or a digit changed."""
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    kind = rng.choice(["dup", "del", "digit"])
    if kind == "dup":
        lines.insert(i, lines[i])
    elif kind == "del":
        del lines[i]
    else:
        digits = [j for j, c in enumerate(text) if c.isdigit()]
        j = rng.choice(digits)
        return text[:j] + rng.choice("0123456789e.-") + text[j + 1 :]
    return "\n".join(lines) + "\n"


def drill(n: int, seed: int, budget: float, max_incidents: int) -> int:
    """Run the drill and print the figures; return the number of hangs and crashes."""
    rng = random.Random(seed)
    base_text = EXAMPLE.read_text(encoding="utf-8")
    base = read_yaml(base_text)
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    signal.signal(signal.SIGPROF, _alarm)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        for _ in range(n):
            if rng.random() < 0.7:
                try:
                    text = render_yaml(mutate_data(base, rng))
                except Exception:
                    text = base_text
            else:
                text = mutate_text(base_text, rng)
            path.write_text(text, encoding="utf-8")
            signal.setitimer(signal.ITIMER_PROF, budget)
            try:
                sc = load_scenario(path)
                run_replications(sc, seed=1, collect=False, max_incidents=max_incidents)
                outcomes["ran"] += 1
            except ConfigError as exc:
                msg = str(exc)
                clean = "\n" not in msg and msg.startswith(str(path))
                outcomes["clean error" if clean else "unclear error"] += 1
            except _Hang:
                outcomes["hang"] += 1
            except Exception as exc:
                outcomes["crash"] += 1
                crashes.append(f"{type(exc).__name__}: {exc}"[:200])
            finally:
                signal.setitimer(signal.ITIMER_PROF, 0)
    took = time.perf_counter() - t0
    print(
        f"fuzzed scenarios tried: {n} (seed {seed}, budget {budget:g} CPU s, "
        f"--max-incidents {max_incidents:,}) in {took:.0f} s"
    )
    for key in ("clean error", "ran", "hang", "crash", "unclear error"):
        print(f"  {key:14s} {outcomes[key]}")
    for c in crashes[:10]:
        print(f"  crash: {c}")
    return outcomes["hang"] + outcomes["crash"] + outcomes["unclear error"]


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run the drill (exit 1 when anything hung or crashed)."""
    p = argparse.ArgumentParser(prog="python -m bench.fuzz_scenarios", description=__doc__)
    p.add_argument("-n", type=int, default=400, help="mutants to try")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--budget", type=float, default=60.0, help="CPU seconds before a run is a hang")
    p.add_argument("--max-incidents", type=int, default=200_000)
    a = p.parse_args(argv)
    return 1 if drill(a.n, a.seed, a.budget, a.max_incidents) else 0


if __name__ == "__main__":
    raise SystemExit(main())
