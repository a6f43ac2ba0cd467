"""The job list, job execution with claims, and the APScheduler runners."""

from __future__ import annotations

import datetime as dt
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import IncidenceEstimate, JobRun, OutboxMessage
from reporting.weeks import monday_of
from scheduler import jobs, runner
from scheduler.aggregation import today_in
from scheduler.jobs import JOBS, PeriodicJob, execute, hourly, weekly
from scheduler.synthetic import generate


def test_every_job_is_declared_once_with_a_claimable_period() -> None:
    names = [job.name for job in JOBS]
    assert len(names) == len(set(names))
    assert {"aggregate-recent", "aggregate-final", "send-mail"} <= set(names)
    moment = dt.datetime(2026, 3, 2, 10, 7, tzinfo=ZoneInfo("Europe/Copenhagen"))
    assert hourly(moment) == "2026-03-02T10" and weekly(moment) == "2026-W10"
    for job in JOBS:
        assert 0 < len(job.period(moment)) <= 64  # fits job_runs.period


def test_scheduler_is_reconciled_from_the_list(app: Flask) -> None:
    scheduler = runner.build(app, background=True)
    jobs = {job.id: job for job in scheduler.get_jobs() if not job.id.endswith(":catch-up")}
    assert set(jobs) == {job.name for job in JOBS}
    assert str(scheduler.timezone) == "Europe/Copenhagen"
    final = jobs["aggregate-final"]
    assert final.coalesce is True and final.max_instances == 1 and final.misfire_grace_time == 3 * 24 * 3600
    assert "day_of_week='mon'" in str(final.trigger) and "hour='6'" in str(final.trigger)
    # Reconciling again with a shorter list removes what is no longer declared.
    runner.reconcile(scheduler, app, [j for j in JOBS if j.name != "send-mail"])
    assert "send-mail" not in {job.id for job in scheduler.get_jobs()}


def test_execute_claims_the_period_and_records_failures(app: Flask) -> None:
    calls: list[str] = []

    def work() -> str:
        calls.append("ran")
        return "did the work"

    def broken() -> str:
        raise RuntimeError("no connection to the database")

    moment = dt.datetime(2026, 3, 2, 10, 7, tzinfo=ZoneInfo("Europe/Copenhagen"))
    job = PeriodicJob("test-job", "a test", "cron", {"minute": 7}, hourly, work)
    assert execute(app, job, moment) == "succeeded"
    assert execute(app, job, moment) == "skipped"  # a second scheduler or a restart in the same hour
    assert calls == ["ran"]
    failing = PeriodicJob("test-broken", "fails", "cron", {"minute": 7}, hourly, broken)
    assert execute(app, failing, moment) == "failed"
    with app.app_context():
        runs = {r.job_name: r for r in db.session.scalars(select(JobRun))}
    assert (runs["test-job"].status, runs["test-job"].detail) == ("succeeded", "did the work")
    assert runs["test-broken"].status == "failed"
    assert "RuntimeError: no connection to the database" in runs["test-broken"].detail


def test_a_run_that_sqlite_refuses_as_locked_is_tried_again(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default's one transient failure: a job's transaction read, another connection committed,
    and SQLite refuses the job's write at once ("database is locked"). The run is tried again and succeeds."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite's lock upgrade")
    monkeypatch.setattr(jobs, "SQLITE_BUSY_PAUSE_SECONDS", 0.01)
    with app.app_context(), db.engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE busy_probe (x INTEGER)")
    attempts: list[int] = []
    table = OutboxMessage.__table__

    def reads_then_writes() -> str:
        attempts.append(len(attempts) + 1)
        with db.session.begin_nested():  # a savepoint opens SQLite's transaction, as the reminder job's does
            db.session.execute(select(func.count()).select_from(table))  # the job's transaction reads ...
            if len(attempts) == 1:  # ... another connection commits a write meanwhile ...
                with db.engine.begin() as other:
                    other.exec_driver_sql("INSERT INTO busy_probe (x) VALUES (1)")
            db.session.execute(table.delete().where(table.c.id == -2))  # ... and the job writes
        db.session.commit()
        return f"written at attempt {len(attempts)}"

    moment = dt.datetime(2026, 3, 2, 10, 7, tzinfo=ZoneInfo("Europe/Copenhagen"))
    job = PeriodicJob("test-locked", "meets a concurrent commit once", "cron", {"minute": 7}, hourly,
                      reads_then_writes)
    assert execute(app, job, moment) == "succeeded"
    assert attempts == [1, 2]
    with app.app_context():
        run = db.session.scalar(select(JobRun).where(JobRun.job_name == "test-locked"))
        db.session.close()
        with db.engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE IF EXISTS busy_probe")
    assert (run.status, run.detail) == ("succeeded", "written at attempt 2")


def test_aggregation_jobs_write_estimates(app: Flask) -> None:
    with app.app_context():
        today = today_in(app.config["COVIDMETER_TIMEZONE"])
        with db.engine.begin() as connection:
            generate(connection, participants=150, weeks=5, seed=3, today=today, show_progress=False)
    recent = next(job for job in JOBS if job.name == "aggregate-recent")
    final = next(job for job in JOBS if job.name == "aggregate-final")
    assert execute(app, recent) == "succeeded"
    assert execute(app, final) == "succeeded"
    with app.app_context():
        weeks = set(db.session.scalars(select(IncidenceEstimate.week).distinct()))
        this_week = monday_of(today)
        assert weeks == {this_week - dt.timedelta(weeks=n) for n in range(5)}
        details = dict(db.session.execute(select(JobRun.job_name, JobRun.detail)).all())
    assert "estimates inserted" in details["aggregate-recent"]


def test_mail_job_runs_the_outbox_sender(app: Flask) -> None:
    mail = next(job for job in JOBS if job.name == "send-mail")
    with app.app_context():
        db.session.add(OutboxMessage(recipient="a@example.invalid", subject="s", body_text="b", category="login"))
        db.session.commit()
    assert execute(app, mail) == "succeeded"  # no SMTP host configured: the message waits in the outbox
    with app.app_context():
        assert db.session.scalar(select(OutboxMessage.status)) == "pending"
        assert db.session.scalar(select(JobRun.detail).where(JobRun.job_name == "send-mail")) == \
            "sent 0, failed 0, retrying 0"


def test_background_scheduler_runs_a_job(app: Flask) -> None:
    ran = threading.Event()

    def tick() -> str:
        with db.engine.connect() as connection:  # inside the app context the job provides
            n = connection.scalar(select(func.count()).select_from(JobRun))
        ran.set()
        return f"saw {n} claim(s)"

    soon = dt.datetime.now(ZoneInfo("Europe/Copenhagen")) + dt.timedelta(seconds=0.3)
    job = PeriodicJob("test-tick", "tick", "date", {"run_date": soon}, lambda moment: "once", tick)
    scheduler = runner.start_in_process(app, jobs=[job])
    try:
        assert ran.wait(timeout=10), "the background scheduler did not run the job"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with app.app_context():
                run = db.session.scalar(select(JobRun).where(JobRun.job_name == "test-tick"))
            if run is not None and run.status == "succeeded":
                break
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert run is not None and (run.period, run.status, run.detail) == ("once", "succeeded", "saw 1 claim(s)")


def test_missed_runs_after_downtime_are_caught_up_once(app: Flask) -> None:
    tz = ZoneInfo("Europe/Copenhagen")
    calls: list[str] = []
    hourly_job = PeriodicJob("test-hourly", "hourly", "cron", {"minute": 7}, hourly, lambda: calls.append("h") or "ok",
                             misfire_grace_seconds=1800)
    weekly_job = PeriodicJob("test-weekly", "weekly", "cron", {"day_of_week": "mon", "hour": 6, "minute": 30},
                             weekly, lambda: calls.append("w") or "ok", misfire_grace_seconds=3 * 24 * 3600)
    # Down from Monday 05:00 to Wednesday 10:20: the hourly run of 10:07 is within its 30 minutes, the Monday
    # 06:30 run within its three days; the hourly runs of Monday and Tuesday are past their grace (coalesced away).
    now = dt.datetime(2026, 3, 4, 10, 20, tzinfo=tz)
    missed = runner.catch_up(app, [hourly_job, weekly_job], now)
    assert [(job.name, fire.strftime("%a %H:%M")) for job, fire in missed] == [
        ("test-hourly", "Wed 10:07"), ("test-weekly", "Mon 06:30")]
    for job, fire in missed:
        assert execute(app, job, fire) == "succeeded"
    with app.app_context():
        periods = dict(db.session.execute(select(JobRun.job_name, JobRun.period)).all())
    assert periods == {"test-hourly": "2026-03-04T10", "test-weekly": "2026-W10"}
    assert runner.catch_up(app, [hourly_job, weekly_job], now) == []  # claimed: nothing more to catch up
    assert runner.catch_up(app, [hourly_job], dt.datetime(2026, 3, 4, 10, 50, tzinfo=tz)) == []  # past grace
    assert calls == ["h", "w"]
    scheduler = runner.build(app, background=True, jobs=[hourly_job], now=dt.datetime(2026, 3, 4, 11, 9, tzinfo=tz))
    assert {job.id for job in scheduler.get_jobs()} == {"test-hourly", "test-hourly:catch-up"}


def test_retention_job_is_declared(app: Flask) -> None:
    job = next(job for job in JOBS if job.name == "retention")
    assert execute(app, job) == "succeeded"
    with app.app_context():
        detail = db.session.scalar(select(JobRun.detail).where(JobRun.job_name == "retention"))
    assert detail == "0 reports, 0 unconfirmed accounts, 0 tokens, 0 sessions, 0 mails deleted"


def test_apscheduler_output_is_quiet(app: Flask) -> None:
    import logging

    runner.build(app, background=True, jobs=[])
    assert logging.getLogger("apscheduler").getEffectiveLevel() >= logging.WARNING
