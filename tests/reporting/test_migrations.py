"""The schema comes only from the migrations, and the migration head matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text

from reporting.db import make_engine
from reporting.migrate import current_revision, head_revision, include_object
from reporting.models import Base, CaseDefinition, Municipality, Region


def test_head_matches_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                  "include_object": include_object})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"


def test_database_is_at_head(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_reference_data(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Region)) == 5
        assert connection.scalar(select(func.count()).select_from(Municipality)) == 98
        per_region = dict(connection.execute(
            select(Municipality.region_code, func.count()).group_by(Municipality.region_code)).all())
        assert per_region == {1081: 11, 1082: 19, 1083: 22, 1084: 29, 1085: 17}
        assert connection.scalar(select(Municipality.name).where(Municipality.code == 751)) == "Aarhus"
        total = connection.scalar(select(func.sum(Region.population)))
        assert total == 5_961_249  # Statistics Denmark, 1 January 2024
        keys = set(connection.scalars(select(CaseDefinition.key)))
        assert {"ili.ecdc", "covid.ecdc", "any.symptom"} <= keys
    engine.dispose()


def test_audit_log_is_append_only(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO audit_log (occurred_at, actor_kind, action, detail) "
            "VALUES (CURRENT_TIMESTAMP, 'system', 'test.append_only', '{}')"))
    for statement in ("UPDATE audit_log SET action = 'x'", "DELETE FROM audit_log"):
        with engine.connect() as connection:
            try:
                connection.execute(text(statement))
                connection.commit()
            except Exception as exc:  # the driver's error type differs between SQLite and PostgreSQL
                assert "append-only" in str(exc)
            else:
                raise AssertionError(f"{statement!r} was allowed")
    engine.dispose()
