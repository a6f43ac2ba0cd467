"""no reused ids, and a withdrawal that leaves nothing behind (issue 11, items 4 and 5)

- SQLite gives a deleted row's integer id to the next row unless the table is AUTOINCREMENT; PostgreSQL's
  sequences never reuse a value. Every table whose ids leave the table (links, exports, events) or hang on
  a person is rebuilt with AUTOINCREMENT on SQLite (Alembic's batch mode: a new table, the rows copied, the
  old table dropped, the new one renamed). Foreign keys are switched off for the rebuild (dropping a parent
  table with them on would cascade-delete its children) and checked before the new tables are committed.
- ``accounts.unsubscribe_key``: the random value an unsubscribe link is bound to, instead of the account id.
- ``citizen_events``: a citizen's own event log, deleted with the account. The citizen events in the
  append-only ``audit_log`` are moved there (those of withdrawn people are dropped), once, by this migration,
  the only path that ever deletes from the audit log.
- ``outbox_messages.account_id``: a citizen mail belongs to its account (cascade), whatever address it goes to.
- ``login_tokens``: a sign-up token carries its address and answers and no account until it is spent, so
  ``account_id`` may be NULL.
- ``api_tokens.name`` is unique per owner, not across owners.

This migration imports nothing of the application (literal operations only).

Revision ID: 0010_ids
Revises: 0009
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010_ids"
down_revision = "0009"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

# The tables that get AUTOINCREMENT on SQLite (ids in links, exports or events, or rows of a person).
NEVER_REUSED = ("accounts", "consents", "email_changes", "reminder_deliveries", "login_tokens", "user_sessions",
                "outbox_messages", "staff_users", "api_tokens")

CITIZEN_AUDIT = "(target LIKE 'account:%' OR actor_kind IN ('citizen', 'weekly_link'))"
AUDIT_GUARD = "audit_log is append-only"


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


@contextmanager
def _foreign_keys_off() -> Iterator[None]:
    """SQLite: the rebuilds run with foreign keys off (outside a transaction is the only place the pragma
    works), inside one transaction of their own, and a foreign key check must come back empty before it
    commits. PostgreSQL alters in place and needs none of this."""
    if not _sqlite():
        yield
        return
    with op.get_context().autocommit_block():
        op.execute("PRAGMA foreign_keys = OFF")
        op.execute("BEGIN")
        try:
            yield
            problems = op.get_bind().exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if problems:
                raise RuntimeError(f"foreign keys broken by the rebuild: {problems[:5]}")
        except BaseException:
            op.execute("ROLLBACK")
            op.execute("PRAGMA foreign_keys = ON")
            raise
        op.execute("COMMIT")
        op.execute("PRAGMA foreign_keys = ON")


def _batch(table: str, autoincrement: bool = True):  # type: ignore[no-untyped-def]
    if _sqlite():
        return op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement})
    return op.batch_alter_table(table)


def _random_hex_sql() -> str:
    # 128 random bits as 32 hex digits; gen_random_uuid uses PostgreSQL's strong random source.
    return "lower(hex(randomblob(16)))" if _sqlite() else "replace(gen_random_uuid()::text, '-', '')"


def upgrade() -> None:
    with _foreign_keys_off():
        with _batch("accounts") as batch:
            batch.add_column(sa.Column("unsubscribe_key", sa.String(length=32), nullable=True))
        op.execute(f"UPDATE accounts SET unsubscribe_key = {_random_hex_sql()}")
        with _batch("accounts") as batch:
            batch.alter_column("unsubscribe_key", existing_type=sa.String(length=32), nullable=False)
            batch.create_unique_constraint(batch.f("uq_accounts_unsubscribe_key"), ["unsubscribe_key"])

        for table in ("consents", "email_changes", "reminder_deliveries", "user_sessions", "staff_users"):
            if _sqlite():
                with _batch(table):
                    pass

        with _batch("login_tokens") as batch:
            batch.alter_column("account_id", existing_type=sa.Integer(), nullable=True)
            batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
            batch.add_column(sa.Column("sign_up", JSON, nullable=True))
            batch.create_index(batch.f("ix_login_tokens_email"), ["email"], unique=False)

        with _batch("outbox_messages") as batch:
            batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
            batch.create_foreign_key(batch.f("fk_outbox_messages_account_id_accounts"), "accounts",
                                     ["account_id"], ["id"], ondelete="CASCADE")
            batch.create_index(batch.f("ix_outbox_messages_account_id"), ["account_id"], unique=False)
        op.execute("UPDATE outbox_messages SET account_id = "
                   "(SELECT accounts.id FROM accounts WHERE accounts.email = outbox_messages.recipient)")

        with _batch("api_tokens") as batch:
            batch.drop_constraint("uq_api_tokens_name", type_="unique")
            batch.create_unique_constraint(batch.f("uq_api_tokens_staff_user_id_name"), ["staff_user_id", "name"])

    op.create_table(
        "citizen_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_kind", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("remote_addr", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_citizen_events_account_id_accounts"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_citizen_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_citizen_events_account_id_occurred_at", "citizen_events", ["account_id", "occurred_at"],
                    unique=False)
    _move_citizen_audit()


def _move_citizen_audit() -> None:
    """The citizen events of people who still have an account move to ``citizen_events``; every citizen
    event leaves the append-only log (the guard is lifted for this one statement and put back)."""
    op.execute(f"""
        INSERT INTO citizen_events (account_id, occurred_at, actor_kind, action, detail, remote_addr)
        SELECT accounts.id, audit_log.occurred_at, audit_log.actor_kind, audit_log.action, audit_log.detail,
               audit_log.remote_addr
        FROM audit_log JOIN accounts ON audit_log.target = 'account:' || CAST(accounts.id AS VARCHAR(20))
        WHERE {CITIZEN_AUDIT}
        ORDER BY audit_log.id""")
    if _sqlite():
        op.execute("DROP TRIGGER audit_log_no_delete")
        op.execute(f"DELETE FROM audit_log WHERE {CITIZEN_AUDIT}")
        op.execute(f"""CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
                       BEGIN SELECT RAISE(ABORT, '{AUDIT_GUARD}'); END""")
    else:
        op.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        op.execute(f"DELETE FROM audit_log WHERE {CITIZEN_AUDIT}")
        op.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")


def downgrade() -> None:
    # The citizen events are not put back into the audit log (they would outlive the people again).
    op.drop_index("ix_citizen_events_account_id_occurred_at", table_name="citizen_events")
    op.drop_table("citizen_events")
    with _foreign_keys_off():
        # Names shared by several owners get their id appended, so that they are unique again.
        op.execute("UPDATE api_tokens SET name = substr(name, 1, 80) || '-' || CAST(id AS VARCHAR(20)) "
                   "WHERE id NOT IN (SELECT min(id) FROM api_tokens GROUP BY name)")
        with _batch("api_tokens", autoincrement=False) as batch:
            batch.drop_constraint("uq_api_tokens_staff_user_id_name", type_="unique")
            batch.create_unique_constraint("uq_api_tokens_name", ["name"])
        with _batch("outbox_messages", autoincrement=False) as batch:
            batch.drop_index("ix_outbox_messages_account_id")
            batch.drop_constraint("fk_outbox_messages_account_id_accounts", type_="foreignkey")
            batch.drop_column("account_id")
        op.execute("DELETE FROM login_tokens WHERE account_id IS NULL")
        with _batch("login_tokens", autoincrement=False) as batch:
            batch.drop_index("ix_login_tokens_email")
            batch.drop_column("sign_up")
            batch.drop_column("email")
            batch.alter_column("account_id", existing_type=sa.Integer(), nullable=False)
        for table in ("consents", "email_changes", "reminder_deliveries", "user_sessions", "staff_users"):
            if _sqlite():
                with _batch(table, autoincrement=False):
                    pass
        with _batch("accounts", autoincrement=False) as batch:
            batch.drop_constraint("uq_accounts_unsubscribe_key", type_="unique")
            batch.drop_column("unsubscribe_key")
