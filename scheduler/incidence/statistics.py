"""Crude incidence and its uncertainty.

- Exact Poisson interval in the chi-square form (Ulm 1990; as Influenzanet's ifnBase computes it for crude
  incidence): lower = chi2.ppf(alpha/2, 2x) / 2 / n, upper = chi2.ppf(1 - alpha/2, 2(x + 1)) / 2 / n, with lower
  0 when x = 0.
- Wilson score interval for a proportion (Wilson 1927; COVIDmeter published shares with 95 % and 99 %
  intervals): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).

- Delphi's standard error of a proportion: sqrt(p (1 - p) / n) (COVIDcast ``stderr``).
- Direct age standardisation (adj = sum_s w_s c_s / n_s with w_s the standard population's share of stratum s)
  with the gamma interval of Fay & Feuer, "Confidence intervals for directly standardized rates: a method
  based on the gamma distribution", Stat Med 1997;16:791-801: with y = adj, v = sum_s (w_s / n_s)^2 c_s and
  w_M = max_s w_s / n_s, lower = G^-1(alpha/2; shape y^2/v, scale v/y) (0 when y = 0) and
  upper = G^-1(1 - alpha/2; shape (y + w_M)^2 / (v + w_M^2), scale (v + w_M^2) / (y + w_M)). With one stratum
  it is exactly the Poisson interval above (tested). This is the interval R's epitools::ageadjust.direct
  computes; ifnBase's approximation is discussed in docs/methods.md.

The level is a parameter (0.95 unless told otherwise). Intervals are returned as (lower, upper) proportions.

The quantiles come from scipy.special (chi2.ppf(q, 2k) / 2 = gammaincinv(k, q); gamma.ppf(q, a, scale=s) =
s gammaincinv(a, q); norm.ppf(1 - alpha/2) = -ndtri(alpha/2)), the functions scipy.stats calls underneath,
without its per-call argument checking and broadcasting (0.4 ms a call; an aggregation run computes tens of
thousands of intervals). The tests compare every interval with scipy.stats to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from scipy.special import gammaincinv, ndtri


def _check(cases: int, n: int, level: float) -> None:
    if n <= 0:
        raise ValueError(f"an interval needs at least one participant (n={n})")
    if cases < 0:
        raise ValueError(f"cases cannot be negative (cases={cases})")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (level={level})")


def incidence(cases: int, active: int) -> float:
    """Crude incidence: cases per active participant (a proportion, 0..1)."""
    if active <= 0:
        raise ValueError(f"incidence needs at least one active participant (active={active})")
    return cases / active


def poisson_interval(cases: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact Poisson interval for the rate cases / n (chi-square form)."""
    _check(cases, n, level)
    alpha = 1 - level
    lower = 0.0 if cases == 0 else _poisson_quantile(cases, alpha / 2) / n
    upper = _poisson_quantile(cases + 1, 1 - alpha / 2) / n
    return lower, upper


@lru_cache(maxsize=65536)
def _poisson_quantile(k: int, q: float) -> float:
    """chi2.ppf(q, 2k) / 2. A run asks for the same few case counts again and again (most cells have a
    handful of cases), so each is computed once per process: the same double either way."""
    return float(gammaincinv(k, q))


def wilson_interval(cases: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for the proportion cases / n."""
    _check(cases, n, level)
    if cases > n:
        raise ValueError(f"a proportion needs cases <= n (cases={cases}, n={n})")
    z = _normal_quantile(level)
    p = cases / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


@lru_cache(maxsize=16)
def _normal_quantile(level: float) -> float:
    """z with P(-z < Z < z) = level for a standard normal Z."""
    return float(-ndtri((1 - level) / 2))


@dataclass(frozen=True)
class Estimate:
    """An incidence with its interval (Poisson, as published in ``lower_95``/``upper_95``)."""

    incidence: float
    lower: float
    upper: float


def crude_estimate(cases: int, active: int, level: float = 0.95) -> Estimate:
    lower, upper = poisson_interval(cases, active, level)
    return Estimate(incidence(cases, active), lower, upper)


def standard_error(cases: int, n: int) -> float:
    """Delphi's stderr of the proportion cases / n: sqrt(p (1 - p) / n)."""
    _check(cases, n, 0.95)
    p = cases / n
    return math.sqrt(p * (1 - p) / n)


@dataclass(frozen=True)
class Standardised:
    rate: float
    lower: float
    upper: float


def standardised_rate(cases: Sequence[int], active: Sequence[int], weights: Sequence[float],
                      level: float = 0.95) -> Standardised:
    """Directly standardised rate with the Fay-Feuer gamma interval.

    ``weights`` are the standard population's counts (or shares) of the strata, normalised here; every
    stratum needs at least one active participant.
    """
    if not (len(cases) == len(active) == len(weights)) or not cases:
        raise ValueError("cases, active and weights must be non-empty and of the same length")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (level={level})")
    if any(n <= 0 for n in active):
        raise ValueError("every stratum needs at least one active participant")
    if any(c < 0 for c in cases) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise ValueError("cases and weights must be non-negative, with a positive total weight")
    total = float(sum(weights))
    shares = [w / total for w in weights]
    per_case = [w / n for w, n in zip(shares, active)]  # the weight one case carries in each stratum
    rate = sum(c * u for c, u in zip(cases, per_case))
    variance = sum(c * u * u for c, u in zip(cases, per_case))
    w_max = max(per_case)
    alpha = 1 - level
    lower = 0.0 if rate == 0 else float(gammaincinv(rate * rate / variance, alpha / 2)) * variance / rate
    shape = (rate + w_max) ** 2 / (variance + w_max ** 2)
    scale = (variance + w_max ** 2) / (rate + w_max)
    upper = float(gammaincinv(shape, 1 - alpha / 2)) * scale
    return Standardised(rate, lower, upper)
