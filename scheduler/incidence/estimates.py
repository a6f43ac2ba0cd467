"""Publishing estimates with revisions (Delphi COVIDcast's issue/lag convention).

For every computed cell the latest issue of the same key (week, geography, age band, sex, definition and
version, method) is compared with the new values:

- unchanged: nothing is written, so re-running an aggregation is harmless;
- changed, and the latest issue is the issue being written (today): that row is updated in place;
- changed (or new) otherwise: a row with the new issue is inserted and the earlier issue stays, so the figures as
  published on any date can be recovered.

A week's issue written ``FINAL_AFTER_DAYS`` or more after its Monday is its **final** issue (``final``): the
week and the week after it (whose reports may still carry onsets in it, or make a participant active in it) are
over, so nothing a participant does can still change it except a withdrawal. A final row is never revised:
later runs leave it as it is. The export and the open data serve final rows only, so a reader outside the
service sees each week once and cannot difference two issues of it (issue 11).

The same rule serves the participation estimates (``write_participation``). The caller owns the transaction;
new rows go in with COPY on PostgreSQL (a season of one method is ~27,000 rows: 0.2 s instead of 2 s of
pipelined INSERTs) and with executemany in batches elsewhere; updates with executemany.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, tuple_, update

from reporting.models import IncidenceEstimate, ParticipationEstimate, utcnow

from .cells import KEY_FIELDS, VALUE_FIELDS, CellKey, PublishedValues

BATCH_SIZE = 1000
FINAL_AFTER_DAYS = 14  # Monday of W+2: the weeks W and W+1 are over
PARTICIPATION_KEY = ("week", "geo_type", "geo_code")
PARTICIPATION_FIELDS = ("registered", "active", "new_profiles", "response_rate", "missing_reason")


@dataclass
class WriteSummary:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __iadd__(self, other: "WriteSummary") -> "WriteSummary":
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        return self


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b


class Latest(NamedTuple):
    """The latest issue of a key: its row id, issue date, whether it is final, and its values (in
    ``VALUE_FIELDS`` order, scheduler.incidence.cells)."""

    id: int
    issue: dt.date
    final: bool
    values: tuple[Any, ...]


def is_final(week: dt.date, issue: dt.date) -> bool:
    """Whether an issue of ``week`` (its Monday) is the week's final one."""
    return issue >= week + dt.timedelta(days=FINAL_AFTER_DAYS)


def latest_issues(connection: Connection, keys: Any) -> dict[CellKey, Latest]:
    """The latest issue of every existing estimate that shares a week, method and definition with ``keys``."""
    keys = list(keys)
    if not keys:
        return {}
    table = IncidenceEstimate.__table__
    weeks = sorted({k.week for k in keys})
    scopes = sorted({(k.definition_key, k.definition_version, k.method) for k in keys})
    query = (select(*[table.c[name] for name in KEY_FIELDS], table.c.id, table.c.issue, table.c.final,
                    *[table.c[name] for name in VALUE_FIELDS])
             .where(table.c.week.in_(weeks),
                    tuple_(table.c.definition_key, table.c.definition_version, table.c.method).in_(scopes)))
    return _latest(connection, query, len(KEY_FIELDS), CellKey._make)


def _latest(connection: Connection, query: Any, key_size: int, make_key: Any) -> dict[Any, Latest]:
    """Rows of ``query`` (key columns, id, issue, final, values): the latest issue per key (plain tuples; a
    season is tens of thousands of rows). A final row is the latest whatever comes after it."""
    latest: dict[Any, Latest] = {}
    for row in map(tuple, connection.execute(query).all()):  # at once, as tuples: a third of the cost
        key = make_key(row[:key_size])
        issue, final = row[key_size + 1], bool(row[key_size + 2])
        if key not in latest or (not latest[key].final and (final or issue > latest[key].issue)):
            latest[key] = Latest(row[key_size], issue, final, row[key_size + 3:])
    return latest


def _write(connection: Connection, table: Any, existing: Mapping[Any, Latest],
           new_values: Mapping[Any, dict[str, Any]], key_fields: Any, value_fields: Any,
           issue: dt.date) -> WriteSummary:
    now = utcnow()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    summary = WriteSummary()
    for key, new in new_values.items():
        latest = existing.get(key)
        if latest is not None and latest.final:
            summary.unchanged += 1  # the week's final issue stands
            continue
        final = is_final(key[0], issue)
        if latest is not None:
            if latest.issue > issue:
                raise ValueError(f"{key} already has issue {latest.issue}, later than {issue}")
            values = tuple(new[name] for name in value_fields)
            # Equal as stored is the common case of a re-run; floats may differ in the last bits only.
            if values == latest.values or all(_same(a, b) for a, b in zip(latest.values, values)):
                summary.unchanged += 1
                continue
            if latest.issue == issue:
                updates.append({"target_id": latest.id, **new, "final": final, "computed_at": now})
                continue
        inserts.append({**dict(zip(key_fields, key)), **new, "issue": issue, "final": final, "computed_at": now})
    _insert(connection, table, inserts)
    statement = (update(table).where(table.c.id == bindparam("target_id"))
                 .values({name: bindparam(name) for name in (*value_fields, "final", "computed_at")}))
    for start in range(0, len(updates), BATCH_SIZE):
        connection.execute(statement, updates[start:start + BATCH_SIZE])
    summary.inserted, summary.updated = len(inserts), len(updates)
    return summary


def _insert(connection: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        # The same transaction: COPY runs on the connection the caller's statements use.
        columns = list(rows[0])
        names = ", ".join(f'"{name}"' for name in columns)
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
        return
    for start in range(0, len(rows), BATCH_SIZE):
        connection.execute(insert(table), rows[start:start + BATCH_SIZE])


def write_estimates(connection: Connection, published: Mapping[CellKey, PublishedValues],
                    issue: dt.date) -> WriteSummary:
    existing = latest_issues(connection, published.keys())
    values = {key: {name: getattr(v, name) for name in VALUE_FIELDS} for key, v in published.items()}
    return _write(connection, IncidenceEstimate.__table__, existing, values, KEY_FIELDS, VALUE_FIELDS, issue)


def write_participation(connection: Connection, rows: Mapping[tuple[dt.date, str, str], dict[str, Any]],
                        issue: dt.date) -> WriteSummary:
    """Participation estimates keyed by (week, geo_type, geo_code), with the same revision rule."""
    if not rows:
        return WriteSummary()
    table = ParticipationEstimate.__table__
    weeks = sorted({key[0] for key in rows})
    query = select(*[table.c[n] for n in PARTICIPATION_KEY], table.c.id, table.c.issue, table.c.final,
                   *[table.c[n] for n in PARTICIPATION_FIELDS]).where(table.c.week.in_(weeks))
    existing = _latest(connection, query, len(PARTICIPATION_KEY), tuple)
    return _write(connection, table, existing, rows, PARTICIPATION_KEY, PARTICIPATION_FIELDS, issue)
