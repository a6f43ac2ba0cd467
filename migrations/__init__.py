"""Alembic migration history: the only way the schema comes into being (see reporting.migrate)."""
