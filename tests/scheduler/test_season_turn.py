"""1 September is no break (issue 14, item 1): a panel reporting every week from July to October, some of
whom joined seasons ago, some in July, some joining week by week through the turn, has the same active counts
and incidence in the first weeks of September as in August under every method, in the SQL (one statement for
all the weeks and one per week, the two statement shapes) and in the plain-Python reference."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask

from reporting.extensions import db
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.methods import METHODS, Method
from scheduler.incidence.reference import reference_counts
from scheduler.incidence.strata import load_strata

from .factories import People, all_reports

TURN = dt.date(2025, 9, 1)  # a Monday: the first week of the 2025/26 season
FIRST, LAST = dt.date(2025, 7, 7), dt.date(2025, 10, 27)
WEEKS = [FIRST + dt.timedelta(weeks=n) for n in range((LAST - FIRST).days // 7 + 1)]
# August (and late July): the weeks whose week-to-week changes are the normal variation, once every method
# has had three weeks of the panel (w0_3w) and a week either side (w1).
BEFORE = [w for w in WEEKS if dt.date(2025, 7, 28) <= w < TURN]
# The weeks at the turn: the first three of September, each compared with the week before.
AT_TURN = [TURN + dt.timedelta(weeks=n) for n in range(3)]
NATION = ("nation", "DK", "all", "all")
BANDS = [("0-20", 0, 20), ("21-64", 21, 64), ("65+", 65, 150)]


def _build_panel(people: People) -> None:
    """10 participants whose first report was in March 2024 (two seasons back), 10 from March 2025, 10 from
    the first week of July 2025, all reporting every week from July to October; and 2 new participants a week
    from 4 August to 20 October, reporting every week from their first. Participant i has a new cough
    (covid.ecdc) in the weeks where (week number + i) is a multiple of 5, so about a fifth of the panel is a
    case every week."""
    regions, sexes = (1081, 1084), ("female", "male")
    series = {n: [] for n in range(30)}
    for n in range(10):
        series[n].append(dt.date(2024, 3, 4))
    for n in range(10, 20):
        series[n].append(dt.date(2025, 3, 3))
    for n in range(30):
        series[n].extend(WEEKS)
    joining = [w for w in WEEKS if dt.date(2025, 8, 4) <= w <= dt.date(2025, 10, 20)]
    for j, monday in enumerate(joining):
        for k in range(2):
            series[30 + 2 * j + k] = [w for w in WEEKS if w >= monday]
    for i, weeks in series.items():
        profile = people.person(regions[i % 2], sexes[(i // 2) % 2], 1950 + i % 50)
        for monday in weeks:
            if ((monday - FIRST).days // 7 + i) % 5 == 0:
                people.report(profile, monday, symptoms=["cough"], symptom_start=monday + dt.timedelta(days=1),
                              same_illness="no")
            else:
                people.report(profile, monday)


@pytest.fixture
def panel(app: Flask) -> Flask:
    with app.app_context():
        with db.engine.begin() as connection:
            _build_panel(People(connection))
        db.session.close()
    return app


def _largest_change(series: dict[dt.date, float], weeks: list[dt.date]) -> float:
    return max(abs(series[w] - series[w - dt.timedelta(weeks=1)]) for w in weeks)


@pytest.mark.parametrize("method", list(METHODS.values()), ids=lambda m: m.key)
def test_the_first_weeks_of_september_continue_august(panel: Flask, method: Method) -> None:
    with panel.app_context():
        definitions = load_definitions(db.session, ["covid.ecdc"])
        db.session.close()
        with db.engine.connect() as connection:
            strata = load_strata(connection, "influenzanet")
            together = count_weeks(connection, WEEKS, definitions, method, strata)
            one_by_one = {w: count_weeks(connection, [w], definitions, method, strata)[w]
                          for w in [w - dt.timedelta(weeks=1) for w in AT_TURN] + AT_TURN}
            reports = all_reports(connection)
    active = {w: together[w].active[NATION] for w in WEEKS}
    cases = {w: together[w].cases[0][NATION] for w in WEEKS}
    for w, counts in one_by_one.items():
        assert (counts.active[NATION], counts.cases[0][NATION]) == (active[w], cases[w]), (method.key, w)
    for w in WEEKS:
        ref_active, ref_cases = reference_counts(reports, w, definitions, method, BANDS)
        assert (ref_active[NATION], ref_cases[(NATION, "covid.ecdc")]) == (active[w], cases[w]), (method.key, w)

    assert min(active[w] for w in BEFORE) >= 30, (method.key, active)  # the panel is counted in August
    # Active: the change into each week at the turn is no larger than August's largest week-to-week change.
    normal = _largest_change(active, BEFORE[1:])
    assert _largest_change(active, AT_TURN) <= normal, (method.key, normal, [active[w] for w in WEEKS])
    # Incidence: every week at the turn lies within August's range, widened by its own spread on both sides.
    incidence = {w: cases[w] / active[w] for w in BEFORE + AT_TURN}
    lo, hi = min(incidence[w] for w in BEFORE), max(incidence[w] for w in BEFORE)
    spread = hi - lo
    for w in AT_TURN:
        assert lo - spread <= incidence[w] <= hi + spread, (method.key, w, incidence[w], (lo, hi))
