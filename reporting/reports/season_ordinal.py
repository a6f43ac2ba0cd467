"""Season ordinals: each report's place among its participant's reports of the season (PostgreSQL).

Three of the participation methods ask about a participant's other reports of the season: is this the
first one (ignore-first-report: w0_if, w1_s2_if2_ex), has the participant reported in at least k weeks so
far (COVIDmeter's w0_3w), at least m times in all (w1_s2_if2_ex). Asked per report with a look-up of the
participant's earlier reports, that is one index probe for each of the 700,000 reports of a national week,
about eight seconds a method (docs/performance.md). So on PostgreSQL every report carries the answer:

    weekly_reports.season_ordinal SMALLINT NOT NULL   -- 1 for the participant's first report of the season
                                                      -- (1 September - 31 August, by the week's Monday), 2 ...

A participant reports at most once a week, so the ordinal is also the number of weeks reported in the
season up to and including this one, and a participant has at least m reports in the season exactly when
one of them has the ordinal m. ``weekly_reports`` does not know it in the model: like the case flags it is
kept by the database (``UNMODELLED`` in reporting.migrate), by triggers that hold it true whatever the order
of writes:

- a report written takes 1 + the number of the participant's earlier reports of its season (one probe of
  the ``(profile_id, week)`` index), and the reports of later weeks of the season, if any, move up by one;
- a report deleted moves the later reports of its season down by one (withdrawal and retention delete all
  of a participant's reports or whole seasons, so in practice nothing is left to move);
- a report moved to another week or profile (no path of the service does that) renumbers both seasons.

A new report is for the current week, so the first rule is the whole cost of the common case: one index
probe in the statement that writes the report. Loaders that write with triggers off (bench/population.py)
set the column themselves or call ``recompute``. SQLite keeps no ordinal: the aggregation asks its
questions with look-ups there (the demo and the tests), and the tests hold both engines to the same
plain-Python reference.

**One plan, whatever the table looked like when it was made** (issue 12, migration 0013). PL/pgSQL plans
each statement of a trigger once per connection and keeps the plan (after five executions a generic one,
made without the parameters' values) until the table's statistics or definition change. Made while
``weekly_reports`` was empty or never analysed, where every index looks alike to the planner, the look-up
``profile_id = $1 AND week BETWEEN ...`` went through ``ix_weekly_reports_cells`` (its leading ``week``)
instead of the participant's key, reading every report of the season for each report written: ~2 ms per
report at 30,000 reports, and a demo build that slowed week by week. So every statement here names a
participant's reports only by their key, as a range of the row ``(profile_id, week)`` (with the
``profile_id`` equality that keeps the estimate small): only the unique index on ``(profile_id, week)``
can serve such a condition, so no other index is a candidate, and the functions run with
``enable_seqscan = off`` (a function's ``SET`` clause: a setting for its own statements, planning included,
about 1 µs per call), so that a table analysed while empty (0 pages) cannot make a sequential scan look
cheaper either. Any further test (the late flags' onset week) goes in the aggregate's ``FILTER``, where no
index can take it. The plan is then the same index probe whether it was made on an empty table, a full
one, with statistics or without (tests/faults/test_plan_stability.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

COLUMN = "season_ordinal"

# The trigger functions' statements reach a participant's reports only as a range of the (profile_id, week)
# key, and run with this SET clause (see the module docstring). Migration 0013 holds a copy of this text, the
# one databases get (tests/faults/test_plan_stability.py holds the two equal).
_SETTINGS = "SET enable_seqscan = off"
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
              WHERE profile_id = profile
                AND (profile_id, week) >= (profile, covidmeter_season_start(w))
                AND (profile_id, week) < (profile, covidmeter_season_end(w))) AS numbered
        WHERE t.id = numbered.id AND t.{COLUMN} <> numbered.n
          AND t.profile_id = profile
          AND (t.profile_id, t.week) >= (profile, covidmeter_season_start(w))
          AND (t.profile_id, t.week) < (profile, covidmeter_season_end(w))
    $$;
    CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_insert() RETURNS trigger LANGUAGE plpgsql
    {_SETTINGS} AS $$
    DECLARE
        later boolean;
    BEGIN
        SELECT count(*) FILTER (WHERE week < NEW.week) + 1, coalesce(bool_or(week > NEW.week), false)
        INTO NEW.{COLUMN}, later
        FROM weekly_reports
        WHERE profile_id = NEW.profile_id
          AND (profile_id, week) >= (NEW.profile_id, covidmeter_season_start(NEW.week))
          AND (profile_id, week) < (NEW.profile_id, covidmeter_season_end(NEW.week));
        IF later THEN
            UPDATE weekly_reports SET {COLUMN} = {COLUMN} + 1
            WHERE profile_id = NEW.profile_id
              AND (profile_id, week) > (NEW.profile_id, NEW.week)
              AND (profile_id, week) < (NEW.profile_id, covidmeter_season_end(NEW.week));
        END IF;
        RETURN NEW;
    END $$;
    CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_delete() RETURNS trigger LANGUAGE plpgsql
    {_SETTINGS} AS $$
    BEGIN
        UPDATE weekly_reports SET {COLUMN} = {COLUMN} - 1
        WHERE profile_id = OLD.profile_id
          AND (profile_id, week) > (OLD.profile_id, OLD.week)
          AND (profile_id, week) < (OLD.profile_id, covidmeter_season_end(OLD.week));
        RETURN NULL;
    END $$;
    CREATE OR REPLACE FUNCTION covidmeter_season_ordinal_move() RETURNS trigger LANGUAGE plpgsql
    {_SETTINGS} AS $$
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
    """Add the column, number every report as it stands and install the triggers (a migration step, in
    the caller's transaction). Returns the number of reports numbered."""
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
    number of reports whose ordinal changed. For a table written with triggers off."""
    return connection.exec_driver_sql(f"""
        UPDATE weekly_reports AS t SET {COLUMN} = numbered.n
        FROM (SELECT id, row_number() OVER (PARTITION BY profile_id, covidmeter_season_start(week)
                                            ORDER BY week) AS n
              FROM weekly_reports) AS numbered
        WHERE t.id = numbered.id AND t.{COLUMN} <> numbered.n""").rowcount


def present(connection: Connection) -> bool:
    """The database keeps season ordinals (PostgreSQL, migration 0009 applied)."""
    if not supported(connection):
        return False
    return bool(connection.exec_driver_sql(
        "SELECT 1 FROM pg_attribute WHERE attrelid = 'weekly_reports'::regclass "
        f"AND attname = '{COLUMN}' AND NOT attisdropped").scalar())
