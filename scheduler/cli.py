"""``covidmeter`` commands owned by the scheduler: aggregate, scheduler, jobs, demo, run."""

from __future__ import annotations

import datetime as dt
import signal
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from tqdm import tqdm
from werkzeug.serving import run_simple

from reporting import migrate
from reporting.extensions import db
from reporting.mail import outbox_report
from reporting.models import JobRun, utcnow
from reporting.weeks import format_iso_week, monday_of, parse_iso_week, today_in, weeks_between

from . import claims
from .incidence import WEEKS_PER_STATEMENT, aggregate_weeks, report_weeks
from .incidence.definitions import DefinitionError, load_definitions
from .demo import DemoRefused, build_demo
from .incidence.estimates import WriteSummary
from .incidence.methods import METHODS, get_method
from .jobs import JOBS, PeriodicJob, execute, find
from .runner import exit_now, run_blocking, start_in_process, stop


def register(app: Flask) -> None:
    for command in (aggregate_command, scheduler_command, jobs_command, demo_command, run_command):
        app.cli.add_command(command)


def _iso_week(_ctx: click.Context, _param: click.Parameter, value: str | None) -> dt.date | None:
    if value is None:
        return None
    try:
        return parse_iso_week(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command("aggregate", help="Compute the weekly estimates (default: the current and the previous week).")
@click.option("--week", callback=_iso_week, metavar="YYYY-Www", help="The (last) week to aggregate.")
@click.option("--weeks", "count", type=click.IntRange(min=1), help="This many weeks, ending with --week or now.")
@click.option("--all", "all_weeks", is_flag=True, help="Every week from the first report to the last.")
@click.option("--method", "methods", multiple=True, type=click.Choice(sorted(METHODS)),
              help="Method(s) to compute (default: all).")
@click.option("--definition", "keys", multiple=True, help="Case definition key(s) (default: all active).")
@with_appcontext
def aggregate_command(week: dt.date | None, count: int | None, all_weeks: bool, methods: tuple[str, ...],
                      keys: tuple[str, ...]) -> None:
    config = current_app.config
    today = today_in(config["COVIDMETER_TIMEZONE"])
    if all_weeks:
        if week or count:
            raise click.UsageError("--all cannot be combined with --week or --weeks")
        with db.engine.connect() as connection:
            span = report_weeks(connection)
        if span is None:
            click.echo("no reports yet: nothing to aggregate")
            return
        weeks = weeks_between(*span)
    else:
        last = week or monday_of(today)
        n = count or (1 if week else 2)
        weeks = [last - dt.timedelta(weeks=i) for i in range(n - 1, -1, -1)]
    try:
        definitions = load_definitions(db.session, keys or None)
        method_list = [get_method(m) for m in (methods or tuple(METHODS))]
    except (DefinitionError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.close()
    click.echo(f"aggregating {len(weeks)} week(s) {format_iso_week(weeks[0])}..{format_iso_week(weeks[-1])}, "
               f"{len(definitions)} definition(s), method(s) {', '.join(m.key for m in method_list)}, issue {today}")
    started = time.perf_counter()
    total = WriteSummary()
    cells = 0
    verbose = len(weeks) * len(method_list) <= 8
    progress = tqdm(total=len(weeks) * len(method_list), desc="aggregating", unit="week", disable=verbose)
    for method in method_list:
        for start in range(0, len(weeks), WEEKS_PER_STATEMENT):
            for result in aggregate_weeks(weeks[start:start + WEEKS_PER_STATEMENT], definitions, [method], today):
                total += result.written
                cells += result.cells
                if result.skipped:
                    line = f"{format_iso_week(result.week)} {method.key}: skipped, {result.skipped}"
                else:
                    line = (f"{format_iso_week(result.week)} {method.key}: active {result.national_active:,}, cases "
                            + ", ".join(f"{k} {v:,}" for k, v in result.national_cases.items())
                            + f"; {result.written.inserted} new, {result.written.updated} updated, "
                              f"{result.written.unchanged} unchanged ({result.seconds:.2f} s)")
                click.echo(line) if verbose else progress.write(line)
                progress.update(1)
    progress.close()
    click.echo(f"done: {cells:,} cells in {time.perf_counter() - started:.1f} s; {total.inserted:,} estimates "
               f"inserted, {total.updated:,} updated, {total.unchanged:,} unchanged")


@click.command("scheduler", help="Run the periodic jobs (one process per deployment; blocks). SIGTERM or Ctrl+C "
               "stops it: running jobs get COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS to finish, then their claims are "
               "handed back for the next start.")
@with_appcontext
def scheduler_command() -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    policy = _policy(app)
    click.echo(f"scheduler: {len(JOBS)} jobs, time zone {app.config['COVIDMETER_TIMEZONE']}; job lease "
               f"{policy.lease.total_seconds():g} s (heartbeat every {policy.heartbeat.total_seconds():g} s), "
               f"recovery check every {app.config.get('COVIDMETER_SCHEDULER_TICK_SECONDS') or 30:g} s; SIGTERM or "
               f"Ctrl+C stops (grace {app.config.get('COVIDMETER_SCHEDULER_STOP_GRACE_SECONDS') or 25:g} s)")
    for job in JOBS:
        click.echo(f"  {job.name:<18} {job.schedule():<40} {job.description}")
    unfinished = run_blocking(app)
    click.echo("scheduler stopped" + (f"; handed back: {', '.join(lease.label for lease in unfinished)}"
                                      if unfinished else ""))


def _policy(app: Flask) -> claims.Policy:
    try:
        return claims.Policy.from_config(app.config)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _first_line(text: str | None) -> str:
    return text.splitlines()[0] if text else ""


def _describe(run: JobRun, policy: claims.Policy, now: dt.datetime) -> tuple[str, str]:
    """(outcome, detail) of a claim as ``covidmeter jobs`` shows it."""
    detail = _first_line(run.detail)
    if run.status == claims.RUNNING:
        beat = run.heartbeat_at or run.started_at
        holder = claims.owner_label(run.owner)
        if claims.is_stale(run, policy, now):
            return "STALE", (f"no heartbeat for {_duration((now - beat).total_seconds())} ({holder}): the next "
                             "scheduler start or tick re-runs it (or records it missed past its grace)")
        return "running", f"heartbeat {_duration((now - beat).total_seconds())} ago, {holder}" + (
            f"; {detail}" if detail else "")
    if run.status == claims.MISSED:
        command = detail.split("run it by hand: ", 1)[1].split(";", 1)[0] if "run it by hand: " in detail else ""
        due = f"due {run.scheduled_for:%Y-%m-%d %H:%M}Z" if run.scheduled_for else "not run"
        return "MISSED", f"{due}, not run; run it: {command}" if command else detail
    if run.status == claims.FAILED:
        due = claims.retry_due(run, policy, now)
        if due is None:
            return "failed", f"gave up after {run.attempts} attempts: {detail}"
        return "failed", f"attempt {run.attempts} of {policy.max_attempts}; retried from {due:%H:%M}Z if still " \
                         f"within the job's grace: {detail}"
    return run.status, detail


def _find_job(name: str) -> PeriodicJob:
    job = find(name)
    if job is None:
        raise click.BadParameter(f"no job {name!r}; the jobs are: {', '.join(j.name for j in JOBS)}",
                                 param_hint="NAME")
    return job


@click.group("jobs", invoke_without_command=True,
             help="The periodic jobs, their last runs and outcome, what needs attention, and the mail outbox. "
                  "Subcommands run or dismiss a run by hand.")
@click.option("--last", default=3, show_default=True, help="Runs to show per job.")
@click.option("--check", is_flag=True, help="Exit with status 1 when a run was missed, a claim is stale or a "
              "failure is no longer retried (for monitoring).")
@click.pass_context
@with_appcontext
def jobs_command(ctx: click.Context, last: int, check: bool) -> None:
    if ctx.invoked_subcommand is not None:
        return
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    policy = _policy(app)
    now = utcnow()
    attention = claims.attention(db.engine, policy, now)
    if attention:
        parts = [f"{len(rows)} {label}" for rows, label in ((attention.missed, "missed run(s)"),
                                                             (attention.stale, "stale claim(s)"),
                                                             (attention.gave_up, "failure(s) no longer retried"))
                 if rows]
        click.echo(f"ATTENTION: {', '.join(parts)}")
        for run in attention.missed:
            click.echo(f"  {run.job_name} {run.period}: {_first_line(run.detail)}")
            click.echo(f"      or, if it should not run: covidmeter jobs dismiss {run.job_name} --period {run.period}")
        for run in attention.stale:
            click.echo(f"  {run.job_name} {run.period}: {_describe(run, policy, now)[1]}")
        for run in attention.gave_up:
            click.echo(f"  {run.job_name} {run.period}: failed {run.attempts} times, not retried: "
                       f"{_first_line(run.detail)[:100]}; run it: covidmeter jobs run {run.job_name} --period "
                       f"{run.period}")
        click.echo("")
    for job in JOBS:
        click.echo(f"{job.name}  {job.description}")
        click.echo(f"    schedule {job.schedule()}, late runs allowed for {_duration(job.misfire_grace_seconds)}")
        runs = claims.recent_runs(db.engine, job.name, last)
        if not runs:
            click.echo("    never run")
            continue
        click.echo(f"    {'period':<18} {'outcome':<11} {'started (UTC)':<20} {'took':>8}  detail")
        for run in runs:
            took = _duration((run.finished_at - run.started_at).total_seconds()) if (
                run.finished_at and run.status not in (claims.MISSED, claims.DISMISSED)) else "-"
            outcome, detail = _describe(run, policy, now)
            click.echo(f"    {run.period:<18} {outcome:<11} {run.started_at:%Y-%m-%d %H:%M:%S}  {took:>8}  "
                       f"{detail[:160]}")
    for line in outbox_report():
        click.echo(line)
    if check and attention:
        ctx.exit(1)


def _period_option(job: PeriodicJob, period: str | None, timezone: str) -> tuple[str, dt.datetime]:
    zone = ZoneInfo(timezone)
    if period is None:
        now = dt.datetime.now(zone)
        return job.period(now), now
    try:
        return period.strip(), job.moment_of(period, timezone)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc


@jobs_command.command("run", help="Run a job now for a period (default: the current one), as the scheduler would: "
                      "it claims the period (a missed, failed or interrupted one too), holds the lease while it "
                      "runs, and records the outcome. Example: covidmeter jobs run aggregate-final --period 2026-W48")
@click.argument("name")
@click.option("--period", metavar="PERIOD", help="The period, as `covidmeter jobs` shows it (2026-W48 for a weekly "
              "job, 2026-12-01 for a daily one, 2026-12-01T10 for an hourly one).")
@click.option("--again", is_flag=True, help="Run it even if the period already succeeded (or was dismissed).")
@with_appcontext
def jobs_run_command(name: str, period: str | None, again: bool) -> None:

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    policy = _policy(app)
    job = _find_job(name)
    period, moment = _period_option(job, period, app.config["COVIDMETER_TIMEZONE"])
    existing = claims.get(db.engine, job.name, period)
    if existing is not None and existing.scheduled_for is not None:
        moment = existing.scheduled_for.astimezone(moment.tzinfo)
    click.echo(f"{job.name} for {period} (the run of {moment:%Y-%m-%d %H:%M %Z}): running ...")

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        outcome = execute(app, job, moment, period=period, manual=True, again=again)
    except KeyboardInterrupt:
        raise click.ClickException(f"interrupted: the claim on {job.name} {period} was handed back "
                                   "('interrupted'): run this command again (the scheduler re-runs it only within "
                                   "the job's grace)") from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    run = claims.get(db.engine, job.name, period)
    if outcome == "succeeded":
        click.echo(f"succeeded: {_first_line(run.detail) if run else ''}")
        return
    if outcome == "skipped" and run is not None:
        if run.status == claims.RUNNING:
            raise click.ClickException(f"not run: another process holds the claim "
                                       f"({_describe(run, policy, utcnow())[1]})")
        if run.status in (claims.SUCCEEDED, claims.DISMISSED):
            raise click.ClickException(f"not run: the period already {run.status} ({_first_line(run.detail)}); "
                                       "add --again to run it once more")
    if outcome == "failed" and run is not None:
        raise click.ClickException(f"failed: {_first_line(run.detail)} (the error is in the log and in "
                                   "`covidmeter jobs`)")
    raise click.ClickException(f"{outcome}: {_first_line(run.detail) if run else 'no claim recorded'}")


@jobs_command.command("dismiss", help="Say that a missed (or failed, or interrupted) run will not be run: it is no "
                      "longer reported by `covidmeter jobs` and /readyz.")
@click.argument("name")
@click.option("--period", required=True, metavar="PERIOD", help="The period, as `covidmeter jobs` shows it.")
@click.option("--note", default="", help="Why (kept on the claim).")
@with_appcontext
def jobs_dismiss_command(name: str, period: str, note: str) -> None:
    job = _find_job(name)
    note = f"dismissed by an operator at {utcnow():%Y-%m-%d %H:%M}Z" + (f": {note}" if note else "")
    if not claims.dismiss(db.engine, job.name, period.strip(), note):
        run = claims.get(db.engine, job.name, period.strip())
        state = f"it is {run.status}" if run else "it has no claim"
        raise click.ClickException(f"nothing to dismiss for {job.name} {period}: {state}")
    click.echo(f"{job.name} {period}: dismissed")


def _serve(app: Flask, port: int) -> None:
    scheduler = start_in_process(app)
    click.echo(f"serving on http://127.0.0.1:{port}/ with the scheduler in-process (Ctrl+C stops)")

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # the development server stops on it, and the scheduler below

    previous = signal.signal(signal.SIGTERM, interrupted)
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        signal.signal(signal.SIGTERM, previous)
        unfinished = stop(app, scheduler)  # running jobs finish within the grace or their claims are handed back
    if unfinished:
        click.echo(f"stopped; handed back: {', '.join(lease.label for lease in unfinished)}")
        exit_now(0)


@click.command("demo", help="Build a demo database with synthetic participants, then serve it.")
@click.option("--participants", default=20_000, show_default=True, type=click.IntRange(min=1))
@click.option("--weeks", default=30, show_default=True, type=click.IntRange(min=1, max=520))
@click.option("--seed", default=2026, show_default=True)
@click.option("--no-serve", is_flag=True, help="Build only.")
@click.option("--port", default=5000, show_default=True)
@click.option("--truth", "truth_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the simulated truth (default: instance/demo-truth.json).")
@with_appcontext
def demo_command(participants: int, weeks: int, seed: int, no_serve: bool, port: int,
                 truth_path: Path | None) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    started = time.perf_counter()
    try:
        result = build_demo(app, participants, weeks, seed, truth_path, echo=click.echo)
    except DemoRefused as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"demo built in {time.perf_counter() - started:.1f} s: {result.participants:,} participants, "
               f"{result.reports:,} reports, {result.estimates:,} estimates over {result.weeks} weeks")
    click.echo(f"database: {result.url}")
    click.echo(f"simulated truth: {result.truth_path}")
    click.echo(f"staff login: {result.admin_email}  password: {result.admin_password}")
    click.echo("  the first sign-in sets up two-factor login (TOTP): scan the QR code with an authenticator app,")
    click.echo(f"  or print the current code with: covidmeter staff totp {result.admin_email}")
    if not no_serve:
        _serve(app, port)


@click.command("run", help="Serve an existing database with the scheduler in-process (127.0.0.1).")
@click.option("--port", default=5000, show_default=True)
@with_appcontext
def run_command(port: int) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    current, head = migrate.current_revision(db.engine), migrate.head_revision()
    if current != head:
        raise click.ClickException(f"the database is at {current or 'no revision'}, not {head}: run "
                                   "'covidmeter db upgrade' (or 'covidmeter demo' for a demo database)")
    _serve(app, port)
