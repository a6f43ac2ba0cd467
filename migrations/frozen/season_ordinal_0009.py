"""The season ordinals as migration 0009 built them (PostgreSQL), frozen from reporting/reports/season_ordinal.py.

    weekly_reports.season_ordinal SMALLINT NOT NULL DEFAULT 1  -- 1 for the participant's first report of the
                                                               -- season (1 September - 31 August, by the
                                                               -- week's Monday), 2 ...

kept by triggers: a report written takes 1 + the number of the participant's earlier reports of its season and
moves the later ones up by one; a report deleted moves the later ones down; a report moved to another week or
profile renumbers both seasons. Every existing report is numbered once, with the table's secondary indexes
dropped and built again afterwards. SQLite keeps no ordinal.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

COLUMN = "season_ordinal"

_FUNCTIONS = f"""
    CREATE OR REPLACE FUNCTION covidmeter_season_start(w date) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT make_date(CAST(EXTRACT(YEAR FROM w) AS integer)
                         - CASE WHEN EXTRACT(MONTH FROM w) >= 9 THEN 0 ELSE 1 END, 9, 1)
    $$;
    CREATE OR REPLACE FUNCTION covidmeter_season_end(w date) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT CAST(covidmeter_season_start(w) + interval '1 year' AS date)
    $$;
    CREATE OR REPLACE FUNCTION covidmeter_renumber_season(profile varchar, w date) RETURNS void
    LANGUAGE sql AS $$
        UPDATE weekly_reports AS t SET {COLUMN} = numbered.n
        FROM (SELECT id, row_number() OVER (ORDER BY week) AS n FROM weekly_reports
              WHERE profile_id = profile AND week >= covidmeter_season_start(w)
                AND week < covidmeter_season_end(w)) AS numbered
        WHERE t.id = numbered.id AND t.{COLUMN} <> numbered.n
    $$;
    CREATE FUNCTION covidmeter_season_ordinal_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        later boolean;
    BEGIN
        SELECT count(*) FILTER (WHERE week < NEW.week) + 1, coalesce(bool_or(week > NEW.week), false)
        INTO NEW.{COLUMN}, later
        FROM weekly_reports
        WHERE profile_id = NEW.profile_id AND week >= covidmeter_season_start(NEW.week)
          AND week < covidmeter_season_end(NEW.week);
        IF later THEN
            UPDATE weekly_reports SET {COLUMN} = {COLUMN} + 1
            WHERE profile_id = NEW.profile_id AND week > NEW.week AND week < covidmeter_season_end(NEW.week);
        END IF;
        RETURN NEW;
    END $$;
    CREATE FUNCTION covidmeter_season_ordinal_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE weekly_reports SET {COLUMN} = {COLUMN} - 1
        WHERE profile_id = OLD.profile_id AND week > OLD.week AND week < covidmeter_season_end(OLD.week);
        RETURN NULL;
    END $$;
    CREATE FUNCTION covidmeter_season_ordinal_move() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        PERFORM covidmeter_renumber_season(OLD.profile_id, OLD.week);
        PERFORM covidmeter_renumber_season(NEW.profile_id, NEW.week);
        RETURN NULL;
    END $$;
"""
_TRIGGERS = """
    CREATE TRIGGER weekly_reports_season_ordinal_insert BEFORE INSERT ON weekly_reports
        FOR EACH ROW EXECUTE FUNCTION covidmeter_season_ordinal_insert();
    CREATE TRIGGER weekly_reports_season_ordinal_delete AFTER DELETE ON weekly_reports
        FOR EACH ROW EXECUTE FUNCTION covidmeter_season_ordinal_delete();
    CREATE TRIGGER weekly_reports_season_ordinal_move AFTER UPDATE OF profile_id, week ON weekly_reports
        FOR EACH ROW WHEN (OLD.profile_id IS DISTINCT FROM NEW.profile_id OR OLD.week IS DISTINCT FROM NEW.week)
        EXECUTE FUNCTION covidmeter_season_ordinal_move();
"""
_DROP = f"""
    DROP TRIGGER IF EXISTS weekly_reports_season_ordinal_insert ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_season_ordinal_delete ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_season_ordinal_move ON weekly_reports;
    DROP FUNCTION IF EXISTS covidmeter_season_ordinal_insert();
    DROP FUNCTION IF EXISTS covidmeter_season_ordinal_delete();
    DROP FUNCTION IF EXISTS covidmeter_season_ordinal_move();
    DROP FUNCTION IF EXISTS covidmeter_renumber_season(varchar, date);
    DROP FUNCTION IF EXISTS covidmeter_season_end(date);
    DROP FUNCTION IF EXISTS covidmeter_season_start(date);
    ALTER TABLE weekly_reports DROP COLUMN IF EXISTS {COLUMN};
"""


def supported(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def create(connection: Connection) -> int:
    """Add the column, number every report as it stands and install the triggers, in the caller's
    transaction. Returns the number of reports numbered."""
    if not supported(connection):
        return 0
    connection.exec_driver_sql(f"ALTER TABLE weekly_reports ADD COLUMN {COLUMN} SMALLINT NOT NULL DEFAULT 1")
    connection.exec_driver_sql(_FUNCTIONS)
    numbered = 0
    if connection.exec_driver_sql("SELECT EXISTS (SELECT 1 FROM weekly_reports)").scalar():
        with _secondary_indexes_rebuilt(connection):
            numbered = recompute(connection)
    connection.exec_driver_sql(_TRIGGERS)
    return numbered


@contextmanager
def _secondary_indexes_rebuilt(connection: Connection) -> Iterator[None]:
    """Drop the table's indexes but the primary key, and build them again afterwards, as they were.

    Numbering a table of reports writes a new version of nearly every row; with its eight secondary indexes
    in place each of those is eight index insertions, one by one (more than 24 minutes for 28 million reports,
    unfinished, on the project machine). Built again afterwards, each index is one sort (seconds to a
    minute each). The caller's transaction holds the table's exclusive lock throughout."""
    indexes = connection.exec_driver_sql("""
        SELECT i.relname, pg_get_indexdef(i.oid), c.conname, pg_get_constraintdef(c.oid)
        FROM pg_index AS x
        JOIN pg_class AS i ON i.oid = x.indexrelid
        LEFT JOIN pg_constraint AS c ON c.conindid = x.indexrelid AND c.conrelid = x.indrelid
        WHERE x.indrelid = 'weekly_reports'::regclass AND NOT x.indisprimary
        ORDER BY i.relname""").all()
    for name, _, constraint, _ in indexes:
        connection.exec_driver_sql(f'ALTER TABLE weekly_reports DROP CONSTRAINT "{constraint}"' if constraint
                                   else f'DROP INDEX "{name}"')
    # The numbering sorts and joins the whole table: in memory where it fits, for this transaction only.
    connection.exec_driver_sql("SET LOCAL work_mem = '256MB'; SET LOCAL maintenance_work_mem = '512MB'")
    yield
    for _, definition, constraint, constraint_definition in indexes:
        connection.exec_driver_sql(
            f'ALTER TABLE weekly_reports ADD CONSTRAINT "{constraint}" {constraint_definition}' if constraint
            else definition)


def drop(connection: Connection) -> None:
    if supported(connection):
        connection.exec_driver_sql(_DROP)


def recompute(connection: Connection) -> int:
    """Number every report from the reports as they are (set-based: one sort of the table); returns the
    number of reports whose ordinal changed."""
    return connection.exec_driver_sql(f"""
        UPDATE weekly_reports AS t SET {COLUMN} = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY profile_id, covidmeter_season_start(week)
                                            ORDER BY week) AS n
              FROM weekly_reports) AS numbered
        WHERE t.id = numbered.id AND t.{COLUMN} <> numbered.n""").rowcount
