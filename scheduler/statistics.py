"""Crude incidence and its uncertainty.

- Exact Poisson interval in the chi-square form (Ulm 1990; as Influenzanet's ifnBase computes it for crude
  incidence): lower = chi2.ppf(alpha/2, 2x) / 2 / n, upper = chi2.ppf(1 - alpha/2, 2(x + 1)) / 2 / n, with lower
  0 when x = 0.
- Wilson score interval for a proportion (Wilson 1927; COVIDmeter published shares with 95 % and 99 %
  intervals): (p + z^2/2n +- z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n).

The level is a parameter (0.95 unless told otherwise). Both return (lower, upper) as proportions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import chi2, norm


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
    lower = 0.0 if cases == 0 else float(chi2.ppf(alpha / 2, 2 * cases)) / 2 / n
    upper = float(chi2.ppf(1 - alpha / 2, 2 * (cases + 1))) / 2 / n
    return lower, upper


def wilson_interval(cases: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for the proportion cases / n."""
    _check(cases, n, level)
    if cases > n:
        raise ValueError(f"a proportion needs cases <= n (cases={cases}, n={n})")
    z = float(norm.ppf(1 - (1 - level) / 2))
    p = cases / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator)


@dataclass(frozen=True)
class Estimate:
    """An incidence with its interval (Poisson, as published in ``lower_95``/``upper_95``)."""

    incidence: float
    lower: float
    upper: float


def crude_estimate(cases: int, active: int, level: float = 0.95) -> Estimate:
    lower, upper = poisson_interval(cases, active, level)
    return Estimate(incidence(cases, active), lower, upper)
