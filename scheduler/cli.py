"""``covidmeter`` commands owned by the scheduler: aggregate, scheduler, jobs, demo, run."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from tqdm import tqdm

from reporting import migrate
from reporting.extensions import db
from reporting.weeks import format_iso_week, monday_of, parse_iso_week

from . import claims
from .aggregation import WEEKS_PER_STATEMENT, aggregate_weeks, report_weeks, today_in, weeks_between
from .definitions import DefinitionError, load_definitions
from .estimates import WriteSummary
from .jobs import JOBS
from .methods import METHODS, get_method


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


@click.command("scheduler", help="Run the periodic jobs (one process per deployment; blocks).")
@with_appcontext
def scheduler_command() -> None:
    from .runner import run_blocking

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    click.echo(f"scheduler: {len(JOBS)} jobs, time zone {app.config['COVIDMETER_TIMEZONE']}; Ctrl+C stops")
    for job in JOBS:
        click.echo(f"  {job.name:<18} {job.schedule():<40} {job.description}")
    run_blocking(app)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@click.command("jobs", help="The periodic jobs, their last runs and outcome, and the mail outbox.")
@click.option("--last", default=3, show_default=True, help="Runs to show per job.")
@with_appcontext
def jobs_command(last: int) -> None:
    from sqlalchemy import func, select

    from reporting.models import OutboxMessage

    for job in JOBS:
        click.echo(f"{job.name}  {job.description}")
        click.echo(f"    schedule {job.schedule()}, late runs allowed for {_duration(job.misfire_grace_seconds)}")
        runs = claims.recent_runs(db.engine, job.name, last)
        if not runs:
            click.echo("    never run")
            continue
        click.echo(f"    {'period':<18} {'outcome':<10} {'started (UTC)':<20} {'took':>8}  detail")
        for run in runs:
            took = _duration((run.finished_at - run.started_at).total_seconds()) if run.finished_at else "-"
            detail = (run.detail or "").splitlines()[0] if run.detail else ""
            if run.status == "failed" and run.detail:
                detail = run.detail.splitlines()[0]
            click.echo(f"    {run.period:<18} {run.status:<10} {run.started_at:%Y-%m-%d %H:%M:%S}  {took:>8}  "
                       f"{detail[:100]}")
    with db.engine.connect() as connection:
        table = OutboxMessage.__table__
        counts = dict(connection.execute(select(table.c.status, func.count()).group_by(table.c.status)).all())
        line = (f"mail outbox: {counts.get('pending', 0)} pending, {counts.get('failed', 0)} failed "
                f"(gave up after COVIDMETER_MAIL_MAX_ATTEMPTS), {counts.get('sent', 0)} sent")
        failed = connection.execute(select(table.c.id, table.c.attempts, table.c.last_error)
                                    .where(table.c.status == "failed").order_by(table.c.id.desc()).limit(1)).first()
        retrying = connection.execute(select(func.count()).select_from(table).where(
            table.c.status == "pending", table.c.attempts > 0)).scalar_one()
    click.echo(line + (f"; {retrying} retrying with backoff" if retrying else ""))
    if failed is not None:
        click.echo(f"    last failure: message {failed.id} after {failed.attempts} attempts: {failed.last_error}")


def _serve(app: Flask, port: int) -> None:
    from werkzeug.serving import run_simple

    from .runner import start_in_process

    scheduler = start_in_process(app)
    click.echo(f"serving on http://127.0.0.1:{port}/ with the scheduler in-process (Ctrl+C stops)")
    try:
        run_simple("127.0.0.1", port, app, threaded=True, use_reloader=False, use_debugger=False)
    finally:
        scheduler.shutdown(wait=False)


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
    from .demo import DemoRefused, build_demo

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
    url = app.config["COVIDMETER_DATABASE_URL"]
    current, head = migrate.current_revision(db.engine), migrate.head_revision(url)
    if current != head:
        raise click.ClickException(f"the database is at {current or 'no revision'}, not {head}: run "
                                   "'covidmeter db upgrade' (or 'covidmeter demo' for a demo database)")
    _serve(app, port)
