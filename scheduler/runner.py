"""Running the periodic jobs with APScheduler 3.x.

Production runs exactly one ``covidmeter scheduler`` process (a BlockingScheduler): APScheduler's FAQ says a
job store cannot be shared between processes, so the job store is in memory and the jobs are reconciled
from ``scheduler.jobs.JOBS`` at every start. The demo and ``covidmeter run`` start a BackgroundScheduler in
the web process instead (never ``create_app``: importing the app must not start threads). Either way a
per-period claim makes a duplicate run harmless.

APScheduler 3.11: ``coalesce=True`` folds runs missed while the scheduler was busy or suspended into one, and
``misfire_grace_time`` is how late (seconds) such a run may still start. Because the job store is rebuilt at
every start, runs missed while the process was down are found by ``catch_up`` from the claims table. Its
per-run INFO lines ("Running job ...", "executed successfully") are turned down to WARNING: our own log line
and the claim row already say what happened.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from flask import Flask

from . import claims
from .jobs import JOBS, PeriodicJob, execute

log = logging.getLogger(__name__)


def configure(scheduler: BaseScheduler, app: Flask) -> None:
    scheduler.configure(
        timezone=ZoneInfo(app.config["COVIDMETER_TIMEZONE"]),
        jobstores={"default": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 600},
    )


def reconcile(scheduler: BaseScheduler, app: Flask, jobs: Sequence[PeriodicJob]) -> None:
    """Make the scheduler's jobs exactly the declared list: add or replace each, remove any other."""
    wanted = {job.name for job in jobs}
    for existing in scheduler.get_jobs():
        if existing.id not in wanted:
            existing.remove()
    for job in jobs:
        scheduler.add_job(execute, job.trigger, args=(app, job), id=job.name, name=job.description,
                          replace_existing=True, coalesce=True, max_instances=1,
                          misfire_grace_time=job.misfire_grace_seconds, **dict(job.trigger_args))


def quiet_apscheduler() -> None:
    for name in ("apscheduler", "apscheduler.scheduler", "apscheduler.executors.default"):
        logging.getLogger(name).setLevel(logging.WARNING)


def missed_run(job: PeriodicJob, now: dt.datetime) -> dt.datetime | None:
    """The latest scheduled time of a cron job within its misfire grace period before ``now`` (or None)."""
    if job.trigger != "cron":
        return None
    trigger = CronTrigger(timezone=now.tzinfo, **dict(job.trigger_args))
    fire = trigger.get_next_fire_time(None, now - dt.timedelta(seconds=job.misfire_grace_seconds))
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + dt.timedelta(microseconds=1))
    return last


def catch_up(app: Flask, jobs: Sequence[PeriodicJob], now: dt.datetime | None = None
             ) -> list[tuple[PeriodicJob, dt.datetime]]:
    """The runs missed while no scheduler was running: per job at most one (coalesced), the latest scheduled
    time within its grace period whose period has no claim yet."""
    from reporting.extensions import db

    now = now or dt.datetime.now(ZoneInfo(app.config["COVIDMETER_TIMEZONE"]))
    missed = []
    with app.app_context():
        for job in jobs:
            fire = missed_run(job, now)
            if fire is not None and not claims.claimed(db.engine, job.name, job.period(fire)):
                missed.append((job, fire))
    return missed


def build(app: Flask, background: bool, jobs: Sequence[PeriodicJob] | None = None,
          now: dt.datetime | None = None) -> BaseScheduler:
    quiet_apscheduler()
    jobs = JOBS if jobs is None else jobs
    scheduler: BaseScheduler = BackgroundScheduler() if background else BlockingScheduler()
    configure(scheduler, app)
    reconcile(scheduler, app, jobs)
    for job, fire in catch_up(app, jobs, now):
        log.warning("job %s missed its run of %s: running it now", job.name, fire.isoformat(timespec="minutes"))
        scheduler.add_job(execute, "date", args=(app, job, fire), id=f"{job.name}:catch-up",
                          name=f"catch-up: {job.description}", replace_existing=True, misfire_grace_time=None)
    return scheduler


def start_in_process(app: Flask, jobs: Sequence[PeriodicJob] | None = None) -> BackgroundScheduler:
    """Start the periodic jobs in a background thread of this process (demo, ``covidmeter run``)."""
    scheduler = build(app, background=True, jobs=jobs)
    scheduler.start()
    log.info("in-process scheduler started with %d jobs", len(scheduler.get_jobs()))
    return scheduler  # type: ignore[return-value]


def run_blocking(app: Flask, jobs: Sequence[PeriodicJob] | None = None) -> None:
    """The ``covidmeter scheduler`` process: blocks until interrupted."""
    scheduler = build(app, background=False, jobs=jobs)
    for job in scheduler.get_jobs():
        log.info("job %s: %s", job.id, job.trigger)
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        pass
