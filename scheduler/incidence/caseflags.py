"""Case flags: each report's case definitions evaluated once, by the database, when the report is written.

The aggregation counts every report of a week for every active definition, and re-counts the same reports
each time it runs (every 15 minutes for the current weeks, and for a whole season on request). Evaluating
seven rules on every report of a season costs PostgreSQL about six times the plain scan (bench/aggregate.py),
so on PostgreSQL each report carries the answers:

    weekly_reports.case_flags BIGINT GENERATED ALWAYS AS (
        CASE WHEN <rule of definition 0> THEN 1 ELSE 0 END | CASE WHEN <rule 1> THEN 2 ELSE 0 END | ...) STORED

The expression is the same SQL the aggregation would otherwise run (``CompiledDefinition.sql``), so the rule is
still evaluated in SQL, by the database, but once per report version instead of once per aggregation run; a
revised report is re-evaluated by PostgreSQL with the new values. ``case_flag_bits`` records which bit holds
which definition and the SHA-256 of the exact rule it was built from.

``rebuild`` (re)creates the column for the active definitions, for the tests and the benchmarks' loader. The
migrations do not call it: 0006 and 0008 build the flags with frozen copies (``migrations/frozen/``), and a
migration that adds or changes a definition carries its own frozen SQL (the table is rewritten once, holding a
lock on ``weekly_reports`` meanwhile: a deploy step, like any migration; docs/architecture.md). The aggregation uses a bit only when the bit's rule is exactly
the definition's rule (``usable_bits``) and evaluates any other definition inline, so a definition added
without a rebuild is slower, never wrong. SQLite keeps no flags: it evaluates the rules inline (the demo and
the tests; a virtual generated column would cost the same as the inline rule).

Week flags: the cases a participant's report of week W carries for W, so that w0 counts a whole season in one
index-only pass (docs/methods.md, "Week flags"). Two more columns, same bit layout:

    weekly_reports.late_flags BIGINT   -- kept by triggers: the case flags of the participant's report of W+1
                                       -- whose onset is in W and that starts a new episode
    weekly_reports.week_flags BIGINT GENERATED ALWAYS AS (
        (CASE WHEN onset_week = week AND same_illness IS DISTINCT FROM 'yes' THEN <case flags> ELSE 0 END)
        | late_flags) STORED

and the index ``(week, region_code, age_years, sex, week_flags)``, which holds everything the count reads.
``late_flags`` looks at another row, which a generated column cannot: triggers keep it whatever the order in
which reports arrive, are revised or deleted (``_TRIGGERS``). The rule it was built for (onsets reported one
week late; same illness within 15 days of the previous report continues an episode) is recorded as the
column's comment (``week_flags_rule``), and the aggregation uses the week flags only for a method with exactly
that rule and no season filter (w0); every other method counts as before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, literal_column, select
from sqlalchemy.orm import Session

from reporting.models import CaseFlagBit, WeeklyReport

from .definitions import CompiledDefinition, load_definitions
from .methods import W0
from .sqlfunctions import days_between

COLUMN = "case_flags"
MAX_BITS = 63  # bits 0 .. 62 of a BIGINT (the sign bit stays clear)
# The reports whose onset lies in an earlier week, with what the aggregation reads of them, so its second look
# at a season's late onsets is an index-only scan instead of ~500,000 random heap reads at national scale.
# Dropping the column drops the index; ``rebuild`` makes both again.
LATE_ONSET_INDEX = "ix_weekly_reports_late_onset_flags"
WEEK_COLUMN = "week_flags"
LATE_COLUMN = "late_flags"
CELLS_INDEX = "ix_weekly_reports_cells"
# What the week flags count: onsets in W from reports of W and W+1, the same illness as the previous report
# within this many days continuing an episode (the parameters of w0; docs/methods.md).
WEEK_FLAGS_RULE = {"onset_lookahead_weeks": 1, "same_episode_days": W0.same_episode_days}


def rule_sha256(rule: Mapping[str, Any]) -> str:
    """A digest of the rule's content (key order and whitespace do not matter)."""
    return hashlib.sha256(json.dumps(rule, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def supported(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def flag_expression(definitions: Sequence[CompiledDefinition], connection: Connection) -> str:
    """The generated column's expression: bit i set when definition i holds for the row."""
    parts = []
    for bit, definition in enumerate(definitions):
        condition = definition.sql(WeeklyReport.__table__).compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True, "include_table": False})
        parts.append(f"(CASE WHEN {condition} THEN {1 << bit} ELSE 0 END)")
    return " | ".join(parts) if parts else "0"


def rebuild(connection: Connection) -> int:
    """(Re)create ``weekly_reports.case_flags`` and the week flags for the active definitions, in the caller's
    transaction (one rewrite of the table). Returns the number of flagged definitions (0 on engines without
    flags)."""
    if not supported(connection):
        return 0
    with Session(bind=connection) as session:
        definitions = load_definitions(session)
    if len(definitions) > MAX_BITS:
        definitions = definitions[:MAX_BITS]  # the rest are evaluated inline by the aggregation
    flags = flag_expression(definitions, connection)
    connection.exec_driver_sql(_DROP_TRIGGERS)
    connection.exec_driver_sql(f"ALTER TABLE weekly_reports DROP COLUMN IF EXISTS {WEEK_COLUMN}, "
                               f"DROP COLUMN IF EXISTS {COLUMN}, "
                               f"ADD COLUMN IF NOT EXISTS {LATE_COLUMN} BIGINT NOT NULL DEFAULT 0")
    connection.exec_driver_sql(
        f"ALTER TABLE weekly_reports ADD COLUMN {COLUMN} BIGINT GENERATED ALWAYS AS ({flags}) STORED, "
        f"ADD COLUMN {WEEK_COLUMN} BIGINT GENERATED ALWAYS AS ("
        f"(CASE WHEN onset_week = week AND same_illness IS DISTINCT FROM 'yes' THEN {flags} ELSE 0 END)"
        f" | {LATE_COLUMN}) STORED")
    connection.exec_driver_sql(_late_flags_function(connection))
    recompute_late_flags(connection)
    connection.exec_driver_sql(_TRIGGERS)
    connection.exec_driver_sql(
        f"CREATE INDEX {LATE_ONSET_INDEX} ON weekly_reports (onset_week) "
        f"INCLUDE (week, profile_id, {COLUMN}, same_illness, submitted_at) WHERE onset_week < week")
    connection.exec_driver_sql(
        f"CREATE INDEX {CELLS_INDEX} ON weekly_reports (week, region_code, age_years, sex, {WEEK_COLUMN})")
    connection.execute(delete(CaseFlagBit))
    if definitions:
        connection.execute(insert(CaseFlagBit), [
            {"bit": bit, "definition_key": d.key, "definition_version": d.version, "rule_sha256": rule_sha256(d.rule)}
            for bit, d in enumerate(definitions)])
    # The rule is recorded on the column it describes (schema, not data: it goes with the column).
    connection.exec_driver_sql(f"COMMENT ON COLUMN weekly_reports.{WEEK_COLUMN} IS "
                               f"'{json.dumps(WEEK_FLAGS_RULE, sort_keys=True)}'")
    return len(definitions)


def _continues_episode(connection: Connection, late: str, previous_submitted: str) -> str:
    """SQL: the late report ``late`` (an alias) answered "same illness" within the rule's days of its
    previous report, submitted at ``previous_submitted`` (an SQL expression): the same-episode test the
    aggregation runs (scheduler.incidence.rules), compiled."""
    continues = and_(literal_column(f"{late}.same_illness").is_not(None),
                     literal_column(f"{late}.same_illness") == "yes",
                     days_between(literal_column(f"{late}.submitted_at"), literal_column(previous_submitted))
                     <= WEEK_FLAGS_RULE["same_episode_days"])
    return str(continues.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))


def _late_flags_function(connection: Connection) -> str:
    """``covidmeter_late_flags(profile, W, submitted)``: the case flags of the profile's report of W+1 whose
    onset is in W and that starts a new episode, given its report of W (the late report's previous report)
    submitted at ``submitted``."""
    # The report is named by its key alone, as a range of the row (profile_id, week) that only the unique
    # index on that key can serve; the other tests are the aggregate's FILTER, which no index can take. So the
    # plan is that index probe however empty or unanalysed the table was when it was made (the triggers'
    # plans live as long as the connection: reporting/reports/season_ordinal.py, migration 0013).
    return f"""
        CREATE OR REPLACE FUNCTION covidmeter_late_flags(profile varchar, w date, submitted timestamptz)
        RETURNS bigint LANGUAGE sql STABLE PARALLEL SAFE AS $$
            SELECT coalesce(bit_or(l.{COLUMN}) FILTER (
                       WHERE l.onset_week = w AND NOT ({_continues_episode(connection, "l", "submitted")})),
                   0)::bigint
            FROM weekly_reports AS l
            WHERE l.profile_id = profile
              AND (l.profile_id, l.week) >= (profile, w + 7) AND (l.profile_id, l.week) <= (profile, w + 7)
        $$"""


# Triggers that keep ``late_flags`` whatever the order of writes: a report takes the flags of its late report
# when it is written or its submission time changes (pull); a late report (onset the week before its own)
# recomputes its week's report when it is written, revised or deleted (push). The push of an UPDATE that
# changed nothing a late flag depends on does not run (WHEN), so the triggers' own updates do not cascade.
# Like the season ordinal's, their statements name a report by a range of its (profile_id, week) key and run
# with sequential scans off, so their plans, kept for the connection's life, are the key's index probe
# whenever they were made (reporting/reports/season_ordinal.py; migration 0013 holds a copy of this text).
_TRIGGERS = f"""
    CREATE FUNCTION covidmeter_late_flags_pull() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off AS $$
    BEGIN
        NEW.{LATE_COLUMN} := covidmeter_late_flags(NEW.profile_id, NEW.week, NEW.submitted_at);
        RETURN NEW;
    END $$;
    CREATE FUNCTION covidmeter_late_flags_push() RETURNS trigger LANGUAGE plpgsql
    SET enable_seqscan = off AS $$
    BEGIN
        IF TG_OP <> 'INSERT' AND OLD.onset_week = OLD.week - 7 THEN
            UPDATE weekly_reports AS a
            SET {LATE_COLUMN} = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = OLD.profile_id
              AND (a.profile_id, a.week) >= (OLD.profile_id, OLD.onset_week)
              AND (a.profile_id, a.week) <= (OLD.profile_id, OLD.onset_week);
        END IF;
        IF TG_OP <> 'DELETE' AND NEW.onset_week = NEW.week - 7 THEN
            UPDATE weekly_reports AS a
            SET {LATE_COLUMN} = covidmeter_late_flags(a.profile_id, a.week, a.submitted_at)
            WHERE a.profile_id = NEW.profile_id
              AND (a.profile_id, a.week) >= (NEW.profile_id, NEW.onset_week)
              AND (a.profile_id, a.week) <= (NEW.profile_id, NEW.onset_week);
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
_DROP_TRIGGERS = """
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_pull ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_push_insert ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_push_delete ON weekly_reports;
    DROP TRIGGER IF EXISTS weekly_reports_late_flags_push_update ON weekly_reports;
    DROP FUNCTION IF EXISTS covidmeter_late_flags_pull();
    DROP FUNCTION IF EXISTS covidmeter_late_flags_push();
"""


def recompute_late_flags(connection: Connection) -> int:
    """Set every report's ``late_flags`` from the reports as they are (after a rebuild, or after loading data
    with triggers off: bench/population.py). Set-based, for tables of millions: the late reports joined once
    with their week's report and grouped, written where they differ; then the reports whose late report has
    gone. Returns the number of reports changed."""
    changed = connection.exec_driver_sql(f"""
        UPDATE weekly_reports AS t SET {LATE_COLUMN} = computed.flags
        FROM (SELECT a.id, coalesce(bit_or(l.{COLUMN}) FILTER (
                  WHERE NOT ({_continues_episode(connection, "l", "a.submitted_at")})), 0) AS flags
              FROM weekly_reports AS l
              JOIN weekly_reports AS a ON a.profile_id = l.profile_id AND a.week = l.onset_week
              WHERE l.onset_week = l.week - 7
              GROUP BY a.id) AS computed
        WHERE t.id = computed.id AND t.{LATE_COLUMN} <> computed.flags""").rowcount
    changed += connection.exec_driver_sql(f"""
        UPDATE weekly_reports AS a SET {LATE_COLUMN} = 0
        WHERE a.{LATE_COLUMN} <> 0 AND NOT EXISTS (
            SELECT 1 FROM weekly_reports AS l
            WHERE l.profile_id = a.profile_id AND l.week = a.week + 7 AND l.onset_week = a.week)""").rowcount
    return changed


def week_flags_rule(connection: Connection) -> dict[str, Any] | None:
    """The rule the stored week flags were built for, from the column's comment (None: no week flags)."""
    if not supported(connection):
        return None
    value = connection.exec_driver_sql(
        "SELECT col_description(attrelid, attnum) FROM pg_attribute "
        f"WHERE attrelid = 'weekly_reports'::regclass AND attname = '{WEEK_COLUMN}' AND NOT attisdropped").scalar()
    return json.loads(value) if value else None


def usable_bits(connection: Connection, definitions: Sequence[CompiledDefinition]) -> dict[tuple[str, int], int]:
    """(key, version) -> bit for each definition whose flag was built from exactly its rule."""
    if not supported(connection):
        return {}
    recorded = {(key, version): (bit, digest) for bit, key, version, digest in connection.execute(
        select(CaseFlagBit.bit, CaseFlagBit.definition_key, CaseFlagBit.definition_version, CaseFlagBit.rule_sha256))}
    bits = {}
    for d in definitions:
        entry = recorded.get((d.key, d.version))
        if entry is not None and entry[1] == rule_sha256(d.rule):
            bits[(d.key, d.version)] = entry[0]
    return bits


def drop_week_flags(connection: Connection) -> None:
    """Remove the week flags (what migration 0008's downgrade does with its frozen copy): the triggers, functions,
    columns and index."""
    connection.exec_driver_sql(_DROP_TRIGGERS)
    connection.exec_driver_sql("DROP FUNCTION IF EXISTS covidmeter_late_flags(varchar, date, timestamptz)")
    connection.exec_driver_sql(f"DROP INDEX IF EXISTS {CELLS_INDEX}")
    connection.exec_driver_sql(f"ALTER TABLE weekly_reports DROP COLUMN IF EXISTS {WEEK_COLUMN}, "
                               f"DROP COLUMN IF EXISTS {LATE_COLUMN}")
