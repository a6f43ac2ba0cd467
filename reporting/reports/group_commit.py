"""Group commit for the citizen API's weekly reports (PostgreSQL).

Most of what PostgreSQL spends on a report is per statement and per transaction, not per row: planning and
starting the executor, the round trip, and the commit that makes it durable. So the reports that arrive
together in one web process are written together: each request hands its report to the process's writer
and waits; the writer takes every report waiting (up to ``MAX_BATCH``), writes them with ONE autocommit
statement (``first_reports_sql``: per report, the bearer session's account, the profile if it is that
account's, the week's first report with the profile's stratum, and its submission id), and wakes each
request with its own row. Measured with pgbench on the project machine: 0.7-0.8 ms of PostgreSQL CPU per
report one at a time, 0.21-0.23 ms per report eight at a time.

- Nothing is acknowledged before it is committed: a request returns only when the statement holding its
  report has committed (synchronous commit), so durability is what it is one report at a time.
- Nobody waits for company: a report that finds the writer idle is written at once, alone. Batches form
  only while a statement is running, so they grow with the load and cost no latency when it is light.
- One refusal never fails another's report: if the batch statement fails on a unique key (one report's week
  or submission id was taken, or two requests carried the same profile), every report of the batch is
  written again alone, and only the refused one gets the error (the service then takes its general path).
- A dead connection fails the batch with SQLAlchemy's ``DBAPIError`` (``connection_invalidated``: 503 and
  Retry-After; a submission id makes sending again harmless) and the writer takes a fresh connection.

The writer is a thread of the web process, started at its first report (after gunicorn's fork) and ended
after ``IDLE_SECONDS`` without one; it holds a pooled connection only while it writes.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from sqlalchemy import Engine, literal_column

from ..db import driver_autocommit
from ..models import WeeklyReport
from ..security import live_citizen_session

MAX_BATCH = 32
IDLE_SECONDS = 30.0
WAIT_SECONDS = 60.0  # a request gives up waiting for its statement after this long (the pool's own timeout is 30 s)

# The parameters of one report, in the order of a row of the statement's VALUES list: who submits (the
# SHA-256 of a bearer session, or an account already signed in), then the report.
FIELDS = ("owner", "profile_id", "iso_year", "report", "submission_id", "body_hash", "created_at")
_CASTS = {"session": ("::varchar", "", "::smallint", "::json", "", "", "::timestamptz"),
          "account": ("::integer", "", "::smallint", "::json", "", "", "::timestamptz")}


@lru_cache(maxsize=2 * MAX_BATCH)
def first_reports_sql(n: int, by: str = "session") -> str:
    """The statement that writes ``n`` weeks' first reports in the driver's parameter style. ``by``: each
    report's owner is the account of a live bearer session (``"session"``, the citizen API: the statement
    authenticates it) or an account id (``"account"``, a signed-in web session). Rows of the answer, in the
    reports' order: the owner's account (NULL: no live session), the report's id (NULL: the profile is not
    that account's; nothing written), and the profile as read (id, municipality, sex, birth year, intake
    answers, region).

    The report's own values travel as one JSON object that ``json_populate_record`` turns into a
    ``weekly_reports`` row (PostgreSQL converts each field to its column's type), so the statement has seven
    parameters per report instead of one per column: psycopg converts its text once per process and the
    server plans it once. (Measured on the server: ``json`` costs less than ``jsonb`` here, and the region
    by a subquery on the municipality's key less than a join.)"""
    names = [c.name for c in WeeklyReport.__table__.columns if c.name != "id"]
    # The person's stratum from the profile row; every other column from the report's JSON object.
    from_profile = {"profile_id": "p.id", "region_code": "p.region_code", "municipality_code": "p.municipality_code",
                    "sex": "p.sex", "birth_year": "p.birth_year", "age_years": "b.iso_year - p.birth_year"}
    selected = ", ".join(from_profile.get(name, f"report.{name}") for name in names)
    values = ", ".join(f"({i}, " + ", ".join(f"%s{cast}" for cast in _CASTS[by]) + ")" for i in range(n))
    account = (f"({live_citizen_session(literal_column('b.owner'), literal_column('b.created_at'))})"
               if by == "session" else "b.owner")
    # Column names come from the model, never from input.
    return f"""
        WITH batch (n, {", ".join(FIELDS)}) AS (VALUES {values}),
        owner AS (SELECT b.n, {account} AS account_id FROM batch AS b),
        profile AS (
            SELECT b.n, profiles.id, profiles.municipality_code, profiles.sex, profiles.birth_year,
                   profiles.intake_answers,
                   (SELECT municipalities.region_code FROM municipalities
                    WHERE municipalities.code = profiles.municipality_code) AS region_code
            FROM batch AS b JOIN owner ON owner.n = b.n
            JOIN profiles ON profiles.id = b.profile_id AND profiles.account_id = owner.account_id),
        new_report AS (
            INSERT INTO weekly_reports ({", ".join(names)})
            SELECT {selected}
            FROM profile AS p JOIN batch AS b ON b.n = p.n,
                 json_populate_record(NULL::weekly_reports, b.report) AS report
            RETURNING id, profile_id),
        new_submission AS (
            INSERT INTO report_submissions (submission_id, report_id, body_hash, revision, created_at)
            SELECT b.submission_id, r.id, b.body_hash, 1, b.created_at
            FROM new_report AS r JOIN profile AS p ON p.id = r.profile_id JOIN batch AS b ON b.n = p.n
            RETURNING submission_id, report_id)
        SELECT owner.account_id, s.report_id, p.id, p.municipality_code, p.sex, p.birth_year, p.intake_answers,
               p.region_code
        FROM owner JOIN batch AS b ON b.n = owner.n
        LEFT JOIN profile AS p ON p.n = owner.n
        LEFT JOIN new_submission AS s ON s.submission_id = b.submission_id
        ORDER BY owner.n"""


def write_now(engine: Engine, reports: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Write ``reports`` (tuples in ``FIELDS`` order) with one autocommit statement on a pooled connection;
    their answer rows in the same order. The driver's ``IntegrityError`` when a unique key refuses one (then
    nothing of the statement is written); a dead connection is raised as ``DBAPIError`` (reporting.db)."""
    with driver_autocommit(engine) as connection:
        return connection.execute(first_reports_sql(len(reports)),
                                  [value for report in reports for value in report]).fetchall()


@dataclass
class _Pending:
    report: tuple[Any, ...]
    done: threading.Event = field(default_factory=threading.Event)
    row: tuple[Any, ...] | None = None
    error: BaseException | None = None


class GroupCommit:
    """The writer of one web process (see the module docstring)."""

    def __init__(self, engine: Engine, max_batch: int = MAX_BATCH) -> None:
        self.engine, self.max_batch = engine, max_batch
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.batches = self.reports = 0  # for the benchmark and the tests: how much was grouped

    def write(self, report: tuple[Any, ...]) -> tuple[Any, ...]:
        """Write one report (a tuple in ``FIELDS`` order) and return its answer row once it is committed."""
        pending = _Pending(report)
        with self._lock:
            if self._pid != os.getpid():  # a forked child: the parent's writer thread did not come along
                self._queue, self._thread, self._pid = queue.SimpleQueue(), None, os.getpid()
            self._queue.put(pending)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="report-group-commit", daemon=True)
                self._thread.start()
        if not pending.done.wait(WAIT_SECONDS):
            raise TimeoutError("the report was not written in time")
        if pending.error is not None:
            raise pending.error
        assert pending.row is not None
        return pending.row

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:  # idle: end, unless a report arrived meanwhile (then keep going)
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[_Pending]) -> None:
        try:
            rows = write_now(self.engine, [pending.report for pending in batch])
        except self.engine.dialect.loaded_dbapi.IntegrityError as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done.set()
                return
            for pending in batch:  # one of them was refused: each alone, so only that one fails
                self._write([pending])
            return
        except BaseException as exc:  # noqa: BLE001  (delivered to every waiting request, which raises it)
            for pending in batch:
                pending.error = exc
                pending.done.set()
            return
        self.batches += 1
        self.reports += len(batch)
        for pending, row in zip(batch, rows):
            pending.row = tuple(row)
            pending.done.set()
