"""Intervals against scipy and known answers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binomtest, chi2, poisson

from scheduler.incidence.statistics import crude_estimate, incidence, poisson_interval, wilson_interval


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


# Direct age standardisation with the Fay-Feuer gamma interval.
from scipy.stats import gamma  # noqa: E402

from scheduler.incidence.statistics import standard_error, standardised_rate  # noqa: E402


@settings(max_examples=100, deadline=None)
@given(cases=st.integers(0, 3000), n=st.integers(1, 100_000), level=st.sampled_from([0.9, 0.95, 0.99]))
def test_fay_feuer_with_one_stratum_is_the_exact_poisson_interval(cases: int, n: int, level: float) -> None:
    result = standardised_rate([min(cases, n)], [n], [1.0], level)
    lower, upper = poisson_interval(min(cases, n), n, level)
    assert result.rate == pytest.approx(min(cases, n) / n, rel=1e-12)
    assert result.lower == pytest.approx(lower, rel=1e-9, abs=1e-12)
    assert result.upper == pytest.approx(upper, rel=1e-9)


@settings(max_examples=100, deadline=None)
@given(data=st.data(), strata=st.integers(1, 5))
def test_fay_feuer_agrees_with_the_chi_square_form(data: st.DataObject, strata: int) -> None:
    """Gamma quantiles written as chi-square quantiles (G(p; a, s) = s chi2(p; 2a) / 2), an independent route."""
    active = data.draw(st.lists(st.integers(1, 5000), min_size=strata, max_size=strata))
    cases = [data.draw(st.integers(0, n)) for n in active]
    weights = data.draw(st.lists(st.floats(0.01, 1000), min_size=strata, max_size=strata))
    result = standardised_rate(cases, active, weights)
    shares = [w / sum(weights) for w in weights]
    y = sum(w * c / n for w, c, n in zip(shares, cases, active))
    v = sum((w / n) ** 2 * c for w, c, n in zip(shares, cases, active))
    wm = max(w / n for w, n in zip(shares, active))
    lower = 0.0 if y == 0 else chi2.ppf(0.025, 2 * y * y / v) * (v / y) / 2
    upper = chi2.ppf(0.975, 2 * (y + wm) ** 2 / (v + wm ** 2)) * ((v + wm ** 2) / (y + wm)) / 2
    assert result.rate == pytest.approx(y, rel=1e-12, abs=1e-15)
    assert result.lower == pytest.approx(lower, rel=1e-9, abs=1e-12)
    assert result.upper == pytest.approx(upper, rel=1e-9)
    assert result.lower <= result.rate <= result.upper


def test_fay_feuer_known_answer() -> None:
    # Two strata of equal weight: 10 / 100 and 20 / 400. adj = 0.5 * 0.1 + 0.5 * 0.05 = 0.075;
    # v = 10 * 0.005^2 + 20 * 0.00125^2 = 0.00028125; lower: shape 0.075^2 / v = 20, scale v / 0.075 = 0.00375;
    # G^-1(0.025; 20) = chi2(0.025; 40) / 2 = 24.4330 / 2 = 12.2165 -> 0.045812.
    # upper: w_M = 0.005, shape 0.08^2 / 0.00030625 = 20.898, scale 0.00030625 / 0.08 = 0.003828125.
    result = standardised_rate([10, 20], [100, 400], [3, 3])
    assert result.rate == pytest.approx(0.075, abs=1e-15)
    assert result.lower == pytest.approx(0.0458119, abs=1e-6)
    assert result.upper == pytest.approx(gamma.ppf(0.975, 0.08 ** 2 / 0.00030625, scale=0.003828125), rel=1e-12)
    assert 0.11 < result.upper < 0.12
    zero = standardised_rate([0, 0], [100, 400], [1, 1])
    assert zero.rate == 0 and zero.lower == 0 and zero.upper == pytest.approx(
        gamma.ppf(0.975, 1, scale=0.005), rel=1e-12)  # w_M = 0.5/100: the Poisson upper bound of 0 in 200
    with pytest.raises(ValueError, match="at least one active"):
        standardised_rate([0, 1], [0, 5], [1, 1])


def test_standard_error() -> None:
    assert standard_error(10, 100) == pytest.approx(math.sqrt(0.1 * 0.9 / 100), rel=1e-15)
    assert standard_error(0, 10) == 0.0
