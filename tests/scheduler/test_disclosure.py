"""Disclosure control: primary, low-precision and complementary suppression, and an attacker who tries to
recover suppressed cells from published ones (and must fail)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reporting.models import MISSING_LOW_PRECISION, MISSING_NONE, MISSING_PRIVACY
from scheduler.incidence.cells import PublishedValues
from scheduler.incidence.disclosure import (DisclosurePolicy, disclose_cell, disclose_table, public_rows, recoverable,
                                            table_relations)
from scheduler.incidence.statistics import poisson_interval, wilson_interval

REGIONS = ["1081", "1082", "1083", "1084", "1085"]
BANDS = ["0-20", "21-64", "65+"]
SEXES = ["female", "male", "other"]
GEOS = [("nation", "DK")] + [("region", r) for r in REGIONS]
RELATIONS = table_relations(GEOS, BANDS, SEXES)
POLICY = DisclosurePolicy(suppress_below=5, min_active=20)


def full_table(finest: dict[tuple[str, str, str], int]) -> dict[tuple[str, str, str, str], int]:
    """Margins from the finest cells (region x band x sex)."""
    table = {}
    for (geo_type, geo), band, sex in itertools.product(GEOS, [*BANDS, "all"], [*SEXES, "all"]):
        regions = REGIONS if geo_type == "nation" else [geo]
        bands = BANDS if band == "all" else [band]
        sexes = SEXES if sex == "all" else [sex]
        table[(geo_type, geo, band, sex)] = sum(finest.get((r, b, s), 0) for r in regions for b in bands
                                                for s in sexes)
    return table


def attack(table: dict[Any, int], withheld: set[Any]) -> dict[Any, int]:
    """The attacker: every published cell is known; each margin relation is an equation. A withheld cell is
    recovered when adding its unit vector does not raise the rank of the equations (it is a linear combination
    of them), and then its value is read from a least-squares solution. Independent of the engine's SVD audit.
    Also the plain subtraction attack, repeated until nothing new is learnt."""
    known = {cell: v for cell, v in table.items() if cell not in withheld}
    unknown = sorted(withheld, key=repr)
    recovered: dict[Any, int] = {}
    changed = True
    while changed:  # subtraction: a relation with one unknown gives it away
        changed = False
        for margin, members in RELATIONS:
            cells = [margin, *members]
            missing = [c for c in cells if c not in known]
            if len(missing) == 1:
                c = missing[0]
                rest = sum(known[m] for m in members if m != c)
                known[c] = known[margin] - rest if c != margin else rest
                recovered[c] = known[c]
                changed = True
    if not unknown:
        return recovered
    index = {c: j for j, c in enumerate(unknown)}
    rows, rhs = [], []
    for margin, members in RELATIONS:
        row = np.zeros(len(unknown))
        value = 0.0
        for sign, cell in [(1, margin)] + [(-1, m) for m in members]:
            if cell in index:
                row[index[cell]] += sign
            else:
                value -= sign * table[cell]
        if row.any():
            rows.append(row)
            rhs.append(value)
    if rows:
        a = np.array(rows)
        solution = np.linalg.lstsq(a, np.array(rhs), rcond=None)[0]
        rank = np.linalg.matrix_rank(a)
        for cell, j in index.items():
            unit = np.zeros(len(unknown))
            unit[j] = 1
            if np.linalg.matrix_rank(np.vstack([a, unit])) == rank:
                recovered[cell] = int(round(solution[j]))
    return recovered


def test_demo_leak_is_closed() -> None:
    """Region 1081, 0-20: 4 boys and 7 girls. Primary suppression alone hides the 4, which 11 - 7 gives away."""
    finest = {(r, b, s): 40 for r in REGIONS for b in BANDS for s in ("female", "male")}
    finest[("1081", "0-20", "male")] = 4
    finest[("1081", "0-20", "female")] = 7
    finest.update({(r, b, "other"): 0 for r in REGIONS for b in BANDS})
    active = full_table(finest)
    cell = ("region", "1081", "0-20", "male")
    assert attack(active, {cell})[cell] == 4  # the attacker works: primary suppression alone leaks
    decision = disclose_table(active, [], RELATIONS, POLICY)
    assert cell in decision.active_withheld
    assert ("region", "1081", "0-20", "female") in decision.active_withheld  # the smallest partner
    assert ("nation", "DK", "0-20", "male") in decision.active_withheld or \
        ("region", "1082", "0-20", "male") in decision.active_withheld or \
        any(c[1] != "1081" for c in decision.active_withheld)  # the region margin is protected too
    assert not set(attack(active, set(decision.active_withheld))) & set(decision.active_withheld)


finest_strategy = st.dictionaries(
    st.tuples(st.sampled_from(REGIONS), st.sampled_from(BANDS), st.sampled_from(SEXES)),
    st.integers(0, 30), min_size=5, max_size=45)


@settings(max_examples=60, deadline=None)
@given(finest=finest_strategy, data=st.data())
def test_attacker_cannot_recover_suppressed_cells(finest: dict[tuple[str, str, str], int], data: st.DataObject
                                                  ) -> None:
    cases_finest = {cell: data.draw(st.integers(0, min(n, 9))) for cell, n in finest.items()}
    active, cases = full_table(finest), full_table(cases_finest)
    decision = disclose_table(active, [cases], RELATIONS, POLICY)
    # Primary rules hold.
    for cell, n in active.items():
        if 0 < n < 5:
            assert cell in decision.active_withheld
        if cell in decision.active_withheld:
            assert decision.reason(cell, 0) == MISSING_PRIVACY
        elif n < POLICY.min_active:  # reason 6 whatever the count: the reason tells nothing of it
            assert decision.reason(cell, 0) == MISSING_LOW_PRECISION
        elif 0 < cases[cell] < 5:
            assert decision.reason(cell, 0) == MISSING_PRIVACY
    # Nothing withheld for privacy can be recovered, in either table.
    recovered_active = attack(active, set(decision.active_withheld))
    assert not set(recovered_active) & set(decision.active_withheld), recovered_active
    recovered_cases = attack(cases, set(decision.cases_withheld[0]))
    small = {cell for cell in decision.cases_withheld[0] if 0 < cases[cell] < 5}
    assert not set(recovered_cases) & (set(decision.cases_privacy[0]) | small), recovered_cases
    # The engine's own audit agrees with the attacker.
    assert not recoverable(decision.active_withheld, RELATIONS) & decision.active_withheld


def test_zero_is_shown_and_published_values() -> None:
    assert disclose_cell(200, 0, POLICY).cases == 0
    shown = disclose_cell(200, 10, POLICY)
    assert (shown.active, shown.cases, shown.incidence, shown.missing_reason) == (200, 10, 0.05, MISSING_NONE)
    assert (shown.lower_95, shown.upper_95) == pytest.approx(poisson_interval(10, 200))
    assert (shown.wilson_lower_95, shown.wilson_upper_95) == pytest.approx(wilson_interval(10, 200))
    assert shown.stderr == pytest.approx((0.05 * 0.95 / 200) ** 0.5)
    small = disclose_cell(200, 3, POLICY)
    assert (small.active, small.cases, small.wilson_lower_95, small.stderr, small.missing_reason) == (
        200, None, None, None, MISSING_PRIVACY)
    assert disclose_cell(3, 0, POLICY).active is None


def _row(active: int, cases: int) -> PublishedValues:
    return PublishedValues(active, cases, cases / active, 0.0, 1.0, MISSING_NONE)


def test_public_rows_are_stricter_and_closed_under_the_margin() -> None:
    policy = DisclosurePolicy(public_min_active=200, public_min_cases=10)
    nation = ("nation", "DK", "all", "all")
    regions = [("region", r, "all", "all") for r in REGIONS]
    rows = {nation: _row(2000, 100), regions[0]: _row(150, 12), regions[1]: _row(500, 20),
            regions[2]: _row(400, 30), regions[3]: _row(600, 25), regions[4]: _row(350, 13)}
    public = public_rows(rows, nation, regions, policy)
    # 1081 has too few active; alone it would be nation - the others, so one more region (the smallest count,
    # 1085 with 13 cases) leaves the public set.
    assert regions[0] not in public and regions[4] not in public
    assert public == {nation, regions[1], regions[2], regions[3]}
    rows[regions[0]] = _row(300, 6)  # 1..9 cases are not public either
    assert regions[0] not in public_rows(rows, nation, regions, policy)
    rows = {cell: _row(1000, 0) for cell in [nation, *regions]}  # zero may be public
    assert public_rows(rows, nation, regions, policy) == {nation, *regions}
