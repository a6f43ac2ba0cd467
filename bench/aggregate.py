"""Benchmark: generate a synthetic population and time the weekly aggregation.

    python bench/aggregate.py --url sqlite:////tmp/bench.sqlite --participants 100000 --weeks 20
    python bench/aggregate.py --url postgresql+psycopg://postgres@127.0.0.1/bench --participants 1000000

The database is rebuilt from scratch (the SQLite file is deleted; a PostgreSQL schema 'public' is dropped), so
point it at a database made for the benchmark. On PostgreSQL the reports are loaded with COPY.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402

from reporting.db import make_engine  # noqa: E402
from reporting.migrate import upgrade  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--participants", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    if args.url.startswith("sqlite:///"):
        path = Path(args.url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
    else:
        engine = make_engine(args.url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    upgrade(args.url)

    from wsgi import create_app

    app = create_app({"COVIDMETER_DATABASE_URL": args.url, "COVIDMETER_SECRET_KEY": "bench" * 10})
    from reporting.extensions import db
    from scheduler.aggregation import aggregate_week, weeks_between
    from scheduler.definitions import load_definitions
    from scheduler.synthetic import generate

    with app.app_context():
        started = time.perf_counter()
        with db.engine.begin() as connection:
            population = generate(connection, participants=args.participants, weeks=args.weeks, seed=args.seed)
        print(f"generated {population.profiles:,} participants, {population.reports:,} reports "
              f"in {time.perf_counter() - started:.1f} s")
        if db.engine.dialect.name == "postgresql":
            with db.engine.begin() as connection:
                connection.execute(text("ANALYZE"))
        definitions = load_definitions(db.session)
        db.session.close()
        seconds = []
        for week in weeks_between(population.first_week, population.last_week):
            result = aggregate_week(week, definitions, "w0")
            seconds.append(result.seconds)
            print(f"{week} active {result.national_active:>9,}  {result.seconds:6.2f} s")
        print(f"aggregation: {len(seconds)} weeks, median {statistics.median(seconds):.2f} s, "
              f"max {max(seconds):.2f} s per week ({len(definitions)} definitions in one pass)")


if __name__ == "__main__":
    main()
