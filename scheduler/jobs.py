"""Every periodic job, declared in one list (Redash's shape) and reconciled with the scheduler at start.

Each job runs inside ``app.app_context()`` and first claims its period in ``job_runs`` (scheduler.claims):
the hourly aggregation claims the hour, the Monday run the ISO week, the outbox sender the minute. A period
already claimed (another scheduler, a restart, a manual run) is skipped. While the job runs its claim is a
lease, refreshed by a heartbeat; a run whose lease is lost (taken over by another process after its heartbeat
stopped, or handed back at shutdown) can commit nothing more (``claims.Lease.fenced``).

A job's work is given the moment it runs for (``run(moment)``: the scheduled time, also when the run is a
re-run or a manual run days later), so a re-run of the Monday aggregation of week W aggregates the same four
weeks as the run it replaces.

Missed and unfinished runs (scheduler.runner): at start and on every tick the scheduler re-runs periods whose
claim went stale (its process died), failed (after a backoff, up to ``COVIDMETER_JOB_MAX_ATTEMPTS``) or was
handed back at shutdown, and the latest scheduled run within the job's grace (``misfire_grace_seconds``) that
has no claim. A run that can no longer be caught up is recorded as 'missed' when ``report_missed`` (its work
is not done by the job's next run), logged at ERROR, shown by ``covidmeter jobs`` and /readyz, and can be run
by hand: ``covidmeter jobs run NAME --period PERIOD``.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import re
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from flask import Flask, current_app
from sqlalchemy.exc import OperationalError

from reporting.extensions import db
from reporting.mail import send_due
from reporting.reminders import send_due_reminders
from reporting.weeks import format_iso_week, monday_of, parse_iso_week, today_in

from . import claims
from .incidence import aggregate_weeks
from .incidence.definitions import load_definitions
from .incidence.methods import METHODS
from .retention import purge

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


# How a period, as people type it, names its first moment (local time), per period function.
_PERIOD_FORMATS: dict[Callable[[dt.datetime], str], tuple[str, str, dt.timedelta]] = {
    hourly: (r"\d{4}-\d{2}-\d{2}T\d{2}", "%Y-%m-%dT%H", dt.timedelta(hours=1)),
    daily: (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d", dt.timedelta(days=1)),
    every_minute: (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", "%Y-%m-%dT%H:%M", dt.timedelta(minutes=1)),
}
_PERIOD_EXAMPLES = {hourly: "2026-03-02T10", daily: "2026-03-02", weekly: "2026-W10", every_minute: "2026-03-02T10:15"}


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    description: str
    trigger: str  # an APScheduler trigger alias: "cron", "interval" or "date"
    trigger_args: Mapping[str, Any]
    period: Callable[[dt.datetime], str]  # local time -> the period the run claims
    # The work, inside an app context, given the (local) moment the run is for; returns a one-line detail for
    # job_runs. A callable without parameters is accepted too (it works on "now").
    run: Callable[..., str]
    misfire_grace_seconds: int = 600
    # A run past its grace is recorded 'missed' and reported: its work is not done by the job's next run (the
    # final aggregation of a week, a day's reminders). Jobs whose next run does the work (the outbox, the hourly
    # aggregation, retention) just log that they did not run.
    report_missed: bool = False

    def schedule(self) -> str:
        return f"{self.trigger} " + " ".join(f"{k}={v}" for k, v in self.trigger_args.items())

    def period_example(self) -> str:
        return _PERIOD_EXAMPLES.get(self.period, "")

    def moment_of(self, period: str, timezone: str) -> dt.datetime:
        """The moment a run for ``period`` is for: the job's scheduled time within it (its start if none).
        Raises ValueError, saying the expected form, for a period this job does not have."""
        zone = ZoneInfo(timezone)
        example = self.period_example()
        if self.period is weekly:
            try:
                start_day = parse_iso_week(period)
            except ValueError as exc:
                why = f": {exc}" if "is not a week of" in str(exc) else ""
                raise ValueError(f"{period!r} is not a period of job {self.name} (ISO weeks like {example}){why}"
                                 ) from exc
            start, length = dt.datetime.combine(start_day, dt.time(), zone), dt.timedelta(weeks=1)
        elif self.period in _PERIOD_FORMATS:
            pattern, form, length = _PERIOD_FORMATS[self.period]
            if not re.fullmatch(pattern, period.strip(), re.ASCII):
                raise ValueError(f"{period!r} is not a period of job {self.name} (like {example})")
            try:
                start = dt.datetime.strptime(period.strip(), form).replace(tzinfo=zone)
            except ValueError as exc:
                raise ValueError(f"{period!r} is not a period of job {self.name} (like {example}): {exc}") from exc
        else:
            raise ValueError(f"job {self.name} has no periods that can be named by hand")
        moment = start
        if self.trigger == "cron":
            fire = CronTrigger(timezone=zone, **dict(self.trigger_args)).get_next_fire_time(
                None, start - dt.timedelta(microseconds=1))
            if fire is not None and fire < start + length:
                moment = fire
        if self.period(moment) != period.strip():
            raise ValueError(f"{period!r} is not a period of job {self.name} (like {example})")
        return moment


def _aggregate(weeks: list[dt.date]) -> str:
    definitions = load_definitions(db.session)
    db.session.rollback()  # the aggregation runs on its own connections
    results = []
    for method in METHODS:  # one transaction per method: a lost lease stops the run between them
        lease = claims.current_lease()
        if lease is not None:
            lease.check()
        results.extend(aggregate_weeks(weeks, definitions, methods=(method,)))
    inserted = sum(r.written.inserted for r in results)
    updated = sum(r.written.updated for r in results)
    skipped = sorted({format_iso_week(r.week) for r in results if r.skipped})
    return (f"weeks {', '.join(format_iso_week(w) for w in weeks)}: {inserted} estimates inserted, "
            f"{updated} updated, {sum(r.written.unchanged for r in results)} unchanged"
            + (f"; skipped (reports purged): {', '.join(skipped)}" if skipped else ""))


def _local_now() -> dt.datetime:
    return dt.datetime.now(ZoneInfo(current_app.config["COVIDMETER_TIMEZONE"]))


def aggregate_recent(moment: dt.datetime | None = None) -> str:
    """The current and the previous week: figures move while reports arrive."""
    this_week = monday_of((moment or _local_now()).date())
    return _aggregate([this_week - dt.timedelta(weeks=1), this_week])


FINAL_WEEKS = 4


def aggregate_final(moment: dt.datetime | None = None) -> str:
    """The weekly final run: the four weeks before the week of ``moment``, now that late reports (and W+1
    onsets) are in. A re-run days later (after a crash) aggregates the same four weeks."""
    this_week = monday_of((moment or _local_now()).date())
    return _aggregate([this_week - dt.timedelta(weeks=n) for n in range(FINAL_WEEKS, 0, -1)])


def send_mail() -> str:
    counts = send_due()
    return ", ".join(f"{name} {n}" for name, n in counts.items())


def send_reminders(moment: dt.datetime | None = None) -> str:
    """The accounts due on the day of ``moment`` (a manual run of a missed day sends that day's reminders)."""
    sent = send_due_reminders(moment.date() if moment else today_in(current_app.config["COVIDMETER_TIMEZONE"]))
    return f"{sent} weekly reminder mails enqueued"


def retention() -> str:
    """Delete raw reports, unconfirmed accounts, spent tokens and old mail past their retention periods."""
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
                misfire_grace_seconds=3 * 24 * 3600, report_missed=True),
    PeriodicJob("send-mail", "Send due messages from the mail outbox", "cron", {"minute": "*"}, every_minute,
                send_mail, misfire_grace_seconds=50),
    PeriodicJob("weekly-reminders", "Enqueue the weekly reminder mail for the accounts due today", "cron",
                {"hour": 8, "minute": 0}, daily, send_reminders, misfire_grace_seconds=6 * 3600,
                report_missed=True),
    PeriodicJob("retention", "Delete raw data past its retention period (reports, unconfirmed accounts, "
                "tokens, mail)", "cron", {"hour": 3, "minute": 40}, daily, retention, misfire_grace_seconds=20 * 3600),
    PeriodicJob("prune-job-runs", "Delete old job claims", "cron", {"hour": 3, "minute": 17}, daily,
                prune_job_runs),
]


def find(name: str) -> PeriodicJob | None:
    return next((job for job in JOBS if job.name == name), None)


def stopping(app: Flask) -> threading.Event:
    """Set when the scheduler of this app is shutting down: no new run starts."""
    return app.extensions.setdefault("covidmeter.jobs_stopping", threading.Event())


_job_locks: dict[str, threading.Lock] = {}
_job_locks_guard = threading.Lock()


def _job_lock(name: str) -> threading.Lock:
    """One run of a job at a time in this process (a re-run waits for the scheduled run, and the other way)."""
    with _job_locks_guard:
        return _job_locks.setdefault(name, threading.Lock())


def execute(app: Flask, job: PeriodicJob, now: dt.datetime | None = None, *, period: str | None = None,
            manual: bool = False, again: bool = False) -> str:
    """Run ``job`` for the period of ``now`` (default: the current local time), or for ``period``, if its claim can
    be taken (``claims.claim``; ``manual``/``again``: an operator's run).

    Returns 'skipped' (claimed by another run, done, or the scheduler is stopping), 'succeeded', 'failed', or
    'lost' (the claim was taken over or handed back while the job ran: nothing more was committed and the outcome
    is another run's to record). A failure is recorded on the claim, never raised into the scheduler thread; an
    interruption of a manual run (Ctrl+C) hands the claim back and is raised.
    """
    with app.app_context():
        if stopping(app).is_set() and not manual:
            log.info("job %s: not started, the scheduler is stopping", job.name)
            return "skipped"
        policy = claims.Policy.from_config(app.config)
        zone = ZoneInfo(app.config["COVIDMETER_TIMEZONE"])
        moment = now or dt.datetime.now(zone)
        period = period or job.period(moment)
        with _job_lock(job.name):
            claimed = claims.claim(db.engine, job.name, period, policy=policy, scheduled_for=moment, manual=manual,
                                   again=again)
            if claimed is None:
                log.info("job %s: period %s already claimed, skipped", job.name, period)
                return "skipped"
            if claimed.scheduled_for is not None:  # a re-run does the work of the run it replaces
                moment = claimed.scheduled_for.astimezone(zone)
            with claims.Lease(db.engine, claimed, policy) as lease:
                if stopping(app).is_set() and not manual:  # the scheduler began to stop while this claimed
                    lease.hand_back("not started: the scheduler was stopping; the next start runs it")
                    return "skipped"
                try:
                    with lease.fenced():
                        detail = _run_retrying_sqlite_busy(job, moment)
                    lease.check()
                except claims.LeaseLost as exc:
                    db.session.rollback()
                    log.error("job %s for %s stopped: %s", job.name, period, exc)
                    return "lost"
                except Exception as exc:  # recorded and logged; the scheduler keeps running
                    db.session.rollback()
                    if lease.lost.is_set():
                        log.error("job %s for %s failed after its claim was lost (%s): %s: %s", job.name, period,
                                  lease.lost_reason, type(exc).__name__, exc)
                        return "lost"
                    log.exception("job %s for %s failed", job.name, period)
                    lease.finish(False, f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
                    return "failed"
                except BaseException:  # Ctrl+C or exit during a manual run: give the period back at once
                    db.session.rollback()
                    lease.hand_back("interrupted while running (Ctrl+C, SIGTERM or exit)")
                    raise
                if not lease.finish(True, detail):
                    log.error("job %s for %s finished, but its claim had been taken over meanwhile: outcome not "
                              "recorded (%s)", job.name, period, detail)
                    return "lost"
        log.info("job %s for %s: %s", job.name, period, detail)
        return "succeeded"


def _takes_moment(run: Callable[..., str]) -> bool:
    try:
        parameters = inspect.signature(run).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in parameters)


def _sqlite_busy(exc: BaseException) -> bool:
    return (isinstance(exc, OperationalError) and db.engine.dialect.name == "sqlite"
            and "database is locked" in str(exc.orig))


def _run_retrying_sqlite_busy(job: PeriodicJob, moment: dt.datetime) -> str:
    """``job.run(moment)``, tried again up to ``SQLITE_BUSY_RETRIES`` times when SQLite refuses it as locked."""
    takes_moment = _takes_moment(job.run)
    for attempt in range(SQLITE_BUSY_RETRIES + 1):
        try:
            return job.run(moment) if takes_moment else job.run()
        except OperationalError as exc:
            if attempt == SQLITE_BUSY_RETRIES or not _sqlite_busy(exc):
                raise
            db.session.rollback()
            log.warning("job %s: the SQLite database was locked by another writer; trying again", job.name)
            time.sleep(SQLITE_BUSY_PAUSE_SECONDS * (attempt + 1))
    raise AssertionError("unreachable")
