"""The migration history replays as written (issue 13, item 1).

A migration is a record of what one revision did to the schema, so it may not run the application's code of
today: that code follows the models of today (the first column added to ``case_definitions`` would break an
ORM ``select(CaseDefinition)`` run at revision 0006), and ``covidmeter db upgrade`` would pull the scheduler
into the base package. So

- no file under ``migrations/`` imports ``reporting``, ``scheduler``, ``dashboard`` or ``wsgi``, except
  ``env.py``, for the names Alembic needs (the engine, the metadata, the comparison filter); what a revision
  builds is frozen in it or in ``migrations/frozen/`` (standard library, SQLAlchemy, each other);
- the whole history replays from an empty database, up, down to 0005 and up again, in a process where every
  module of the application that ``env.py`` does not need is refused, and ends where the models are (and, on
  PostgreSQL, with the database-kept columns, triggers and flags the application reads);
- ``reporting.migrate`` finds the scripts without importing the ``migrations`` package.

Runs on a database of its own: a SQLite file, or on PostgreSQL a database created next to the test database.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import make_url

from reporting.db import make_engine
from reporting.migrate import include_object
from reporting.models import Base

ROOT = Path(__file__).resolve().parents[1]
MIGRATIONS = ROOT / "migrations"
APPLICATION = {"reporting", "scheduler", "dashboard", "wsgi"}
# What Alembic's environment needs of the application: the engine, the metadata and the comparison filter.
ENV_NEEDS = {("reporting.db", "make_engine"), ("reporting.migrate", "include_object"),
             ("reporting.models", "Base"), ("reporting.models.base", "UTCDateTime")}
# Besides the standard library, what a revision script and a frozen module may import.
VERSIONS_MAY = {"alembic", "sqlalchemy", "migrations.frozen"}
FROZEN_MAY = {"sqlalchemy", "migrations.frozen"}


@pytest.fixture
def scratch_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'history.sqlite'}"
        return
    url = make_url(database_url)
    name = f"{url.database}_history"
    admin = make_engine(database_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _imports(path: Path) -> list[tuple[str, tuple[str, ...], int]]:
    """(module, names, line) of every import in a file, relative imports resolved within migrations/."""
    found = []
    package = ".".join(path.relative_to(ROOT).parent.parts)
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, (), node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join([*base, module] if module else base)
            found.append((module, tuple(alias.name for alias in node.names), node.lineno))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) in (
                "__import__", "import_module"):
            found.append(("<dynamic import>", (), node.lineno))
    return found


def _allowed(module: str, allowed: set[str]) -> bool:
    top = module.split(".")[0]
    return (top in sys.stdlib_module_names and top != "importlib") or any(
        module == prefix or module.startswith(prefix + ".") for prefix in allowed)


def test_no_migration_imports_the_application() -> None:
    files = sorted(MIGRATIONS.rglob("*.py"))
    assert MIGRATIONS / "env.py" in files and len(files) > 10
    wrong = []
    for path in files:
        name = path.relative_to(ROOT).as_posix()
        for module, names, line in _imports(path):
            if path.name == "env.py" and path.parent == MIGRATIONS:
                if module.split(".")[0] in APPLICATION and not {(module, n) for n in names} <= ENV_NEEDS:
                    wrong.append(f"{name}:{line} imports {module} {names} (env.py may import only {ENV_NEEDS})")
            elif path.parent == MIGRATIONS / "versions":
                if not _allowed(module, VERSIONS_MAY):
                    wrong.append(f"{name}:{line} imports {module}")
            elif path.parent == MIGRATIONS / "frozen":
                if not _allowed(module, FROZEN_MAY):
                    wrong.append(f"{name}:{line} imports {module}")
            elif module.split(".")[0] in APPLICATION or module == "<dynamic import>":
                wrong.append(f"{name}:{line} imports {module}")
    assert not wrong, "migrations must not run the application's code:\n" + "\n".join(wrong)


# Run in a fresh interpreter: the modules env.py needs are imported, then every other module of the application
# is refused, and the history is replayed from empty, down to 0005 and up again.
_REPLAY = textwrap.dedent("""
    import importlib, json, sys
    from importlib.abc import MetaPathFinder

    APPLICATION = {application!r}
    for name in {env_modules!r}:
        importlib.import_module(name)
    loaded_migrations = "migrations" in sys.modules
    refused = []

    class Refuse(MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname.split(".")[0] in APPLICATION and fullname not in sys.modules:
                refused.append(fullname)
                raise ImportError(f"a migration imports the application's {{fullname}}")
            return None

    sys.meta_path.insert(0, Refuse())
    from reporting.migrate import downgrade, upgrade

    url = sys.argv[1]
    try:
        upgrade(url)
        downgrade(url, "0005")
        upgrade(url)
    finally:
        print(json.dumps({{"refused": refused, "loaded_migrations": loaded_migrations}}))
""")


def test_the_history_replays_without_the_application(scratch_url: str) -> None:
    script = _REPLAY.format(application=APPLICATION, env_modules=sorted({m for m, _ in ENV_NEEDS}))
    done = subprocess.run([sys.executable, "-c", script, scratch_url], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    report = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    assert done.returncode == 0 and not report.get("refused"), \
        f"the history does not replay on its own (refused {report.get('refused')}):\n{done.stderr[-4000:]}"
    assert report["loaded_migrations"] is False, "reporting.migrate imports the migrations package"

    engine = make_engine(scratch_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                      "include_object": include_object})
            diff = compare_metadata(context, Base.metadata)
            assert diff == [], f"the replayed history and the models differ: {diff}"
            if connection.dialect.name == "postgresql":
                _database_kept_objects(connection)
            else:
                assert connection.scalar(text("SELECT count(*) FROM case_flag_bits")) == 0
    finally:
        engine.dispose()


def _database_kept_objects(connection) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL: what the models do not declare is there, and the flags are usable by today's aggregation."""
    from reporting.reports import season_ordinal
    from scheduler.incidence import caseflags
    from scheduler.incidence.definitions import CompiledDefinition

    columns = set(connection.scalars(text(
        "SELECT attname FROM pg_attribute WHERE attrelid = 'weekly_reports'::regclass AND NOT attisdropped")))
    assert {"case_flags", "late_flags", "week_flags", "season_ordinal"} <= columns
    indexes = set(connection.scalars(text("SELECT indexname FROM pg_indexes WHERE tablename = 'weekly_reports'")))
    assert {"ix_weekly_reports_late_onset_flags", "ix_weekly_reports_cells"} <= indexes
    triggers = set(connection.scalars(text(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = 'weekly_reports'::regclass AND NOT tgisinternal")))
    assert triggers == {"weekly_reports_late_flags_pull", "weekly_reports_late_flags_push_insert",
                        "weekly_reports_late_flags_push_delete", "weekly_reports_late_flags_push_update",
                        "weekly_reports_season_ordinal_insert", "weekly_reports_season_ordinal_delete",
                        "weekly_reports_season_ordinal_move"}
    assert season_ordinal.present(connection)
    assert caseflags.week_flags_rule(connection) == caseflags.WEEK_FLAGS_RULE
    definitions = [CompiledDefinition.from_rule(key, version, rule, kind=kind) for key, version, rule, kind in
                   connection.execute(text("SELECT key, version, rule, kind FROM case_definitions WHERE active "
                                           "ORDER BY key, version"))]
    assert definitions and set(caseflags.usable_bits(connection, definitions)) == {
        (d.key, d.version) for d in definitions}
