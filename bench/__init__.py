"""Benchmarks: each module has ``main()`` and reports figures beside a same-run baseline."""
