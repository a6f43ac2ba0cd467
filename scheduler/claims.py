"""Per-period claims on periodic jobs (``job_runs``, unique on job name + period).

Before a job runs for a period (an hour, a week, a minute) it inserts a claim row. The unique key means a
second scheduler process, a restart inside the same period or a manual re-run cannot run the same period
twice: the second claim is refused. A claim that failed, or that has been 'running' longer than
``stale_after`` (its process died), may be taken over by a compare-and-set update, so exactly one contender
wins. Claims are written on their own connection and committed at once, apart from the job's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from reporting.models import JobRun, utcnow

DETAIL_LIMIT = 4000


@dataclass(frozen=True)
class Claim:
    id: int
    job_name: str
    period: str


def claim(engine: Engine, job_name: str, period: str, stale_after: dt.timedelta | None = dt.timedelta(hours=6),
          retry_failed: bool = True) -> Claim | None:
    """Claim ``job_name`` for ``period``; None when another run holds it or already succeeded."""
    table = JobRun.__table__
    now = utcnow()
    try:
        with engine.begin() as connection:
            row_id = connection.execute(
                insert(table).values(job_name=job_name, period=period, status="running", started_at=now)
                .returning(table.c.id)).scalar_one()
        return Claim(row_id, job_name, period)
    except IntegrityError:
        pass
    with engine.begin() as connection:
        existing = connection.execute(
            select(table.c.id, table.c.status, table.c.started_at)
            .where(table.c.job_name == job_name, table.c.period == period)).one_or_none()
        if existing is None:  # deleted meanwhile: try once more from the start
            return claim(engine, job_name, period, stale_after, retry_failed)
        takeover = (existing.status == "failed" and retry_failed) or (
            existing.status == "running" and stale_after is not None and existing.started_at < now - stale_after)
        if not takeover:
            return None
        taken = connection.execute(
            update(table)
            .where(table.c.id == existing.id, table.c.status == existing.status,
                   table.c.started_at == existing.started_at)
            .values(status="running", started_at=now, finished_at=None,
                    detail=f"taken over from a {existing.status} claim started {existing.started_at:%Y-%m-%d %H:%M:%S}Z")
        ).rowcount
    return Claim(existing.id, job_name, period) if taken == 1 else None


def finish(engine: Engine, claimed: Claim, succeeded: bool, detail: str | None = None) -> None:
    table = JobRun.__table__
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == claimed.id).values(
            status="succeeded" if succeeded else "failed", finished_at=utcnow(),
            detail=(detail or "")[:DETAIL_LIMIT] or None))


def claimed(engine: Engine, job_name: str, period: str) -> bool:
    """Whether any claim (running, succeeded or failed) exists for ``job_name`` and ``period``."""
    table = JobRun.__table__
    with engine.connect() as connection:
        return connection.scalar(select(table.c.id).where(table.c.job_name == job_name,
                                                          table.c.period == period)) is not None


def recent_runs(engine: Engine, job_name: str, limit: int = 5) -> list[JobRun]:
    table = JobRun.__table__
    with engine.connect() as connection:
        rows = connection.execute(select(table).where(table.c.job_name == job_name)
                                  .order_by(table.c.started_at.desc(), table.c.id.desc()).limit(limit)).mappings()
        return [JobRun(**row) for row in rows]


def prune(engine: Engine, succeeded_older_than: dt.timedelta, failed_older_than: dt.timedelta) -> int:
    """Delete old claims (the claim only matters while its period can still be re-run)."""
    table = JobRun.__table__
    now = utcnow()
    with engine.begin() as connection:
        return connection.execute(delete(table).where(
            ((table.c.status == "succeeded") & (table.c.started_at < now - succeeded_older_than))
            | ((table.c.status == "failed") & (table.c.started_at < now - failed_older_than)))).rowcount
