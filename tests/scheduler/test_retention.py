"""Retention: raw data past its period goes; published estimates stay, and re-running purged weeks writes no
"revision"."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import (Account, IncidenceEstimate, LoginToken, OutboxMessage, ParticipationEstimate,
                              WeeklyReport, utcnow)
from scheduler.incidence import aggregate_weeks
from scheduler.incidence.definitions import load_definitions
from scheduler.incidence.horizon import first_recomputable_week, purged_before
from scheduler.incidence.methods import W0, W1_S2_IF2_EX
from scheduler.retention import purge, report_horizon

from .factories import People, W, week
from .test_aggregation import build_known_population

LATER = dt.date(2028, 10, 15)  # W (March 2026) is then more than 730 days old, and its season has ended


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_horizon_is_a_season_start_older_than_the_period() -> None:
    assert report_horizon(LATER, 730) == dt.date(2026, 9, 1)  # cutoff 2026-10-15, in the 2026 season
    assert report_horizon(dt.date(2028, 6, 1), 730) == dt.date(2025, 9, 1)  # cutoff 2026-06-02: keep 2025/26
    assert first_recomputable_week(dt.date(2026, 9, 1), W0) == dt.date(2026, 9, 7) + dt.timedelta(weeks=4)
    # w1_s2_if2_ex counts reports 26 weeks either side of W (issue 14, item 1): window 1 + 26 + 1 weeks.
    assert first_recomputable_week(dt.date(2026, 9, 1), W1_S2_IF2_EX) == dt.date(2026, 9, 7) + dt.timedelta(weeks=28)


def test_purge_keeps_published_estimates_and_rerun_writes_no_revision(app: Flask) -> None:
    with app.app_context():
        with db.engine.begin() as connection:
            build_known_population(connection)
            people = People(connection)
            recent = people.person(1084, "female", 1990)
            people.report(recent, dt.date(2026, 9, 7))  # the 2026/27 season: kept
        definitions = load_definitions(db.session)
        db.session.close()
        first = aggregate_weeks([W, week(1)], definitions, ["w0", "w1_s2_if2_ex"], dt.date(2026, 3, 20))
        assert all(r.skipped is None for r in first)
        estimates, participation = _count(IncidenceEstimate), _count(ParticipationEstimate)
        snapshot = set(db.session.execute(select(IncidenceEstimate.id, IncidenceEstimate.active,
                                                 IncidenceEstimate.cases, IncidenceEstimate.issue)).all())
        db.session.close()

        counts = purge(db.engine, app.config, LATER)
        assert counts["reports"] == 15  # every report of the 2025/26 season (the ten people of W)
        assert _count(WeeklyReport) == 1
        with db.engine.connect() as connection:
            assert purged_before(connection) == dt.date(2026, 9, 1)

        again = aggregate_weeks([W, week(1)], definitions, ["w0", "w1_s2_if2_ex"], LATER)
        assert all(r.skipped and "purged" in r.skipped for r in again)
        assert sum(r.written.inserted + r.written.updated for r in again) == 0
        assert (_count(IncidenceEstimate), _count(ParticipationEstimate)) == (estimates, participation)
        assert set(db.session.execute(select(IncidenceEstimate.id, IncidenceEstimate.active,
                                             IncidenceEstimate.cases, IncidenceEstimate.issue)).all()) == snapshot
        # A week of the kept season far enough from the horizon is computed as usual.
        kept = aggregate_weeks([dt.date(2026, 10, 12)], definitions, ["w0"], LATER)
        assert kept[0].skipped is None
        # A second purge finds nothing more and leaves the horizon.
        assert purge(db.engine, app.config, LATER)["reports"] == 0


def test_purge_of_accounts_tokens_and_mail(app: Flask) -> None:
    now = utcnow()
    old = now - dt.timedelta(days=60)
    with app.app_context():
        db.session.add_all([
            Account(email="never@example.invalid", status="pending", created_at=old),
            Account(email="fresh@example.invalid", status="pending", created_at=now),
            Account(email="active@example.invalid", status="active", created_at=old, confirmed_at=old),
        ])
        db.session.flush()
        active = db.session.scalar(select(Account.id).where(Account.email == "active@example.invalid"))
        db.session.add_all([
            LoginToken(token_hash="a" * 64, account_id=active, purpose="login", created_at=old,
                       expires_at=old + dt.timedelta(minutes=15)),
            LoginToken(token_hash="b" * 64, account_id=active, purpose="login", created_at=now,
                       expires_at=now + dt.timedelta(minutes=15)),
            OutboxMessage(recipient="x@example.invalid", subject="s", body_text="b", category="login",
                          status="sent", created_at=now - dt.timedelta(days=100)),
            OutboxMessage(recipient="y@example.invalid", subject="s", body_text="b", category="login",
                          status="pending", created_at=now - dt.timedelta(days=100)),
        ])
        db.session.commit()
        counts = purge(db.engine, app.config, now.date(), now)
        assert (counts["unconfirmed accounts"], counts["tokens"], counts["mails"]) == (1, 1, 1)
        assert set(db.session.scalars(select(Account.email))) == {"fresh@example.invalid", "active@example.invalid"}
        assert db.session.scalar(select(OutboxMessage.status)) == "pending"  # never drop unsent mail
