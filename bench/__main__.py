"""Run every benchmark (``make bench``): ``python -m bench [NAME ...]``.

Each benchmark module in this package exposes ``main(argv) -> int`` and prints its figures
beside a baseline timed in the same run (ratios and medians; these machines are noisy).
"""

from __future__ import annotations

import importlib
import sys

BENCHES = ["bench_sync", "bench_engine", "bench_city_year"]


def main(argv: list[str]) -> int:
    """Run the named benchmarks, or all of them."""
    names = argv or BENCHES
    status = 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        print(f"== {name} ==", flush=True)
        status |= int(module.main([]) or 0)
    return status


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
