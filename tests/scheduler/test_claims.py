"""Per-period claims: the same period runs once, whatever the number of schedulers or restarts."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

from flask import Flask
from sqlalchemy import select, update

from reporting.extensions import db
from reporting.models import JobRun, utcnow
from scheduler import claims


def test_second_claim_of_the_same_period_is_refused(app: Flask) -> None:
    with app.app_context():
        first = claims.claim(db.engine, "aggregate-recent", "2026-03-02T10")
        assert first is not None
        assert claims.claim(db.engine, "aggregate-recent", "2026-03-02T10") is None  # running
        assert claims.claim(db.engine, "aggregate-recent", "2026-03-02T11") is not None  # another period
        assert claims.claim(db.engine, "send-mail", "2026-03-02T10") is not None  # another job
        claims.finish(db.engine, first, True, "3 estimates inserted")
        assert claims.claim(db.engine, "aggregate-recent", "2026-03-02T10") is None  # succeeded
        run = db.session.scalar(select(JobRun).where(JobRun.id == first.id))
        assert (run.status, run.detail) == ("succeeded", "3 estimates inserted")
        assert run.finished_at is not None and run.finished_at >= run.started_at


def test_failed_and_stale_claims_can_be_taken_over_once(app: Flask) -> None:
    with app.app_context():
        failed = claims.claim(db.engine, "aggregate-final", "2026-W10")
        claims.finish(db.engine, failed, False, "OperationalError: database is locked")
        retry = claims.claim(db.engine, "aggregate-final", "2026-W10")
        assert retry is not None and retry.id == failed.id
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", retry_failed=True) is None  # now running
        with db.engine.begin() as connection:  # the process holding it died long ago
            connection.execute(update(JobRun).where(JobRun.id == retry.id)
                               .values(started_at=utcnow() - dt.timedelta(hours=7)))
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", stale_after=None) is None
        taken = claims.claim(db.engine, "aggregate-final", "2026-W10", stale_after=dt.timedelta(hours=6))
        assert taken is not None
        assert "taken over from a running claim" in db.session.scalar(select(JobRun.detail).where(
            JobRun.id == taken.id))
        claims.finish(db.engine, taken, False)
        assert claims.claim(db.engine, "aggregate-final", "2026-W10", retry_failed=False) is None


def test_concurrent_claims_have_one_winner(app: Flask) -> None:
    with app.app_context():
        engine = db.engine

        def contend(_: int) -> bool:
            return claims.claim(engine, "send-mail", "2026-03-02T10:15") is not None

        with ThreadPoolExecutor(max_workers=6) as pool:
            outcomes = list(pool.map(contend, range(12)))
        assert outcomes.count(True) == 1


def test_prune_keeps_recent_claims(app: Flask) -> None:
    with app.app_context():
        old = claims.claim(db.engine, "send-mail", "2026-01-01T10:00")
        claims.finish(db.engine, old, True)
        recent = claims.claim(db.engine, "send-mail", "2026-03-02T10:00")
        claims.finish(db.engine, recent, True)
        with db.engine.begin() as connection:
            connection.execute(update(JobRun).where(JobRun.id == old.id)
                               .values(started_at=utcnow() - dt.timedelta(days=40)))
        assert claims.prune(db.engine, dt.timedelta(days=30), dt.timedelta(days=180)) == 1
        assert [r.period for r in claims.recent_runs(db.engine, "send-mail")] == ["2026-03-02T10:00"]
