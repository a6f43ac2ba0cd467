"""Season ordinals (PostgreSQL): the triggers keep each report's place among its participant's reports of the
season right whatever the order of inserts, deletions and moves, and every method counted from them equals
the plain-Python reference (which counts the participant's reports itself)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, delete, text, update

from reporting.extensions import db
from reporting.models import WeeklyReport
from reporting.reports import season_ordinal
from scheduler.incidence.counting import count_weeks
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.methods import METHODS, W0
from scheduler.incidence.reference import reference_counts
from scheduler.incidence.statements import count_statement
from scheduler.incidence.strata import load_strata

from .factories import People, all_reports
from .test_methods import ALL_METHODS, BANDS, SEASON_START, _insert_population, person_strategy

WEEKS = [SEASON_START + dt.timedelta(weeks=n) for n in (-2, -1, 0, 1)]


@pytest.fixture
def postgresql(app: Flask) -> Flask:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("season ordinals are kept on PostgreSQL only")
    return app


def ordinals(connection: Connection) -> dict[tuple[str, dt.date], int]:
    return {(profile, week): n for profile, week, n in connection.execute(text(
        f"SELECT profile_id, week, {season_ordinal.COLUMN} FROM weekly_reports"))}


def test_ordinals_count_the_season_and_start_again_in_september(postgresql: Flask) -> None:
    with postgresql.app_context(), db.engine.connect() as connection, connection.begin() as transaction:
        people = People(connection)
        p = people.person()
        august = [SEASON_START - dt.timedelta(weeks=n) for n in (3, 1)]  # 11 and 25 August 2025
        september = [SEASON_START, SEASON_START + dt.timedelta(weeks=2)]
        for monday in (september[1], august[1], september[0], august[0]):  # out of order
            people.report(p, monday)
        assert ordinals(connection) == {(p, august[0]): 1, (p, august[1]): 2, (p, september[0]): 1,
                                        (p, september[1]): 2}
        connection.execute(delete(WeeklyReport.__table__).where(WeeklyReport.__table__.c.week == september[0]))
        assert ordinals(connection)[(p, september[1])] == 1
        transaction.rollback()


change_strategy = st.fixed_dictionaries({
    "report": st.integers(0, 40),  # which report (modulo the number there are)
    "change": st.sampled_from(["delete", "move", "add_earlier"]),
    "weeks": st.integers(-3, 3),
})


def _change(connection: Connection, people: People, change: dict[str, Any]) -> None:
    rows = connection.execute(text("SELECT id, profile_id, week FROM weekly_reports ORDER BY id")).all()
    if not rows:
        return
    row = rows[change["report"] % len(rows)]
    table = WeeklyReport.__table__
    taken = {(r.profile_id, r.week) for r in rows}
    other = row.week + dt.timedelta(weeks=change["weeks"])
    if change["change"] == "delete":
        connection.execute(delete(table).where(table.c.id == row.id))
    elif (row.profile_id, other) in taken:
        return
    elif change["change"] == "move":  # no path of the service does this; the triggers still keep count
        connection.execute(update(table).where(table.c.id == row.id).values(
            week=other, onset_date=other, onset_week=other, symptom_start=None, fever_start=None,
            same_illness=None, submitted_at=dt.datetime.combine(other, dt.time(12), dt.timezone.utc)))
    else:  # a report of another week arriving late (a loader, or a test)
        people.report(row.profile_id, other)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(persons=st.lists(person_strategy, min_size=1, max_size=6), changes=st.lists(change_strategy, max_size=6))
def test_ordinals_follow_every_write_and_every_method_equals_the_reference(
        postgresql: Flask, persons: list[dict[str, Any]], changes: list[dict[str, Any]]) -> None:
    with postgresql.app_context():
        definitions = load_definitions(db.session, ["covid.ecdc", "cli"])
        db.session.close()
        with db.engine.connect() as connection:
            transaction = connection.begin()
            try:
                _insert_population(connection, persons)  # each person's weeks in arbitrary order
                people = People(connection)
                people.profiles.update({p: {"region": 1084, "sex": "female", "birth_year": 1980}
                                        for p in connection.scalars(text("SELECT id FROM profiles"))})
                for change in changes:
                    _change(connection, people, change)
                # The triggers left nothing for a numbering from scratch to change.
                assert season_ordinal.recompute(connection) == 0
                strata = load_strata(connection, "influenzanet")
                reports = all_reports(connection)
                for method in ALL_METHODS:
                    counts = count_weeks(connection, WEEKS, definitions, method, strata)
                    for monday in WEEKS:
                        active, cases = reference_counts(reports, monday, definitions, method, BANDS)
                        for cell, n in counts[monday].active.items():
                            assert n == active[cell], (method.key, monday, cell)
                            for i, d in enumerate(definitions):
                                assert counts[monday].cases[i][cell] == cases[(cell, d.key)], (
                                    method.key, monday, cell, d.key)
            finally:
                transaction.rollback()


def test_methods_with_season_rules_read_the_ordinal_instead_of_looking_up_reports(postgresql: Flask) -> None:
    with postgresql.app_context(), db.engine.connect() as connection:
        definitions = load_definitions(db.session)
        strata = load_strata(connection, "influenzanet")

        def sql(method: Any, ordinals: bool) -> str:
            return str(count_statement(WEEKS[-1:], definitions, method, strata.bands,
                                       season_ordinals=ordinals).compile(dialect=connection.dialect))

        for method in (m for m in METHODS.values() if m is not W0):
            with_ordinals, without = sql(method, True), sql(method, False)
            assert season_ordinal.COLUMN in with_ordinals and season_ordinal.COLUMN not in without, method.key
            # The per-report look-ups of earlier reports (min over the season, counts) are gone.
            assert "min(earlier.week)" not in with_ordinals and "min(earlier.week)" in without or \
                not method.ignore_first_report, method.key
        assert season_ordinal.present(connection)


def test_migration_numbers_existing_reports_and_keeps_every_index(postgresql: Flask) -> None:
    """Migration 0009 on a table that has reports: each is numbered, and the indexes it drops to do that
    quickly are all there again, as they were (names, definitions, the unique constraint)."""
    indexes = ("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'weekly_reports' ORDER BY 1")
    with postgresql.app_context(), db.engine.connect() as connection, connection.begin() as transaction:
        people = People(connection)
        p, q = people.person(), people.person()
        for monday in (SEASON_START + dt.timedelta(weeks=1), SEASON_START - dt.timedelta(weeks=1), SEASON_START):
            people.report(p, monday)
        people.report(q, SEASON_START)
        before = connection.exec_driver_sql(indexes).all()
        constraints = connection.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'weekly_reports'::regclass ORDER BY 1").all()
        season_ordinal.drop(connection)
        assert not season_ordinal.present(connection)
        assert season_ordinal.create(connection) == 1  # p's second report of the 2025 season; the rest are 1
        assert ordinals(connection) == {(p, SEASON_START - dt.timedelta(weeks=1)): 1, (p, SEASON_START): 1,
                                        (p, SEASON_START + dt.timedelta(weeks=1)): 2, (q, SEASON_START): 1}
        assert connection.exec_driver_sql(indexes).all() == before
        assert connection.exec_driver_sql(
            "SELECT conname FROM pg_constraint WHERE conrelid = 'weekly_reports'::regclass ORDER BY 1").all() \
            == constraints
        # And the triggers are back. (Not exercised here: after its indexes were rebuilt, this transaction's
        # cached plan of the late-flags function would still name the dropped ones; a migration commits first.)
        assert set(connection.scalars(text(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'weekly_reports'::regclass "
            "AND tgname LIKE 'weekly_reports_season_ordinal_%'"))) == {
            f"weekly_reports_season_ordinal_{kind}" for kind in ("insert", "delete", "move")}
        transaction.rollback()


def _boundary_days() -> list[dt.date]:
    """The first and last day of every month of six years, and every day around each 1 September."""
    days = []
    for year in range(2021, 2027):
        for month in range(1, 13):
            first = dt.date(year, month, 1)
            days += [first, (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)]
        days += [dt.date(year, 9, 1) + dt.timedelta(days=n) for n in range(-8, 8)]
    return sorted(set(days))


def test_every_spelling_of_the_season_is_the_one_rule(app: Flask) -> None:
    """The season (1 September - 31 August) is stated once, in reporting.weeks; its SQL for the aggregation
    (scheduler.incidence.sqlfunctions.season_start, both dialects) and, on PostgreSQL, the PL/pgSQL functions of the
    season ordinal's triggers give the same bounds for every day."""
    from sqlalchemy import Date, literal, select

    from reporting.weeks import season_bounds
    from scheduler.incidence.sqlfunctions import season_start

    days = _boundary_days()
    with app.app_context(), db.engine.connect() as connection:
        got = [connection.scalar(select(season_start(literal(day, Date)))) for day in days]
        got = [g if isinstance(g, dt.date) else dt.date.fromisoformat(g) for g in got]
        assert got == [season_bounds(day)[0] for day in days]
        if connection.dialect.name == "postgresql":
            for day in days:
                start, end = connection.execute(text(
                    "SELECT covidmeter_season_start(:d), covidmeter_season_end(:d)"), {"d": day}).one()
                assert (start, end - dt.timedelta(days=1)) == season_bounds(day), day
