"""Retention: delete what is past its time (privacy by design), without changing what was published.

What goes (periods from configuration, in days):

- raw weekly reports (with their revisions and submission ids), COVIDMETER_RETENTION_REPORT_DAYS: whole
  Influenzanet seasons (1 September - 31 August) that ended before today minus the period. The look-backs a
  method makes over a bounded span (the reports 26 weeks around W, the same-episode rule, the activity
  window) are covered by ``first_recomputable_week`` (scheduler.incidence.horizon); the history rules (first
  report ever, weeks reported so far) read the reports kept, so a participant absent since a purged season
  counts as new again (scheduler.incidence.methods);
- accounts never confirmed, COVIDMETER_RETENTION_UNCONFIRMED_DAYS after sign-up (with what hangs on them);
- login tokens spent or expired, and sessions ended or revoked, COVIDMETER_RETENTION_TOKEN_DAYS ago;
- sent and finally failed outbox mail, COVIDMETER_RETENTION_MAIL_DAYS after it was written.

Published estimates stay. The purge records its horizon (``instance_facts`` key 'reports_purged_before', read by
``scheduler.incidence.horizon.purged_before``), and the aggregation skips every week whose inputs may have been
purged, so re-running an old week can never publish a "revision" that only reflects deleted data
(docs/methods.md, "Retention and revisions").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Engine, and_, delete, or_, select

from reporting.models import (Account, InstanceFact, LoginToken, OutboxMessage, ReportRevision, ReportSubmission,
                              UserSession, WeeklyReport, utcnow)
from reporting.weeks import season_bounds

from .incidence.horizon import PURGE_FACT, purged_before


def report_horizon(today: dt.date, days: int) -> dt.date:
    """Reports of weeks before this date (a season start) are older than ``days`` whatever their day."""
    cutoff = today - dt.timedelta(days=days)
    return season_bounds(cutoff)[0]


def purge(engine: Engine, config: Mapping[str, Any], today: dt.date, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what is past its retention period, in one transaction; returns counts by kind."""
    now = now or utcnow()
    horizon = report_horizon(today, int(config["COVIDMETER_RETENTION_REPORT_DAYS"]))
    tokens_before = now - dt.timedelta(days=int(config["COVIDMETER_RETENTION_TOKEN_DAYS"]))
    counts: dict[str, int] = {}
    reports = WeeklyReport.__table__
    with engine.begin() as connection:
        old = select(reports.c.id).where(reports.c.week < horizon)
        connection.execute(delete(ReportRevision.__table__).where(ReportRevision.__table__.c.report_id.in_(old)))
        connection.execute(delete(ReportSubmission.__table__).where(
            ReportSubmission.__table__.c.report_id.in_(old)))
        counts["reports"] = connection.execute(delete(reports).where(reports.c.week < horizon)).rowcount
        if counts["reports"]:
            previous = purged_before(connection)
            if previous is None or horizon > previous:
                facts = InstanceFact.__table__
                connection.execute(delete(facts).where(facts.c.key == PURGE_FACT))
                connection.execute(facts.insert().values(key=PURGE_FACT, value=horizon.isoformat(), recorded_at=now))
        accounts = Account.__table__
        counts["unconfirmed accounts"] = connection.execute(delete(accounts).where(
            accounts.c.status == "pending", accounts.c.confirmed_at.is_(None),
            accounts.c.created_at < now - dt.timedelta(days=int(config["COVIDMETER_RETENTION_UNCONFIRMED_DAYS"])))
        ).rowcount
        tokens = LoginToken.__table__
        counts["tokens"] = connection.execute(delete(tokens).where(or_(
            and_(tokens.c.used_at.is_not(None), tokens.c.used_at < tokens_before),
            tokens.c.expires_at < tokens_before))).rowcount
        sessions = UserSession.__table__
        counts["sessions"] = connection.execute(delete(sessions).where(or_(
            sessions.c.expires_at < tokens_before,
            and_(sessions.c.revoked_at.is_not(None), sessions.c.revoked_at < tokens_before)))).rowcount
        outbox = OutboxMessage.__table__
        counts["mails"] = connection.execute(delete(outbox).where(
            outbox.c.status.in_(("sent", "failed")),
            outbox.c.created_at < now - dt.timedelta(days=int(config["COVIDMETER_RETENTION_MAIL_DAYS"])))).rowcount
    return counts
