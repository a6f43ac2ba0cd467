"""Shared fixtures in the shape of the Flask tutorial: ``app``, ``client``, ``runner``.

Tests run on SQLite by default and on PostgreSQL when COVIDMETER_TEST_DATABASE_URL is set. The schema is
built once per run by the Alembic migrations (never ``create_all``); after each test every table except
the reference data and the append-only audit log is emptied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from reporting.db import make_engine
from reporting.migrate import upgrade
from reporting.models import Base

REFERENCE_TABLES = {"regions", "municipalities", "age_bands", "case_definitions", "audit_log",
                    "standard_populations", "case_flag_bits"}


def reset_database(url: str) -> None:
    """An empty database at the migration head."""
    engine = make_engine(url)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    upgrade(url)


def empty_tables(url: str) -> None:
    """Every table but the reference data and the audit log emptied. On PostgreSQL one TRUNCATE: a DELETE goes
    through the row triggers (season ordinals, case flags) and took 57 s after a test that loaded a population."""
    engine = make_engine(url)
    tables = [table for table in reversed(Base.metadata.sorted_tables) if table.name not in REFERENCE_TABLES]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            names = ", ".join(engine.dialect.identifier_preparer.quote(table.name) for table in tables)
            connection.execute(text(f"TRUNCATE {names}"))
        else:
            for table in tables:
                connection.execute(table.delete())
    engine.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("COVIDMETER_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite'}"
    reset_database(url)
    return url


@pytest.fixture
def config(database_url: str, tmp_path: Path) -> dict[str, object]:
    return {
        "TESTING": True,
        "COVIDMETER_DATABASE_URL": database_url,
        "COVIDMETER_SECRET_KEY": "test-secret-key-that-is-long-enough-0123456789",
        "COVIDMETER_BASE_URL": "http://localhost",
        "RATELIMIT_ENABLED": False,
        "WTF_CSRF_ENABLED": False,
    }


@pytest.fixture
def app(config: dict[str, object], database_url: str) -> Iterator[Flask]:
    from wsgi import create_app

    app = create_app(config)
    yield app
    from reporting.extensions import db

    with app.app_context():
        db.engine.dispose()
    empty_tables(database_url)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()
