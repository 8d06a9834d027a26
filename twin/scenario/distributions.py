"""Tagged distribution specs: ``{dist: lognormal, mean: 22, sd: 15}`` and the other families.

These are the *words* of a scenario file; drawing from them is the engine's business
(:mod:`twin.model.distributions` builds a sampler from a spec). Each spec knows its analytic
mean in plain Python (no numpy), so the vocabulary can report capacities and loads without the
engine. Durations are minutes, bounded by :data:`~twin.scenario.base.MAX_MINUTES`.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from twin.scenario.base import MAX_MINUTES, Duration, Spec

__all__ = [
    "DIST_TAGS",
    "DeterministicSpec",
    "DistSpec",
    "EmpiricalSpec",
    "ExponentialSpec",
    "GammaSpec",
    "LognormalSpec",
    "spec_mean",
]

_Mean = Annotated[float, Field(gt=0, le=MAX_MINUTES, allow_inf_nan=False)]
_Param = Annotated[float, Field(gt=0, le=MAX_MINUTES, allow_inf_nan=False)]
_Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class ExponentialSpec(Spec):
    """Exponential durations: ``{dist: exponential, mean: 30}``."""

    dist: Literal["exponential"]
    mean: _Mean


class LognormalSpec(Spec):
    """Lognormal durations given by their own mean and standard deviation (minutes)."""

    dist: Literal["lognormal"]
    mean: _Mean
    sd: _Param


class GammaSpec(Spec):
    """Gamma durations: ``{dist: gamma, shape: 2, scale: 15}`` or ``{dist: gamma, mean, sd}``."""

    dist: Literal["gamma"]
    shape: _Param | None = None
    scale: _Param | None = None
    mean: _Mean | None = None
    sd: _Param | None = None

    @model_validator(mode="after")
    def _one_parametrisation(self) -> GammaSpec:
        by_shape = self.shape is not None and self.scale is not None
        by_moments = self.mean is not None and self.sd is not None
        if by_shape == by_moments:
            raise ValueError("gamma needs either shape and scale, or mean and sd (not both)")
        return self

    @property
    def params(self) -> tuple[float, float]:
        """Return ``(shape, scale)`` whichever way the spec was written."""
        if self.shape is not None and self.scale is not None:
            return self.shape, self.scale
        assert self.mean is not None
        assert self.sd is not None
        shape = (self.mean / self.sd) ** 2
        return shape, self.mean / shape


class DeterministicSpec(Spec):
    """A fixed duration: ``{dist: deterministic, value: 20}``."""

    dist: Literal["deterministic"]
    value: Duration


class EmpiricalSpec(Spec):
    """Draws from observed values, optionally weighted: ``{dist: empirical, values: [...]}``."""

    dist: Literal["empirical"]
    values: Annotated[list[Duration], Field(min_length=1)]
    weights: list[_Weight] | None = None

    @model_validator(mode="after")
    def _weights_match(self) -> EmpiricalSpec:
        if self.weights is not None:
            if len(self.weights) != len(self.values):
                raise ValueError(
                    f"weights has {len(self.weights)} entries but values has {len(self.values)}"
                )
            total = sum(self.weights)
            if not (total > 0 and math.isfinite(total)):
                raise ValueError("weights must have a positive finite sum")
        return self


DistSpec = Annotated[
    ExponentialSpec | LognormalSpec | GammaSpec | DeterministicSpec | EmpiricalSpec,
    Field(discriminator="dist"),
]
"""A tagged distribution spec (``dist`` names the family)."""

DIST_TAGS = ("exponential", "lognormal", "gamma", "deterministic", "empirical")
"""The ``dist`` values (pydantic puts them in error paths; the loader drops them)."""


def spec_mean(
    spec: ExponentialSpec | LognormalSpec | GammaSpec | DeterministicSpec | EmpiricalSpec,
) -> float:
    """Return the analytic mean (minutes) of a tagged spec, in plain Python.

    The engine's samplers (:mod:`twin.model.distributions`) give the same value; for an
    empirical spec they may differ in the last bit (numpy's dot product vs ``math.fsum``).
    """
    if isinstance(spec, ExponentialSpec | LognormalSpec):
        return float(spec.mean)
    if isinstance(spec, GammaSpec):
        shape, scale = spec.params
        return shape * scale
    if isinstance(spec, DeterministicSpec):
        return float(spec.value)
    weights = spec.weights if spec.weights is not None else [1.0] * len(spec.values)
    total = math.fsum(weights)
    return math.fsum(w / total * v for w, v in zip(weights, spec.values, strict=True))
