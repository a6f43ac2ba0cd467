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

``rebuild`` (re)creates the column for the active definitions; migration 0006 runs it, and a migration that
adds or changes a definition runs it again (the table is rewritten once, holding a lock on ``weekly_reports``
meanwhile: a deploy step, like any migration). The aggregation uses a bit only when the bit's rule is exactly
the definition's rule (``usable_bits``) and evaluates any other definition inline, so a definition added
without a rebuild is slower, never wrong. SQLite keeps no flags: it evaluates the rules inline (the demo and
the tests; a virtual generated column would cost the same as the inline rule).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from reporting.models import CaseFlagBit, WeeklyReport

from .definitions import CompiledDefinition, load_definitions

COLUMN = "case_flags"
MAX_BITS = 63  # bits 0 .. 62 of a BIGINT (the sign bit stays clear)
# The reports whose onset lies in an earlier week, with what the aggregation reads of them, so its second look
# at a season's late onsets is an index-only scan instead of ~500,000 random heap reads at national scale.
# Dropping the column drops the index; ``rebuild`` makes both again.
LATE_ONSET_INDEX = "ix_weekly_reports_late_onset_flags"


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
    """(Re)create ``weekly_reports.case_flags`` for the active definitions, in the caller's transaction.
    Returns the number of flagged definitions (0 on engines without flags)."""
    if not supported(connection):
        return 0
    from sqlalchemy.orm import Session

    with Session(bind=connection) as session:
        definitions = load_definitions(session)
    if len(definitions) > MAX_BITS:
        definitions = definitions[:MAX_BITS]  # the rest are evaluated inline by the aggregation
    connection.exec_driver_sql(f"ALTER TABLE weekly_reports DROP COLUMN IF EXISTS {COLUMN}")
    connection.exec_driver_sql(
        f"ALTER TABLE weekly_reports ADD COLUMN {COLUMN} BIGINT GENERATED ALWAYS AS "
        f"({flag_expression(definitions, connection)}) STORED")
    connection.exec_driver_sql(
        f"CREATE INDEX {LATE_ONSET_INDEX} ON weekly_reports (onset_week) "
        f"INCLUDE (week, profile_id, {COLUMN}, same_illness, submitted_at) WHERE onset_week < week")
    connection.execute(delete(CaseFlagBit))
    if definitions:
        connection.execute(insert(CaseFlagBit), [
            {"bit": bit, "definition_key": d.key, "definition_version": d.version, "rule_sha256": rule_sha256(d.rule)}
            for bit, d in enumerate(definitions)])
    return len(definitions)


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
