"""Disclosure control, decided once when estimates are written (every consumer shows the same cells).

Primary suppression (Danish Health Data Authority / Statistics Denmark practice: counts of fewer than five
persons are not published; zero may be shown): a cell whose active count or case count is in
1 .. COVIDMETER_SUPPRESS_BELOW - 1 publishes no value, no cases and no interval, with Delphi missing code 3
(privacy); when the active count itself is small, the active count is withheld too.

Low precision (Delphi discards estimates from fewer than 100 responses): a cell with fewer than
COVIDMETER_MIN_ACTIVE active participants publishes its active count but no value, cases or interval, with
reason 6 (``MISSING_LOW_PRECISION``). Privacy wins over low precision when both apply.

``disclose_week`` works on the whole table of one week and method (all geographies, age bands, sexes and
definitions at once), which is where complementary suppression (issue 4: a suppressed cell must not be
recoverable by subtracting published cells from a published margin) adds its second pass.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from reporting.models import MISSING_LOW_PRECISION, MISSING_NONE, MISSING_PRIVACY

from .statistics import crude_estimate


@dataclass(frozen=True)
class DisclosurePolicy:
    suppress_below: int = 5
    min_active: int = 100
    level: float = 0.95

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> "DisclosurePolicy":
        return cls(suppress_below=int(config["COVIDMETER_SUPPRESS_BELOW"]),
                   min_active=int(config["COVIDMETER_MIN_ACTIVE"]))

    def is_small(self, count: int) -> bool:
        """A count that identifies too few persons to publish (zero may be shown)."""
        return 0 < count < self.suppress_below


@dataclass(frozen=True)
class PublishedValues:
    """What may be published for one cell; None means withheld (the reason says why)."""

    active: int | None
    cases: int | None
    incidence: float | None
    lower_95: float | None
    upper_95: float | None
    missing_reason: int


def disclose_cell(active: int, cases: int, policy: DisclosurePolicy) -> PublishedValues:
    """Primary suppression and the low-precision rule for one cell, and the estimate when it may be shown."""
    if cases > active:
        raise ValueError(f"more cases ({cases}) than active participants ({active})")
    if policy.is_small(active):
        return PublishedValues(None, None, None, None, None, MISSING_PRIVACY)
    if policy.is_small(cases):
        return PublishedValues(active, None, None, None, None, MISSING_PRIVACY)
    if active < policy.min_active:
        return PublishedValues(active, None, None, None, None, MISSING_LOW_PRECISION)
    estimate = crude_estimate(cases, active, policy.level)
    return PublishedValues(active, cases, estimate.incidence, estimate.lower, estimate.upper, MISSING_NONE)


def disclose_week(cells: Iterable[tuple[Any, int, int]], policy: DisclosurePolicy) -> dict[Any, PublishedValues]:
    """Disclosure control for every cell of one week and method: ``cells`` yields (key, active, cases)."""
    return {key: disclose_cell(active, cases, policy) for key, active, cases in cells}
