"""Stored week flags (PostgreSQL): the triggers keep each report's late flags right whatever the order of
inserts, revisions and deletions, the one-pass count of w0 from them equals the general statement and the
plain-Python reference, and methods the flags were not built for never read them."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, delete, text, update

from reporting.extensions import db
from reporting.models import WeeklyReport
from reporting.weeks import monday_of
from scheduler.incidence import caseflags
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.methods import METHODS, W0
from scheduler.incidence.reference import reference_counts
from scheduler.incidence.statements import count_statement
from scheduler.incidence.strata import load_strata

from scheduler.synthetic import Epidemic, generate

from .factories import W, all_reports, week
from .test_methods import BANDS, SEASON_START, _insert_population, person_strategy

pytestmark = pytest.mark.usefixtures("app")
WEEKS = [SEASON_START + dt.timedelta(weeks=n) for n in (-2, -1, 0, 1)]


@pytest.fixture
def postgresql(app: Flask) -> Flask:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("week flags are stored on PostgreSQL only")
    return app


def test_only_a_method_with_the_flags_rule_reads_them(postgresql: Flask) -> None:
    with postgresql.app_context(), db.engine.connect() as connection:
        definitions = load_definitions(db.session)
        rule = caseflags.week_flags_rule(connection)
        assert rule == caseflags.WEEK_FLAGS_RULE == {"onset_lookahead_weeks": 1, "same_episode_days": 15}
        strata = load_strata(connection, "influenzanet")

        def sql(method: Any, flags_rule: Any = rule, defs: Any = definitions) -> str:
            return str(count_statement(WEEKS, defs, method, strata.bands, caseflags.usable_bits(connection, defs),
                                       flags_rule).compile(dialect=connection.dialect))

        assert "week_flags" in sql(W0) and "JOIN" not in sql(W0).upper()
        for method in [m for m in METHODS.values() if m is not W0] + [
                dataclasses.replace(W0, key="w0_8", same_episode_days=8),
                dataclasses.replace(W0, key="w0_l2", onset_lookahead_weeks=2),
                dataclasses.replace(W0, key="w0_report_onset", onset_sources=("report",))]:
            assert "week_flags" not in sql(method), method.key
        assert "week_flags" not in sql(W0, flags_rule=None)  # a database built without them
        unflagged = dataclasses.replace(definitions[0], rule={"symptom": "rash"})
        assert "week_flags" not in sql(W0, defs=[unflagged])  # a definition evaluated inline


revision = st.fixed_dictionaries({
    "report": st.integers(0, 40),  # which report (modulo the number there are)
    "change": st.sampled_from(["delete", "cough", "same_illness", "submitted", "onset_last_week", "onset_now"]),
    "days": st.integers(-3, 3),
})


def _revise(connection: Connection, change: dict[str, Any]) -> None:
    """A revision as the service writes one (or a deletion, as withdrawal and retention do)."""
    rows = connection.execute(text("SELECT id, week, submitted_at, cough, same_illness FROM weekly_reports "
                                   "ORDER BY id")).all()
    if not rows:
        return
    row = rows[change["report"] % len(rows)]
    table = WeeklyReport.__table__
    target = update(table).where(table.c.id == row.id)
    if change["change"] == "delete":
        connection.execute(delete(table).where(table.c.id == row.id))
    elif change["change"] == "cough":
        connection.execute(target.values(cough=not row.cough, no_symptoms=False))
    elif change["change"] == "same_illness":
        connection.execute(target.values(same_illness=None if row.same_illness == "yes" else "yes"))
    elif change["change"] == "submitted":
        moved = row.submitted_at + dt.timedelta(days=change["days"])
        if monday_of(moved.date()) == row.week:
            connection.execute(target.values(submitted_at=moved))
    else:  # the illness began last week or this week: the onset and its week as the service derives them
        start = row.week - dt.timedelta(days=2) if change["change"] == "onset_last_week" else row.week
        connection.execute(target.values(symptom_start=start, fever_start=None, onset_date=start,
                                         onset_week=monday_of(start), cough=True, no_symptoms=False))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(persons=st.lists(person_strategy, min_size=1, max_size=6), revisions=st.lists(revision, max_size=6))
def test_late_flags_follow_every_write_and_the_count_equals_the_reference(postgresql: Flask,
                                                                         persons: list[dict[str, Any]],
                                                                         revisions: list[dict[str, Any]]) -> None:
    with postgresql.app_context():
        definitions = load_definitions(db.session, ["covid.ecdc", "cli", "any.symptom"])
        db.session.close()
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                _insert_population(connection, persons)  # each person's weeks in arbitrary order
                for change in revisions:
                    _revise(connection, change)
                # The triggers left nothing for a recomputation from scratch to change.
                assert caseflags.recompute_late_flags(connection) == 0
                strata = load_strata(connection, "influenzanet")
                flagged = count_weeks(connection, WEEKS, definitions, W0, strata)
                reports = all_reports(connection)
                for monday in WEEKS:
                    active, cases = reference_counts(reports, monday, definitions, W0, BANDS)
                    for cell, n in flagged[monday].active.items():
                        assert n == active[cell], (monday, cell)
                        for i, d in enumerate(definitions):
                            assert flagged[monday].cases[i][cell] == cases[(cell, d.key)], (monday, cell, d.key)
            finally:
                transaction.rollback()


def test_the_flags_count_what_the_general_statement_counts(postgresql: Flask,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A synthetic epidemic counted from the flags and by the joins they replace (the statement the other
    methods use, and any database built without flags)."""
    with postgresql.app_context():
        definitions = load_definitions(db.session)
        db.session.close()
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                generate(connection, participants=400, weeks=6, seed=11, end_week=W, today=W + dt.timedelta(days=6),
                         epidemic=Epidemic(covid_peak=0.15), show_progress=False)
                strata = load_strata(connection, "influenzanet")
                weeks = [week(n) for n in range(-5, 1)]
                flagged = count_weeks(connection, weeks, definitions, W0, strata)
                monkeypatch.setattr(caseflags, "week_flags_rule", lambda _connection: None)
                general = count_weeks(connection, weeks, definitions, W0, strata)
                for monday in weeks:
                    assert flagged[monday].active == general[monday].active
                    assert flagged[monday].cases == general[monday].cases
                assert sum(flagged[m].cases[0][("nation", "DK", "all", "all")] for m in weeks) > 20
            finally:
                transaction.rollback()


def test_late_flags_known_answers(postgresql: Flask) -> None:
    """A cough that began on the Sunday of W and was first reported on the Tuesday of W+1 is a case in W, in
    the stratum of the report of W, whichever report arrives first; it goes when the late report goes, and
    "same illness" within 15 days of the report of W continues an episode instead."""
    from .factories import People

    with postgresql.app_context():
        definitions = {d.key: d for d in load_definitions(db.session)}
        db.session.close()
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                bit = 1 << caseflags.usable_bits(connection, list(definitions.values()))[("covid.ecdc", 1)]
                people = People(connection)
                sunday = W + dt.timedelta(days=6)

                def flags(profile: str, monday: dt.date) -> tuple[int, int]:
                    return connection.execute(text(
                        "SELECT late_flags, week_flags FROM weekly_reports WHERE profile_id = :p AND week = :w"),
                        {"p": profile, "w": monday}).one()

                in_order, late_first, same = people.person(), people.person(), people.person()
                for profile in (in_order, same):
                    people.report(profile, W)  # well on Wednesday
                people.report(in_order, week(1), day=1, symptoms=["cough"], symptom_start=sunday, same_illness="no")
                people.report(same, week(1), day=1, symptoms=["cough"], symptom_start=sunday, same_illness="yes")
                people.report(late_first, week(1), day=1, symptoms=["cough"], symptom_start=sunday)
                people.report(late_first, W)  # the week's own report arrives after the late one
                assert flags(in_order, W)[0] & bit and flags(in_order, W)[1] & bit
                assert flags(late_first, W)[0] & bit
                assert flags(same, W) == (0, 0)  # 'same illness' 6 days after the report of W
                assert not flags(in_order, week(1))[1] & bit  # the late report counts in W, not in W+1
                counts = count_weeks(connection, [W, week(1)], [definitions["covid.ecdc"]], W0,
                                     load_strata(connection, "influenzanet"))
                assert counts[W].cases[0][("nation", "DK", "all", "all")] == 2
                assert counts[week(1)].cases[0][("nation", "DK", "all", "all")] == 0
                connection.execute(delete(WeeklyReport.__table__).where(WeeklyReport.profile_id == in_order,
                                                                        WeeklyReport.week == week(1)))
                assert flags(in_order, W) == (0, 0)
            finally:
                transaction.rollback()
