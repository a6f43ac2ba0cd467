"""Group commit of the citizen API's weekly reports (PostgreSQL): reports handed in together share one
statement, each request gets its own answer, one refused report never fails the others, and a dead
connection fails its batch with the error that becomes a 503."""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from reporting.extensions import db
from reporting.models import ReportSubmission, WeeklyReport
from reporting.questionnaire import load
from reporting.reports import group_commit
from reporting.reports import service as reports

from .citizens import make_profile
from .test_reports import THURSDAY, WELL, bearer_session

WEEKLY = load("weekly-1")


@pytest.fixture
def postgresql(app: Flask) -> Flask:
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("group commit is for PostgreSQL")
    return app


def report_for(app: Flask, session_hash: str, profile_id: str, submission_id: str) -> tuple[Any, ...]:
    with app.app_context():
        parameters, _week = reports._first_report_parameters(
            session_hash, profile_id, WEEKLY, WELL, submission_id,
            reports.body_hash(profile_id, WEEKLY, WELL), THURSDAY)
    return parameters


def stored(app: Flask) -> dict[str, int]:
    with app.app_context():
        rows = dict(db.session.execute(select(WeeklyReport.profile_id, WeeklyReport.id)).all())
        assert db.session.scalar(select(func.count()).select_from(ReportSubmission)) == len(rows)
        db.session.close()
        return rows


def test_one_statement_writes_a_batch_and_answers_each_in_order(postgresql: Flask) -> None:
    people = [make_profile(postgresql, f"p{i}@example.dk") for i in range(4)]
    sessions = [bearer_session(postgresql, account) for account, _ in people]
    other_account, _ = make_profile(postgresql, "other@example.dk")
    batch = [report_for(postgresql, sessions[i], profile, f"batch-submission-{i:04d}") for i, (_, profile) in
             enumerate(people)]
    batch.append(report_for(postgresql, "0" * 64, people[0][1], "batch-submission-9998"))  # no such session
    batch.append(report_for(postgresql, bearer_session(postgresql, other_account), people[1][1],
                            "batch-submission-9999"))  # a live session, someone else's profile
    with postgresql.app_context():
        rows = group_commit.write_now(db.engine, batch)
    assert [row[0] for row in rows[:4]] == [account for account, _ in people]
    assert all(row[1] is not None for row in rows[:4]) and [row[2] for row in rows[:4]] == [p for _, p in people]
    assert rows[4][0] is None and rows[4][1] is None  # not signed in: nothing written
    assert rows[5][0] == other_account and rows[5][1] is None  # not their profile: nothing written
    assert stored(postgresql) == {profile: row[1] for (_, profile), row in zip(people, rows)}


def test_a_refused_report_fails_alone(postgresql: Flask) -> None:
    """One report of a batch whose week is taken makes the statement fail; the writer then writes each report
    alone, so only that one gets the error (and the service takes its general path for it)."""
    people = [make_profile(postgresql, f"q{i}@example.dk") for i in range(3)]
    sessions = [bearer_session(postgresql, account) for account, _ in people]
    with postgresql.app_context():
        reports.submit_report(session_hash=sessions[0], profile_id=people[0][1], submission_id="earlier-one-0001",
                              questionnaire=WEEKLY, answers=WELL, now=THURSDAY)
        writer = group_commit.GroupCommit(db.engine)
        pending = [group_commit._Pending(report_for(postgresql, sessions[i], profile, f"later-submission-{i:03d}"))
                   for i, (_, profile) in enumerate(people)]
        writer._write(pending)
    assert isinstance(pending[0].error, psycopg.errors.UniqueViolation) and pending[0].row is None
    assert all(p.error is None and p.row[1] is not None for p in pending[1:])
    assert all(p.done.is_set() for p in pending)
    assert set(stored(postgresql)) == {profile for _, profile in people}


def test_concurrent_requests_share_statements_and_all_are_stored(postgresql: Flask) -> None:
    people = [make_profile(postgresql, f"c{i}@example.dk") for i in range(24)]
    sessions = [bearer_session(postgresql, account) for account, _ in people]
    start = threading.Barrier(len(people))
    results: dict[int, Any] = {}

    def submit(i: int) -> None:
        with postgresql.app_context():
            start.wait()
            results[i] = reports.submit_report(session_hash=sessions[i], profile_id=people[i][1],
                                               submission_id=f"concurrent-sub-{i:04d}", questionnaire=WEEKLY,
                                               answers=WELL, now=THURSDAY)
            db.session.close()

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(results) == len(people)
    rows = stored(postgresql)
    assert {i: r.report_id for i, r in results.items()} == {i: rows[profile] for i, (_, profile) in enumerate(people)}
    with postgresql.app_context():
        writer = reports._group_commit()
        assert writer is not None and writer.reports == len(people) and writer.batches <= len(people)
        # A replay of one of them goes past the writer's refusal to the general path.
        again = reports.submit_report(session_hash=sessions[0], profile_id=people[0][1],
                                      submission_id="concurrent-sub-0000", questionnaire=WEEKLY, answers=WELL,
                                      now=THURSDAY)
    assert again.replayed and again.report_id == results[0].report_id


def test_a_connection_that_dies_under_the_batch_is_a_retryable_error(postgresql: Flask,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Every report of the batch gets SQLAlchemy's DBAPIError with ``connection_invalidated`` (answered 503
    with Retry-After), the connection is replaced, and the same reports are written when sent again."""
    account, profile = make_profile(postgresql)
    report = report_for(postgresql, bearer_session(postgresql, account), profile, "dies-submission-001")
    real = group_commit.first_reports_sql
    with postgresql.app_context():
        writer = group_commit.GroupCommit(db.engine)
        # The server ends the connection while it runs the batch (as a restart of PostgreSQL would).
        monkeypatch.setattr(group_commit, "first_reports_sql", lambda n, by="session": (
            "SELECT pg_terminate_backend(pg_backend_pid()) FROM (VALUES (%s, %s, %s, %s, %s, %s, %s)) AS v"))
        pending = [group_commit._Pending(report), group_commit._Pending(report)]
        writer._write(pending[:1])
        writer._write(pending[1:])
        assert all(isinstance(p.error, DBAPIError) and p.error.connection_invalidated for p in pending)
        monkeypatch.setattr(group_commit, "first_reports_sql", real)
        again = group_commit._Pending(report)
        writer._write([again])
    assert again.error is None and again.row[1] is not None
    assert set(stored(postgresql)) == {profile}
