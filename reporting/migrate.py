"""Running the Alembic migrations from code and from ``covidmeter db ...``.

Work on separate features may add migration branches from the same parent; ``upgrade`` applies all heads
until a merge revision joins them.

Migrations never run inside ``create_app``: an operator (or ``covidmeter demo``) runs them on purpose.

The scripts are found by path, beside this package (``migrations/`` next to ``reporting/``, in the project
and in an installed wheel alike), never by importing the ``migrations`` package: the history is read by Alembic
as files, and it imports nothing of the application but what ``migrations/env.py`` needs (the engine, the
metadata, ``include_object``); tests/test_migration_history.py holds it to that.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

# The Alembic script directory: the ``migrations`` directory installed beside this package (pyproject.toml
# installs both as top-level packages; an editable install maps both to the project's directories).
SCRIPT_LOCATION = Path(__file__).parent.parent / "migrations"


# Schema objects the database keeps, which the models therefore do not declare: the generated columns of
# case flags and week flags, the late flags the week flags include, and the indexes over them (PostgreSQL;
# built from the case definitions by migrations 0006 and 0008, whose SQL is frozen in migrations/frozen/;
# the application's side is scheduler/incidence/caseflags.py); the season ordinal its triggers keep (PostgreSQL;
# migration 0009, reporting/reports/season_ordinal.py).
UNMODELLED = {("column", "weekly_reports", "case_flags"),
              ("column", "weekly_reports", "season_ordinal"),
              ("column", "weekly_reports", "week_flags"),
              ("column", "weekly_reports", "late_flags"),
              ("index", "weekly_reports", "ix_weekly_reports_late_onset_flags"),
              ("index", "weekly_reports", "ix_weekly_reports_cells")}


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's filter for comparing the database with the models (autogenerate and the schema test)."""
    table = getattr(getattr(obj, "table", None), "name", None)
    return (type_, table, name) not in UNMODELLED


def alembic_config(url: str) -> Config:
    config = Config()
    if not (SCRIPT_LOCATION / "env.py").is_file():
        raise RuntimeError(f"the migration scripts are not installed at {SCRIPT_LOCATION} (reinstall covidmeter)")
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str) -> None:
    command.downgrade(alembic_config(url), revision)


def current_revision(engine: Engine) -> str | None:
    """The database's revision(s), as 'a+b' when several branches are applied; None when empty."""
    with engine.connect() as connection:
        heads = MigrationContext.configure(connection).get_current_heads()
    return "+".join(sorted(heads)) or None


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    """The newest revision(s) of the migration scripts, in the same form as ``current_revision`` (they do not
    depend on any database)."""
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    return "+".join(sorted(heads)) or None
