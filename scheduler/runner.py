"""Running the periodic jobs with APScheduler 3.x.

Production runs exactly one ``covidmeter scheduler`` process: APScheduler's FAQ says a job store cannot be
shared between processes, so the job store is in memory and the jobs are reconciled from
``scheduler.jobs.JOBS`` at every start. The demo and ``covidmeter run`` start a BackgroundScheduler in the web
process instead (never ``create_app``: importing the app must not start threads). Either way a per-period
claim makes a duplicate run harmless.

APScheduler 3.11: ``coalesce=True`` folds runs missed while the scheduler was busy or suspended into one, and
``misfire_grace_time`` is how late (seconds) such a run may still start. Its per-run INFO lines ("Running job
...", "executed successfully") are turned down to WARNING: our own log line and the claim row already say what
happened.

Recovery (``plan``), at start and then on every tick (``COVIDMETER_SCHEDULER_TICK_SECONDS``, 30 s) inside the
running scheduler, from the claims table:

- a running claim whose lease expired (no heartbeat for ``COVIDMETER_JOB_LEASE_SECONDS``) or whose process is
  known to be gone (same host) is re-run for its period, with the moment it was scheduled for;
- a failed claim is re-run after a backoff and an interrupted one (handed back at shutdown) at once, both while
  the job has made fewer than ``COVIDMETER_JOB_MAX_ATTEMPTS`` starts of that period;
- the latest scheduled run within the job's grace whose period has no claim runs once (coalesced);

each only within the job's grace after the time the run was scheduled for. What can no longer be caught up is
not skipped silently: for jobs with ``report_missed`` every scheduled run since the job's last claim that is
past its grace, and every stale claim past it, is recorded as 'missed' and logged at ERROR (``covidmeter jobs``
and /readyz show it; ``covidmeter jobs run NAME --period P`` runs it); other jobs' next run does the work, so
they log a WARNING.

Stopping (``stop``): on SIGTERM or SIGINT the scheduler takes no new run, lets the running jobs finish for up to
``COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS`` (a second signal cuts the wait short), then hands back the claims
of those still running ('interrupted': the next start re-runs them at once, and the fence refuses their
commits) and ends the process.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import ConflictingIdError
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers import SchedulerNotRunningError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from reporting.db import unavailable
from reporting.extensions import db
from reporting.models import JobRun

from . import claims
from .jobs import JOBS, PeriodicJob, execute, stopping

log = logging.getLogger(__name__)
TICK_ID = "scheduler:tick"
MISSED_PER_CHECK = 50  # missed runs recorded per job and check at most (a long outage of a daily job)


def configure(scheduler: BaseScheduler, app: Flask) -> None:
    scheduler.configure(
        timezone=ZoneInfo(app.config["COVIDMETER_TIMEZONE"]),
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
    )


def reconcile(scheduler: BaseScheduler, app: Flask, jobs: Sequence[PeriodicJob]) -> None:
    """Make the scheduler's jobs exactly the declared list: add or replace each, remove any other (the
    scheduler's own entries, the tick and one-off re-runs, have ':' in their id and stay)."""
    wanted = {job.name for job in jobs}
    for existing in scheduler.get_jobs():
        if existing.id not in wanted and ":" not in existing.id:
            existing.remove()
    for job in jobs:
        scheduler.add_job(execute, job.trigger, args=(app, job), id=job.name, name=job.description,
                          replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=job.misfire_grace_seconds, **dict(job.trigger_args))


def quiet_apscheduler() -> None:
    for name in ("apscheduler", "apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.WARNING)


def fires(job: PeriodicJob, after: dt.datetime, until: dt.datetime) -> Iterator[dt.datetime]:
    """The scheduled times of a cron job in (``after``, ``until``], oldest first."""
    if job.trigger != "cron":
        return
    trigger = CronTrigger(timezone=until.tzinfo, **dict(job.trigger_args))
    fire = trigger.get_next_fire_time(None, after + dt.timedelta(microseconds=1))
    while fire is not None and fire <= until:
        yield fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(microseconds=1))


def missed_run(job: PeriodicJob, now: dt.datetime) -> dt.datetime | None:
    """The latest scheduled time of a cron job within its misfire grace period before ``now`` (or None)."""
    last = None
    for last in fires(job, now - dt.timedelta(seconds=job.misfire_grace_seconds) - dt.timedelta(microseconds=1),
                      now):
        pass
    return last


@dataclass(frozen=True)
class Due:
    """A run to start now: the job, the moment it is for (local time), its period, and why."""

    job: PeriodicJob
    moment: dt.datetime
    period: str
    reason: str


def _moment_of_row(job: PeriodicJob, row: JobRun, zone: ZoneInfo, timezone: str) -> dt.datetime:
    if row.scheduled_for is not None:
        return row.scheduled_for.astimezone(zone)
    try:
        return job.moment_of(row.period, timezone)
    except ValueError:
        return row.started_at.astimezone(zone)


def _at(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def _grace(job: PeriodicJob) -> str:
    seconds = job.misfire_grace_seconds
    return f"{seconds / 86400:g} days" if seconds >= 86400 else (
        f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min")


def run_by_hand(job: PeriodicJob, period: str) -> str:
    return f"covidmeter jobs run {job.name} --period {period}"


def plan(app: Flask, jobs: Sequence[PeriodicJob], now: dt.datetime | None = None, *,
         settle: dt.timedelta = dt.timedelta(0), at_start: bool = True) -> list[Due]:
    """The runs to start now (see the module's docstring), recording on the way the runs that are missed.

    ``settle``: an unclaimed scheduled run is only caught up once it is this old (the tick leaves the scheduled
    run that is starting right now to APScheduler). ``at_start``: also say which runs of jobs without
    ``report_missed`` were not made (a tick does not: APScheduler logs a run it skips)."""
    timezone = app.config["COVIDMETER_TIMEZONE"]
    zone = ZoneInfo(timezone)
    now = (now or dt.datetime.now(zone)).astimezone(zone)
    utc_now = now.astimezone(dt.timezone.utc)
    due: list[Due] = []
    with app.app_context():
        policy = claims.Policy.from_config(app.config)
        engine = db.engine
        for job in jobs:
            grace = dt.timedelta(seconds=job.misfire_grace_seconds)
            planned: set[str] = set()
            # Jobs that report missed runs turn every unfinished claim past its grace into 'missed', so theirs are
            # few whatever their age; of the others only those within their grace can still be retried.
            since = None if job.report_missed else utc_now - grace
            for row in claims.open_claims(engine, job.name, since=since):
                moment = _moment_of_row(job, row, zone, timezone)
                within = moment.astimezone(dt.timezone.utc) >= utc_now - grace
                if row.status == claims.RUNNING:
                    if not claims.is_stale(row, policy, utc_now):
                        continue
                    holder = claims.owner_label(row.owner)
                    if within and row.attempts >= policy.max_attempts:
                        detail = (f"gave up: its process died (or froze) {row.attempts} times running it, last "
                                  f"{holder}; run it by hand: {run_by_hand(job, row.period)}")
                        if claims.end_stale(engine, row, claims.FAILED, detail):
                            log.error("job %s for %s %s", job.name, row.period, detail)
                    elif within:
                        due.append(Due(job, moment, row.period, f"its claim by {holder} is stale (no heartbeat since "
                                       f"{(row.heartbeat_at or row.started_at):%H:%M:%S}Z, or the process is gone)"))
                        planned.add(row.period)
                    elif job.report_missed:
                        detail = (f"missed: the run for {_at(moment)} died unfinished ({holder}) and no scheduler "
                                  f"re-ran it within the job's grace of {_grace(job)}; run it by hand: "
                                  f"{run_by_hand(job, row.period)}")
                        if claims.record_missed(engine, job.name, row.period, moment, detail, replace=row):
                            log.error("job %s for %s %s", job.name, row.period, detail)
                    elif claims.end_stale(engine, row, claims.INTERRUPTED, f"abandoned: the run for {_at(moment)} "
                                          f"died unfinished ({holder}); past the job's grace, its next runs do its "
                                          "work"):
                        log.warning("job %s for %s: a stale claim past its grace was abandoned (the job's next "
                                    "runs do its work)", job.name, row.period)
                    continue
                retry = claims.retry_due(row, policy, utc_now)
                if within and retry is not None and retry <= utc_now:
                    due.append(Due(job, moment, row.period, f"its last attempt ({row.attempts} of "
                                   f"{policy.max_attempts}) {row.status}"))
                    planned.add(row.period)
                elif not within and job.report_missed:
                    detail = (f"missed: the run for {_at(moment)} {row.status} (attempt {row.attempts}) and the "
                              f"job's grace of {_grace(job)} is over; run it by hand: {run_by_hand(job, row.period)}"
                              f"; it said: {(row.detail or '').splitlines()[0] if row.detail else '-'}")
                    if claims.record_missed(engine, job.name, row.period, moment, detail, replace=row):
                        log.error("job %s for %s %s", job.name, row.period, detail)
            if job.trigger != "cron":
                continue
            latest = missed_run(job, now - settle)
            if latest is not None and job.period(latest) not in planned and not claims.claimed(
                    engine, job.name, job.period(latest)):
                due.append(Due(job, latest, job.period(latest), f"its run of {_at(latest)} was missed while no "
                               "scheduler ran"))
            if job.report_missed or at_start:
                _record_missed_fires(engine, job, now, grace)
    return due


def _record_missed_fires(engine: object, job: PeriodicJob, now: dt.datetime, grace: dt.timedelta) -> None:
    """Scheduled runs since the job's newest claim that are past their grace without a claim."""
    reference = claims.latest_scheduled(engine, job.name)  # type: ignore[arg-type]
    if reference is None:  # never run here: nothing to compare with (a new installation)
        return
    past = list(fires(job, reference.astimezone(now.tzinfo), now - grace - dt.timedelta(microseconds=1)))
    if not past:
        return
    if not job.report_missed:
        log.warning("job %s did not run at %s (no scheduler within its grace of %s); its next run does its work",
                    job.name, ", ".join(_at(f) for f in past[-3:]), _grace(job))
        return
    if len(past) > MISSED_PER_CHECK:
        log.error("job %s: %d scheduled runs were missed; recording the latest %d", job.name, len(past),
                  MISSED_PER_CHECK)
        past = past[-MISSED_PER_CHECK:]
    for fire in past:
        period = job.period(fire)
        if claims.claimed(engine, job.name, period):  # type: ignore[arg-type]
            continue
        detail = (f"missed: scheduled for {_at(fire)}, but no scheduler ran within the job's grace of "
                  f"{_grace(job)}; run it by hand: {run_by_hand(job, period)}")
        if claims.record_missed(engine, job.name, period, fire, detail):  # type: ignore[arg-type]
            log.error("job %s for %s %s", job.name, period, detail)


def catch_up(app: Flask, jobs: Sequence[PeriodicJob], now: dt.datetime | None = None) -> list[Due]:
    """At start: every run due now (stale, retryable and unclaimed ones), and the missed ones recorded."""
    return plan(app, jobs, now)


_submitted: set[tuple[int, str, str]] = set()  # re-runs waiting or running in this process (app, job, period)
_submitted_lock = threading.Lock()


def _rerun(app: Flask, job: PeriodicJob, moment: dt.datetime, period: str) -> str:
    try:
        return execute(app, job, moment, period=period)
    finally:
        with _submitted_lock:
            _submitted.discard((id(app), job.name, period))


def submit(scheduler: BaseScheduler, app: Flask, run: Due) -> bool:
    """Add a one-off run of ``run`` to the scheduler (False if the same re-run is already waiting or running)."""
    key = (id(app), run.job.name, run.period)
    with _submitted_lock:
        if key in _submitted:
            return False
        _submitted.add(key)
    try:
        scheduler.add_job(_rerun, "date", args=(app, run.job, run.moment, run.period),
                          id=f"{run.job.name}:catch-up:{run.period}", name=f"catch-up: {run.job.description}",
                          replace_existing=False, misfire_grace_time=None)
    except ConflictingIdError:
        with _submitted_lock:
            _submitted.discard(key)
        return False
    return True


def tick(app: Flask, scheduler: BaseScheduler, jobs: Sequence[PeriodicJob]) -> None:
    """Inside the running scheduler: re-run what went stale, failed or was missed since the last tick."""
    if stopping(app).is_set():
        return
    try:
        interval = dt.timedelta(seconds=app.config.get("COVIDMETER_SCHEDULER_TICK_SECONDS") or 30)
        for run in plan(app, jobs, settle=interval, at_start=False):
            if submit(scheduler, app, run):
                log.warning("job %s for %s: %s: running it now", run.job.name, run.period, run.reason)
    except Exception as exc:  # the database is away, say: the next tick tries again
        if unavailable(exc):
            log.warning("the scheduler's recovery check could not reach the database (%s); trying again at the next "
                        "tick", type(exc).__name__)
        else:
            log.exception("the scheduler's recovery check failed; trying again at the next tick")


def build(app: Flask, background: bool = True, jobs: Sequence[PeriodicJob] | None = None,
          now: dt.datetime | None = None, with_tick: bool = True) -> BaseScheduler:
    """A configured scheduler (not started) with the jobs, the runs to catch up and the recovery tick.

    Always a BackgroundScheduler: ``run_blocking`` waits for signals in the main thread itself (``background``
    is kept for callers that still pass it)."""
    quiet_apscheduler()
    jobs = JOBS if jobs is None else jobs
    claims.Policy.from_config(app.config)  # refuse a bad lease configuration before anything starts
    scheduler: BaseScheduler = BackgroundScheduler()
    configure(scheduler, app)
    reconcile(scheduler, app, jobs)
    for run in catch_up(app, jobs, now):
        log.warning("job %s for %s: %s: running it now", run.job.name, run.period, run.reason)
        submit(scheduler, app, run)
    if with_tick:
        seconds = app.config.get("COVIDMETER_SCHEDULER_TICK_SECONDS") or 30
        scheduler.add_job(tick, "interval", seconds=seconds, args=(app, scheduler, jobs), id=TICK_ID,
                          name="recovery check (stale, failed and missed runs)", coalesce=True, max_instances=1,
                          misfire_grace_time=None)
    return scheduler


def stop(app: Flask, scheduler: BaseScheduler, grace_seconds: float | None = None,
         hurry: threading.Event | None = None) -> list[claims.Lease]:
    """Stop taking runs, let running jobs finish for up to ``grace_seconds`` (default
    COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS), then hand back the claims of the runs still going. Returns those."""
    grace = app.config.get("COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS") if grace_seconds is None else grace_seconds
    grace = 25.0 if grace is None else float(grace)
    stopping(app).set()
    try:
        scheduler.shutdown(wait=False)
    except SchedulerNotRunningError:
        pass
    running = claims.live_leases()
    if running:
        log.warning("stopping: waiting up to %g s for %s", grace, ", ".join(lease.label for lease in running))
    unfinished = claims.wait_for_leases(grace, hurry)
    for lease in unfinished:
        detail = (f"interrupted: the scheduler was stopped and the run did not finish within the {grace:g} s grace; "
                  "the next scheduler start re-runs it")
        if lease.hand_back(detail):
            log.warning("%s handed back: %s", lease.label, detail)
    if not unfinished and running:
        log.info("stopping: every running job finished")
    return unfinished


def start_in_process(app: Flask, jobs: Sequence[PeriodicJob] | None = None) -> BackgroundScheduler:
    """Start the periodic jobs in a background thread of this process (demo, ``covidmeter run``); stop them with
    ``stop`` (which hands back unfinished claims)."""
    stopping(app).clear()
    scheduler = build(app, background=True, jobs=jobs)
    scheduler.start()
    log.info("in-process scheduler started with %d jobs", len(scheduler.get_jobs()))
    return scheduler  # type: ignore[return-value]


def exit_now(code: int = 0) -> None:
    """End the process at once: a handed-back job may still be computing in a worker thread, which a normal
    exit would wait for. Its open transaction dies with the connection (rolled back)."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def run_blocking(app: Flask, jobs: Sequence[PeriodicJob] | None = None, *, exit_on_hand_back: bool = True
                 ) -> list[claims.Lease]:
    """The ``covidmeter scheduler`` process: runs until SIGTERM or SIGINT, then stops as ``stop`` says (a second
    signal hands back at once). Returns the handed-back leases, or, when there were some and
    ``exit_on_hand_back``, ends the process."""
    stopping(app).clear()
    scheduler = build(app, background=True, jobs=jobs)
    asked = threading.Event()
    hurry = threading.Event()
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)
        if asked.is_set():
            hurry.set()
        asked.set()

    main = threading.current_thread() is threading.main_thread()
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)} if main else {}
    try:
        scheduler.start()
        for job in scheduler.get_jobs():
            log.info("job %s: %s", job.id, job.trigger)
        while not asked.wait(0.5):
            pass
        log.warning("%s received: the scheduler takes no new run and stops", signal.Signals(received[0]).name)
        unfinished = stop(app, scheduler, hurry=hurry)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if unfinished and exit_on_hand_back:
        exit_now(0)
    return unfinished
