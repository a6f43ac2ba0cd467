"""The case flags as migration 0006 built them (PostgreSQL), frozen from scheduler/caseflags.py.

    weekly_reports.case_flags BIGINT GENERATED ALWAYS AS (
        (CASE WHEN <rule of definition 0> THEN 1 ELSE 0 END) | (CASE WHEN <rule 1> THEN 2 ELSE 0 END) | ...) STORED

over the active definitions in the order of (key, version), at most 63 of them; the covering partial index the
aggregation's second look at late onsets reads (``ix_weekly_reports_late_onset_flags``, dropped with the
column); and ``case_flag_bits``: which bit holds which definition, with the SHA-256 of the rule it was built
from. SQLite keeps no flags.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from migrations.frozen import definitions_0006
from migrations.frozen.definitions_0006 import Definition

COLUMN = "case_flags"
MAX_BITS = 63  # bits 0 .. 62 of a BIGINT (the sign bit stays clear)
LATE_ONSET_INDEX = "ix_weekly_reports_late_onset_flags"

CASE_FLAG_BITS = sa.table("case_flag_bits", sa.column("bit", sa.SmallInteger()),
                          sa.column("definition_key", sa.String(40)),
                          sa.column("definition_version", sa.SmallInteger()),
                          sa.column("rule_sha256", sa.String(64)))


def supported(connection: Connection) -> bool:
    return connection.dialect.name == "postgresql"


def rule_sha256(rule: Mapping[str, Any]) -> str:
    """A digest of the rule's content (key order and whitespace do not matter)."""
    return hashlib.sha256(json.dumps(rule, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def flagged_definitions(connection: Connection) -> list[Definition]:
    """The active definitions that get a bit (the rest would be evaluated inline by the aggregation)."""
    return definitions_0006.active_definitions(connection)[:MAX_BITS]


def flag_expression(definitions: Sequence[Definition], connection: Connection) -> str:
    """The generated column's expression: bit i set when definition i holds for the row."""
    parts = []
    for bit, definition in enumerate(definitions):
        condition = definition.sql().compile(
            dialect=connection.dialect, compile_kwargs={"literal_binds": True, "include_table": False})
        parts.append(f"(CASE WHEN {condition} THEN {1 << bit} ELSE 0 END)")
    return " | ".join(parts) if parts else "0"


def record_bits(connection: Connection, definitions: Sequence[Definition]) -> None:
    connection.execute(sa.delete(CASE_FLAG_BITS))
    if definitions:
        connection.execute(sa.insert(CASE_FLAG_BITS), [
            {"bit": bit, "definition_key": d.key, "definition_version": d.version, "rule_sha256": rule_sha256(d.rule)}
            for bit, d in enumerate(definitions)])


def create(connection: Connection) -> int:
    """Add the column, its index and the bits, in the caller's transaction (one rewrite of the table).
    Returns the number of flagged definitions (0 on engines without flags)."""
    if not supported(connection):
        return 0
    definitions = flagged_definitions(connection)
    connection.exec_driver_sql(
        f"ALTER TABLE weekly_reports ADD COLUMN {COLUMN} BIGINT GENERATED ALWAYS AS "
        f"({flag_expression(definitions, connection)}) STORED")
    connection.exec_driver_sql(
        f"CREATE INDEX {LATE_ONSET_INDEX} ON weekly_reports (onset_week) "
        f"INCLUDE (week, profile_id, {COLUMN}, same_illness, submitted_at) WHERE onset_week < week")
    record_bits(connection, definitions)
    return len(definitions)
