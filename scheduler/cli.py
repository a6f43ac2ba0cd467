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
from .aggregation import aggregate_week, report_weeks, today_in, weeks_between
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
    progress = tqdm(weeks, desc="aggregating", unit="week", disable=len(weeks) < 3)
    for monday in progress:
        for method in method_list:
            result = aggregate_week(monday, definitions, method, today)
            total += result.written
            cells += result.cells
            line = (f"{format_iso_week(monday)} {method.key}: active {result.national_active:,}, cases "
                    + ", ".join(f"{k} {v:,}" for k, v in result.national_cases.items())
                    + f"; {result.written.inserted} new, {result.written.updated} updated, "
                      f"{result.written.unchanged} unchanged ({result.seconds:.2f} s)")
            progress.write(line) if len(weeks) >= 3 else click.echo(line)
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


@click.command("jobs", help="The periodic jobs and their last runs.")
@click.option("--last", default=5, show_default=True, help="Runs to show per job.")
@with_appcontext
def jobs_command(last: int) -> None:
    for job in JOBS:
        click.echo(f"{job.name}: {job.description} [{job.schedule()}]")
        runs = claims.recent_runs(db.engine, job.name, last)
        if not runs:
            click.echo("  never run")
        for run in runs:
            took = (f"{(run.finished_at - run.started_at).total_seconds():.1f} s" if run.finished_at else "-")
            detail = (run.detail or "").splitlines()[0] if run.detail else ""
            click.echo(f"  {run.period:<18} {run.status:<9} started {run.started_at:%Y-%m-%d %H:%M:%S}Z "
                       f"took {took:<8} {detail}")


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
