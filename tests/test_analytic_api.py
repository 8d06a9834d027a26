"""The public names of twin.analytics and twin.statistics are pinned."""

from __future__ import annotations

import pytest

import twin.analytics
import twin.statistics


@pytest.mark.exact
def test_public_names_are_pinned() -> None:
    assert sorted(twin.analytics.__all__) == [
        "AssumptionError",
        "HypercubeInputs",
        "HypercubeResult",
        "MMc",
        "MMcK",
        "analyze",
        "check_assumptions",
        "correction_factors",
        "erlang_b",
        "erlang_b_distribution",
        "erlang_c",
        "hypercube",
        "hypercube_approx",
        "hypercube_exact",
        "hypercube_inputs",
        "mmc_distribution",
    ]
    assert sorted(twin.statistics.__all__) == [
        "TheoryCheck",
        "batch_means",
        "check_against_theory",
        "format_checks",
        "half_width",
        "largest_remainder",
        "mean_ci",
        "metric_value",
        "t_quantile",
    ]
    for mod in (twin.analytics, twin.statistics):
        for name in mod.__all__:
            assert getattr(mod, name).__doc__, name
