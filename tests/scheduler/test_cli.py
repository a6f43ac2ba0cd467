"""The scheduler's commands through the Flask CLI runner."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from reporting.extensions import db
from reporting.models import Account, IncidenceEstimate, InstanceFact, StaffUser, WeeklyReport
from scheduler.incidence import caseflags
from scheduler.incidence.definitions import load_definitions

from .test_aggregation import build_known_population


def _count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_aggregate_a_week_then_rerun(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context(), db.engine.begin() as connection:
        build_known_population(connection)
    result = runner.invoke(args=["aggregate", "--week", "2026-W10"])
    assert result.exit_code == 0, result.output
    assert ("aggregating 1 week(s) 2026-W10..2026-W10, 7 definition(s), method(s) w0, w1_s2_if2_ex, w0_3w, "
            "w0_if") in result.output
    assert "2026-W10 w0: active 9, cases" in result.output and "covid.ecdc 6" in result.output
    # 6 geographies x 4 bands x 4 sexes x 7 definitions x 4 methods
    assert "2,688 estimates inserted" in result.output
    again = runner.invoke(args=["aggregate", "--week", "2026-W10"])
    assert "0 estimates inserted, 0 updated, 2,688 unchanged" in again.output
    w0 = runner.invoke(args=["aggregate", "--week", "2026-W10", "--method", "w0"])
    assert "method(s) w0, issue" in w0.output and "672 unchanged" in w0.output
    three = runner.invoke(args=["aggregate", "--week", "2026-W11", "--weeks", "3", "--definition", "cli",
                                "--method", "w0"])
    assert three.exit_code == 0, three.output
    assert "3 week(s) 2026-W09..2026-W11, 1 definition(s)" in three.output
    everything = runner.invoke(args=["aggregate", "--all"])
    assert "6 week(s) 2026-W07..2026-W12" in everything.output  # first report W-3, last W+2
    with app.app_context():
        assert set(db.session.scalars(select(IncidenceEstimate.week).distinct())) == {
            dt.date(2026, 2, 9) + dt.timedelta(weeks=n) for n in range(6)}


def test_aggregate_usage_errors(app: Flask, runner: FlaskCliRunner) -> None:
    assert "no reports yet" in runner.invoke(args=["aggregate", "--all"]).output
    bad = runner.invoke(args=["aggregate", "--week", "2026-10"])
    assert bad.exit_code == 2 and "is not an ISO week like 2026-W05" in bad.output
    unknown = runner.invoke(args=["aggregate", "--definition", "flu.x"])
    assert unknown.exit_code == 1 and "no active case definition with key flu.x" in unknown.output
    both = runner.invoke(args=["aggregate", "--all", "--weeks", "2"])
    assert both.exit_code == 2 and "--all cannot be combined" in both.output


def test_jobs_lists_the_declared_jobs_and_their_runs(app: Flask, runner: FlaskCliRunner) -> None:
    from scheduler.jobs import JOBS, execute

    before = runner.invoke(args=["jobs"])
    assert before.exit_code == 0
    assert "aggregate-recent  Aggregate the current and the previous week" in before.output
    assert "schedule cron minute=7, late runs allowed for 30 min" in before.output
    assert before.output.count("never run") == len(JOBS)
    assert "mail outbox: 0 pending, 0 failed" in before.output
    execute(app, next(job for job in JOBS if job.name == "send-mail"))
    broken = next(job for job in JOBS if job.name == "retention")
    with app.app_context():
        from reporting.models import OutboxMessage

        db.session.add(OutboxMessage(recipient="x@example.invalid", subject="s", body_text="b", category="login",
                                     status="failed", attempts=8, last_error="SMTPRecipientsRefused: 550"))
        db.session.commit()
    after = runner.invoke(args=["jobs", "--last", "2"])
    assert after.output.count("never run") == len(JOBS) - 1
    assert "succeeded" in after.output and "sent 0, failed 0, retrying 0" in after.output
    assert "period             outcome     started (UTC)" in after.output
    assert "1 failed" in after.output and "after 8 attempt(s): SMTPRecipientsRefused: 550" in after.output
    assert broken.name in after.output


def test_demo_builds_and_rebuilds(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    truth = tmp_path / "truth.json"
    args = ["demo", "--no-serve", "--participants", "250", "--weeks", "4", "--seed", "5", "--truth", str(truth)]
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert "staff login: demo-admin@covidmeter.local  password: " in result.output
    assert "250 participants" in result.output
    document = json.loads(truth.read_text())
    assert document["participants"] == 250 and len(document["cells"]) == 4 * 5 * 3
    with app.app_context():
        reports = _count(WeeklyReport)
        estimates = _count(IncidenceEstimate)
        assert reports > 250 and estimates == 4 * 6 * 4 * 4 * 7 * 4  # weeks x grid x definitions x methods
        assert db.session.scalar(select(StaffUser.role)) == "admin"
        assert json.loads(db.session.scalar(select(InstanceFact.value).where(InstanceFact.key == "demo")))[
            "status"] == "built"
        db.session.close()
    rebuilt = runner.invoke(args=args)  # an earlier demo may be rebuilt, and the seed makes it the same
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "removed the rows of the earlier demo" in rebuilt.output
    with app.app_context():
        assert (_count(WeeklyReport), _count(IncidenceEstimate), _count(StaffUser)) == (reports, estimates, 1)
        # The rebuild keeps what describes the schema: which bit of the stored case flags holds which rule.
        with db.engine.connect() as connection:
            definitions = load_definitions(db.session)
            assert len(caseflags.usable_bits(connection, definitions)) == (
                len(definitions) if caseflags.supported(connection) else 0)


def test_demo_refuses_a_database_with_other_data(app: Flask, runner: FlaskCliRunner, tmp_path: Path) -> None:
    with app.app_context():
        db.session.add(Account(email="someone@example.org"))
        db.session.commit()
    result = runner.invoke(args=["demo", "--no-serve", "--participants", "10", "--weeks", "1",
                                 "--truth", str(tmp_path / "t.json")])
    assert result.exit_code == 1
    assert "not made by 'covidmeter demo'; refusing to overwrite them" in result.output
    with app.app_context():
        assert _count(Account) == 1 and _count(WeeklyReport) == 0
    assert not (tmp_path / "t.json").exists()


def test_run_refuses_a_database_without_schema(tmp_path: Path, config: dict[str, object]) -> None:
    from wsgi import create_app

    app = create_app({**config, "COVIDMETER_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.sqlite'}"})
    result = app.test_cli_runner().invoke(args=["run", "--port", "5999"])
    assert result.exit_code == 1 and "covidmeter db upgrade" in result.output


def test_demo_recreates_the_default_sqlite_file(tmp_path: Path, config: dict[str, object], monkeypatch) -> None:
    from reporting.migrate import current_revision, head_revision
    from scheduler import demo
    from wsgi import create_app

    url = f"sqlite:///{tmp_path / 'covidmeter.sqlite'}"
    monkeypatch.setattr(demo, "default_sqlite_url", lambda app: url)
    app = create_app({**config, "COVIDMETER_DATABASE_URL": url})
    args = ["demo", "--no-serve", "--participants", "40", "--weeks", "2", "--truth", str(tmp_path / "t.json")]
    first = app.test_cli_runner().invoke(args=args)
    assert first.exit_code == 0, first.output
    second = app.test_cli_runner().invoke(args=args)
    assert second.exit_code == 0, second.output
    assert "removed the earlier demo database file" in second.output
    with app.app_context():
        assert current_revision(db.engine) == head_revision()
        assert _count(StaffUser) == 1 and _count(WeeklyReport) > 0
        db.engine.dispose()
