"""Every periodic job, declared in one list (Redash's shape) and reconciled with the scheduler at start.

Each job runs inside ``app.app_context()`` and first claims its period in ``job_runs`` (scheduler.claims):
the hourly aggregation claims the hour, the Monday run the ISO week, the outbox sender the minute. A period
already claimed (another scheduler, a restart, a manual run) is skipped.

Missed runs: inside a running scheduler APScheduler's ``misfire_grace_time`` lets a late run start (a busy
pool, a suspended host) and ``coalesce`` folds several missed runs into one. The job store is in memory
(one process, reconciled at start), so after downtime ``scheduler.runner.catch_up`` looks at the claims
instead: the latest scheduled run within the job's grace period that has no claim runs once at start, for
the period it missed.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from reporting.extensions import db
from reporting.weeks import format_iso_week, monday_of

from . import claims
from .aggregation import aggregate_weeks, today_in
from .definitions import load_definitions
from .methods import METHODS

log = logging.getLogger(__name__)
# SQLite (the embedded default) refuses a transaction that read and then writes while another connection
# committed meanwhile ("database is locked", at once: its busy timeout does not apply to that case). Jobs start
# together after downtime, so the first run of one may meet another's commit; every job is safe to run again
# (claims, unique keys, estimates that compare before writing), so such a run is tried again shortly.
SQLITE_BUSY_RETRIES = 3
SQLITE_BUSY_PAUSE_SECONDS = 2.0


def hourly(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H")


def daily(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def weekly(moment: dt.datetime) -> str:
    return format_iso_week(monday_of(moment.date()))


def every_minute(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M")


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    description: str
    trigger: str  # an APScheduler trigger alias: "cron", "interval" or "date"
    trigger_args: Mapping[str, Any]
    period: Callable[[dt.datetime], str]  # local time -> the period the run claims
    run: Callable[[], str]  # the work, inside an app context; returns a one-line detail for job_runs
    misfire_grace_seconds: int = 600
    claim_stale_after: dt.timedelta = field(default=dt.timedelta(hours=2))

    def schedule(self) -> str:
        return f"{self.trigger} " + " ".join(f"{k}={v}" for k, v in self.trigger_args.items())


def _aggregate(weeks: list[dt.date]) -> str:
    definitions = load_definitions(db.session)
    db.session.rollback()  # the aggregation runs on its own connections
    results = aggregate_weeks(weeks, definitions, methods=tuple(METHODS))
    inserted = sum(r.written.inserted for r in results)
    updated = sum(r.written.updated for r in results)
    skipped = sorted({format_iso_week(r.week) for r in results if r.skipped})
    return (f"weeks {', '.join(format_iso_week(w) for w in weeks)}: {inserted} estimates inserted, "
            f"{updated} updated, {sum(r.written.unchanged for r in results)} unchanged"
            + (f"; skipped (reports purged): {', '.join(skipped)}" if skipped else ""))


def aggregate_recent() -> str:
    """The current and the previous week: figures move while reports arrive."""
    this_week = monday_of(today_in(current_app.config["COVIDMETER_TIMEZONE"]))
    return _aggregate([this_week - dt.timedelta(weeks=1), this_week])


FINAL_WEEKS = 4


def aggregate_final() -> str:
    """The weekly final run: the four previous weeks, now that late reports (and W+1 onsets) are in."""
    this_week = monday_of(today_in(current_app.config["COVIDMETER_TIMEZONE"]))
    return _aggregate([this_week - dt.timedelta(weeks=n) for n in range(FINAL_WEEKS, 0, -1)])


def send_mail() -> str:
    from reporting.mail import send_due

    counts = send_due()
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def send_reminders() -> str:
    from reporting.reminders import send_due_reminders

    sent = send_due_reminders(today_in(current_app.config["COVIDMETER_TIMEZONE"]))
    return f"{sent} weekly reminder mails enqueued"


def retention() -> str:
    """Delete raw reports, unconfirmed accounts, spent tokens and old mail past their retention periods."""
    from .retention import purge

    config = current_app.config
    counts = purge(db.engine, config, today_in(config["COVIDMETER_TIMEZONE"]))
    return ", ".join(f"{n} {name}" for name, n in counts.items()) + " deleted"


def prune_job_runs() -> str:
    removed = claims.prune(db.engine, succeeded_older_than=dt.timedelta(days=30),
                           failed_older_than=dt.timedelta(days=180))
    return f"{removed} old claims removed"


JOBS: list[PeriodicJob] = [
    PeriodicJob("aggregate-recent", "Aggregate the current and the previous week", "cron",
                {"minute": 7}, hourly, aggregate_recent, misfire_grace_seconds=1800),
    PeriodicJob("aggregate-final", "Final weekly aggregation of the previous weeks (Monday morning)", "cron",
                {"day_of_week": "mon", "hour": 6, "minute": 30}, weekly, aggregate_final,
                misfire_grace_seconds=3 * 24 * 3600, claim_stale_after=dt.timedelta(hours=6)),
    PeriodicJob("send-mail", "Send due messages from the mail outbox", "cron", {"minute": "*"}, every_minute,
                send_mail, misfire_grace_seconds=50, claim_stale_after=dt.timedelta(minutes=30)),
    PeriodicJob("weekly-reminders", "Enqueue the weekly reminder mail for the accounts due today", "cron",
                {"hour": 8, "minute": 0}, daily, send_reminders, misfire_grace_seconds=6 * 3600),
    PeriodicJob("retention", "Delete raw data past its retention period (reports, unconfirmed accounts, "
                "tokens, mail)", "cron", {"hour": 3, "minute": 40}, daily, retention, misfire_grace_seconds=20 * 3600),
    PeriodicJob("prune-job-runs", "Delete old job claims", "cron", {"hour": 3, "minute": 17}, daily,
                prune_job_runs),
]


def execute(app: Flask, job: PeriodicJob, now: dt.datetime | None = None) -> str:
    """Run ``job`` for the period of ``now`` (default: the current local time) if its claim can be taken.

    Returns 'skipped', 'succeeded' or 'failed'; a failure is recorded on the claim, never raised into the
    scheduler thread.
    """
    with app.app_context():
        moment = now or dt.datetime.now(ZoneInfo(app.config["COVIDMETER_TIMEZONE"]))
        period = job.period(moment)
        claimed = claims.claim(db.engine, job.name, period, stale_after=job.claim_stale_after)
        if claimed is None:
            log.info("job %s: period %s already claimed, skipped", job.name, period)
            return "skipped"
        try:
            detail = _run_retrying_sqlite_busy(job)
        except Exception as exc:  # recorded and logged; the scheduler keeps running
            db.session.rollback()
            log.exception("job %s for %s failed", job.name, period)
            claims.finish(db.engine, claimed, False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
            return "failed"
        claims.finish(db.engine, claimed, True, detail)
        log.info("job %s for %s: %s", job.name, period, detail)
        return "succeeded"


def _sqlite_busy(exc: BaseException) -> bool:
    return (isinstance(exc, OperationalError) and db.engine.dialect.name == "sqlite"
            and "database is locked" in str(exc.orig))


def _run_retrying_sqlite_busy(job: PeriodicJob) -> str:
    """``job.run()``, tried again up to ``SQLITE_BUSY_RETRIES`` times when SQLite refuses it as locked."""
    for attempt in range(SQLITE_BUSY_RETRIES + 1):
        try:
            return job.run()
        except OperationalError as exc:
            if attempt == SQLITE_BUSY_RETRIES or not _sqlite_busy(exc):
                raise
            db.session.rollback()
            log.warning("job %s: the SQLite database was locked by another writer; trying again", job.name)
            time.sleep(SQLITE_BUSY_PAUSE_SECONDS * (attempt + 1))
    raise AssertionError("unreachable")
