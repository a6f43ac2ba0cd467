"""The week flags as migration 0008 built them (PostgreSQL), frozen from scheduler/caseflags.py.

The case flags are made again, with two more columns of the same bit layout:

    weekly_reports.late_flags BIGINT NOT NULL DEFAULT 0  -- kept by triggers: the case flags of the participant's
                                                         -- report of W+1 whose onset is in W and that starts a
                                                         -- new episode
    weekly_reports.week_flags BIGINT GENERATED ALWAYS AS (
        (CASE WHEN onset_week = week AND same_illness IS DISTINCT FROM 'yes' THEN <case flags> ELSE 0 END)
        | late_flags) STORED

the function ``covidmeter_late_flags`` and the triggers that keep ``late_flags`` whatever the order of writes,
the late-onset index (``caseflags_0006``) and the index ``(week, region_code, age_years, sex, week_flags)``,
the bits, and the rule the week flags were built for as the column's comment. The rule is w0's: onsets
reported one week late, the same illness within 15 days of the previous report continuing an episode; its
test is written out below as the SQL the application compiled it to at this revision.
"""

from __future__ import annotations

from sqlalchemy import Connection

from migrations.frozen import caseflags_0006
from migrations.frozen.caseflags_0006 import COLUMN, LATE_ONSET_INDEX

WEEK_COLUMN = "week_flags"
LATE_COLUMN = "late_flags"
CELLS_INDEX = "ix_weekly_reports_cells"
WEEK_FLAGS_RULE_COMMENT = '{"onset_lookahead_weeks": 1, "same_episode_days": 15}'


def _continues_episode(previous_submitted: str) -> str:
    """SQL: the late report ``l`` answered "same illness" within 15 days of its previous report, submitted at
    ``previous_submitted``."""
    return (f"l.same_illness IS NOT NULL AND l.same_illness = 'yes' AND "
            f"(EXTRACT(EPOCH FROM (l.submitted_at - {previous_submitted})) / 86400.0) <= 15")


LATE_FLAGS_FUNCTION = f"""
        CREATE OR REPLACE FUNCTION covidmeter_late_flags(profile varchar, w date, submitted timestamptz)
        RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT coalesce(bit_or(l.{COLUMN}), 0)::bigint FROM weekly_reports AS l
            WHERE l.profile_id = profile AND l.week = w + 7 AND l.onset_week = w
              AND NOT ({_continues_episode("submitted")})
        $$"""

TRIGGERS = f"""
    CREATE FUNCTION covidmeter_late_flags_pull() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.{LATE_COLUMN} := covidmeter_late_flags(NEW.profile_id, NEW.week, NEW.submitted_at);
        RETURN NEW;
    END $$;
    CREATE FUNCTION covidmeter_late_flags_push() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND OLD.onset_week = OLD.week - 7 THEN
            UPDATE weekly_reports AS a
            SET {LATE_COLUMN} = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = OLD.profile_id AND a.week = OLD.onset_week;
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.onset_week = NEW.week - 7 THEN
            UPDATE weekly_reports AS a
            SET {LATE_COLUMN} = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = NEW.profile_id AND a.week = NEW.onset_week;
        END IF;
        RETURN NULL;
    END $$;
    CREATE TRIGGER weekly_reports_late_flags_pull BEFORE INSERT OR UPDATE OF profile_id, week, submitted_at
        ON weekly_reports FOR EACH ROW EXECUTE FUNCTION covidmeter_late_flags_pull();
    CREATE TRIGGER weekly_reports_late_flags_push_insert AFTER INSERT ON weekly_reports FOR EACH ROW
        WHEN (NEW.onset_week = NEW.week - 7) EXECUTE FUNCTION covidmeter_late_flags_push();
    CREATE TRIGGER weekly_reports_late_flags_push_delete AFTER DELETE ON weekly_reports FOR EACH ROW
        WHEN (OLD.onset_week = OLD.week - 7) EXECUTE FUNCTION covidmeter_late_flags_push();
    CREATE TRIGGER weekly_reports_late_flags_push_update AFTER UPDATE ON weekly_reports FOR EACH ROW
        WHEN ((OLD.onset_week = OLD.week - 7 OR NEW.onset_week = NEW.week - 7)
              AND (OLD.profile_id, OLD.week, OLD.onset_week, OLD.submitted_at, OLD.same_illness, OLD.{COLUMN})
                  IS DISTINCT FROM
                  (NEW.profile_id, NEW.week, NEW.onset_week, NEW.submitted_at, NEW.same_illness, NEW.{COLUMN}))
        EXECUTE FUNCTION covidmeter_late_flags_push();
"""
DROP_TRIGGERS = """
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_pull ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_push_insert ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_push_delete ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_push_update ON weekly_reports;
    DROP FUNCTION IF EXISTS covidmeter_late_flags_pull();
    DROP FUNCTION IF EXISTS covidmeter_late_flags_push();
"""

# Every report's late flags from the reports as they are, set-based: the late reports joined once with their
# week's report and grouped, written where they differ; then the reports whose late report has gone.
RECOMPUTE_LATE_FLAGS = (
    f"""
        UPDATE weekly_reports AS t SET {LATE_COLUMN} = computed.flags
        FROM (SELECT a.id, coalesce(bit_or(l.{COLUMN}) FILTER (
                  WHERE NOT ({_continues_episode("a.submitted_at")})), 0) AS flags
              FROM weekly_reports AS l
              JOIN weekly_reports AS a ON a.profile_id = l.profile_id AND a.week = l.onset_week
              WHERE l.onset_week = l.week - 7
              GROUP BY a.id) AS computed
        WHERE t.id = computed.id AND t.{LATE_COLUMN} <> computed.flags""",
    f"""
        UPDATE weekly_reports AS a SET {LATE_COLUMN} = 0
        WHERE a.{LATE_COLUMN} <> 0 AND NOT EXISTS (
            SELECT 1 FROM weekly_reports AS l
            WHERE l.profile_id = a.profile_id AND l.week = a.week + 7 AND l.onset_week = a.week)""",
)


def rebuild(connection: Connection) -> int:
    """(Re)create the case flags and the week flags for the active definitions, in the caller's transaction
    (one rewrite of the table). Returns the number of flagged definitions (0 on engines without flags)."""
    if not caseflags_0006.supported(connection):
        return 0
    definitions = caseflags_0006.flagged_definitions(connection)
    flags = caseflags_0006.flag_expression(definitions, connection)
    connection.exec_driver_sql(DROP_TRIGGERS)
    connection.exec_driver_sql(f"ALTER TABLE weekly_reports DROP COLUMN IF EXISTS {WEEK_COLUMN}, "
                               f"DROP COLUMN IF EXISTS {COLUMN}, "
                               f"ADD COLUMN IF NOT EXISTS {LATE_COLUMN} BIGINT NOT NULL DEFAULT 0")
    connection.exec_driver_sql(
        f"ALTER TABLE weekly_reports ADD COLUMN {COLUMN} BIGINT GENERATED ALWAYS AS ({flags}) STORED, "
        f"ADD COLUMN {WEEK_COLUMN} BIGINT GENERATED ALWAYS AS ("
        f"(CASE WHEN onset_week = week AND same_illness IS DISTINCT FROM 'yes' THEN {flags} ELSE 0 END)"
        f" | {LATE_COLUMN}) STORED")
    connection.exec_driver_sql(LATE_FLAGS_FUNCTION)
    for statement in RECOMPUTE_LATE_FLAGS:
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql(TRIGGERS)
    connection.exec_driver_sql(
        f"CREATE INDEX {LATE_ONSET_INDEX} ON weekly_reports (onset_week) "
        f"INCLUDE (week, profile_id, {COLUMN}, same_illness, submitted_at) WHERE onset_week < week")
    connection.exec_driver_sql(
        f"CREATE INDEX {CELLS_INDEX} ON weekly_reports (week, region_code, age_years, sex, {WEEK_COLUMN})")
    caseflags_0006.record_bits(connection, definitions)
    connection.exec_driver_sql(f"COMMENT ON COLUMN weekly_reports.{WEEK_COLUMN} IS '{WEEK_FLAGS_RULE_COMMENT}'")
    return len(definitions)


def drop_week_flags(connection: Connection) -> None:
    """Remove the week flags (the downgrade): the triggers, functions, columns and index; the case flags and
    their late-onset index stay, as 0006 made them."""
    if not caseflags_0006.supported(connection):
        return
    connection.exec_driver_sql(DROP_TRIGGERS)
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS covidmeter_late_flags(varchar, date, timestamptz)")
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {CELLS_INDEX}")
    connection.exec_driver_sql(f"ALTER TABLE weekly_reports DROP COLUMN IF EXISTS {WEEK_COLUMN}, "
                               f"DROP COLUMN IF EXISTS {LATE_COLUMN}")
