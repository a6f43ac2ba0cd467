"""Benchmark: does building the demo on PostgreSQL slow down week by week? (issue 12, fault 6)

    python bench/demo_build.py                                   # 20,000 participants x 30 weeks (the README's demo)
    python bench/demo_build.py --participants 5000 --weeks 30 \\
        --url postgresql+psycopg://postgres@127.0.0.1:5432/bench_demo_build

Builds the demo (``scheduler.demo.build_demo``, what ``covidmeter demo --no-serve`` runs) into a PostgreSQL
database (created when missing; an earlier demo in it is rebuilt, anything else is refused) and prints, for
every simulated week, the seconds spent on it, of which writing its reports (one COPY through the report
triggers: season ordinal, late flags, foreign keys), and the microseconds per report written. The demo writes
all weeks in ONE transaction on ONE connection, so a trigger statement whose plan was made while
``weekly_reports`` was empty and never analysed is used for every report of the build: if that plan reads
more as the table grows, later weeks cost more per report. Weeks differ in size (participants join during
the period), so the figure to compare is the write time per report: the ratio of the last three weeks to
the first three. Then the aggregation's time, the whole build's, the load average (the project machine is
shared) and whether the table had planner statistics at the end. Results go to
``bench/results/demo_build.json`` (appended, one entry per run, with a label).

``--triggers 0011`` measures the trigger functions as they were before migration 0013 in the same code: the
demo migrates to the head as always, then the functions are replaced by 0013's DOWNGRADE snapshot (revision
0011's text) before the population is written; ``--triggers head`` (the default) puts 0013's UPGRADE text
back, so one database serves both. Run it on a private cluster (tests/faults/pgcluster.py) or an otherwise
idle server: a backend that falls behind with other sessions' catalogue changes gets its caches reset, which
re-plans the triggers' statements by chance.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import make_url, text  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/bench_demo_build"
CONFIG = {"COVIDMETER_SECRET_KEY": "bench-demo-build-" * 3}


def ensure_database(url: str) -> None:
    from reporting.db import make_engine

    target = make_url(url)
    admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False))
    try:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            if not connection.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": target.database}):
                connection.execute(text(f'CREATE DATABASE "{target.database}"'))
    finally:
        admin.dispose()


def _migration_0013() -> Any:
    """Migration 0013's module (its UPGRADE and DOWNGRADE function texts), loaded by path."""
    path = ROOT / "migrations" / "versions" / "0013_ordinal_plan.py"
    spec = importlib.util.spec_from_file_location("migration_0013_ordinal_plan", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ratio(per_report: list[float], span: int = 3) -> float:
    """Mean of the last ``span`` weeks over the mean of the first ``span``."""
    span = max(1, min(span, len(per_report) // 2))
    return statistics.fmean(per_report[-span:]) / statistics.fmean(per_report[:span])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=DEFAULT_URL, help="a PostgreSQL database (created when missing)")
    parser.add_argument("--participants", type=int, default=20_000)
    parser.add_argument("--weeks", type=int, default=30)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--label", default="", help="a name for this run in the results file")
    parser.add_argument("--triggers", choices=("head", "0011"), default="head",
                        help="the trigger functions to measure: the head's, or revision 0011's (before the fix)")
    args = parser.parse_args()
    if make_url(args.url).get_backend_name() != "postgresql":
        sys.exit("bench/demo_build.py measures PostgreSQL (SQLite keeps no season ordinal or late flags triggers)")
    ensure_database(args.url)

    from reporting import migrate
    from reporting.db import make_engine
    from reporting.extensions import db
    from scheduler import demo
    from scheduler.demo import DemoRefused, build_demo
    from wsgi import create_app

    snapshot = _migration_0013().DOWNGRADE if args.triggers == "0011" else _migration_0013().UPGRADE

    def upgrade_then_functions(url: str, revision: str = "heads") -> None:
        migrate.upgrade(url, revision)
        engine = make_engine(url)
        try:
            with engine.begin() as connection:
                for definition in snapshot:
                    connection.exec_driver_sql(definition)
        finally:
            engine.dispose()

    demo.migrate = type("Migrate", (), {"upgrade": staticmethod(upgrade_then_functions)})  # type: ignore[assignment]

    app = create_app({**CONFIG, "COVIDMETER_DATABASE_URL": args.url})
    RESULTS.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    with app.app_context():
        try:
            result = build_demo(app, participants=args.participants, weeks=args.weeks, seed=args.seed,
                                truth_path=RESULTS / "demo-build-truth.json", echo=lambda m: print(m, flush=True),
                                show_progress=False)
        except DemoRefused as refused:
            sys.exit(f"bench/demo_build.py: {refused}")
        with db.engine.connect() as connection:
            analysed = connection.scalar(text(
                "SELECT reltuples >= 0 FROM pg_class WHERE oid = 'weekly_reports'::regclass"))
    total = time.perf_counter() - started
    load_after = os.getloadavg()

    per_report_us = [1e6 * s / max(n, 1) for s, n in zip(result.week_write_seconds, result.week_reports)]
    print(f"\n{'week':>4} {'reports':>8} {'week s':>8} {'write s':>8} {'µs/report':>10}")
    for i, (n, s, w, u) in enumerate(zip(result.week_reports, result.week_seconds, result.week_write_seconds,
                                         per_report_us), start=1):
        print(f"{i:>4} {n:>8,} {s:>8.2f} {w:>8.2f} {u:>10.0f}")
    write_ratio = ratio(per_report_us)
    week_ratio = ratio(result.week_seconds)
    print(f"\nwrite time per report, last 3 weeks / first 3: {write_ratio:.2f}x; "
          f"seconds per week, last 3 / first 3: {week_ratio:.2f}x")
    print(f"generate {result.timings.get('generate', 0):.1f} s, analyze {result.timings.get('analyze', 0):.1f} s, "
          f"aggregate {result.timings.get('aggregate', 0):.1f} s, "
          f"whole build {total:.1f} s; {result.reports:,} reports, {result.estimates:,} estimates")
    print(f"trigger functions of revision {args.triggers}; load average before {load_before[0]:.1f}, after {load_after[0]:.1f}; weekly_reports analysed at the "
          f"end: {bool(analysed)}")
    entry = {"label": args.label, "triggers": args.triggers, "at": dt.datetime.now().isoformat(timespec="seconds"), "url": result.url,
             "participants": args.participants, "weeks": args.weeks, "seed": args.seed, "reports": result.reports,
             "week_reports": result.week_reports, "week_seconds": result.week_seconds,
             "week_write_seconds": result.week_write_seconds, "write_us_per_report": per_report_us,
             "write_ratio_last3_first3": write_ratio, "week_ratio_last3_first3": week_ratio,
             "timings": result.timings, "total_seconds": total, "load_before": load_before, "load_after": load_after}
    path = RESULTS / "demo_build.json"
    runs = json.loads(path.read_text()) if path.exists() else []
    runs.append(entry)
    path.write_text(json.dumps(runs, indent=1))
    print(f"written to {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
