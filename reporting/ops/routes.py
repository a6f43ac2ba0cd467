"""Health endpoints for operators and load balancers.

``/readyz`` also reports the periodic jobs that need an operator (``"jobs"``): runs missed past their grace,
running claims whose lease expired (no scheduler is re-running them), and failures no longer retried. They do
not make the answer 503: readiness decides whether this web process gets traffic, and a missed weekly
aggregation says nothing about that; taking every web process out of the load balancer for it would turn
stale figures into an outage. Monitoring alerts on ``jobs.attention`` (or ``covidmeter jobs --check``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, select, text

from ..authz import PUBLIC, access
from ..db import RETRY_AFTER_SECONDS
from ..extensions import csrf, db, limiter
from ..migrate import current_revision, head_revision
from ..models import JobRun, utcnow

bp = Blueprint("ops", __name__)
csrf.exempt(bp)
limiter.exempt(bp)


@bp.get("/healthz")
@access(PUBLIC)
def healthz() -> Any:
    """The process is up. Says nothing about its dependencies."""
    return jsonify(status="ok")


@bp.get("/readyz")
@access(PUBLIC)
def readyz() -> Any:
    """Ready for traffic: the database answers and its schema is at the migration head. Reports the job runs
    that need an operator without changing the answer (see the module's docstring)."""
    try:
        db.session.execute(text("SELECT 1"))
        revision = current_revision(db.engine)
    except Exception as exc:  # any driver error means "not ready"; the detail stays in the log
        current_app.logger.warning("readiness check failed: %s", type(exc).__name__)
        return jsonify(status="unavailable", database="unreachable"), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    head = head_revision()
    if revision != head:
        return jsonify(status="unavailable", database="reachable", schema=revision, expected=head,
                       detail="run: covidmeter db upgrade"), 503, {"Retry-After": str(RETRY_AFTER_SECONDS)}
    return jsonify(status="ok", database="reachable", schema=revision, jobs=_jobs())


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def _jobs(limit: int = 20) -> dict[str, Any]:
    """The job runs an operator should look at (scheduler.claims.attention, in SQL: reporting does not import the
    scheduler). Never more than ``limit`` of each; an error here leaves readiness as it is."""
    config = current_app.config
    now = utcnow()
    lease = dt.timedelta(seconds=config.get("COVIDMETER_JOB_LEASE_SECONDS") or 90)
    max_attempts = config.get("COVIDMETER_JOB_MAX_ATTEMPTS") or 5
    table = JobRun.__table__
    columns = (table.c.job_name, table.c.period, table.c.status, table.c.scheduled_for, table.c.started_at,
               table.c.heartbeat_at, table.c.attempts)
    conditions = (
        table.c.status == "missed",
        (table.c.status == "running") & (func.coalesce(table.c.heartbeat_at, table.c.started_at) < now - lease),
        (table.c.status == "failed") & (table.c.attempts >= max_attempts)
        & (table.c.started_at >= now - dt.timedelta(days=7)),
    )
    try:
        rows = [row for condition in conditions for row in db.session.execute(
            select(*columns).where(condition).order_by(table.c.started_at.desc()).limit(limit)).all()]
    except Exception as exc:  # the table is being migrated, say: report it, stay as ready as the checks above said
        db.session.rollback()
        current_app.logger.warning("readiness: the job runs could not be read: %s", type(exc).__name__)
        return {"attention": None, "error": "job runs unreadable"}
    missed = [{"job": r.job_name, "period": r.period, "scheduled_for": _iso(r.scheduled_for)}
              for r in rows if r.status == "missed"][:limit]
    stale = [{"job": r.job_name, "period": r.period, "last_heartbeat": _iso(r.heartbeat_at or r.started_at)}
             for r in rows if r.status == "running"][:limit]
    failed = [{"job": r.job_name, "period": r.period, "attempts": r.attempts}
              for r in rows if r.status == "failed"][:limit]
    return {"attention": bool(missed or stale or failed), "missed": missed, "stale": stale, "failed": failed}
