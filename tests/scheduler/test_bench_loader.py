"""The benchmarks' loader writes the schema as it is now (bench/population.py COPYs straight into the tables, so a
new NOT NULL column breaks it unseen: the accounts' unsubscribe key did). PostgreSQL only (COPY); the loader and
the aggregation run on a small population in a database of their own, dropped afterwards."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from sqlalchemy import make_url, text

from bench.aggregate import generate
from reporting.db import make_engine
from scheduler.incidence import report_weeks

URL = os.environ.get("COVIDMETER_TEST_DATABASE_URL", "")
pytestmark = pytest.mark.skipif(not URL.startswith("postgresql"), reason="the loader COPYs into PostgreSQL")


def test_the_loader_fills_the_current_schema_and_the_weeks_aggregate() -> None:
    target = make_url(URL).set(database=f"bench_loader_{os.getpid()}")
    url = target.render_as_string(hide_password=False)
    admin = make_engine(make_url(URL).render_as_string(hide_password=False))
    try:
        generate(url, participants=300, weeks=3, first_week=dt.date(2025, 9, 1), seed=3)
        engine = make_engine(url)
        with engine.connect() as connection:
            assert report_weeks(connection) == (dt.date(2025, 9, 1), dt.date(2025, 9, 15))
            accounts, keys = connection.execute(
                text("SELECT count(*), count(DISTINCT unsubscribe_key) FROM accounts")).one()
            assert accounts == keys == 300
        engine.dispose()
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
        admin.dispose()
