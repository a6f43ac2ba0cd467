"""``covidmeter demo``: a complete instance on one machine with synthetic participants.

It builds the configured database (default: the SQLite file in the instance folder), refusing one that holds
anything else than an earlier demo: a database with accounts, reports, staff users, tokens or estimates and no
``instance_facts`` key 'demo' is left alone. An earlier demo is rebuilt (the default SQLite file is deleted and
recreated; another database has its rows removed, except the reference data and the append-only audit log).
Then: migrations, the synthetic population (scheduler.synthetic), on PostgreSQL planner statistics for it
(``ANALYZE``), the aggregation of every week, a staff admin, and the simulated truth written to
``instance/demo-truth.json`` for comparison with the estimates.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, delete, func, inspect, make_url, select
from tqdm import tqdm

from reporting import migrate
from reporting.extensions import db
from reporting.models import (Account, ApiToken, Base, IncidenceEstimate, InstanceFact, Profile, StaffUser,
                              WeeklyReport, utcnow)
from reporting.staff.service import create_staff_user
from reporting.weeks import today_in, weeks_between

from .incidence import aggregate_weeks
from .incidence.definitions import load_definitions
from .incidence.methods import METHODS
from .synthetic import generate

DEMO_FACT = "demo"
DEMO_ADMIN = "demo-admin@covidmeter.local"
# Reference data, and which bit of the stored case flags holds which definition (scheduler.incidence.caseflags: it
# describes the schema, so it stays with it; without it every definition would be evaluated inline).
KEEP_TABLES = {"regions", "municipalities", "age_bands", "case_definitions", "audit_log", "alembic_version",
               "standard_populations", "case_flag_bits"}
FOREIGN_DATA_TABLES = (Account, Profile, WeeklyReport, StaffUser, ApiToken, IncidenceEstimate)


class DemoRefused(RuntimeError):
    """The database holds data that is not an earlier demo."""


@dataclass
class DemoResult:
    url: str
    participants: int
    accounts: int
    reports: int
    weeks: int
    estimates: int
    admin_email: str
    admin_password: str
    truth_path: Path
    timings: dict[str, float] = field(default_factory=dict)
    # Seconds and reports of each simulated week's load, in order (scheduler.synthetic.Population).
    week_seconds: list[float] = field(default_factory=list)
    week_write_seconds: list[float] = field(default_factory=list)
    week_reports: list[int] = field(default_factory=list)


def default_sqlite_url(app: Flask) -> str:
    return f"sqlite:///{Path(app.instance_path) / 'covidmeter.sqlite'}"


def inspect_existing(engine: Engine) -> str:
    """'empty', 'demo' or 'foreign' (data that is not an earlier demo)."""
    tables = set(inspect(engine).get_table_names())
    if "instance_facts" in tables:
        with engine.connect() as connection:
            if connection.scalar(select(InstanceFact.key).where(InstanceFact.key == DEMO_FACT)) is not None:
                return "demo"
    with engine.connect() as connection:
        for model in FOREIGN_DATA_TABLES:
            if model.__tablename__ in tables and connection.scalar(
                    select(func.count()).select_from(model.__table__)):
                return "foreign"
    return "empty"


def _clear_rows(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name not in KEEP_TABLES:
                connection.execute(delete(table))


def _delete_sqlite_file(url: str) -> None:
    path = Path(url.removeprefix("sqlite:///"))
    for suffix in ("", "-wal", "-shm"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


def build_demo(app: Flask, participants: int = 20_000, weeks: int = 30, seed: int = 2026,
               truth_path: Path | None = None, echo: Callable[[str], None] = print,
               show_progress: bool = True) -> DemoResult:
    """Build the demo database in the app's configured database (call inside ``app.app_context()``)."""
    url = app.config["COVIDMETER_DATABASE_URL"]
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    state = inspect_existing(db.engine)
    if state == "foreign":
        raise DemoRefused(
            f"{_safe(url)} holds accounts, reports, staff users or estimates that were not made by "
            "'covidmeter demo'; refusing to overwrite them. Point COVIDMETER_DATABASE_URL at an empty database "
            "(or unset it to use the default SQLite file in the instance folder).")
    db.session.close()
    if state == "demo":
        if url == default_sqlite_url(app):
            db.engine.dispose()
            _delete_sqlite_file(url)
            echo("removed the earlier demo database file")
        else:
            _clear_rows(db.engine)
            echo("removed the rows of the earlier demo")
    migrate.upgrade(url)
    timings["migrate"] = time.perf_counter() - clock

    tz = app.config["COVIDMETER_TIMEZONE"]
    today = today_in(tz)
    with db.engine.begin() as connection:
        connection.execute(delete(InstanceFact.__table__).where(InstanceFact.key == DEMO_FACT))
        connection.execute(InstanceFact.__table__.insert().values(
            key=DEMO_FACT, value=json.dumps({"status": "building", "seed": seed}), recorded_at=utcnow()))

    clock = time.perf_counter()
    echo(f"generating {participants:,} participants over {weeks} weeks (seed {seed})")
    with db.engine.begin() as connection:
        population = generate(connection, participants=participants, weeks=weeks, seed=seed, today=today,
                              timezone=tz, age_band_scheme=app.config["COVIDMETER_AGE_BAND_SCHEME"],
                              show_progress=show_progress, log=echo)
    timings["generate"] = time.perf_counter() - clock
    echo(f"  {population.accounts:,} accounts, {population.profiles:,} profiles, {population.reports:,} reports "
         f"in {timings['generate']:.1f} s")
    if db.engine.dialect.name == "postgresql":
        # Planner statistics for the reports just written, before the aggregation plans its statements over
        # them: the table was empty, or held an earlier (smaller) demo, when it was last analysed, and
        # autovacuum, where it runs, has not caught up yet. (The load itself needs none: the triggers' plans
        # do not depend on statistics, reporting/reports/season_ordinal.py; analysing during the load would
        # only re-plan them by accident.)
        clock = time.perf_counter()
        _analyze(db.engine)
        timings["analyze"] = time.perf_counter() - clock

    clock = time.perf_counter()
    definitions = load_definitions(db.session)
    db.session.close()
    all_weeks = weeks_between(population.first_week, population.last_week)
    estimates = 0
    progress = tqdm(list(METHODS), desc="aggregating", unit="method", disable=not show_progress)
    for method in progress:
        for result in aggregate_weeks(all_weeks, definitions, [method], today):
            estimates += result.written.inserted + result.written.updated
    if db.engine.dialect.name == "postgresql":
        # And for the estimates just written (the dashboard's queries), whether or not autovacuum runs here.
        _analyze(db.engine)
    timings["aggregate"] = time.perf_counter() - clock
    echo(f"  {estimates:,} estimates for {len(all_weeks)} weeks in {timings['aggregate']:.1f} s")

    _user, password = create_staff_user(DEMO_ADMIN, "admin")
    truth_path = truth_path or Path(app.instance_path) / "demo-truth.json"
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    truth_path.write_text(json.dumps(population.truth_document(), indent=1))
    with db.engine.begin() as connection:
        connection.execute(InstanceFact.__table__.update().where(InstanceFact.key == DEMO_FACT).values(
            value=json.dumps({"status": "built", "seed": seed, "participants": participants, "weeks": weeks,
                              "built_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}),
            recorded_at=utcnow()))
    return DemoResult(_safe(url), population.profiles, population.accounts, population.reports, len(all_weeks),
                      estimates, DEMO_ADMIN, password, truth_path, timings, population.week_seconds,
                      population.week_write_seconds, population.week_reports)


def _analyze(engine: Engine) -> None:
    """ANALYZE the whole database (PostgreSQL; under a second for the default demo)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql("ANALYZE")


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    return make_url(url).render_as_string(hide_password=True)
