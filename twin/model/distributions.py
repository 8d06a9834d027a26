"""Duration distributions that know their own theory.

Each distribution draws with an injected :class:`numpy.random.Generator` (``sample`` for one
value, ``sample_many`` for a vectorised block), exposes its analytic ``mean`` and ``variance``,
and refuses impossible (negative) durations. :func:`from_spec` builds one from a scenario's
tagged spec (``{dist: lognormal, mean: 22, sd: 15}``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
from numpy.typing import NDArray

from twin.scenario import (
    DeterministicSpec,
    DistSpec,
    EmpiricalSpec,
    ExponentialSpec,
    GammaSpec,
    LognormalSpec,
)

__all__ = [
    "Deterministic",
    "Distribution",
    "Empirical",
    "Exponential",
    "Gamma",
    "Lognormal",
    "dist_mean",
    "from_spec",
    "sample_many",
]


class Distribution(ABC):
    """A non-negative duration distribution (minutes)."""

    @property
    @abstractmethod
    def mean(self) -> float:
        """Analytic mean."""

    @property
    @abstractmethod
    def variance(self) -> float:
        """Analytic variance."""

    @abstractmethod
    def _draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """Draw *n* values (no checks)."""

    def sample_many(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        """Draw *n* values.

        Args:
            rng: The random stream to draw from.
            n: How many values.

        Returns:
            A float64 array of non-negative durations.

        Raises:
            ValueError: If a draw came out negative (never for the built-in families).

        """
        out = np.asarray(self._draw(rng, n), dtype=np.float64)
        if n and float(out.min()) < 0.0:
            raise ValueError(f"{self!r} produced a negative duration")
        return out

    def sample(self, rng: np.random.Generator) -> float:
        """Draw one value (minutes)."""
        return float(self.sample_many(rng, 1)[0])

    @property
    def cv2(self) -> float:
        """Squared coefficient of variation (variance / mean²)."""
        return self.variance / self.mean**2 if self.mean > 0 else 0.0


def _positive(name: str, value: float) -> float:
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    return float(value)


class Exponential(Distribution):
    """Exponential with the given mean."""

    def __init__(self, mean: float) -> None:
        self._mean = _positive("mean", mean)

    def __repr__(self) -> str:
        return f"Exponential(mean={self._mean:g})"

    @property
    def mean(self) -> float:
        """Analytic mean."""
        return self._mean

    @property
    def variance(self) -> float:
        """Analytic variance (mean²)."""
        return self._mean**2

    def _draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return rng.exponential(self._mean, n)


class Lognormal(Distribution):
    """Lognormal given by the mean and standard deviation of the duration itself."""

    def __init__(self, mean: float, sd: float) -> None:
        self._mean = _positive("mean", mean)
        self._sd = _positive("sd", sd)
        self._sigma2 = math.log1p((self._sd / self._mean) ** 2)
        self._mu = math.log(self._mean) - self._sigma2 / 2

    def __repr__(self) -> str:
        return f"Lognormal(mean={self._mean:g}, sd={self._sd:g})"

    @property
    def mean(self) -> float:
        """Analytic mean."""
        return self._mean

    @property
    def variance(self) -> float:
        """Analytic variance (sd²)."""
        return self._sd**2

    def _draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return rng.lognormal(self._mu, math.sqrt(self._sigma2), n)


class Gamma(Distribution):
    """Gamma with shape k and scale θ (mean kθ, variance kθ²)."""

    def __init__(self, shape: float, scale: float) -> None:
        self._shape = _positive("shape", shape)
        self._scale = _positive("scale", scale)

    def __repr__(self) -> str:
        return f"Gamma(shape={self._shape:g}, scale={self._scale:g})"

    @property
    def mean(self) -> float:
        """Analytic mean."""
        return self._shape * self._scale

    @property
    def variance(self) -> float:
        """Analytic variance."""
        return self._shape * self._scale**2

    def _draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return rng.gamma(self._shape, self._scale, n)


class Deterministic(Distribution):
    """Always the same value (draws nothing from the stream)."""

    def __init__(self, value: float) -> None:
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"value must be a non-negative finite number, got {value!r}")
        self._value = float(value)

    def __repr__(self) -> str:
        return f"Deterministic({self._value:g})"

    @property
    def mean(self) -> float:
        """Analytic mean."""
        return self._value

    @property
    def variance(self) -> float:
        """Analytic variance (0)."""
        return 0.0

    def _draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        return np.full(n, self._value)


class Empirical(Distribution):
    """Draws from observed values with optional weights."""

    def __init__(self, values: list[float], weights: list[float] | None = None) -> None:
        vals = np.asarray(values, dtype=np.float64)
        if vals.size == 0 or not np.all(np.isfinite(vals)) or float(vals.min()) < 0:
            raise ValueError("values must be a non-empty list of non-negative numbers")
        if weights is None:
            p = np.full(vals.size, 1.0 / vals.size)
        else:
            w = np.asarray(weights, dtype=np.float64)
            if w.shape != vals.shape or float(w.min()) < 0 or float(w.sum()) <= 0:
                raise ValueError("weights must match values and be non-negative with sum > 0")
            p = w / w.sum()
        self._values = vals
        self._p = p
        self._cdf = np.cumsum(p)
        self._cdf[-1] = 1.0

    def __repr__(self) -> str:
        return f"Empirical(n={self._values.size})"

    @property
    def mean(self) -> float:
        """Analytic mean."""
        return float(np.dot(self._p, self._values))

    @property
    def variance(self) -> float:
        """Analytic variance."""
        m = self.mean
        return float(np.dot(self._p, (self._values - m) ** 2))

    def _draw(self, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
        idx = np.searchsorted(self._cdf, rng.random(n), side="right")
        return self._values[np.minimum(idx, self._values.size - 1)]


def from_spec(spec: DistSpec) -> Distribution:
    """Build a distribution from a scenario's tagged spec.

    Args:
        spec: One of the ``*Spec`` models of :mod:`twin.scenario`.

    Returns:
        The matching :class:`Distribution`.

    """
    if isinstance(spec, ExponentialSpec):
        return Exponential(spec.mean)
    if isinstance(spec, LognormalSpec):
        return Lognormal(spec.mean, spec.sd)
    if isinstance(spec, GammaSpec):
        shape, scale = spec.params
        return Gamma(shape, scale)
    if isinstance(spec, DeterministicSpec):
        return Deterministic(spec.value)
    if isinstance(spec, EmpiricalSpec):
        return Empirical(spec.values, spec.weights)
    raise TypeError(f"unknown distribution spec {spec!r}")  # pragma: no cover


def dist_mean(spec: DistSpec) -> float:
    """Return the analytic mean of a tagged distribution spec (minutes)."""
    return from_spec(spec).mean


def sample_many(spec: DistSpec, rng: np.random.Generator, n: int) -> NDArray[np.float64]:
    """Draw *n* values from a tagged distribution spec with *rng*."""
    return from_spec(spec).sample_many(rng, n)
