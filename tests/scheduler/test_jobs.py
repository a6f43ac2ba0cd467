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
from reporting.weeks import today_in
from scheduler import jobs, runner
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
        period = job.period(moment)  # a period as `covidmeter jobs` shows it names the run it is for
        assert job.period(job.moment_of(period, "Europe/Copenhagen")) == period
    final = next(job for job in JOBS if job.name == "aggregate-final")
    assert final.moment_of("2026-W10", "Europe/Copenhagen") == dt.datetime(2026, 3, 2, 6, 30, tzinfo=moment.tzinfo)
    assert final.report_missed and not next(job for job in JOBS if job.name == "send-mail").report_missed
    for wrong in ("2026-13", "2026-W54", "2026-W1O", "2026-03-02"):
        with pytest.raises(ValueError, match="like 2026-W10|not a week"):
            final.moment_of(wrong, "Europe/Copenhagen")
    reminders = next(job for job in JOBS if job.name == "weekly-reminders")
    assert reminders.moment_of("2026-03-02", "Europe/Copenhagen").hour == 8
    with pytest.raises(ValueError, match="like 2026-03-02"):
        reminders.moment_of("2026-W10", "Europe/Copenhagen")


def test_scheduler_is_reconciled_from_the_list(app: Flask) -> None:
    scheduler = runner.build(app, background=True)
    jobs = {job.id: job for job in scheduler.get_jobs() if ":" not in job.id}
    assert set(jobs) == {job.name for job in JOBS}
    assert runner.TICK_ID in {job.id for job in scheduler.get_jobs()}  # the recovery check
    assert str(scheduler.timezone) == "Europe/Copenhagen"
    final = jobs["aggregate-final"]
    assert final.coalesce is True and final.max_instances == 1 and final.misfire_grace_time == 3 * 24 * 3600
    assert "day_of_week='mon'" in str(final.trigger) and "hour='6'" in str(final.trigger)
    # Reconciling again with a shorter list removes what is no longer declared (and keeps the tick).
    runner.reconcile(scheduler, app, [j for j in JOBS if j.name != "send-mail"])
    assert "send-mail" not in {job.id for job in scheduler.get_jobs()}
    assert runner.TICK_ID in {job.id for job in scheduler.get_jobs()}


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
    assert [(run.job.name, run.moment.strftime("%a %H:%M"), run.period) for run in missed] == [
        ("test-hourly", "Wed 10:07", "2026-03-04T10"), ("test-weekly", "Mon 06:30", "2026-W10")]
    for run in missed:
        assert execute(app, run.job, run.moment, period=run.period) == "succeeded"
    with app.app_context():
        periods = dict(db.session.execute(select(JobRun.job_name, JobRun.period)).all())
        scheduled = db.session.scalar(select(JobRun.scheduled_for).where(JobRun.job_name == "test-weekly"))
    assert periods == {"test-hourly": "2026-03-04T10", "test-weekly": "2026-W10"}
    assert scheduled == dt.datetime(2026, 3, 2, 5, 30, tzinfo=dt.timezone.utc)  # the run it was for
    assert runner.catch_up(app, [hourly_job, weekly_job], now) == []  # claimed: nothing more to catch up
    assert runner.catch_up(app, [hourly_job], dt.datetime(2026, 3, 4, 10, 50, tzinfo=tz)) == []  # past grace
    assert calls == ["h", "w"]
    scheduler = runner.build(app, background=True, jobs=[hourly_job], now=dt.datetime(2026, 3, 4, 11, 9, tzinfo=tz))
    assert {job.id for job in scheduler.get_jobs()} == {"test-hourly", "test-hourly:catch-up:2026-03-04T11",
                                                          runner.TICK_ID}


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


# --- recovery: stale, failed, interrupted and missed runs --------------------------------------------------

ELSEWHERE = "other-host:4242:-:0badc0de"  # a process on another machine: only its heartbeat tells


def _insert_claim(app: Flask, job_name: str, period: str, status: str, scheduled_for: dt.datetime, **values: object
                  ) -> int:
    from reporting.models import utcnow

    with app.app_context(), db.engine.begin() as connection:
        row = dict(job_name=job_name, period=period, status=status, started_at=utcnow(), attempts=1,
                   scheduled_for=scheduled_for.astimezone(dt.timezone.utc), owner=ELSEWHERE)
        row.update(values)
        return connection.execute(JobRun.__table__.insert().values(**row).returning(JobRun.id)).scalar_one()


def _runs(app: Flask) -> dict[tuple[str, str], JobRun]:
    with app.app_context():
        return {(r.job_name, r.period): r for r in db.session.scalars(select(JobRun))}


def test_stale_failed_and_interrupted_claims_are_re_run_with_their_moment(app: Flask) -> None:
    from reporting.models import utcnow

    tz = ZoneInfo("Europe/Copenhagen")
    now = dt.datetime.now(tz)
    scheduled = now - dt.timedelta(hours=5)
    seen: dict[str, dt.datetime] = {}

    def job(name: str) -> PeriodicJob:
        return PeriodicJob(name, name, "interval", {"hours": 1}, weekly,
                           lambda moment: seen.__setitem__(name, moment) or "ok", misfire_grace_seconds=3 * 86400,
                           report_missed=True)

    jobs = [job(n) for n in ("t-stale", "t-fresh", "t-failed", "t-backoff", "t-gave-up", "t-interrupted",
                             "t-crash-loop")]
    period = weekly(scheduled)
    long_ago = utcnow() - dt.timedelta(hours=1)
    _insert_claim(app, "t-stale", period, "running", scheduled, heartbeat_at=utcnow() - dt.timedelta(seconds=95))
    _insert_claim(app, "t-fresh", period, "running", scheduled, heartbeat_at=utcnow() - dt.timedelta(seconds=5))
    _insert_claim(app, "t-failed", period, "failed", scheduled, finished_at=long_ago)
    _insert_claim(app, "t-backoff", period, "failed", scheduled, finished_at=utcnow(), attempts=2)
    _insert_claim(app, "t-gave-up", period, "failed", scheduled, finished_at=long_ago, attempts=5)
    _insert_claim(app, "t-interrupted", period, "interrupted", scheduled, finished_at=utcnow())
    # Its process died under it five times (an out-of-memory kill, say): not started a sixth time by itself.
    _insert_claim(app, "t-crash-loop", period, "running", scheduled, attempts=5,
                  heartbeat_at=utcnow() - dt.timedelta(seconds=95))
    due = runner.plan(app, jobs, now)
    assert sorted(run.job.name for run in due) == ["t-failed", "t-interrupted", "t-stale"]
    assert {run.period for run in due} == {period}
    assert "stale" in next(run.reason for run in due if run.job.name == "t-stale")
    for run in due:
        assert execute(app, run.job, run.moment, period=run.period) == "succeeded"
    # Each re-run did the work of the run it replaces: the moment it was scheduled for, not now.
    assert seen == {name: scheduled for name in
                    ("t-stale", "t-failed", "t-interrupted")}
    runs = _runs(app)
    assert {name: runs[(name, period)].status for name in (j.name for j in jobs)} == {
        "t-stale": "succeeded", "t-fresh": "running", "t-failed": "succeeded", "t-backoff": "failed",
        "t-gave-up": "failed", "t-interrupted": "succeeded", "t-crash-loop": "failed"}
    assert runs[("t-crash-loop", period)].detail.startswith("gave up: its process died (or froze) 5 times")
    assert runs[("t-stale", period)].attempts == 2 and runs[("t-stale", period)].detail == "ok (attempt 2)"
    assert runner.plan(app, jobs, now) == []


def test_a_stale_claim_past_its_grace_is_missed_or_abandoned(app: Flask) -> None:
    from reporting.models import utcnow

    tz = ZoneInfo("Europe/Copenhagen")
    now = dt.datetime.now(tz)
    old = now - dt.timedelta(days=4)
    final = PeriodicJob("t-final", "final", "interval", {"hours": 1}, weekly, lambda: "ok",
                        misfire_grace_seconds=3 * 86400, report_missed=True)
    mailer = PeriodicJob("t-mail", "mail", "interval", {"hours": 1}, every_minute_period, lambda: "ok",
                         misfire_grace_seconds=50)
    beat = utcnow() - dt.timedelta(days=4)
    _insert_claim(app, "t-final", weekly(old), "running", old, heartbeat_at=beat, started_at=beat)
    _insert_claim(app, "t-mail", every_minute_period(old), "running", old, heartbeat_at=beat, started_at=beat)
    # A failed and an interrupted run of the final job, past its grace (and long ago): missed too.
    older = old - dt.timedelta(weeks=1)
    _insert_claim(app, "t-final", weekly(older), "failed", older, attempts=2, started_at=beat - dt.timedelta(weeks=1),
                  finished_at=beat, detail="OperationalError: server closed the connection\ntraceback ...")
    _insert_claim(app, "t-final", weekly(old - dt.timedelta(weeks=2)), "interrupted", old - dt.timedelta(weeks=2),
                  started_at=utcnow(), finished_at=utcnow(), detail="interrupted while running (Ctrl+C or exit)")
    assert runner.plan(app, [final, mailer], now) == []
    runs = _runs(app)
    failed = runs[("t-final", weekly(older))]
    assert failed.status == "missed" and "failed (attempt 2) and the job's grace of 3 days is over" in failed.detail
    assert failed.detail.endswith("it said: OperationalError: server closed the connection")
    assert runs[("t-final", weekly(old - dt.timedelta(weeks=2)))].status == "missed"
    missed = runs[("t-final", weekly(old))]
    assert missed.status == "missed"
    assert "died unfinished (other-host pid 4242)" in missed.detail
    assert f"covidmeter jobs run t-final --period {weekly(old)}" in missed.detail
    abandoned = runs[("t-mail", every_minute_period(old))]
    assert abandoned.status == "interrupted" and "its next runs do its work" in abandoned.detail


def every_minute_period(moment: dt.datetime) -> str:
    return jobs.every_minute(moment)


def test_a_run_missed_beyond_grace_is_recorded_reported_and_run_by_hand(app: Flask) -> None:
    """Down from Sunday to Thursday 10:00: the Monday 06:30 final aggregation is past its three days. It is not
    skipped silently: a 'missed' row, an ERROR in the log, `covidmeter jobs` (and --check), /readyz (still 200),
    and `covidmeter jobs run aggregate-final --period 2026-W10` runs it."""
    import logging

    cli = app.test_cli_runner()
    client = app.test_client()
    tz = ZoneInfo("Europe/Copenhagen")
    final = next(job for job in JOBS if job.name == "aggregate-final")
    # The last final run this database saw: the Monday of the week before.
    _insert_claim(app, "aggregate-final", "2026-W09", "succeeded", dt.datetime(2026, 2, 23, 6, 30, tzinfo=tz),
                  finished_at=dt.datetime(2026, 2, 23, 5, 40, tzinfo=dt.timezone.utc),
                  started_at=dt.datetime(2026, 2, 23, 5, 30, tzinfo=dt.timezone.utc), detail="weeks ...")
    assert client.get("/readyz").get_json()["jobs"] == {"attention": False, "missed": [], "stale": [], "failed": []}
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logging.getLogger("scheduler.runner").addHandler(handler)
    try:
        due = runner.plan(app, [final], dt.datetime(2026, 3, 5, 10, 0, tzinfo=tz))
    finally:
        logging.getLogger("scheduler.runner").removeHandler(handler)
    assert due == []  # nothing within its grace to run
    errors = [r.getMessage() for r in records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "aggregate-final for 2026-W10 missed: scheduled for 2026-03-02 06:30 CET" in errors[0]
    assert "covidmeter jobs run aggregate-final --period 2026-W10" in errors[0]
    # Recorded once, whatever the number of checks.
    assert runner.plan(app, [final], dt.datetime(2026, 3, 5, 10, 1, tzinfo=tz)) == []
    row = _runs(app)[("aggregate-final", "2026-W10")]
    assert row.status == "missed" and row.scheduled_for == dt.datetime(2026, 3, 2, 5, 30, tzinfo=dt.timezone.utc)

    listing = cli.invoke(args=["jobs"])
    assert listing.exit_code == 0, listing.output
    assert listing.output.startswith("ATTENTION: 1 missed run(s)")
    assert "covidmeter jobs run aggregate-final --period 2026-W10" in listing.output
    assert "covidmeter jobs dismiss aggregate-final --period 2026-W10" in listing.output
    assert "    2026-W10           MISSED" in listing.output
    assert cli.invoke(args=["jobs", "--check"]).exit_code == 1
    ready = client.get("/readyz")
    assert ready.status_code == 200  # reported, but web traffic does not depend on it
    assert ready.get_json()["status"] == "ok"
    assert ready.get_json()["jobs"] == {"attention": True, "stale": [], "failed": [], "missed": [
        {"job": "aggregate-final", "period": "2026-W10", "scheduled_for": "2026-03-02T05:30:00Z"}]}

    # Run by hand: the four weeks before W10, as the Monday run would have; the report clears.
    bad = cli.invoke(args=["jobs", "run", "aggregate-final", "--period", "2026-10"])
    assert bad.exit_code == 2 and "is not a period of job aggregate-final" in bad.output
    unknown = cli.invoke(args=["jobs", "run", "aggregate-finale"])
    assert unknown.exit_code == 2 and "no job 'aggregate-finale'; the jobs are: aggregate-recent" in unknown.output
    done = cli.invoke(args=["jobs", "run", "aggregate-final", "--period", "2026-W10"])
    assert done.exit_code == 0, done.output
    assert "the run of 2026-03-02 06:30 CET" in done.output
    assert "succeeded: weeks 2026-W06, 2026-W07, 2026-W08, 2026-W09:" in done.output
    assert _runs(app)[("aggregate-final", "2026-W10")].status == "succeeded"
    assert client.get("/readyz").get_json()["jobs"]["attention"] is False
    assert cli.invoke(args=["jobs", "--check"]).exit_code == 0
    again = cli.invoke(args=["jobs", "run", "aggregate-final", "--period", "2026-W10"])
    assert again.exit_code == 1 and "already succeeded" in again.output and "--again" in again.output
    assert cli.invoke(args=["jobs", "run", "aggregate-final", "--period", "2026-W10", "--again"]).exit_code == 0

    # A missed day of reminders that should not be sent late any more: dismissed, no longer reported.
    with app.app_context():
        from scheduler import claims

        claims.record_missed(db.engine, "weekly-reminders", "2026-03-03",
                             dt.datetime(2026, 3, 3, 8, 0, tzinfo=tz), "missed: no scheduler")
    assert client.get("/readyz").get_json()["jobs"]["missed"][0]["job"] == "weekly-reminders"
    dismissed = cli.invoke(args=["jobs", "dismiss", "weekly-reminders", "--period", "2026-03-03", "--note",
                                 "too late to remind"])
    assert dismissed.exit_code == 0 and "dismissed" in dismissed.output
    assert client.get("/readyz").get_json()["jobs"]["attention"] is False
    nothing = cli.invoke(args=["jobs", "dismiss", "weekly-reminders", "--period", "2026-03-03"])
    assert nothing.exit_code == 1 and "nothing to dismiss" in nothing.output


def test_stale_claims_are_flagged_by_jobs_and_readyz(app: Flask) -> None:
    from reporting.models import utcnow

    tz = ZoneInfo("Europe/Copenhagen")
    now = dt.datetime.now(tz)
    _insert_claim(app, "aggregate-final", weekly(now), "running", now,
                  heartbeat_at=utcnow() - dt.timedelta(minutes=5))
    _insert_claim(app, "aggregate-recent", hourly(now), "running", now, heartbeat_at=utcnow())
    listing = app.test_cli_runner().invoke(args=["jobs"])
    assert listing.output.startswith("ATTENTION: 1 stale claim(s)")
    assert "no heartbeat for 5 min (other-host pid 4242)" in listing.output
    assert f"    {weekly(now):<18} STALE" in listing.output
    assert f"    {hourly(now):<18} running     " in listing.output and "heartbeat" in listing.output
    body = app.test_client().get("/readyz").get_json()
    assert [s["period"] for s in body["jobs"]["stale"]] == [weekly(now)]
    held = app.test_cli_runner().invoke(args=["jobs", "run", "aggregate-recent", "--period", hourly(now)])
    assert held.exit_code == 1 and "another process holds the claim" in held.output


def test_a_run_that_lost_its_claim_records_nothing_over_the_new_holder(app: Flask) -> None:
    """Another process took the claim over while the job ran (its heartbeat had stopped): the job's next commit
    is refused, and its end writes nothing over the new holder's claim."""
    from reporting.models import InstanceFact, utcnow

    def work() -> str:
        engine = db.engine
        claim_id = db.session.scalar(select(JobRun.id).where(JobRun.job_name == "test-lost"))

        def take_over() -> None:  # another process, on a connection of its own
            with engine.begin() as connection:
                connection.execute(JobRun.__table__.update().where(JobRun.id == claim_id).values(owner=ELSEWHERE))

        takeover = threading.Thread(target=take_over)
        takeover.start()
        takeover.join()
        db.session.add(InstanceFact(key="lost-run", value="must not be committed", recorded_at=utcnow()))
        db.session.commit()
        return "should not get here"

    job = PeriodicJob("test-lost", "loses its claim", "cron", {"minute": 7}, hourly, work)
    assert execute(app, job) == "lost"
    with app.app_context():
        run = db.session.scalar(select(JobRun).where(JobRun.job_name == "test-lost"))
        assert (run.status, run.owner) == ("running", ELSEWHERE)
        assert db.session.get(InstanceFact, "lost-run") is None


def test_stop_lets_a_running_job_finish_within_the_grace(app: Flask) -> None:
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.5)
        return "finished in time"

    soon = dt.datetime.now(ZoneInfo("Europe/Copenhagen")) + dt.timedelta(seconds=0.2)
    job = PeriodicJob("test-slow", "slow", "date", {"run_date": soon}, lambda moment: "once", slow)
    scheduler = runner.start_in_process(app, jobs=[job])
    assert started.wait(10)
    assert runner.stop(app, scheduler, grace_seconds=10) == []
    run = _runs(app)[("test-slow", "once")]
    assert (run.status, run.detail) == ("succeeded", "finished in time")


def test_stop_hands_back_a_job_that_does_not_finish_and_the_next_start_re_runs_it(app: Flask) -> None:
    from reporting.models import InstanceFact, utcnow

    started, release, ended = threading.Event(), threading.Event(), threading.Event()
    outcomes: list[str] = []

    def stuck() -> str:
        started.set()
        release.wait(10)
        db.session.add(InstanceFact(key="handed-back", value="must not be committed", recorded_at=utcnow()))
        try:
            db.session.commit()
        finally:
            ended.set()
        return "finished late"

    soon = dt.datetime.now(ZoneInfo("Europe/Copenhagen")) + dt.timedelta(seconds=0.2)
    job = PeriodicJob("test-stuck", "stuck", "date", {"run_date": soon}, lambda moment: "once", stuck)
    scheduler = runner.start_in_process(app, jobs=[job])
    assert started.wait(10)
    unfinished = runner.stop(app, scheduler, grace_seconds=0.3)
    assert [lease.label for lease in unfinished] == ["job test-stuck for once"]
    run = _runs(app)[("test-stuck", "once")]
    assert run.status == "interrupted" and "did not finish within the 0.3 s grace" in run.detail
    release.set()
    assert ended.wait(10)
    with app.app_context():
        assert db.session.get(InstanceFact, "handed-back") is None  # its commit was refused
    assert _runs(app)[("test-stuck", "once")].status == "interrupted"
    # The next start re-runs an interrupted period at once.
    jobs.stopping(app).clear()  # (a new scheduler: this one no longer takes runs)
    again = PeriodicJob("test-stuck", "stuck", "date", {"run_date": soon}, lambda moment: "once",
                        lambda: outcomes.append("re-run") or "done")
    (due,) = runner.catch_up(app, [again])
    assert (due.job.name, due.period) == ("test-stuck", "once")
    assert execute(app, due.job, due.moment, period=due.period) == "succeeded"
    assert outcomes == ["re-run"] and _runs(app)[("test-stuck", "once")].attempts == 2


def test_the_tick_re_runs_a_claim_that_went_stale_while_the_scheduler_runs(app: Flask) -> None:
    from reporting.models import utcnow

    app.config.update(COVIDMETER_SCHEDULER_TICK_SECONDS=0.2)
    ran = threading.Event()
    far = dt.datetime.now(ZoneInfo("Europe/Copenhagen")) + dt.timedelta(days=30)
    job = PeriodicJob("test-ticked", "ticked", "date", {"run_date": far}, weekly, lambda: ran.set() or "re-run",
                      misfire_grace_seconds=3600)
    scheduler = runner.start_in_process(app, jobs=[job])
    try:
        now = dt.datetime.now(ZoneInfo("Europe/Copenhagen"))
        _insert_claim(app, "test-ticked", weekly(now), "running", now, heartbeat_at=utcnow() - dt.timedelta(minutes=2))
        assert ran.wait(10), "the tick did not re-run the stale claim"
        deadline = time.monotonic() + 5
        while _runs(app)[("test-ticked", weekly(now))].status != "succeeded" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.stop(app, scheduler, grace_seconds=5)
    run = _runs(app)[("test-ticked", weekly(now))]
    assert (run.status, run.attempts) == ("succeeded", 2)
