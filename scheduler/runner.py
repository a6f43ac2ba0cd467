"""Running the periodic jobs with APScheduler 3.x.

Production runs exactly one ``covidmeter scheduler`` process (a BlockingScheduler): APScheduler's FAQ says a
job store cannot be shared between processes, so the job store is in memory and the jobs are reconciled
from ``scheduler.jobs.JOBS`` at every start. The demo and ``covidmeter run`` start a BackgroundScheduler in
the web process instead (never ``create_app``: importing the app must not start threads). Either way a
per-period claim makes a duplicate run harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

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


def build(app: Flask, background: bool, jobs: Sequence[PeriodicJob] | None = None) -> BaseScheduler:
    scheduler: BaseScheduler = BackgroundScheduler() if background else BlockingScheduler()
    configure(scheduler, app)
    reconcile(scheduler, app, JOBS if jobs is None else jobs)
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
