"""Shared fixtures in the shape of the Flask tutorial: ``app``, ``client``, ``runner``.

Tests run on SQLite by default and on PostgreSQL when COVIDMETER_TEST_DATABASE_URL is set. The schema is
built once per run by the Alembic migrations (never ``create_all``); after each test every table except
the reference data and the append-only audit log is emptied.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text

from reporting.db import make_engine
from reporting.extensions import db
from reporting.migrate import upgrade
from reporting.models import Base, utcnow
from reporting.staff.service import create_api_token, create_staff_user
from tests.reporting.staff import PASSWORD, sign_in_fully, totp_secret

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


def serve(app: Flask, database_url: str) -> Iterator[Flask]:
    """Yield ``app``; then close its connections and empty the tables."""
    yield app
    with app.app_context():
        db.engine.dispose()
    empty_tables(database_url)


@pytest.fixture
def service(config: dict[str, object], database_url: str) -> Iterator[Flask]:
    """The whole service: reporting with the scheduler and the dashboard mounted (``wsgi.create_app``)."""
    from wsgi import create_app

    yield from serve(create_app(config), database_url)


@pytest.fixture
def app(service: Flask) -> Flask:
    """The app under test: the whole service, except in tests/reporting (its conftest builds reporting alone)."""
    return service


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_staff(app: Flask) -> Callable[..., str]:
    """``make_staff(role, email=None, password=PASSWORD, enrolled=True)``: a staff user; ``enrolled`` gives
    it a confirmed TOTP secret (``totp_secret(email)``), as after its first sign-in."""
    def make(role: str, email: str | None = None, password: str = PASSWORD, enrolled: bool = True) -> str:
        email = email or f"{role}@example.org"
        with app.app_context():
            user, _ = create_staff_user(email, role, password)
            if enrolled:
                user.totp_secret = totp_secret(email)
                user.totp_confirmed_at = utcnow()
                db.session.commit()
        return email

    return make


@pytest.fixture
def staff_client(app: Flask, make_staff: Callable[..., str]) -> Callable[..., FlaskClient]:
    """``staff_client(role)``: a test client signed in (password and TOTP) as a new staff user."""
    def make(role: str, email: str | None = None) -> FlaskClient:
        client = app.test_client()
        response = sign_in_fully(client, make_staff(role, email))
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return make


@pytest.fixture
def api_token(app: Flask) -> Callable[..., str]:
    def make(name: str = "ssi-import", scopes: str = "export:read", days: int | None = 30) -> str:
        with app.app_context():
            return create_api_token(name, scopes, days).secret

    return make
