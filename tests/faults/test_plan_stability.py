"""The write path's plans do not depend on when they were made (issue 12, fault 6).

PL/pgSQL keeps the plan of each statement of a trigger for the life of the connection (a generic plan after
five executions). Made while ``weekly_reports`` was empty and had never been analysed, the season ordinal's
look-up was an index scan of ``ix_weekly_reports_cells`` over the whole season, and each report written cost
more than the one before. Here, on a private cluster of the test's own with the table never analysed (and
autovacuum off for it, so that nothing can analyse it meanwhile), ONE long-lived connection writes 30 batches
of 1,000 reports through the service's own INSERT (``group_commit.first_reports_sql``, 32 reports a statement)
starting from an empty table, and exercises the rare paths (a report written before a later one, a deletion,
a report moved to another week) while the table is still small, so that all their plans are made then.
Then, still on that connection:

- the plans actually used inside the triggers (``auto_explain`` with nested statements, loaded into the session)
  reach ``weekly_reports`` only through its ``(profile_id, week)`` key or its primary key, never another
  index or a sequential scan;
- the cost per report is flat: shared buffers touched per report (pg_stat_statements, top-level statements with
  everything their triggers did) in the last five batches are within 1.5x of the first ones, and so is the
  season ordinal's look-up per call. (Counts, not time: the project machine is shared.)
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import random
import re
import statistics
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import pgcluster

BATCHES = 30
BATCH = 1_000
BLOCKS = 15  # batch b is written by the b // 2-th block of 1,000 participants: two consecutive weeks each
FIRST_WEEK = dt.date(2025, 9, 15)  # 30 weeks within one season; 1 and 8 September are left for late reports
ALLOWED_INDEXES = {"uq_weekly_reports_profile_id_week", "pk_weekly_reports"}
STRATUM = {"id", "profile_id", "region_code", "municipality_code", "sex", "birth_year", "age_years"}


@pytest.fixture(scope="module")
def stats_cluster() -> Iterator[pgcluster.PrivateCluster]:
    """A private, migrated cluster with pg_stat_statements counting nested statements too."""
    pgcluster.skip_unless_possible()
    from reporting.migrate import upgrade

    settings = {"shared_preload_libraries": "'pg_stat_statements'", "pg_stat_statements.track": "all"}
    with pgcluster.private_cluster(f"plans_{uuid.uuid4().hex[:8]}", settings=settings) as made:
        upgrade(made.url)
        yield made


class Writer:
    """Reports for ``first_reports_sql`` (by account), as the service makes them."""

    def __init__(self, cursor: Any, profiles: list[tuple[str, int]]) -> None:
        from reporting.models import WeeklyReport

        self.cursor, self.profiles = cursor, profiles
        self.empty = {c.name: (False if c.type.python_type is bool else None)
                      for c in WeeklyReport.__table__.columns if c.name not in STRATUM}
        self.random = random.Random(12)
        self.serial = 0

    def report(self, profile: tuple[str, int], week: dt.date, late: bool) -> list[Any]:
        onset = week - dt.timedelta(weeks=1) if late else week
        submitted = dt.datetime.combine(week, dt.time(9), dt.timezone.utc)
        values = dict(self.empty, week=week.isoformat(), submitted_at=submitted.isoformat(), revision=1,
                      questionnaire_version="weekly-1", answers={"symptoms": ["cough"] if late else ["none"]},
                      no_symptoms=not late, cough=late, same_illness="no" if late else None,
                      onset_date=onset.isoformat(), onset_week=onset.isoformat())
        self.serial += 1
        return [profile[1], profile[0], week.isocalendar()[0], json.dumps(values), f"plan-{self.serial:010d}",
                "0" * 64, submitted]

    def write(self, profiles: list[tuple[str, int]], week: dt.date, late_share: float = 0.1) -> None:
        from reporting.reports import group_commit

        for start in range(0, len(profiles), group_commit.MAX_BATCH):
            chunk = profiles[start:start + group_commit.MAX_BATCH]
            parameters = [value for profile in chunk
                          for value in self.report(profile, week, self.random.random() < late_share)]
            self.cursor.execute(group_commit.first_reports_sql(len(chunk), "account"), parameters)

    def rare_paths(self, profile: tuple[str, int]) -> None:
        """A report written before the participant's later ones (the ordinals after it move up; a late report
        whose previous week exists), moved to another week (the season renumbered), then deleted."""
        self.write([profile], dt.date(2025, 9, 8), late_share=1.0)
        self.cursor.execute("UPDATE weekly_reports SET week = %s WHERE profile_id = %s AND week = %s",
                            (dt.date(2025, 9, 1), profile[0], dt.date(2025, 9, 8)))
        self.cursor.execute("DELETE FROM weekly_reports WHERE profile_id = %s AND week = %s",
                            (profile[0], dt.date(2025, 9, 1)))


def _scans(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _scans(child)


def _reads_of_weekly_reports(plan: dict[str, Any], indexes: set[str]) -> list[str]:
    """How a plan reaches weekly_reports: 'Seq Scan', or the index names it uses."""
    reads = []
    for node in _scans(plan):
        if node.get("Relation Name") == "weekly_reports" and node["Node Type"] in ("Seq Scan", "Sample Scan",
                                                                                   "Tid Scan", "Tid Range Scan"):
            reads.append(node["Node Type"])
        if node.get("Index Name") in indexes:
            reads.append(node["Index Name"])
    return reads


def test_trigger_plans_made_on_an_empty_table_stay_index_probes(stats_cluster: pgcluster.PrivateCluster) -> None:
    import psycopg

    with psycopg.connect(stats_cluster.dsn, autocommit=True) as connection:
        cursor = connection.cursor()
        for table in ("weekly_reports", "report_submissions", "profiles", "accounts"):
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = off)")
        assert cursor.execute("SELECT reltuples FROM pg_class WHERE oid = 'weekly_reports'::regclass"
                              ).fetchone()[0] == -1, "weekly_reports must never have been analysed"
        assert cursor.execute("SELECT count(*) FROM weekly_reports").fetchone()[0] == 0
        cursor.execute("CREATE EXTENSION pg_stat_statements")
        cursor.execute("""
            INSERT INTO accounts (email, unsubscribe_key, language, status, created_at, reminder_weekday)
            SELECT 'plan-' || i || '@example.invalid', md5('plan' || i), 'da', 'active', now(), 0
            FROM generate_series(1, %s) AS i""", (BLOCKS * BATCH,))
        cursor.execute("""
            INSERT INTO profiles (id, account_id, relation, birth_year, sex, municipality_code, intake_version,
                                  intake_answers, created_at, updated_at)
            SELECT md5('profile' || a.id), a.id, 'self', 1950 + a.id % 50, 'female',
                   (SELECT code FROM municipalities ORDER BY code LIMIT 1 OFFSET a.id % 98), 'intake-1', '{}',
                   now(), now()
            FROM accounts AS a""")
        profiles = cursor.execute("SELECT id, account_id FROM profiles ORDER BY account_id").fetchall()
        indexes = {name for (name,) in cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'weekly_reports'")}
        assert ALLOWED_INDEXES <= indexes
        writer = Writer(cursor, profiles)

        per_report: list[float] = []  # shared buffers touched per report written, by batch
        lookup_per_call: list[float] = []  # of which the season ordinal's look-up, per call
        for b in range(BATCHES):
            block = (b // 2) % BLOCKS
            cursor.execute("SELECT pg_stat_statements_reset()")
            writer.write(profiles[block * BATCH:(block + 1) * BATCH], FIRST_WEEK + dt.timedelta(weeks=b))
            rows = cursor.execute("""
                SELECT toplevel, query, calls, shared_blks_hit + shared_blks_read FROM pg_stat_statements
                WHERE query NOT LIKE '%%pg_stat_statements%%'""").fetchall()
            per_report.append(sum(blocks for top, query, _, blocks in rows
                                  if top and query.lstrip().startswith("WITH batch")) / BATCH)
            lookup = [(calls, blocks) for top, query, calls, blocks in rows
                      if not top and "count(*) FILTER (WHERE week < NEW.week)" in query]
            assert lookup, "pg_stat_statements saw no season ordinal look-up"
            lookup_per_call.append(sum(blocks for _, blocks in lookup) / sum(calls for calls, _ in lookup))
            if b == 0:  # the rare paths' plans are made now, on a small table (six runs: past the custom plans)
                for profile in profiles[:6]:
                    writer.rare_paths(profile)

        # The plans the triggers use now, made early on: every statement they run, with its plan.
        notices: list[str] = []
        connection.add_notice_handler(lambda diagnostic: notices.append(diagnostic.message_primary or ""))
        cursor.execute("LOAD 'auto_explain'")
        for name, value in {"log_level": "notice", "log_min_duration": "0", "log_nested_statements": "on",
                            "log_format": "json", "log_analyze": "off"}.items():
            cursor.execute(f"SET auto_explain.{name} = '{value}'")
        writer.write(profiles[:32], FIRST_WEEK + dt.timedelta(weeks=BATCHES), late_share=0.5)
        writer.rare_paths(profiles[6])
        cursor.execute("SET auto_explain.log_min_duration = -1")

    explained = []
    for notice in notices:
        _, _, document = notice.partition("plan:")
        if document.strip():
            explained.append(json.loads(document))
    texts = [" ".join(e["Query Text"].split()) for e in explained]
    wrong = {text: reads for e, text in zip(explained, texts)
             if (reads := [r for r in _reads_of_weekly_reports(e["Plan"], indexes) if r not in ALLOWED_INDEXES])}
    expected_statements = ("count(*) FILTER (WHERE week < NEW.week)",  # the ordinal's look-up
                           "SET season_ordinal = season_ordinal + 1",  # later reports move up
                           "SET season_ordinal = season_ordinal - 1",  # after a deletion
                           "row_number() OVER (ORDER BY week)",  # a move renumbers the season
                           "bit_or(l.case_flags)",  # late flags pulled
                           "SET late_flags = covidmeter_late_flags")  # and pushed
    missing = [s for s in expected_statements if not any(s in text for text in texts)]
    print(f"\nshared buffers per report by batch: {', '.join(f'{v:.1f}' for v in per_report)}")
    print(f"season ordinal look-up, buffers per call: {', '.join(f'{v:.1f}' for v in lookup_per_call)}")
    assert not missing, f"auto_explain did not show these trigger statements: {missing}"
    assert not wrong, f"trigger statements reach weekly_reports by another way than its key: {wrong}"
    lookup_plans = [_reads_of_weekly_reports(e["Plan"], indexes) for e, text in zip(explained, texts)
                    if "count(*) FILTER (WHERE week < NEW.week)" in text]
    assert lookup_plans and all(r == ["uq_weekly_reports_profile_id_week"] for r in lookup_plans), lookup_plans

    # Batches 1-5 against 25-29: the same mix of a block's first and second weeks (a second week's reports
    # find the participant's report of the week before).
    for name, values in (("cost per report", per_report), ("the ordinal's look-up", lookup_per_call)):
        first, last = statistics.fmean(values[1:6]), statistics.fmean(values[-5:])
        assert last <= 1.5 * first, f"{name} grew {last / first:.2f}x with the table ({first:.1f} -> {last:.1f})"


def _bodies(sql: str, delimiter: str) -> dict[str, tuple[str, bool]]:
    """function name -> (its body with whitespace collapsed, whether it turns sequential scans off)."""
    pattern = re.compile(rf"CREATE (?:OR REPLACE )?FUNCTION (\w+)\((.*?)\)(.*?){re.escape(delimiter)}(.*?)"
                         rf"{re.escape(delimiter)}", re.DOTALL)
    return {m[1]: (" ".join(m[4].split()), "enable_seqscan" in m[3]) for m in pattern.finditer(sql)}


def _migration_0013() -> Any:
    path = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0013_ordinal_plan.py"
    spec = importlib.util.spec_from_file_location("migration_0013_ordinal_plan", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    return migration


def test_migration_0013_holds_the_function_text_the_code_installs() -> None:
    """A fresh database gets the functions from the code (migrations 0006, 0008, 0009 call it); one migrated
    earlier gets them from 0013's snapshot. Both must be the same text."""
    from sqlalchemy.dialects import postgresql

    from reporting.reports import season_ordinal
    from scheduler.incidence import caseflags

    snapshot = _bodies("\n".join(_migration_0013().UPGRADE), "$function$")

    class PostgreSQL:
        dialect = postgresql.dialect()

    code = {**_bodies(season_ordinal._FUNCTIONS, "$$"),
            **_bodies(caseflags._late_flags_function(PostgreSQL()), "$$"), **_bodies(caseflags._TRIGGERS, "$$")}
    assert set(snapshot) <= set(code)
    assert {name: code[name] for name in snapshot} == snapshot
    assert {name for name, (_, seqscan_off) in snapshot.items() if seqscan_off} == {
        "covidmeter_season_ordinal_insert", "covidmeter_season_ordinal_delete", "covidmeter_season_ordinal_move",
        "covidmeter_late_flags_pull", "covidmeter_late_flags_push"}


def test_migration_0013_downgrade_restores_the_previous_functions(database_url: str) -> None:
    """0013's downgrade puts back the functions as they were (no SET clause, the old look-ups); its upgrade
    brings back today's text. Run through alembic's operations in one transaction that is rolled back, so the
    suite's database and its version table are left as they were, whatever other heads the graph has."""
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import text

    from reporting.db import make_engine

    migration = _migration_0013()
    engine = make_engine(database_url)
    query = text("SELECT proname, proconfig, prosrc FROM pg_proc WHERE proname LIKE 'covidmeter%' ORDER BY 1")
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            def functions() -> dict[str, tuple[Any, str]]:
                if engine.dialect.name != "postgresql":
                    return {}
                return {name: (config, " ".join(source.split())) for name, config, source in connection.execute(query)}

            now = functions()
            with Operations.context(MigrationContext.configure(connection)):
                migration.downgrade()
                before = functions()
                migration.upgrade()
                again = functions()
            transaction.rollback()
    finally:
        engine.dispose()
    assert again == now
    if engine.dialect.name != "postgresql":  # nothing to replace: a no-op both ways
        return
    assert now["covidmeter_season_ordinal_insert"][0] == ["enable_seqscan=off"]
    assert "week >= covidmeter_season_start(NEW.week)" in before["covidmeter_season_ordinal_insert"][1]
    assert "a.week = NEW.onset_week" in before["covidmeter_late_flags_push"][1]
    assert all(config is None for config, _ in before.values())
    assert before != now


def _plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _plan_nodes(child)


def _generic_plan(cursor: Any, statement: Any) -> list[dict[str, Any]]:
    """The generic plan (what a prepared statement keeps after five executions) of a SQLAlchemy statement."""
    from sqlalchemy.dialects import postgresql

    compiled = statement.compile(dialect=postgresql.psycopg.dialect())
    names: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    sql = re.sub(r"%\((\w+)\)s", placeholder, str(compiled))
    name = f"s_{uuid.uuid4().hex[:8]}"
    cursor.execute(f"PREPARE {name} AS {sql}")
    values = ", ".join(_literal(compiled.params[n]) for n in names)
    cursor.execute(f"EXPLAIN (FORMAT JSON) EXECUTE {name}({values})")
    (document,), = cursor.fetchall()
    cursor.execute(f"DEALLOCATE {name}")
    return list(_plan_nodes(document[0]["Plan"]))


def _literal(value: Any) -> str:
    if isinstance(value, (int, float)):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def test_the_report_paths_look_ups_use_the_key_in_a_plan_made_on_an_empty_table(
        cluster: pgcluster.PrivateCluster) -> None:
    """The report look-ups of ``reporting.reports.service`` (a week's report to fill the form in again, the
    account's reported profiles, the row locked for a second report of the week) are planned, as generic plans on
    an empty table that was never analysed, by the ``(profile_id, week)`` key (``service.by_key``), not a week
    index that would read the whole week on every call while the connection lives."""
    import psycopg
    from sqlalchemy import select

    from reporting.models import Profile, WeeklyReport
    from reporting.reports.service import by_key

    week = dt.date(2026, 11, 30)
    statements = {
        "report_for_week": select(WeeklyReport).where(*by_key("p-1", week)),
        "reported_profiles": select(WeeklyReport.profile_id).join(Profile, Profile.id == WeeklyReport.profile_id)
        .where(Profile.account_id == 1, *by_key(Profile.id, week)),
        "second report (FOR UPDATE)": select(WeeklyReport).where(*by_key("p-1", week)).with_for_update(),
    }
    with psycopg.connect(cluster.dsn, autocommit=True) as connection, connection.cursor() as cursor:
        assert cursor.execute("SELECT count(*) FROM weekly_reports").fetchone() == (0,)
        assert cursor.execute("SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables "
                              "WHERE relname = 'weekly_reports'").fetchone() == (None, None)
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        for label, statement in statements.items():
            scans = [node for node in _generic_plan(cursor, statement)
                     if node.get("Relation Name") == "weekly_reports"]
            assert scans and all(node["Node Type"] in ("Index Scan", "Index Only Scan")
                                 and node["Index Name"] in ALLOWED_INDEXES for node in scans), (label, scans)
