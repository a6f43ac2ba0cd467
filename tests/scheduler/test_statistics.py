"""Intervals against scipy and known answers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, chi2, poisson

from scheduler.statistics import crude_estimate, incidence, poisson_interval, wilson_interval


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 200_000), level=st.sampled_from([0.9, 0.95, 0.99]))
def test_wilson_matches_scipy(data: st.DataObject, n: int, level: float) -> None:
    cases = data.draw(st.integers(0, n))
    expected = binomtest(cases, n).proportion_ci(confidence_level=level, method="wilson")
    lower, upper = wilson_interval(cases, n, level)
    assert lower == pytest.approx(expected.low, abs=1e-9)
    assert upper == pytest.approx(expected.high, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(cases=st.integers(0, 5000), n=st.integers(1, 200_000), level=st.sampled_from([0.9, 0.95, 0.99]))
def test_poisson_interval_is_the_exact_interval(cases: int, n: int, level: float) -> None:
    """The chi-square form equals the bounds at which the Poisson tail probabilities are (1 - level) / 2."""
    lower, upper = poisson_interval(cases, n, level)
    alpha = 1 - level
    # Upper bound mu: P(X <= cases | mu) = alpha / 2. Lower bound: P(X >= cases | mu) = alpha / 2.
    assert poisson.cdf(cases, upper * n) == pytest.approx(alpha / 2, rel=1e-6)
    if cases == 0:
        assert lower == 0
    else:
        assert poisson.sf(cases - 1, lower * n) == pytest.approx(alpha / 2, rel=1e-6)
        assert lower == pytest.approx(chi2.ppf(alpha / 2, 2 * cases) / 2 / n, rel=1e-12)
    assert upper == pytest.approx(chi2.ppf(1 - alpha / 2, 2 * (cases + 1)) / 2 / n, rel=1e-12)


def test_known_answers() -> None:
    # Garwood's exact 95 % limits for a Poisson count: x = 0 -> (0, 3.689), x = 10 -> (4.795, 18.39).
    lower, upper = poisson_interval(0, 1)
    assert lower == 0 and upper == pytest.approx(3.688879, abs=1e-6)
    lower, upper = poisson_interval(10, 1)
    assert lower == pytest.approx(4.795389, abs=1e-6) and upper == pytest.approx(18.390356, abs=1e-6)
    lower, upper = poisson_interval(10, 1000)
    assert (lower, upper) == pytest.approx((0.004795389, 0.018390356), abs=1e-9)
    # Wilson 95 % for 10 / 100 (Newcombe 1998, method 3): 0.0552 to 0.1744.
    lower, upper = wilson_interval(10, 100)
    assert lower == pytest.approx(0.05522, abs=1e-5) and upper == pytest.approx(0.17437, abs=1e-5)
    lower, upper = wilson_interval(0, 10)
    assert lower == 0 and upper == pytest.approx(0.27753, abs=1e-5)
    # A wider level gives a wider interval.
    assert wilson_interval(10, 100, 0.99)[0] < wilson_interval(10, 100)[0]
    assert incidence(3, 12) == 0.25
    estimate = crude_estimate(20, 1000)
    assert estimate.incidence == 0.02 and estimate.lower < 0.02 < estimate.upper


@pytest.mark.parametrize("call", [
    lambda: poisson_interval(1, 0), lambda: poisson_interval(-1, 10), lambda: wilson_interval(11, 10),
    lambda: wilson_interval(1, 10, 1.5), lambda: incidence(1, 0),
])
def test_invalid_inputs(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_no_nan() -> None:
    for cases in (0, 1, 50, 100):
        assert all(math.isfinite(v) for v in (*poisson_interval(cases, 100), *wilson_interval(cases, 100)))
